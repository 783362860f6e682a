"""Thread history persisted through SQLAlchemy: survives a restart, skips failures."""

from __future__ import annotations

from bot.store import ConversationStore
from nlsql import Answer, ResultTable


def _answer(question: str, sql: str | None, error: str | None = None) -> Answer:
    table = ResultTable(("n",), ((1,),)) if sql and not error else None
    return Answer(question=question, sql=sql, table=table, answer="ok", error=error,
                  error_kind="sql_failed" if error else None, timings={"total": 1.5})


def test_history_survives_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'state' / 'askdb.sqlite'}"
    store = ConversationStore(url)
    store.add_turn("web:t1", "web", "u1", _answer("q1", "SELECT 1"))
    store.add_turn("web:t1", "web", "u1", _answer("q2", "SELECT bad", error="no such column"))
    store.add_turn("web:t1", "web", "u1", _answer("q3", "SELECT 3"))
    store.add_turn("web:t2", "web", "u2", _answer("other", "SELECT 9"))
    store.dispose()

    again = ConversationStore(url)
    history = again.history("web:t1", limit=5)
    assert [(t.question, t.sql) for t in history] == [("q1", "SELECT 1"), ("q3", "SELECT 3")]
    assert [t.question for t in again.history("web:t1", limit=1)] == ["q3"]
    turns = again.turns("web:t1")
    assert len(turns) == 3 and turns[1]["error"] == "no such column"
    assert turns[0]["row_count"] == 1 and turns[0]["seconds"] == 1.5
