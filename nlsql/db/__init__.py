"""The database side: opening it read-only, running guarded queries with bounded
results, and the bundled sample database."""

from .connect import open_readonly
from .execute import ReadOnlyDatabase, readonly_engine
from .results import MAX_RESULT_BYTES, ResultTable, fetch_rows, jsonable

__all__ = [
    "MAX_RESULT_BYTES",
    "ReadOnlyDatabase",
    "ResultTable",
    "fetch_rows",
    "jsonable",
    "open_readonly",
    "readonly_engine",
]
