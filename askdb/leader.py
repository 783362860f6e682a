"""Which replica runs the training schedule: exactly one, decided by a lock.

Several ``askdb serve`` replicas share one state database; each would otherwise start
the same nightly training run. With PostgreSQL state, a session-level advisory lock on a
connection kept open decides: it is released by the server when the holder dies or
loses its connection, so a standby takes over at its next try. With SQLite state (one
machine), an exclusive file lock beside the cache does the same for local processes.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

log = logging.getLogger(__name__)
SCHEDULE_LOCK_KEY = 0x61736B6474  # "askdt": distinct from the migration lock


class Leadership(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLeadership:
    def __init__(self, url: str, key: int = SCHEDULE_LOCK_KEY) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.key = key
        self._conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        conn = None
        try:
            conn = self.engine.connect()
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": self.key}).scalar()
            conn.commit()
        except sa.exc.SQLAlchemyError as err:
            log.warning("schedule lock: state database unreachable: %s", err)
            if conn is not None:
                conn.close()
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def still_held(self) -> bool:
        """The lock lives as long as its connection: check that one still answers."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
            self._conn.commit()
            return True
        except sa.exc.SQLAlchemyError:
            self._conn = None
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # closing the session frees its advisory locks
            finally:
                self._conn = None
        self.engine.dispose()


class FileLeadership:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def still_held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None


def leadership_for(state_url: str, cache_dir: Path) -> Leadership:
    if sa.engine.make_url(state_url).get_backend_name() == "postgresql":
        return PostgresLeadership(state_url)
    return FileLeadership(Path(cache_dir) / "askdb-schedule.lock")
