"""Any database with an ODBC driver, through pyodbc: ``odbc:///?odbc_connect=...``.

SQLAlchemy covers SQL Server over ODBC (``mssql+pyodbc``), but companies also reach
databases only through an ODBC driver their vendor ships (or a DSN an administrator set
up). This path reads the schema with ODBC's own catalog calls (SQLTables, SQLColumns,
SQLPrimaryKeys, SQLForeignKeys), which every driver implements, and runs guarded queries
on a connection opened read-only, with the driver's query timeout. The SQL dialect for
the guard and the prompt comes from the driver (SQL_DBMS_NAME) or ``dialect=`` in the
URL.
"""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import DatabaseUnavailable, SqlFailed, SqlTimeout
from ..guard import GuardedSql
from ..schema import (
    POSTGRES_USER_FUNCTIONS,
    SAMPLE_MAX_LEN,
    SAMPLE_VALUES,
    Column,
    ForeignKey,
    Schema,
    SchemaCache,
    Table,
    quote_identifier,
)
from .results import ResultTable, fetch_rows

DBMS_TO_SQLGLOT = {"postgresql": "postgres", "microsoft sql server": "tsql",
                   "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql",
                   "oracle": "oracle", "snowflake": "snowflake"}
SYSTEM_SCHEMAS = {"pg_catalog", "information_schema", "sys", "INFORMATION_SCHEMA"}
TEXT_TYPES = ("char", "text", "string", "varchar", "nvarchar")


def is_odbc_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() in {"odbc", "odbc+pyodbc"}


