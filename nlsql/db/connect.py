"""Opening the database a question is about: SQLAlchemy's engine for most URLs, plain
ODBC for ``odbc://`` ones (a DSN or a driver SQLAlchemy has no dialect for)."""

from __future__ import annotations

from .execute import ReadOnlyDatabase
from .odbc import OdbcDatabase, is_odbc_url


def open_readonly(database_url: str, timeout_s: float = 30.0):
    """The read-only database for a URL: SQLAlchemy's, or plain ODBC for ``odbc://``."""
    if is_odbc_url(database_url):
        return OdbcDatabase(database_url, timeout_s)
    return ReadOnlyDatabase(database_url, timeout_s)
