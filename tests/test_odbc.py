"""The real pyodbc path, end to end: PostgreSQL through Debian's psqlODBC driver."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa

from askdb.doctor import check_database
from nlsql import (
    DatabaseUnavailable,
    GuardedSql,
    ReadOnlyDatabase,
    SqlFailed,
    SqlGuard,
    SqlRejected,
    SqlTimeout,
    open_readonly,
)
from nlsql.db.odbc import OdbcDatabase
from nlsql.db.sampledb import populate
from tests.conftest import real_settings
from tests.pgserver import create_attribute_call_target, create_database, postgres_server
from tests.test_cli import askdb

pytestmark = pytest.mark.postgres


def _odbc_url(sa_url: str, **extra: str) -> str:
    url = sa.engine.make_url(sa_url)
    parts = {"DRIVER": "{PostgreSQL Unicode}", "SERVER": url.host, "PORT": str(url.port),
             "DATABASE": url.database, "UID": url.username, "PWD": "", **extra}
    return "odbc:///?odbc_connect=" + quote(";".join(f"{k}={v}" for k, v in parts.items()))


@pytest.fixture(scope="module")
def company():
    with postgres_server() as base:
        url = create_database(base, "company")
        engine = sa.create_engine(url)
        populate(engine)
        create_attribute_call_target(engine)
        engine.dispose()
        yield url


def raw(sql: str) -> GuardedSql:
    return GuardedSql(sql, "postgres", capped=False, max_rows=1000)


def test_schema_and_answers_match_the_native_driver(company):
    odbc = open_readonly(_odbc_url(company))
    native = ReadOnlyDatabase(company)
    assert isinstance(odbc, OdbcDatabase) and odbc.dialect == "postgres"  # from the driver
    schema = odbc.schema()
    assert {"jidouka", "department", "jidoukatool"} <= schema.table_names
    jidouka = schema.table("jidouka")
    assert any(c.primary_key for c in jidouka.columns)
    assert "Department" in {fk.ref_table for fk in jidouka.foreign_keys}
    assert any(c.samples for t in schema.tables for c in t.columns), "text samples read"
    assert "CREATE TABLE" in odbc.schema_text()
    assert schema.functions == native.schema().functions and "leak" in schema.functions
    guard = SqlGuard.for_schema("postgres", schema)
    with pytest.raises(SqlRejected, match="function leak"):
        guard.check('SELECT d.leak FROM "Department" d')
    sql = guard.check('SELECT d."DepartmentName", COUNT(*) FROM "Jidouka" j JOIN "Department" d '
                      'ON j."DepartmentId" = d."DepartmentId" GROUP BY d."DepartmentName" '
                      "ORDER BY 2 DESC, 1")
    via_odbc, via_native = odbc.run(sql), native.run(sql)
    assert via_odbc.rows and [tuple(map(str, r)) for r in via_odbc.rows] == \
        [tuple(map(str, r)) for r in via_native.rows]
    native.dispose()


def test_odbc_connection_refuses_writes_and_stops_slow_queries(company):
    odbc = OdbcDatabase(_odbc_url(company), timeout_s=1)
    with pytest.raises(SqlFailed, match="read-only"):
        odbc.run(raw("CREATE TABLE sneaky (x int)"))
    with pytest.raises(SqlTimeout):
        odbc.run(raw("SELECT pg_sleep(5)"))
    with pytest.raises(SqlFailed, match="nosuchtable"):
        odbc.run(raw("SELECT * FROM nosuchtable"))
    checks = {c.name: c for c in check_database(real_settings(
        database_url=_odbc_url(company)))}
    assert checks["database"].status == "ok" and checks["database read-only"].status == "ok"


def test_unreachable_or_malformed_odbc_urls_are_clear(company):
    dead = sa.engine.make_url(company).set(port=1).render_as_string(hide_password=False)
    with pytest.raises(DatabaseUnavailable, match="can't reach"):
        OdbcDatabase(_odbc_url(dead), timeout_s=3).schema()
    with pytest.raises(DatabaseUnavailable, match="odbc_connect"):
        OdbcDatabase("odbc:///")
    with pytest.raises(DatabaseUnavailable, match="dialect 'db2'"):
        OdbcDatabase(_odbc_url(company) + "&dialect=db2")


def test_cli_checks_sql_against_an_odbc_database(company):
    url = _odbc_url(company)
    ok = askdb("check-sql", "--db", url, 'SELECT "DepartmentName" FROM "Department"')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = askdb("check-sql", "--db", url, "SELECT * FROM pg_shadow")
    assert bad.returncode == 1
    assert "pg_shadow" in bad.stdout and "Traceback" not in bad.stdout + bad.stderr
