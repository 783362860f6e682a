"""`askdb doctor`: every check can pass and can fail, and says what to fix."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from askdb import doctor
from nlsql.db import readonly_engine
from tests.conftest import real_settings
from tests.fake_slack import FakeSlack
from tests.test_cli import askdb


def _by_name(checks):
    return {c.name: c for c in checks}


def test_healthy_setup_passes_from_the_command_line(tmp_path):
    result = askdb("doctor", "--json", env={"ASKDB_STATE_URL": f"sqlite:///{tmp_path}/s.db"})
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert result.returncode == 0 and report["ok"], result.stdout
    assert checks["database"]["status"] == "ok" and "tables" in checks["database"]["detail"]
    assert checks["database read-only"]["status"] == "ok"
    assert checks["model weights"]["detail"].endswith("SHA-256 verified")
    assert checks["slack"]["status"] == "ok"  # not configured is fine


def test_unreachable_database_fails_with_a_fix(tmp_path):
    result = askdb("doctor", env={"ASKDB_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x",
                                  "ASKDB_STATE_URL": f"sqlite:///{tmp_path}/s.db",
                                  "ASKDB_MODEL": str(tmp_path / "no-model")})
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    failing = [line for line in lines if line.startswith("FAIL")]
    assert any("database" in line for line in failing)
    assert any("model" in line for line in failing)
    assert any("fix: Check ASKDB_DATABASE_URL" in line for line in lines)


def test_read_only_probe_tells_a_writable_login_apart(sample_db, tmp_path):
    import sqlite3

    writable = sa.create_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    probe = doctor._probe_read_only(writable.raw_connection, sqlite3.Error, begin=True)
    assert probe.status == doctor.WARN
    assert not sa.inspect(writable).get_table_names(), "the probe must roll back"
    guarded = readonly_engine(f"sqlite:///{sample_db}", 5)
    probe = doctor._probe_read_only(guarded.raw_connection, sqlite3.Error, begin=True)
    assert probe.status == doctor.OK


@pytest.fixture
def fake_slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.mark.parametrize("token, status, detail", [
    ("xoxb-1-good", doctor.OK, "bot askdb in Test"),
    ("xoxb-1-revoked", doctor.FAIL, "invalid_auth"),
    ("xoxp-user-token", doctor.FAIL, "not a bot token"),
])
def test_slack_token_is_checked_against_the_api(fake_slack, token, status, detail):
    settings = real_settings(slack_bot_token=token, slack_signing_secret="s",
                             slack_api_url=fake_slack.base_url)
    check = _by_name(doctor.check_slack(settings))["slack"]
    assert check.status == status and detail in check.detail


def test_teams_credentials_shape():
    bad = real_settings(teams_app_id="my-bot", teams_app_password="")
    check = doctor.check_teams(bad)[0]
    assert check.status == doctor.FAIL and "GUID" in check.detail and "Password" in check.detail
    good = real_settings(teams_app_id="8f0b7a4e-1c2d-4e5f-9a8b-7c6d5e4f3a2b",
                         teams_app_password="secret")
    assert doctor.check_teams(good)[0].status == doctor.OK


def test_a_crashing_check_is_reported_not_raised(monkeypatch):
    def broken(settings):
        raise RuntimeError("surprise")

    monkeypatch.setattr(doctor, "CHECKS", [broken])
    (check,) = doctor.run_checks(real_settings())
    assert check.status == doctor.FAIL and "surprise" in check.detail
