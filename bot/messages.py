"""The neutral values that cross between platform adapters and the conversation core."""

from __future__ import annotations

from dataclasses import dataclass, field

from nlsql import Answer, ResultTable

ACTIONS = ("correct", "wrong", "fix_sql")


@dataclass(frozen=True)
class IncomingMessage:
    """A question as any platform delivers it."""

    platform: str
    thread_key: str
    text: str
    user_id: str = ""
    user_name: str = ""
    message_id: str = ""


@dataclass(frozen=True)
class Reply:
    """What the bot says back; adapters render it in their platform's format."""

    thread_key: str
    text: str
    sql: str | None = None
    table: ResultTable | None = None
    error: str | None = None
    error_kind: str | None = None
    turn_id: int | None = None
    actions: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, thread_key: str, answer: Answer, turn_id: int | None) -> Reply:
        return cls(
            thread_key=thread_key,
            text=answer.answer,
            sql=answer.sql,
            table=answer.table,
            error=answer.error,
            error_kind=answer.error_kind,
            turn_id=turn_id,
            actions=ACTIONS if answer.sql else (),
            timings=dict(answer.timings),
        )

    def to_json(self) -> dict:
        return {
            "thread": self.thread_key,
            "text": self.text,
            "sql": self.sql,
            **ResultTable.json_fields(self.table),
            "error": self.error,
            "error_kind": self.error_kind,
            "turn_id": self.turn_id,
            "actions": list(self.actions),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
