"""Chat prompts for SQL writing, and getting the SQL back out of the model's reply.

The schema sits in the system message so that every question on one database shares
the same prompt prefix (its key/value cache can be reused); the thread's earlier
questions and their SQL follow as real chat turns, which is what an instruct model
understands best as "the conversation so far".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

DIALECT_NAMES = {
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "tsql": "Microsoft SQL Server (T-SQL)",
    "mysql": "MySQL",
}

DIALECT_HINTS = {
    "sqlite": "Dates are stored as text 'YYYY-MM-DD HH:MM:SS'; use strftime() to take parts.",
    "postgres": "Use ILIKE for case-insensitive text matching; EXTRACT() for date parts.",
    "tsql": "Use TOP n, not LIMIT; YEAR()/MONTH() for date parts; N'...' for Unicode text.",
}

SYSTEM_TEMPLATE = (
    "You are an SQL assistant for a {dialect_name} database.\n"
    "From the database schema and the conversation so far, write one {dialect_name} SELECT "
    "query that answers the user's latest question.\n"
    "Use only the tables and columns in the schema, and text values as they are spelled in "
    "the examples. {hint}\n"
    "Reply with the SQL only, in a ```sql code block.\n\n"
    "Database schema:\n{schema}"
)


@dataclass(frozen=True)
class HistoryTurn:
    """An earlier question of the same thread and the SQL that answered it."""

    question: str
    sql: str | None


@dataclass(frozen=True)
class Example:
    """A worked question/SQL pair shown before the question (verified by people)."""

    question: str
    sql: str


def system_prompt(schema_text: str, dialect: str) -> str:
    return SYSTEM_TEMPLATE.format(
        dialect_name=DIALECT_NAMES.get(dialect, dialect),
        hint=DIALECT_HINTS.get(dialect, ""),
        schema=schema_text,
    ).strip()


def sql_block(sql: str) -> str:
    return f"```sql\n{sql.strip()}\n```"


def schema_linking(sql: str) -> str:
    """What a query touched (tables, columns, literal values), as the seed design's line.

    Shown with a follow-up question so that "which of those..." can keep the previous
    query's tables and filters.
    """
    try:
        tree = sqlglot.parse_one(sql)
    except SqlglotError:
        return ""
    tables = sorted({t.name for t in tree.find_all(exp.Table) if t.name})
    columns = sorted({c.name for c in tree.find_all(exp.Column) if c.name})
    values = []
    for literal in tree.find_all(exp.Literal):
        shown = f"'{literal.this}'" if literal.is_string else str(literal.this)
        if shown not in values:
            values.append(shown)
    parts = [f"Tables: [{', '.join(tables)}]", f"Columns: [{', '.join(columns)}]"]
    if values:
        parts.append(f"Values: [{', '.join(values[:8])}]")
    return "{" + ", ".join(parts) + "}"


def build_messages(
    schema_text: str,
    dialect: str,
    question: str,
    history: Sequence[HistoryTurn] = (),
    examples: Sequence[Example] = (),
) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt(schema_text, dialect)}]
    for ex in examples:
        messages.append({"role": "user", "content": ex.question})
        messages.append({"role": "assistant", "content": sql_block(ex.sql)})
    for turn in history:
        if turn.sql:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": sql_block(turn.sql)})
    answered = [t for t in history if t.sql]
    if answered:
        linking = schema_linking(answered[-1].sql or "")
        if linking:
            question = (f"{question}\n(Follow-up: start from the previous query and change "
                        f"only what this question asks, keeping its other conditions; the "
                        f"previous query used {linking})")
    messages.append({"role": "user", "content": question})
    return messages


def retry_messages(
    messages: list[dict[str, str]], failed_sql: str, error: str
) -> list[dict[str, str]]:
    """Messages asking the model to repair a query the database or guard refused."""
    return [
        *messages,
        {"role": "assistant", "content": sql_block(failed_sql)},
        {
            "role": "user",
            "content": f"That query has a problem: {error}\n"
                       "Write a corrected query for the same question.",
        },
    ]


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)(```|$)", re.S)
# a statement starts a line; "with" inside prose must not count
_START = re.compile(r"^[ \t]*(SELECT|WITH)\b", re.I | re.M)


def extract_sql(text: str) -> str | None:
    """The SQL in the model's reply: a fenced block if any, else the text from SELECT/WITH.

    This only finds *where* the query is in free text; whether it is one safe statement
    is the guard's decision, made on the parsed tree.
    """
    text = text.strip()
    for match in _FENCE.finditer(text):
        body = match.group(2).strip()
        if body and _START.search(body):
            return _trim(body)
    start = _START.search(text)
    if start is None:
        return None
    return _trim(text[start.start():])


def _trim(sql: str) -> str:
    sql = sql.strip().strip("`").strip()
    # a reply may add prose after the statement; keep the first statement's text
    end = statement_end(sql)
    if end is not None:
        sql = sql[:end]
    return sql.strip()


_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}


def statement_end(sql: str) -> int | None:
    """Index of the semicolon that ends the first statement, None when there is none yet.

    A semicolon inside a string, a quoted name or a comment ends nothing: a value such
    as 'R&D; Sales' must neither stop generation nor be cut off.
    """
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == ";":
            return i
        if ch in _QUOTES:
            close = sql.find(_QUOTES[ch], i + 1)
            if close == -1:
                return None  # still inside the string
            i = close + 1  # a doubled quote ('it''s') reopens at once: same result
            continue
        if sql.startswith("--", i):
            line = sql.find("\n", i)
            if line == -1:
                return None
            i = line + 1
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            if close == -1:
                return None
            i = close + 2
            continue
        i += 1
    return None


def sql_is_complete(text: str) -> bool:
    """Stopping rule for generation: the statement's own semicolon, or a closed fence.

    Inside a fence the semicolon is enough: what follows it (a newline and the closing
    fence) is cut off by :func:`extract_sql` anyway, and costs a forward pass per token.
    """
    stripped = text.lstrip()
    if stripped.startswith("```"):
        if stripped.count("```") >= 2:
            return True
        first_line = stripped.find("\n")
        return first_line != -1 and statement_end(stripped[first_line + 1:]) is not None
    return statement_end(stripped) is not None


# Every SQL reply starts with this fence (the model writes it unasked): it is given as
# the start of the reply rather than generated, three forward passes fewer per question,
# and the reply can no longer open with a paragraph of prose before the query.
REPLY_START = "```sql\n"


def reply_is_complete(continuation: str) -> bool:
    """:func:`sql_is_complete` for the text generated after :data:`REPLY_START`."""
    return sql_is_complete(REPLY_START + continuation)


def with_reply_start(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages with the assistant's reply begun: the model continues it."""
    return [*messages, {"role": "assistant", "content": REPLY_START}]
