"""A throwaway PostgreSQL server from Debian's packages, for tests that need a real one."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found: install the Debian package 'postgresql' "
            "(`make test` does)"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server():
    """Yield a superuser URL of a fresh server; stop and delete it afterwards."""
    data = Path(tempfile.mkdtemp(prefix="askdb-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True)  # noqa: E731
    run(_bin("initdb"), "-D", str(data / "db"), "-U", "askdb", "--auth=trust", "-E", "UTF8")
    run(_bin("pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"), "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://askdb@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, _bin("pg_ctl"), "-D", str(data / "db"), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def create_database(base: str, name: str) -> str:
    """A new empty database on the server at ``base``; returns its URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return f"{base}/{name}"


def create_attribute_call_target(engine) -> None:
    """``leak("Department")``: a user function PostgreSQL runs for ``d.leak`` (attribute
    notation), with no call in the query's text; the guard must refuse it."""
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE FUNCTION leak(d "Department") RETURNS text '
                             "LANGUAGE sql AS $$ SELECT 'leaked ' || d::text $$")
