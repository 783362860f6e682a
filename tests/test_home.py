"""One home for models and state: `make run`, `askdb serve` and the bare CLI agree.

A person's correction given in the web chat of `make run` must be the one a fresh shell's
`askdb examples list` shows, and a store that holds corrections where askdb no longer
looks is reported rather than silently replaced by an empty one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from askdb.home import stray_stores, stray_warning
from askdb.settings import Settings
from nlsql.examples import ExampleStore
from tests.conftest import REPO, real_settings
from tests.serving import free_port, wait_healthy

ASKDB = str(REPO / ".venv" / "bin" / "askdb")


def _fresh_env(home: Path, **extra: str) -> dict[str, str]:
    """A new shell of a user whose home is ``home``: this machine's environment with no
    ASKDB_* variable and no cache folder of its own, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASKDB_", "XDG_", "MAKE", "MFLAGS"))}
    return {**env, "HOME": str(home), **extra}


def _store_with_an_example(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ExampleStore(f"sqlite:///{path}").add("sqlite:jidouka.sqlite", "How many tools?",
                                          "SELECT COUNT(*) FROM Tool", "correction")


def test_the_default_home_is_the_users_not_the_working_directorys(tmp_path, monkeypatch):
    monkeypatch.delenv("ASKDB_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.chdir(REPO)
    settings = Settings.from_env({})
    assert settings.cache_path == tmp_path / ".cache" / "askdb"
    assert settings.effective_state_url == \
        f"sqlite:///{tmp_path / '.cache' / 'askdb' / 'askdb-state.sqlite'}"
    make = (REPO / "Makefile").read_text()
    assert "ASKDB_CACHE_DIR" not in make, "make must not keep a home of its own"


def test_an_empty_store_beside_a_full_one_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    old = tmp_path / "xdg" / "askdb" / "askdb-state.sqlite"
    _store_with_an_example(old)
    home = tmp_path / "elsewhere"
    url = f"sqlite:///{home / 'askdb-state.sqlite'}"
    strays = stray_stores(url, home)
    assert [s.location for s in strays] == [str(old)] and strays[0].examples == 1
    message = stray_warning(strays, url, home)
    assert str(old) in message and "1 examples" in message and "ASKDB_STATE_URL" in message
    # once the store in use holds something, the other one is no longer news
    _store_with_an_example(home / "askdb-state.sqlite")
    assert stray_stores(url, home) == []


def test_doctor_and_examples_list_say_which_store_and_warn(tmp_path):
    old = tmp_path / "xdg" / "askdb" / "askdb-state.sqlite"
    _store_with_an_example(old)
    env = _fresh_env(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"),
                     ASKDB_CACHE_DIR=str(tmp_path / "new-home"))
    listed = subprocess.run([sys.executable, "-m", "askdb", "examples", "list", "--json"],
                            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""
    assert f"store: sqlite:///{tmp_path / 'new-home' / 'askdb-state.sqlite'}" in listed.stderr
    assert "warning" in listed.stderr and str(old) in listed.stderr
    doctor = subprocess.run([sys.executable, "-m", "askdb", "doctor", "--json"],
                            capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    report = json.loads(doctor.stdout)
    assert report["locations"]["home"] == str(tmp_path / "new-home")
    state = next(c for c in report["checks"] if c["name"] == "state database")
    assert state["status"] == "warn" and str(old) in state["detail"]


def test_examples_list_and_delete(tmp_path):
    env = {**os.environ, "ASKDB_CACHE_DIR": str(tmp_path)}
    _store_with_an_example(tmp_path / "askdb-state.sqlite")

    def askdb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "askdb", "examples", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    rows = [json.loads(line) for line in askdb("list", "--json").stdout.splitlines()]
    assert [(r["question"], r["source"]) for r in rows] == [("How many tools?", "correction")]
    assert askdb("list", "--source", "verified", "--json").stdout == ""
    assert "How many tools?" in askdb("list").stdout
    assert askdb("delete", str(rows[0]["id"]), "999").returncode == 1  # one was not there
    assert askdb("list", "--json").stdout == ""


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


@pytest.mark.model
def test_a_fresh_shell_sees_the_model_and_store_of_make_run(tmp_path):
    """`make run` for a user, a correction in its web chat, then that user's fresh shell:
    `askdb ask` finds the model and `askdb examples list` the correction."""
    prepared = real_settings().cache_path
    if not (prepared / "models").is_dir():
        pytest.fail(f"the bundled model is not prepared in {prepared}: run `make setup`")
    user = tmp_path / "user"
    home = user / ".cache" / "askdb"
    home.mkdir(parents=True)
    for part in ("models", "gguf"):  # the prepared model, without 8 GB of copies
        (home / part).symlink_to(prepared / part)
    port = free_port()
    log = tmp_path / "make-run.log"
    make_env = _fresh_env(user, ASKDB_PORT=str(port))
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=REPO,
                                env=make_env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_healthy(url, proc, 900), "make run did not serve:\n" + log.read_text()[-3000:]
        asked = _post(url + "api/chat", {"thread": "home", "text": "How many tools are there?"})
        fixed = _post(url + "api/correct", {"turn_id": asked["turn_id"],
                                            "sql": "SELECT COUNT(*) AS tools FROM Tool"})
        assert fixed["rows"] == [[10]], fixed
        served = log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    store_line = re.search(r"store: (\S+)", served)
    model_line = re.search(r"model: (\S+)", served)
    assert store_line and model_line, served[-3000:]
    assert store_line.group(1) == f"sqlite:///{home / 'askdb-state.sqlite'}"

    shell = _fresh_env(user)
    listed = subprocess.run([ASKDB, "examples", "list", "--json"], capture_output=True,
                            text=True, env=shell, cwd=tmp_path, timeout=120)
    assert f"store: {store_line.group(1)}" in listed.stderr
    examples = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["question"], e["sql"], e["source"]) for e in examples] == [
        ("How many tools are there?", "SELECT COUNT(*) AS tools FROM Tool", "correction")]
    doctor = json.loads(subprocess.run([ASKDB, "doctor", "--json"], capture_output=True,
                                       text=True, env=shell, cwd=tmp_path,
                                       timeout=300).stdout)
    assert doctor["locations"]["model"] == model_line.group(1)
    assert doctor["locations"]["store"] == store_line.group(1)
    answered = subprocess.run([ASKDB, "ask", "--json", "How many tools are there?"],
                              capture_output=True, text=True, env=shell, cwd=tmp_path,
                              timeout=600)
    result = json.loads(answered.stdout)
    assert result["error"] is None, answered.stderr[-2000:]
    assert result["rows"] == [[10]]
