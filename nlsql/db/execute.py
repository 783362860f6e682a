"""Read-only execution with a time limit, returning a typed result table.

Read-only is enforced by the connection itself (SQLite ``mode=ro``, a PostgreSQL
read-only transaction, SQL Server ``ApplicationIntent=ReadOnly``) in addition to the
guard, so a guard bug alone cannot change data.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from ..errors import DatabaseUnavailable, SqlFailed, SqlTimeout
from ..guard import SQLALCHEMY_TO_SQLGLOT, GuardedSql
from ..schema import Schema, SchemaCache, reflect_schema
from .results import MAX_VALUE_BYTES, ResultTable, fetch_rows

log = logging.getLogger(__name__)

def _sqlite_engine(url: URL) -> Engine:
    path = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not path.exists():
        raise DatabaseUnavailable(f"The SQLite database file {url.database!r} does not exist.")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect():
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        # some real databases hold text that is not valid UTF-8
        conn.text_factory = lambda b: b.decode("utf-8", "replace")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        return conn

    return sa.create_engine("sqlite://", creator=connect)


def _postgres_engine(url: URL, timeout_s: float) -> Engine:
    options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout_s * 1000)}"
    return sa.create_engine(
        url,
        connect_args={"options": options, "connect_timeout": 10},
        execution_options={"postgresql_readonly": True},
        pool_pre_ping=True,
    )


def _mssql_engine(url: URL, timeout_s: float) -> Engine:
    query = dict(url.query)
    odbc = query.get("odbc_connect")
    if odbc and "applicationintent" not in odbc.lower():
        query["odbc_connect"] = odbc.rstrip(";") + ";ApplicationIntent=ReadOnly"
    elif not odbc:
        query.setdefault("ApplicationIntent", "ReadOnly")
    engine = sa.create_engine(url.set(query=query), pool_pre_ping=True)

    @sa.event.listens_for(engine, "connect")
    def _set_timeout(dbapi_conn, _record):  # pyodbc: per-connection query timeout
        dbapi_conn.timeout = int(timeout_s)

    return engine


def readonly_engine(database_url: str, timeout_s: float) -> Engine:
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return _postgres_engine(url, timeout_s)
    if backend == "mssql":
        return _mssql_engine(url, timeout_s)
    return sa.create_engine(url, pool_pre_ping=True)


class ReadOnlyDatabase(SchemaCache):
    """The company database askdb answers about: schema (cached) and guarded queries."""

    def __init__(self, database_url: str, timeout_s: float = 30.0) -> None:
        self.url = database_url
        self.timeout_s = timeout_s
        try:
            self.engine = readonly_engine(database_url, timeout_s)
        except (sa.exc.ArgumentError, ImportError) as err:
            raise DatabaseUnavailable(f"The database URL is not usable: {err}") from err

    @property
    def dialect(self) -> str:
        """The sqlglot dialect name of this database."""
        name = self.engine.dialect.name
        return SQLALCHEMY_TO_SQLGLOT.get(name, name)

    def _reflect(self) -> Schema:
        try:
            return reflect_schema(self.engine)
        except sa.exc.DBAPIError as err:
            raise DatabaseUnavailable(_unreachable(err)) from err

    def run(self, guarded: GuardedSql) -> ResultTable:
        started = time.perf_counter()
        try:
            # rows arrive in batches from a server-side cursor where the driver has one
            # (PostgreSQL), so the byte budget applies before libpq buffers it all
            with self.engine.connect().execution_options(
                    stream_results=True, max_row_buffer=10) as conn:
                stop = _install_sqlite_deadline(conn, started + self.timeout_s)
                try:
                    result = conn.exec_driver_sql(_driver_text(guarded.sql, conn))
                    columns = tuple(result.keys())
                    rows, cut = fetch_rows(result, guarded.max_rows, self.timeout_s)
                    result.close()
                finally:
                    stop()
                    conn.rollback()
        except sa.exc.DBAPIError as err:
            raise _classify(err, self.timeout_s) from err
        truncated = cut or (guarded.capped and len(rows) >= guarded.max_rows)
        return ResultTable(columns, rows, truncated, time.perf_counter() - started)

    def dispose(self) -> None:
        self.engine.dispose()


def _driver_text(sql: str, conn: sa.Connection) -> str:
    """SQL as the driver must receive it: drivers with ``%s`` placeholders (psycopg,
    PyMySQL) read every ``%`` as one, so ``LIKE 'DC%'`` and ``a % 7`` are doubled."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%")
    return sql


def _install_sqlite_deadline(conn: sa.Connection, deadline: float):
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        return lambda: None
    raw.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
    return lambda: raw.set_progress_handler(None, 0)


def _first_line(err: sa.exc.DBAPIError) -> str:
    text = str(err.orig) if err.orig is not None else str(err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


def _unreachable(err: sa.exc.DBAPIError) -> str:
    return f"I can't reach the database right now ({_first_line(err)})."


def _classify(err: sa.exc.DBAPIError, timeout_s: float):
    message = _first_line(err)
    low = message.lower()
    if "string or blob too big" in low:
        return SqlFailed(f"The query builds a value larger than {MAX_VALUE_BYTES // 2**20} MB, "
                         "more than a chat reply can show.")
    if "interrupted" in low or "statement timeout" in low or "canceling statement" in low \
            or "hyt00" in low or "query timeout" in low:
        return SqlTimeout(f"The query took longer than {timeout_s:g} s and was stopped.")
    if err.connection_invalidated or "could not connect" in low or "connection refused" in low \
            or "unable to open database" in low:
        return DatabaseUnavailable(_unreachable(err))
    return SqlFailed(f"The database could not run the query: {message}")
