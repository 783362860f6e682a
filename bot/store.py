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

from .migrations import upgrade
from .tables import feedback, seen_events, turns

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
