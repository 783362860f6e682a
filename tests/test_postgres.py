"""On a real PostgreSQL server: the read-only connection refuses writes by itself."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from bot.store import ConversationStore
from nlsql import Answer, GuardedSql, ReadOnlyDatabase, SqlFailed, SqlGuard, SqlTimeout
from nlsql.sampledb import populate
from tests.pgserver import postgres_server

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as base:
        admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE jidouka")
            conn.exec_driver_sql("CREATE DATABASE askdb_state")
        admin.dispose()
        engine = sa.create_engine(f"{base}/jidouka")
        populate(engine)
        engine.dispose()
        yield base


def raw(sql: str) -> GuardedSql:
    return GuardedSql(sql, "postgres", capped=False, max_rows=1000)


def test_reads_work_and_schema_reflects(pg_url):
    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    assert db.dialect == "postgres"
    assert {"jidouka", "department", "jidoukatool"} <= db.schema().table_names
    guard = SqlGuard(db.dialect, db.schema().table_names)
    table = db.run(guard.check('SELECT COUNT(*) FROM "Jidouka"'))
    assert table.rows == ((420,),)
    text = db.schema_text()
    assert "'DC2'" in text
    # mixed-case names must be quoted in PostgreSQL, or the model's SQL cannot work
    assert 'CREATE TABLE "Jidouka" (' in text
    assert '"DepartmentId" INTEGER REFERENCES "Department"("DepartmentId")' in text


@pytest.mark.parametrize("sql", [
    'DELETE FROM "Department"',
    'INSERT INTO "Department" VALUES (99, \'X\')',
    "CREATE TABLE evil (a int)",
    'UPDATE "Jidouka" SET "TotalTimeSaved" = 0',
    "SELECT nextval('x')",  # not even a sequence change
])
def test_connection_refuses_writes_without_guard(pg_url, sql):
    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    with pytest.raises(SqlFailed):
        db.run(raw(sql))
    assert db.run(raw('SELECT COUNT(*) FROM "Department"')).rows == ((5,),)


def test_read_only_transaction_is_reported(pg_url):
    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    with pytest.raises(SqlFailed, match="read-only transaction"):
        db.run(raw('DELETE FROM "JidoukaTool"'))


def test_statement_timeout(pg_url):
    db = ReadOnlyDatabase(f"{pg_url}/jidouka", timeout_s=0.5)
    with pytest.raises(SqlTimeout):
        db.run(raw("SELECT pg_sleep(5)"))
    assert db.run(raw("SELECT 1")).rows == ((1,),)


def test_check_sql_cli_against_postgres(pg_url):
    def check(sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "askdb", "check-sql", "--db", f"{pg_url}/jidouka", sql],
            capture_output=True, text=True, timeout=60)

    ok = check('SELECT "DepartmentName" FROM "Department"')
    assert ok.returncode == 0 and "LIMIT 1000" in ok.stdout
    bad = check("SELECT * FROM pg_authid")
    assert bad.returncode == 1 and "pg_authid" in bad.stdout
    unknown = check("SELECT * FROM secrets")
    assert unknown.returncode == 1 and "not part of this database" in unknown.stdout


def test_state_store_on_postgres(pg_url):
    url = f"{pg_url}/askdb_state"
    ConversationStore(url).add_turn("slack:T:C:1", "slack", "U1",
                                    Answer(question="q", sql="SELECT 1", answer="a"))
    history = ConversationStore(url).history("slack:T:C:1")
    assert [(t.question, t.sql) for t in history] == [("q", "SELECT 1")]
