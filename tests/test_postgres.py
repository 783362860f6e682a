"""On a real PostgreSQL server: the read-only connection refuses writes by itself."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from bot.store import ConversationStore
from nlsql import (
    Answer,
    GuardedSql,
    ReadOnlyDatabase,
    SqlFailed,
    SqlGuard,
    SqlRejected,
    SqlTimeout,
)
from nlsql.db.sampledb import populate
from tests.pgserver import create_attribute_call_target, create_database, postgres_server

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as base:
        create_database(base, "askdb_state")
        engine = sa.create_engine(create_database(base, "jidouka"))
        populate(engine)
        create_attribute_call_target(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SEQUENCE ticket_no")
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


def test_attribute_notation_calls_are_refused_columns_pass(pg_url):
    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    call = 'SELECT d.leak FROM "Department" d LIMIT 1'
    # the premise, on the server itself: no function call in the text, yet one runs
    assert str(db.run(raw(call)).rows[0][0]).startswith("leaked")
    assert "leak" in db.schema().functions  # read from pg_proc with the schema
    guard = SqlGuard.for_schema(db.dialect, db.schema())
    with pytest.raises(SqlRejected, match=r"function leak\(\)"):
        guard.check(call)
    fine = guard.check('SELECT d."DepartmentName", COUNT(j."JidoukaId") FROM "Department" d '
                       'JOIN "Jidouka" j ON j."DepartmentId" = d."DepartmentId" '
                       'GROUP BY d."DepartmentName"')
    assert len(db.run(fine).rows) == 5


def test_read_only_transaction_is_reported(pg_url):
    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    # a SELECT whose function writes: the transaction itself refuses it
    with pytest.raises(SqlFailed, match="read-only transaction"):
        db.run(raw("SELECT nextval('ticket_no')"))


def test_percent_signs_reach_the_server_as_written(pg_url):
    """LIKE patterns, modulo and format strings: psycopg must not read % as a placeholder."""
    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    guard = SqlGuard(db.dialect, db.schema().table_names)
    table = db.run(guard.check(
        'SELECT COUNT(*), SUM("DepartmentId" % 2), MIN(to_char(1.5, \'9.9%\')) '
        'FROM "Department" WHERE "DepartmentName" LIKE \'DC%\' '
        'AND "DepartmentName" NOT ILIKE \'%x%%\''))
    assert table.rows == ((5, 3, " 1.5%"),)


def test_huge_result_is_streamed_and_cut(pg_url):
    """~1 GB of rows: fetched in batches and cut at the byte budget, never held whole."""
    import resource

    from nlsql.db import MAX_RESULT_BYTES

    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    table = db.run(raw("SELECT n, repeat('x', 1000000) FROM generate_series(1, 1000) AS n"))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert table.truncated
    assert table.row_count == MAX_RESULT_BYTES // 1_000_016
    assert [r[0] for r in table.rows] == list(range(1, table.row_count + 1))
    assert grown_mb < 400


def test_a_size_carried_by_a_column_is_bounded_on_the_server(pg_url):
    """A red-team query built a 300 MB string from a CTE's column; guarded, it builds
    at most a million characters, and ordinary sizes from the data are unchanged."""
    from nlsql.guard import SqlGuard

    db = ReadOnlyDatabase(f"{pg_url}/jidouka")
    guard = SqlGuard("postgres")
    huge = guard.check("WITH c AS (SELECT 300000000 AS n) SELECT length(repeat('x', n)) FROM c")
    assert db.run(huge).rows == ((1_000_000,),)
    bar = guard.check("SELECT repeat('*', n) FROM generate_series(1, 3) AS n ORDER BY n")
    assert [r[0] for r in db.run(bar).rows] == ["*", "**", "***"]


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


def test_state_migrations_upgrade_an_older_database_in_place(pg_url):
    from bot import migrations
    from tests.test_store import legacy_turns

    url = create_database(pg_url, "state_legacy")
    engine = sa.create_engine(url)
    old = legacy_turns(sa.MetaData())
    old.create(engine)  # what an early askdb left behind
    with engine.begin() as conn:
        conn.execute(old.insert().values(
            thread_key="web:old", platform="web", user_id="u", question="kept?",
            created_at=sa.func.now()))
    assert migrations.current_version(engine) == 0
    store = ConversationStore(url)
    latest = max(m.version for m in migrations.MIGRATIONS)
    assert migrations.current_version(engine) == latest
    assert [t["question"] for t in store.turns("web:old")] == ["kept?"]
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("askdb_audit")}
    assert "ix_askdb_audit_user" in indexes
    assert "written_sql" in {c["name"] for c in sa.inspect(engine).get_columns("askdb_turns")}
    assert migrations.upgrade(engine) == []  # a second start changes nothing
    store.dispose()
    engine.dispose()


def test_replicas_starting_together_apply_each_step_once(pg_url):
    import threading
    import time

    from bot import migrations

    url = create_database(pg_url, "state_race")
    runs: list[int] = []

    def slow_step(conn):
        runs.append(1)
        time.sleep(0.5)  # long enough for the other replica to arrive meanwhile
        conn.exec_driver_sql("CREATE TABLE race_marker (x int)")

    steps = [migrations.Migration(1, "slow", slow_step)]
    engines = [sa.create_engine(url) for _ in range(3)]
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda e=e: results.append(
        migrations.upgrade(e, steps))) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(runs) == 1 and sorted(map(len, results)) == [0, 0, 1]
    for engine in engines:
        engine.dispose()
