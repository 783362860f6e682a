"""Deployment files: what can be checked without a Docker engine is checked here.

No Docker engine runs on the test machines, so the images are not built here; the
compose file is parsed and checked, the Dockerfiles' invariants are asserted, and the
ODBC driver registration the images run is run the same way against a scratch
odbcinst.ini.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from askdb.settings import Settings
from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def test_compose_runs_askdb_on_postgres_state():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    askdb, state = services["askdb"], services["state"]
    assert askdb["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / askdb["build"]["context"] / askdb["build"]["dockerfile"]).exists()
    assert askdb["depends_on"]["state"]["condition"] == "service_healthy"
    assert askdb["environment"]["ASKDB_STATE_URL"].startswith("postgresql+psycopg://")
    assert "@state:5432/" in askdb["environment"]["ASKDB_STATE_URL"]
    assert "/readyz" in " ".join(askdb["healthcheck"]["test"])
    assert askdb["env_file"] == ".env"
    assert "pg_isready" in " ".join(state["healthcheck"]["test"])
    assert services["sqlserver"]["profiles"] == ["example"]  # only on request
    for volume in ("state", "adapters"):
        assert volume in compose["volumes"]


def test_env_example_lists_every_setting():
    text = (DEPLOY / ".env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", text, re.M))
    expected = {env for env, _default, _help in Settings.help_table()}
    assert expected <= names, (f"missing in .env.example: {sorted(expected - names)}: run "
                               "python scripts/env_example.py")
    # and it parses into valid settings (placeholders and all)
    values = dict(line.split("=", 1) for line in text.splitlines()
                  if line and not line.startswith("#"))
    Settings.from_env(values)


def test_dockerfiles_run_as_non_root_with_a_prepared_model():
    for name in ("Dockerfile", "Dockerfile.cuda"):
        text = (DEPLOY / name).read_text()
        assert re.search(r"^USER askdb$", text, re.M), name
        assert "askdb model prepare" in text and "HF_HUB_OFFLINE=1" in text, name
        assert "odbc-register.sh" in text and "tdsodbc" in text, name
        assert "/readyz" in text and 'CMD ["askdb", "serve"]' in text, name
        for copied in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
            assert (REPO / copied).exists(), f"{name} copies missing {copied}"
    assert "GGML_NATIVE=OFF" in (DEPLOY / "Dockerfile").read_text()  # portable CPU build


def test_odbc_registration_makes_freetds_visible_to_pyodbc(tmp_path):
    env = {**os.environ, "ODBCSYSINI": str(tmp_path)}
    done = subprocess.run(["bash", str(DEPLOY / "odbc-register.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ini = (tmp_path / "odbcinst.ini").read_text()
    driver = re.search(r"^Driver=(.+)$", ini, re.M).group(1)
    assert Path(driver).exists()
    listed = subprocess.run([sys.executable, "-c", "import pyodbc; print(pyodbc.drivers())"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert "FreeTDS" in listed.stdout, listed.stderr
    again = subprocess.run(["bash", str(DEPLOY / "odbc-register.sh")], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and (tmp_path / "odbcinst.ini").read_text().count(
        "[FreeTDS]") == 1, "registering twice must not duplicate the entry"
