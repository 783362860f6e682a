"""The `askdb` command line contract (exit codes, JSON keys)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def askdb(*args: str, stdin: str | None = None, env: dict | None = None,
          timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "askdb", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.mark.parametrize("dialect, sql, code, expected", [
    ("sqlite", "SELECT * FROM Jidouka", 0, "SELECT * FROM Jidouka LIMIT 1000"),
    ("tsql", "SELECT a FROM t LIMIT 10", 0, "SELECT TOP 10 a FROM t"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')", 1, "pg_read_file"),
    ("tsql", "SELECT * FROM sys.sql_logins", 1, "sql_logins"),
    ("sqlite", "DROP TABLE Jidouka", 1, "only read queries"),
])
def test_check_sql_dialect(dialect, sql, code, expected):
    result = askdb("check-sql", "--dialect", dialect, sql)
    assert result.returncode == code
    assert expected in result.stdout


def test_check_sql_against_database_tables(sample_url):
    assert askdb("check-sql", "--db", sample_url, "SELECT ToolName FROM Tool").returncode == 0
    bad = askdb("check-sql", "--db", sample_url, "SELECT * FROM sqlite_master")
    assert bad.returncode == 1 and "not part of this database" in bad.stdout


def test_ask_with_missing_model_is_one_clear_line(sample_url, tmp_path):
    result = askdb("ask", "--db", sample_url, "--json", "how many tools?",
                   env={"ASKDB_MODEL": str(tmp_path / "no-model"),
                        "ASKDB_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"})
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["error"].startswith("The model folder") and "\n" not in out["error"]
    assert set(out) >= {"sql", "columns", "rows", "answer", "error", "timings"}


def test_sample_db_command(tmp_path):
    result = askdb("sample-db", str(tmp_path / "x.sqlite"))
    assert result.returncode == 0 and result.stdout.strip().endswith("x.sqlite")


def test_audit_export_writes_csv_and_json_logs(tmp_path):
    from bot.audit import AuditLog
    from bot.messages import IncomingMessage
    from bot.store import ConversationStore
    from nlsql import Answer

    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    audit = AuditLog(ConversationStore(state).engine)
    audit.answered(IncomingMessage("teams", "teams:c", "how many tools?", "u7"),
                   Answer(question="how many tools?", sql="SELECT COUNT(*) FROM Tool",
                          timings={"total": 0.4}), 12)
    env = {"ASKDB_STATE_URL": state, "ASKDB_LOG_FORMAT": "json"}
    out = tmp_path / "audit.csv"
    result = askdb("audit", "export", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,created_at,event,turn_id") and len(lines) == 2
    assert "teams" in lines[1] and "u7" in lines[1] and "SELECT COUNT(*) FROM Tool" in lines[1]
    assert askdb("audit", "export", "--since", "2999-01-01", env=env).stdout.count("\n") == 1
    bad = askdb("audit", "export", "--since", "yesterday", env=env)
    assert bad.returncode == 1 and "not a date" in bad.stderr and "Traceback" not in bad.stderr
    wrong = askdb("audit", "export", env={**env, "ASKDB_LOG_FORMAT": "xml"})
    assert wrong.returncode == 2 and "ASKDB_LOG_FORMAT" in wrong.stderr


def test_json_log_lines_are_objects(capsys):
    import logging

    from askdb import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("INFO", "json")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("askdb.test").exception("failed %s", "here")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["level"] == "ERROR" and record["message"] == "failed here"
    assert record["logger"] == "askdb.test" and "ValueError: boom" in record["exception"]
