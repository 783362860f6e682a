"""SQLite's double-quoted strings, made the single-quoted strings they are.

SQLite reads ``"JetBlue Airways"`` as an identifier when a column has that name and as a
string otherwise. Spider-style corrections write values that way and the model copies
them, but every other part of askdb (the guard, the repairs, the id-compared-with-text
check) parses SQL as written and sees a column named ``JetBlue Airways``: a query that
compares a numeric key with a name then escapes the check meant to catch it. Writing
such values as the strings SQLite runs them as changes no result and lets the checks see
what the query does. Only a quoted word on either side of a comparison (``=``, ``<>``,
``<``, ``LIKE``...) or in an ``IN`` list, naming no column or table of the database and
no alias the query defines, is rewritten (``BETWEEN`` bounds and ``||`` operands are left
as written).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from .schema import Schema, quote_literal

_COMPARISONS = frozenset({TokenType.EQ, TokenType.NEQ, TokenType.LT, TokenType.LTE,
                          TokenType.GT, TokenType.GTE, TokenType.LIKE, TokenType.GLOB,
                          TokenType.ILIKE, TokenType.NULLSAFE_EQ})


def _in_list(tokens: list[Token], i: int) -> bool:
    """Whether token ``i`` is an item of a literal ``IN (...)`` list."""
    j = i - 1
    while j >= 0 and tokens[j].token_type in (TokenType.COMMA, TokenType.IDENTIFIER,
                                              TokenType.STRING, TokenType.NUMBER):
        j -= 1
    return j >= 1 and tokens[j].token_type == TokenType.L_PAREN and \
        tokens[j - 1].token_type == TokenType.IN


def _defined_names(sql: str) -> set[str] | None:
    """Names the query itself defines (column and table aliases, CTE columns), lower-cased;
    None when it does not parse (then nothing is rewritten)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (SqlglotError, ValueError, RecursionError):  # the guard reports what is wrong
        return None
    names = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    for alias in tree.find_all(exp.TableAlias):
        names.add(alias.name.lower())
        names |= {c.name.lower() for c in alias.columns}
    return names


def sqlite_strings(sql: str, schema: Schema) -> str:
    """``sql`` with double-quoted values written as single-quoted strings (SQLite only)."""
    if '"' not in sql:
        return sql
    try:
        tokens = sqlglot.tokenize(sql, read="sqlite")
    except SqlglotError:
        return sql
    defined = _defined_names(sql)
    if defined is None:
        return sql
    names = defined | {t.name.lower() for t in schema.tables}
    names |= {c.lower() for t in schema.tables for c in t.column_names}
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens):
        if token.token_type != TokenType.IDENTIFIER or sql[token.start] != '"':
            continue
        if token.text.lower() in names:
            continue
        after = tokens[i + 1].token_type if i + 1 < len(tokens) else None
        if after in (TokenType.DOT, TokenType.L_PAREN):
            continue
        before = tokens[i - 1].token_type if i else None
        if before in _COMPARISONS or after in _COMPARISONS or _in_list(tokens, i):
            edits.append((token.start, token.end + 1, quote_literal(token.text)))
    for start, end, literal in reversed(edits):
        sql = sql[:start] + literal + sql[end:]
    return sql
