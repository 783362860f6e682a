"""Linking words of a question to the database values they name.

The schema shows a few sample values per column, but a question names values the model
has never seen ("Aruba", "US Territory", "North America"), and a small model then
guesses the column: ``Region = 'North America'`` where the data has it under
``Continent``, or an id column compared with a name. Looking the question's phrases up
among the distinct values of the text columns tells the model which column holds the
value and how it is spelled. Built once per database (lazily, on first question) from
short text columns only, and bounded in size, so a big database costs a few queries.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .schema import Schema, quote_literal

log = logging.getLogger(__name__)

MAX_VALUES_PER_COLUMN = 2000
MAX_VALUE_CHARS = 60
MAX_NGRAM = 6
MAX_MATCHES = 6
BUILD_BUDGET_S = 10.0  # reading values must not hold a question up for long
_TEXT_TYPES = ("CHAR", "VARCHAR", "NVARCHAR", "NCHAR", "TEXT", "NTEXT", "STRING", "CLOB",
               "VARCHAR2", "CHARACTER", "CHARACTER VARYING", "CITEXT", "")
_WORD = re.compile(r"[\w'’.-]+", re.UNICODE)
# a phrase that is itself an everyday word says nothing about a column
_COMMON = frozenset("""a an and are as at be by can do does each every for from has have how
in is it its list many me much name names number of on one or show the their them there
these they this those to total type was were what when where which who whose with year
all any other yes no true false male female""".split())


@dataclass(frozen=True)
class ValueMatch:
    table: str
    column: str
    value: str

    def hint(self) -> str:
        return f"{self.table}.{self.column} = {quote_literal(self.value)}"


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def text_columns(schema: Schema) -> list[tuple[str, str]]:
    """(table, column) of the short text columns: those whose sampled values were short
    enough to show (reflection drops long or multi-line ones), and text keys (codes are
    what people type). Descriptions and documents are never read."""
    return [(t.name, c.name) for t in schema.tables for c in t.columns
            if c.type.upper().split("(")[0].strip() in _TEXT_TYPES
            and (c.samples or c.primary_key)]


class ValueIndex:
    """Normalised value -> where it occurs; a lookup of the question's n-grams."""

    def __init__(self) -> None:
        self._where: dict[str, list[ValueMatch]] = {}
        self.columns_read = 0
        self.columns_failed = 0
        self.complete = True

    def add(self, table: str, column: str, values: Iterable[object]) -> None:
        for value in values:
            if not isinstance(value, str):
                continue
            text = value.strip()
            if not text or len(text) > MAX_VALUE_CHARS or "\n" in text:
                continue
            key = _normal(text)
            spots = self._where.setdefault(key, [])
            if len(spots) < 4 and all((m.table, m.column) != (table, column) for m in spots):
                spots.append(ValueMatch(table, column, text))

    def __len__(self) -> int:
        return len(self._where)

    def matches(self, question: str, limit: int = MAX_MATCHES) -> list[ValueMatch]:
        """Values named in the question, longest phrases first, no overlapping phrases."""
        words = _WORD.findall(question.replace("’", "'"))
        words = [w.strip(".'-") for w in words]
        taken = [False] * len(words)
        found: list[ValueMatch] = []
        for n in range(min(MAX_NGRAM, len(words)), 0, -1):
            for start in range(len(words) - n + 1):
                if any(taken[start:start + n]):
                    continue
                phrase = _normal(" ".join(words[start:start + n]))
                if not _meaningful(phrase):
                    continue
                spots = self._where.get(phrase)
                if not spots:
                    continue
                taken[start:start + n] = [True] * n
                for spot in spots:
                    if spot not in found:
                        found.append(spot)
        return found[:limit]


def _meaningful(phrase: str) -> bool:
    if phrase in _COMMON or (len(phrase) < 3 and not any(ch.isdigit() for ch in phrase)):
        return False
    return not phrase.replace(".", "").isdigit()  # numbers are matched by the model itself


