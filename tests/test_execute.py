"""Read-only execution on SQLite: writes refused by the connection itself, timeouts."""

from __future__ import annotations

import time

import pytest

from nlsql import DatabaseUnavailable, GuardedSql, ReadOnlyDatabase, SqlFailed, SqlGuard, SqlTimeout
from nlsql.db import MAX_RESULT_BYTES, fetch_rows


def raw(sql: str, max_rows: int = 1000) -> GuardedSql:
    """A statement that did NOT go through the guard, to prove the connection's own limits."""
    return GuardedSql(sql, "sqlite", capped=False, max_rows=max_rows)


def test_query_returns_typed_table(sample_url):
    db = ReadOnlyDatabase(sample_url)
    table = db.run(SqlGuard("sqlite").check(
        "SELECT DepartmentName, COUNT(*) AS n FROM Department d JOIN Jidouka j "
        "ON j.DepartmentId = d.DepartmentId GROUP BY 1 ORDER BY 1"))
    assert table.columns == ("DepartmentName", "n")
    assert [r[0] for r in table.rows] == ["DC1", "DC2", "DC3", "DC4", "DC5"]
    assert sum(r[1] for r in table.rows) == 420
    assert not table.truncated and table.elapsed_s >= 0


def test_truncated_flag(sample_url):
    db = ReadOnlyDatabase(sample_url)
    table = db.run(SqlGuard("sqlite", max_rows=10).check("SELECT * FROM Jidouka"))
    assert table.row_count == 10 and table.truncated


@pytest.mark.parametrize("sql", [
    "DELETE FROM Department",
    "INSERT INTO Department VALUES (99, 'X')",
    "CREATE TABLE evil (a INT)",
    "UPDATE Jidouka SET TotalTimeSaved = 0",
])
def test_connection_refuses_writes_without_guard(sample_url, sample_db, sql):
    db = ReadOnlyDatabase(sample_url)
    with pytest.raises(SqlFailed, match=r"readonly|read-only|read only"):
        db.run(raw(sql))
    check = db.run(raw("SELECT COUNT(*) FROM Department"))
    assert check.rows[0][0] == 5


def test_timeout_stops_runaway_query(sample_url):
    db = ReadOnlyDatabase(sample_url, timeout_s=0.5)
    runaway = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) "
               "SELECT MAX(n) FROM c")
    with pytest.raises(SqlTimeout, match=r"longer than 0\.5 s"):
        db.run(SqlGuard("sqlite").check(runaway))
    # the connection is usable afterwards
    assert db.run(raw("SELECT 1")).rows == ((1,),)


def test_sqlite_refuses_to_build_huge_values(sample_url):
    db = ReadOnlyDatabase(sample_url)
    for sql in ("SELECT hex(zeroblob(6000000))", "SELECT zeroblob(20000000)"):
        with pytest.raises(SqlFailed, match="larger than 8 MB"):
            db.run(raw(sql))  # not through the guard: the connection's own limit
    assert len(db.run(raw("SELECT zeroblob(1000000)")).rows[0][0]) == 1000000


def test_result_is_cut_at_the_byte_budget(sample_url):
    """1000 rows of 1 MB: rows stop being fetched at the budget; the table says so."""
    db = ReadOnlyDatabase(sample_url)
    table = db.run(raw("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
                       "WHERE n < 1000) SELECT n, zeroblob(1000000) FROM c"))
    assert table.truncated and 0 < table.row_count < 1000
    assert table.row_count == MAX_RESULT_BYTES // 1_000_016
    assert [r[0] for r in table.rows] == list(range(1, table.row_count + 1))


def test_fetch_is_held_to_the_timeout():
    """A result streamed in slow batches is stopped, even if each batch is quick enough."""
    def slow_rows():
        for n in range(100):
            time.sleep(0.05)
            yield (n,)

    with pytest.raises(SqlTimeout, match=r"longer than 0\.2 s"):
        fetch_rows(slow_rows(), 1000, timeout_s=0.2)
    rows, cut = fetch_rows(iter([(1, "a"), (2, "b")]), 1000, timeout_s=0.2)
    assert rows == ((1, "a"), (2, "b")) and not cut
    rows, cut = fetch_rows(iter([(1, "abc")] * 10), 1000, max_bytes=60)
    assert len(rows) == 3 and cut
    # PostgreSQL arrays and JSON arrive as lists and dicts: their contents count
    big = (["x" * 1000, ["y" * 1000]], {"k": "z" * 1000})
    rows, cut = fetch_rows(iter([big] * 100), 1000, max_bytes=10_000)
    assert len(rows) == 3 and cut


def test_rows_past_the_cap_mark_the_table_cut():
    """TOP 100 PERCENT and the like escape the guard's LIMIT: the fetch still says so."""
    assert fetch_rows(iter([(i,) for i in range(5)]), 3) == (((0,), (1,), (2,)), True)
    assert fetch_rows(iter([(i,) for i in range(3)]), 3) == (((0,), (1,), (2,)), False)


def test_missing_sqlite_file(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="does not exist"):
        ReadOnlyDatabase(f"sqlite:///{tmp_path / 'nope.sqlite'}")


def test_unknown_column_is_a_clear_error(sample_url):
    db = ReadOnlyDatabase(sample_url)
    with pytest.raises(SqlFailed, match="no such column: Budget"):
        db.run(SqlGuard("sqlite").check("SELECT Budget FROM Department"))


def test_invalid_utf8_text_is_read(tmp_path):
    import sqlite3

    path = tmp_path / "bytes.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (s TEXT)")
    conn.execute("INSERT INTO t VALUES (CAST(X'41FF42' AS TEXT))")
    conn.commit()
    conn.close()
    table = ReadOnlyDatabase(f"sqlite:///{path}").run(raw("SELECT s FROM t"))
    assert table.rows[0][0].startswith("A") and table.rows[0][0].endswith("B")
