"""Audit log: one append-only row per question, verdict and piece of feedback.

The turns table serves conversations (history, follow-ups) and may be pruned or
rewritten; auditors need an untouched record of who asked what, which SQL ran, what the
guard decided, how many rows came back, how long each stage took, and what people said
about the answer. It lives in the bot's state database beside the turns, so replicas on
one PostgreSQL share it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import TextIO

import sqlalchemy as sa

from nlsql import Answer

from .messages import IncomingMessage
from .tables import audit, metadata

COLUMNS = [c.name for c in audit.columns]


def guard_verdict(answer: Answer) -> str:
    """What the SQL guard decided: nothing reached it when the model wrote no SQL."""
    if answer.error_kind == "sql_rejected":
        return "rejected"
    return "passed" if answer.sql else "none"


class AuditLog:
    """Writes and exports the audit rows; blocking, like every state-database call."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[audit])

    def answered(self, message: IncomingMessage, answer: Answer, turn_id: int | None) -> None:
        timings = {k: round(v, 4) for k, v in answer.timings.items()}
        self._insert(
            event="question", turn_id=turn_id, thread_key=message.thread_key,
            platform=message.platform, user_id=message.user_id, question=message.text,
            sql=answer.sql, guard=guard_verdict(answer), error_kind=answer.error_kind,
            row_count=len(answer.table.rows) if answer.table is not None else None,
            seconds=timings.get("total"), timings=json.dumps(timings),
        )

    def feedback(self, turn: dict, kind: str, platform: str, user_id: str,
                 sql: str | None = None) -> None:
        self._insert(
            event=kind, turn_id=turn["id"], thread_key=turn["thread_key"], platform=platform,
            user_id=user_id, question=turn["question"], sql=sql or turn.get("sql"),
            guard="passed" if sql else "none", error_kind=None, row_count=None,
            seconds=None, timings="{}",
        )

    def _insert(self, **row) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit.insert().values(created_at=dt.datetime.now(dt.UTC), **row))

    def rows(self, since: dt.datetime | None = None) -> Iterator[dict]:
        query = sa.select(audit).order_by(audit.c.id)
        if since is not None:
            query = query.where(audit.c.created_at >= since)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield dict(row._mapping)

    def export_csv(self, out: TextIO, since: dt.datetime | None = None) -> int:
        """Write every row (oldest first) as CSV with a header; returns the row count."""
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        count = 0
        for row in self.rows(since):
            row["created_at"] = row["created_at"].isoformat()
            writer.writerow(row)
            count += 1
        return count
