"""Versioned migrations of askdb's own state database (SQLite or PostgreSQL).

``create_all`` only adds missing tables; it never changes one that exists, so a new
column or index would silently never reach a database created by an older askdb. Each
change here is a numbered step, applied once, in order, recorded in
``askdb_schema_version``. Replicas that start together take a PostgreSQL advisory lock
(SQLite serialises writers itself), so each step runs exactly once. An equivalent of
Alembic's upgrade without its script folder: the steps are few and live beside the
tables they change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from nlsql.examples import metadata as examples_metadata

from .tables import metadata

log = logging.getLogger(__name__)
LOCK_KEY = 0x61736B6462  # "askdb": the advisory lock every replica's upgrade takes

versions = sa.Table(
    "askdb_schema_version", sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _baseline(conn: sa.Connection) -> None:
    metadata.create_all(conn)
    examples_metadata.create_all(conn)


def _audit_by_user(conn: sa.Connection) -> None:
    # plain DDL: an sa.Index object would attach itself to the shared Table metadata
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_askdb_audit_user "
                         "ON askdb_audit (user_id, created_at)"))


def _written_sql(conn: sa.Connection) -> None:
    # a database created by step 1 of this version already has the column
    columns = {c["name"] for c in sa.inspect(conn).get_columns("askdb_turns")}
    if "written_sql" not in columns:
        conn.execute(sa.text("ALTER TABLE askdb_turns ADD COLUMN written_sql TEXT"))


MIGRATIONS: list[Migration] = [
    Migration(1, "threads, feedback, events, examples, audit", _baseline),
    Migration(2, "index the audit log by user and time", _audit_by_user),
    Migration(3, "keep each turn's query as written, without the row cap", _written_sql),
]


def current_version(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(versions.name):
            return 0
        return conn.execute(sa.select(sa.func.max(versions.c.version))).scalar() or 0


def upgrade(engine: sa.Engine, steps: list[Migration] | None = None) -> list[int]:
    """Apply the missing steps in one transaction; returns the versions applied."""
    steps = MIGRATIONS if steps is None else steps
    applied = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        versions.create(conn, checkfirst=True)
        done = set(conn.execute(sa.select(versions.c.version)).scalars())
        for step in sorted(steps, key=lambda s: s.version):
            if step.version in done:
                continue
            log.info("state database: migration %d (%s)", step.version, step.description)
            step.apply(conn)
            conn.execute(versions.insert().values(
                version=step.version, description=step.description,
                applied_at=dt.datetime.now(dt.UTC)))
            applied.append(step.version)
    return applied
