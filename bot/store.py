"""ConversationStore: threads and their turns, persisted through SQLAlchemy.

Follow-up questions need the thread's earlier questions and SQL; keeping them in a
database (SQLite file by default, PostgreSQL via ASKDB_STATE_URL) means a restart or a
second replica loses nothing. Calls are blocking: async code runs them in a thread.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from nlsql import Answer, HistoryTurn

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

FEEDBACK_KINDS = ("verified", "wrong", "correction")
# a turn's query as the model or person wrote it; turns stored before it was kept: as run
_remembered = sa.func.coalesce(turns.c.written_sql, turns.c.sql)


def remembered_sql(turn: dict) -> str | None:
    """The query of a stored turn to build on: as written, else as it ran."""
    return turn.get("written_sql") or turn.get("sql")


class ConversationStore:
    def __init__(self, url: str) -> None:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        from .migrations import upgrade  # imports this module's tables

        upgrade(self.engine)

    def add_turn(self, thread_key: str, platform: str, user_id: str, answer: Answer) -> int:
        row = {
            "thread_key": thread_key,
            "platform": platform,
            "user_id": user_id,
            "question": answer.question,
            "sql": answer.sql,
            "written_sql": answer.written,
            "answer": answer.answer,
            "error": answer.error,
            "error_kind": answer.error_kind,
            "row_count": answer.table.row_count if answer.table else None,
            "seconds": answer.timings.get("total"),
            "created_at": dt.datetime.now(dt.UTC),
        }
        with self.engine.begin() as conn:
            return int(conn.execute(turns.insert().values(**row)).inserted_primary_key[0])

    def set_answer(self, turn_id: int, answer: Answer) -> None:
        """The phrased sentence of a turn recorded while its table was being shown."""
        with self.engine.begin() as conn:
            conn.execute(turns.update().where(turns.c.id == turn_id).values(
                answer=answer.answer, seconds=answer.timings.get("total")))

    def history(self, thread_key: str, limit: int = 3) -> list[HistoryTurn]:
        """The last ``limit`` successfully answered turns of a thread, oldest first."""
        query = (
            sa.select(turns.c.question, _remembered)
            .where(turns.c.thread_key == thread_key, turns.c.error.is_(None),
                   turns.c.sql.is_not(None))
            .order_by(turns.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [HistoryTurn(q, s) for q, s in reversed(rows)]

    def turns(self, thread_key: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(turns).where(turns.c.thread_key == thread_key).order_by(turns.c.id)
            ).mappings().all()
        return [dict(r) for r in rows]

    def turn(self, turn_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(turns).where(turns.c.id == turn_id)).mappings().first()
        return dict(row) if row else None

    def history_before(self, turn_id: int, thread_key: str, limit: int = 3) -> list[HistoryTurn]:
        """The history the question of ``turn_id`` was asked with."""
        query = (
            sa.select(turns.c.question, _remembered)
            .where(turns.c.thread_key == thread_key, turns.c.id < turn_id,
                   turns.c.error.is_(None), turns.c.sql.is_not(None))
            .order_by(turns.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [HistoryTurn(q, s) for q, s in reversed(rows)]

    def add_feedback(
        self, turn_id: int, kind: str, platform: str, user_id: str,
        corrected_sql: str | None = None,
    ) -> int:
        """Record a verdict on a turn, with what is needed to learn from it."""
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"unknown feedback kind {kind!r}")
        turn = self.turn(turn_id)
        if turn is None:
            raise KeyError(turn_id)
        history = self.history_before(turn_id, turn["thread_key"])
        row = {
            "turn_id": turn_id,
            "thread_key": turn["thread_key"],
            "platform": platform,
            "user_id": user_id,
            "kind": kind,
            "question": turn["question"],
            "history": json.dumps([{"question": h.question, "sql": h.sql} for h in history],
                                  ensure_ascii=False),
            "wrong_sql": remembered_sql(turn) if kind != "verified" else None,
            "corrected_sql": corrected_sql if kind == "correction" else
            (remembered_sql(turn) if kind == "verified" else None),
            "created_at": dt.datetime.now(dt.UTC),
        }
        with self.engine.begin() as conn:
            return int(conn.execute(feedback.insert().values(**row)).inserted_primary_key[0])

    def feedback(self, kind: str | None = None) -> list[dict]:
        query = sa.select(feedback).order_by(feedback.c.id)
        if kind:
            query = query.where(feedback.c.kind == kind)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen, False for every repeat delivery."""
        try:
            with self.engine.begin() as conn:
                conn.execute(seen_events.insert().values(
                    event_id=event_id, created_at=dt.datetime.now(dt.UTC)))
            return True
        except sa.exc.IntegrityError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
