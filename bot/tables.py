"""The tables of askdb's own state database, in one place.

The store, the audit log and the migrations all need them; keeping them here means none
of those modules imports another to find a table.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

turns = sa.Table(
    "askdb_turns", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("thread_key", sa.String(300), nullable=False, index=True),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("user_id", sa.String(100), nullable=False, default=""),
    sa.Column("question", sa.UnicodeText, nullable=False),
    sa.Column("sql", sa.UnicodeText),  # as it ran, row cap included
    sa.Column("answer", sa.UnicodeText),
    sa.Column("error", sa.UnicodeText),
    sa.Column("error_kind", sa.String(40)),
    sa.Column("row_count", sa.Integer),
    sa.Column("seconds", sa.Float),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # as written, without the row cap: what history, examples and training build on
    sa.Column("written_sql", sa.UnicodeText),
)

# Verified answers, wrong answers and people's corrections: examples and training data.
feedback = sa.Table(
    "askdb_feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("turn_id", sa.Integer, sa.ForeignKey("askdb_turns.id"), nullable=False),
    sa.Column("thread_key", sa.String(300), nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("user_id", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # verified | wrong | correction
    sa.Column("question", sa.UnicodeText, nullable=False),
    sa.Column("history", sa.UnicodeText, nullable=False),  # JSON [{question, sql}, ...]
    sa.Column("wrong_sql", sa.UnicodeText),
    sa.Column("corrected_sql", sa.UnicodeText),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Platform deliveries already taken (Slack retries and duplicate event ids).
seen_events = sa.Table(
    "askdb_seen_events", metadata,
    sa.Column("event_id", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# One append-only row per question, verdict and piece of feedback (bot/audit.py).
audit = sa.Table(
    "askdb_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("event", sa.String(20), nullable=False),  # question | verified | wrong | correction
    sa.Column("turn_id", sa.Integer),
    sa.Column("thread_key", sa.String(300), nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("user_id", sa.String(100), nullable=False, default=""),
    sa.Column("question", sa.UnicodeText, nullable=False),
    sa.Column("sql", sa.UnicodeText),
    sa.Column("guard", sa.String(20), nullable=False),  # passed | rejected | none
    sa.Column("error_kind", sa.String(40)),
    sa.Column("row_count", sa.Integer),
    sa.Column("seconds", sa.Float),
    sa.Column("timings", sa.UnicodeText, nullable=False, default="{}"),  # JSON stage -> s
)