def build_index(schema: Schema, distinct: Callable[[str, str, int], list[object]],
                budget_s: float | None = None) -> ValueIndex:
    """Index the distinct values of the short text columns within a time budget.

    A column that fails is skipped; ``index.complete`` says whether every column was
    read (an index built while the database was down must not be kept for an hour).
    """
    budget_s = BUILD_BUDGET_S if budget_s is None else budget_s
    index = ValueIndex()
    started = time.monotonic()
    columns = text_columns(schema)
    for table, column in columns:
        if time.monotonic() - started > budget_s:
            log.warning("value index: time budget spent, %d columns left unread",
                        len(columns) - index.columns_read - index.columns_failed)
            index.complete = False
            break
        try:
            values = distinct(table, column, MAX_VALUES_PER_COLUMN)
        except Exception as err:  # one unreadable column must not cost the question
            log.info("no values indexed for %s.%s: %s", table, column, err)
            index.columns_failed += 1
            index.complete = False
            continue
        index.columns_read += 1
        index.add(table, column, values)
    log.info("indexed %d distinct values of %d text columns", len(index),
             len(text_columns(schema)))
    return index


def value_hint(matches: list[ValueMatch]) -> str:
    """The line appended to the question: where its values live in the database.

    A value found in several columns (a code and the foreign keys that copy it, or
    'North America' as both a continent and a region) is one entry naming the other
    columns as alternatives: listed as separate equalities, a small model tends to AND
    them all into the query.
    """
    if not matches:
        return ""
    grouped: dict[str, list[ValueMatch]] = {}
    for match in matches:
        grouped.setdefault(match.value, []).append(match)  # 'USA' and 'usa' stay apart
    parts = []
    for spots in grouped.values():
        part = spots[0].hint()
        if len(spots) > 1:
            part += " (also " + ", ".join(f"{m.table}.{m.column}" for m in spots[1:]) + ")"
        parts.append(part)
    return "(Values in the database: " + "; ".join(parts) + ")"


REFRESH_S = 3600.0  # new values (a new department) are linked within the hour
RETRY_S = 60.0  # an index that could not read every column is rebuilt sooner


class _Entry:
    def __init__(self) -> None:
        self.index: ValueIndex | None = None
        self.built = 0.0
        self.refreshing = False
        self.lock = threading.Lock()  # one build per database at a time

    def stale(self) -> bool:
        assert self.index is not None
        age = time.monotonic() - self.built
        return age >= (REFRESH_S if self.index.complete else min(RETRY_S, REFRESH_S))


_entries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_entries_lock = threading.Lock()


def database_values(database) -> ValueIndex:
    """The value index of a database (SQLAlchemy or ODBC), built lazily, refreshed aside.

    The first question on a database waits for the build (bounded by BUILD_BUDGET_S);
    later refreshes run on a background thread while the old index keeps serving.
    Values are read with the same guard and read-only connection as any query.
    """
    with _entries_lock:
        entry = _entries.get(database)
        if entry is None:
            entry = _entries[database] = _Entry()
    if entry.index is None:
        with entry.lock:
            if entry.index is None:
                entry.index, entry.built = _build(database), time.monotonic()
        return entry.index
    if entry.stale() and not entry.refreshing:
        entry.refreshing = True
        threading.Thread(target=_refresh, args=(database, entry), daemon=True,
                         name="askdb-value-index").start()
    return entry.index


def _refresh(database, entry: _Entry) -> None:
    try:
        with entry.lock:
            index = _build(database)
            entry.index, entry.built = index, time.monotonic()
    except Exception:  # the old index keeps serving
        log.exception("value index refresh failed")
        entry.built = time.monotonic()
    finally:
        entry.refreshing = False


def _build(database) -> ValueIndex:
    from .guard import SqlGuard
    from .schema import quote_identifier

    schema = database.schema()

    def distinct(table: str, column: str, limit: int) -> list[object]:
        q = lambda name: quote_identifier(name, database.dialect)  # noqa: E731
        guard = SqlGuard.for_schema(database.dialect, schema, limit)
        sql = f"SELECT DISTINCT {q(column)} FROM {q(table)} WHERE {q(column)} IS NOT NULL"
        return [row[0] for row in database.run(guard.check(sql)).rows]

    return build_index(schema, distinct)
