"""A query's result as askdb holds it, and the bounded fetch that builds it.

Shared by every way of running a query (SQLAlchemy, plain ODBC), so none of them
imports another.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import SqlTimeout

# A chat reply never needs more than this; a query that manufactures huge values
# (zeroblob, repeat, group_concat over a cross join) must not exhaust the bot's memory.
MAX_VALUE_BYTES = 8 * 2**20  # SQLite refuses to build a longer string or blob
MAX_RESULT_BYTES = 32 * 2**20  # rows stop being fetched past this much data



@dataclass(frozen=True)
class ResultTable:
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    truncated: bool = False
    elapsed_s: float = 0.0

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def json_rows(self) -> list[list]:
        return [[jsonable(v) for v in row] for row in self.rows]

    def to_csv(self) -> str:
        """The whole result as CSV, for results too big to show in a chat message."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        writer.writerows(self.json_rows())
        return out.getvalue()

    @staticmethod
    def json_fields(table: ResultTable | None) -> dict:
        """``columns``, ``rows`` and ``truncated`` of a result (empty when there is none)."""
        if table is None:
            return {"columns": [], "rows": [], "truncated": False}
        return {"columns": list(table.columns), "rows": table.json_rows(),
                "truncated": table.truncated}


def jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _size(value) -> int:
    if isinstance(value, str | bytes | bytearray | memoryview):
        return len(value)
    # PostgreSQL arrays and JSON arrive as lists and dicts: a row of one array of big
    # strings must count as its strings, or a thousand such rows pass as 16 KB
    if isinstance(value, list | tuple):
        return 16 + sum(_size(item) for item in value)
    if isinstance(value, dict):
        return 16 + sum(_size(k) + _size(v) for k, v in value.items())
    return 16


def fetch_rows(rows: Iterable, max_rows: int, timeout_s: float | None = None,
               max_bytes: int = MAX_RESULT_BYTES) -> tuple[tuple[tuple, ...], bool]:
    """At most ``max_rows`` rows and about ``max_bytes`` of data; True when rows were
    left out (even where the guard's cap did not apply, e.g. ``TOP 100 PERCENT``).

    Rows are pulled one at a time, so a result too big to hold is never held whole.
    A streamed result is fetched in several round trips, each under its own server-side
    timeout, so the fetch as a whole is also held to ``timeout_s`` from its start.
    """
    deadline = time.perf_counter() + timeout_s if timeout_s else None
    out: list[tuple] = []
    total = 0
    for row in rows:
        if len(out) >= max_rows:
            return tuple(out), True  # a row past the cap exists: the table is cut
        if deadline is not None and time.perf_counter() > deadline:
            raise SqlTimeout(f"The query took longer than {timeout_s:g} s and was stopped.")
        row = tuple(row)
        total += sum(_size(v) for v in row)
        if total > max_bytes:
            return tuple(out), True
        out.append(row)
    return tuple(out), False
