"""The guard against golden files of hostile and tricky SQL, per dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlsql import SqlGuard, SqlRejected

CASES = yaml.safe_load((Path(__file__).parent / "golden" / "guard.yaml").read_text())


def test_golden_file_is_big_enough():
    dialects = {c["dialect"] for c in CASES}
    assert {"sqlite", "postgres", "tsql"} <= dialects
    assert sum(c["verdict"] == "reject" for c in CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[f"{c['dialect']}-{c['title']}" for c in CASES])
def test_golden(case):
    columns = case.get("columns")  # {table: [column, ...]}: the tables and their columns
    tables = list(columns) if columns else case.get("tables")
    guard = SqlGuard(case["dialect"], tables, known_columns=columns,
                     user_functions=case.get("functions"))
    if case["verdict"] == "allow":
        out = guard.check(case["sql"]).sql
        assert case.get("output", "") in out
        # what the guard lets out must itself pass the guard (idempotent)
        assert guard.check(out).sql == out
    else:
        with pytest.raises(SqlRejected) as err:
            guard.check(case["sql"])
        assert case.get("reason", "").lower() in err.value.reason.lower()
        assert err.value.user_message.startswith("I won't run that SQL")
        # a table or column the database lacks is a slip the model may fix on a retry
        assert err.value.mistake == case.get("mistake", False)


def test_capped_flag_and_rows():
    guard = SqlGuard("sqlite", max_rows=7)
    capped = guard.check("SELECT * FROM t")
    assert capped.capped and capped.sql.endswith("LIMIT 7")
    kept = guard.check("SELECT * FROM t LIMIT 3")
    assert not kept.capped
    # what is remembered (history, examples, training) is the query as written
    assert capped.query == "SELECT * FROM t" and kept.query == "SELECT * FROM t LIMIT 3"
    assert guard.check("  SELECT a  FROM t ; ;\n").query == "SELECT a  FROM t"


def test_transpiles_to_target_dialect():
    assert "TOP 1000" in SqlGuard("tsql").check("SELECT TOP 5000 a FROM t").sql
    out = SqlGuard("postgres").check("SELECT a FROM t WHERE b ILIKE '%x%'").sql
    assert "ILIKE" in out and "LIMIT 1000" in out


def test_credential_catalogs_rejected_even_when_listed_as_tables():
    guard = SqlGuard("postgres", known_tables=["pg_authid", "t"])
    with pytest.raises(SqlRejected):
        guard.check("SELECT * FROM pg_authid")


@pytest.mark.parametrize("sql", ["SELECT TOP 100 PERCENT a FROM t ORDER BY a",
                                 "SELECT TOP 1 WITH TIES a FROM t ORDER BY b"])
def test_top_percent_and_with_ties_are_not_a_row_count(sql):
    guarded = SqlGuard("tsql", max_rows=50).check(sql)
    assert guarded.capped and guarded.sql.startswith("SELECT TOP 50 * FROM (")


def test_operator_allows_their_own_functions():
    sql = "SELECT fiscal_quarter(d), COUNT(*) FROM t GROUP BY 1"
    with pytest.raises(SqlRejected, match="fiscal_quarter"):
        SqlGuard("postgres", ["t"]).check(sql)
    allowed = SqlGuard("postgres", ["t"], extra_functions=["Fiscal_Quarter"]).check(sql)
    assert "fiscal_quarter(d)" in allowed.sql.lower()
    # the operator's list lifts the refusal of its own names only
    with pytest.raises(SqlRejected, match="pg_sleep"):
        SqlGuard("postgres", ["t"], extra_functions=["fiscal_quarter"]).check(
            "SELECT pg_sleep(10), fiscal_quarter(d) FROM t")


def test_settings_carry_allowed_functions():
    from askdb.settings import Settings

    settings = Settings.from_env({"ASKDB_ALLOWED_FUNCTIONS": "fiscal_quarter, Net_Days"})
    assert settings.extra_functions == ("fiscal_quarter", "net_days")
    assert Settings.from_env({}).extra_functions == ()


def test_deep_nesting_is_refused_not_crashed():
    sql = "SELECT " + "(" * 400 + "1" + ")" * 400
    with pytest.raises(SqlRejected):
        SqlGuard("sqlite").check(sql)