def connection_string(url: str) -> tuple[str, str | None]:
    """``odbc:///?odbc_connect=...`` or ``odbc://DSN``; returns (string, dialect or None)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    dialect = query.pop("dialect", None)
    if "odbc_connect" in query:
        return query["odbc_connect"], dialect
    if parts.hostname:
        extra = "".join(f";{k}={v}" for k, v in query.items())
        return f"DSN={unquote(parts.hostname)}{extra}", dialect
    raise DatabaseUnavailable("An ODBC URL needs odbc_connect=... or a DSN: "
                              "odbc:///?odbc_connect=DRIVER%3D...  or  odbc://MyDsn")


class OdbcDatabase(SchemaCache):
    """Same contract as ReadOnlyDatabase (schema, run, dialect) over plain pyodbc."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        try:
            import pyodbc
        except ImportError as err:
            raise DatabaseUnavailable("ODBC needs pyodbc and unixODBC: run `make setup`.") \
                from err
        self.pyodbc = pyodbc
        self.url = url
        self.timeout_s = timeout_s
        self.connect_string, dialect = connection_string(url)
        self._dialect = _known_dialect(dialect) if dialect else None

    @property
    def _seconds(self) -> int:
        return max(1, math.ceil(self.timeout_s))  # ODBC counts whole seconds; 0 = never

    def _open(self):
        try:
            return self.pyodbc.connect(self.connect_string, readonly=True, autocommit=False,
                                       timeout=self._seconds)
        except self.pyodbc.Error as err:
            raise DatabaseUnavailable(f"I can't reach the database right now "
                                      f"({_message(err)}).") from err

    def connect(self):
        """A new read-only connection; PostgreSQL also gets a read-only session."""
        conn = self._open()
        try:
            try:
                conn.timeout = self._seconds  # SQL_ATTR_QUERY_TIMEOUT, where supported
            except self.pyodbc.Error:
                pass  # e.g. psqlODBC: PostgreSQL's statement_timeout below does it instead
            if self.dialect == "postgres":
                with conn.cursor() as cursor:
                    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    cursor.execute(f"SET statement_timeout = {int(self.timeout_s * 1000)}")
                conn.commit()
        except self.pyodbc.Error as err:
            conn.close()
            raise DatabaseUnavailable(f"The database refused askdb's session settings "
                                      f"({_message(err)}).") from err
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def dialect(self) -> str:
        if self._dialect is None:
            conn = self._open()
            try:
                name = conn.getinfo(self.pyodbc.SQL_DBMS_NAME).lower()
            except self.pyodbc.Error as err:
                raise DatabaseUnavailable(f"The ODBC driver did not say which database it "
                                          f"is ({_message(err)}): add dialect=... to the "
                                          "URL.") from err
            finally:
                conn.close()
            self._dialect = _known_dialect(DBMS_TO_SQLGLOT.get(name, name))
        return self._dialect

    def _reflect(self) -> Schema:
        conn = self.connect()
        try:
            return self._read_catalog(conn)
        except self.pyodbc.Error as err:
            raise DatabaseUnavailable(f"I could not read the schema ({_message(err)}).") from err
        finally:
            conn.close()

    def _read_catalog(self, conn) -> Schema:
        cursor = conn.cursor()
        names = sorted({(r.table_schem, r.table_name) for r in cursor.tables(tableType="TABLE")
                        if r.table_schem not in SYSTEM_SCHEMAS}, key=lambda n: n[1])
        tables = []
        for schem, name in names:
            pk = {r.column_name for r in cursor.primaryKeys(name, schema=schem)}
            columns = []
            for col in cursor.columns(table=name, schema=schem).fetchall():
                samples = ()
                if col.column_name not in pk and any(t in col.type_name.lower()
                                                     for t in TEXT_TYPES):
                    samples = self._samples(conn, name, col.column_name)
                columns.append(Column(col.column_name, col.type_name.upper(),
                                      col.column_name in pk, samples))
            fks: dict[str, list] = {}
            for fk in cursor.foreignKeys(foreignTable=name, foreignSchema=schem).fetchall():
                key = fk.fk_name or f"{fk.pktable_name}"
                fks.setdefault(key, []).append(fk)
            foreign = tuple(ForeignKey(tuple(r.fkcolumn_name for r in rows),
                                       rows[0].pktable_name,
                                       tuple(r.pkcolumn_name for r in rows))
                            for rows in fks.values())
            tables.append(Table(name, tuple(columns), foreign))
        functions = None
        if self.dialect == "postgres":  # the guard refuses t.f where f is one of these
            functions = frozenset(str(r[0]).lower()
                                  for r in cursor.execute(POSTGRES_USER_FUNCTIONS).fetchall())
        conn.rollback()
        return Schema(dialect=self.dialect, tables=tuple(tables), functions=functions)

    def _samples(self, conn, table: str, column: str) -> tuple[str, ...]:
        col, tab = quote_identifier(column, self.dialect), quote_identifier(table, self.dialect)
        top = f"TOP {SAMPLE_VALUES + 1} " if self.dialect == "tsql" else ""
        limit = "" if top else f" LIMIT {SAMPLE_VALUES + 1}"
        sql = (f"SELECT {top}{col} FROM {tab} WHERE {col} IS NOT NULL GROUP BY {col} "
               f"ORDER BY COUNT(*) DESC, {col}{limit}")
        try:
            with conn.cursor() as cursor:
                values = [r[0] for r in cursor.execute(sql).fetchall()]
        except self.pyodbc.Error:
            conn.rollback()
            return ()
        texts = [str(v) for v in values if isinstance(v, str)]
        if not texts or any(len(v) > SAMPLE_MAX_LEN or "\n" in v for v in texts):
            return ()
        return tuple(texts[:SAMPLE_VALUES])

    def run(self, guarded: GuardedSql):
        started = time.perf_counter()
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(guarded.sql)
                columns = tuple(d[0] for d in cursor.description or ())
                rows, cut = fetch_rows(cursor, guarded.max_rows, self.timeout_s)
        except self.pyodbc.Error as err:
            raise _classify(err, self.timeout_s) from err
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()
        truncated = cut or (guarded.capped and len(rows) >= guarded.max_rows)
        return ResultTable(columns, rows, truncated, time.perf_counter() - started)

    def dispose(self) -> None:
        """Connections are opened per query; nothing is pooled."""


def _known_dialect(name: str) -> str:
    """The guard parses SQL with sqlglot: an unknown dialect must fail here, clearly."""
    from sqlglot.dialects.dialect import Dialect

    try:
        Dialect.get_or_raise(name)
    except ValueError as err:
        raise DatabaseUnavailable(f"askdb does not know the SQL dialect {name!r}: add "
                                  "dialect=postgres|tsql|mysql|sqlite|... to the URL.") from err
    return name


def _message(err: Exception) -> str:
    text = str(err.args[1] if len(err.args) > 1 else err)
    return text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__


def _classify(err: Exception, timeout_s: float):
    state = str(err.args[0]) if err.args else ""
    message = _message(err)
    if state in {"HYT00", "HYT01", "57014"} or "statement timeout" in message.lower() \
            or "canceling statement" in message.lower():
        return SqlTimeout(f"The query took longer than {timeout_s:g} s and was stopped.")
    if state.startswith("08"):
        return DatabaseUnavailable(f"I can't reach the database right now ({message}).")
    return SqlFailed(f"The database could not run the query: {message}")
