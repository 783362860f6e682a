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
    guard = SqlGuard(case["dialect"], case.get("tables"))
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


def test_capped_flag_and_rows():
    guard = SqlGuard("sqlite", max_rows=7)
    capped = guard.check("SELECT * FROM t")
    assert capped.capped and capped.sql.endswith("LIMIT 7")
    kept = guard.check("SELECT * FROM t LIMIT 3")
    assert not kept.capped


def test_transpiles_to_target_dialect():
    assert "TOP 1000" in SqlGuard("tsql").check("SELECT TOP 5000 a FROM t").sql
    out = SqlGuard("postgres").check("SELECT a FROM t WHERE b ILIKE '%x%'").sql
    assert "ILIKE" in out and "LIMIT 1000" in out


def test_credential_catalogs_rejected_even_when_listed_as_tables():
    guard = SqlGuard("postgres", known_tables=["pg_authid", "t"])
    with pytest.raises(SqlRejected):
        guard.check("SELECT * FROM pg_authid")
