"""Text to SQL: the few names ``bot`` and ``training`` may use."""

from .answerer import Answerer, detect_language
from .db import ReadOnlyDatabase, ResultTable, open_readonly
from .errors import (
    AskdbError,
    BadQuestion,
    ConfigError,
    DatabaseUnavailable,
    ModelUnavailable,
    NotSql,
    SqlFailed,
    SqlRejected,
    SqlTimeout,
)
from .guard import GuardedSql, SqlGuard
from .models import Text2SqlModel
from .pipeline import Answer, LazyText2Sql, Text2Sql
from .prompting import Example, HistoryTurn

__all__ = [
    "Answer",
    "Answerer",
    "AskdbError",
    "BadQuestion",
    "ConfigError",
    "DatabaseUnavailable",
    "Example",
    "GuardedSql",
    "HistoryTurn",
    "LazyText2Sql",
    "ModelUnavailable",
    "NotSql",
    "ReadOnlyDatabase",
    "ResultTable",
    "SqlFailed",
    "SqlGuard",
    "SqlRejected",
    "SqlTimeout",
    "Text2Sql",
    "Text2SqlModel",
    "detect_language",
    "open_readonly",
]
