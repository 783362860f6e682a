"""Thread history persisted through SQLAlchemy: survives a restart, skips failures."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store import ConversationStore
from bot.store import turns as turns_table
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


def test_feedback_records_question_history_and_sql(tmp_path):
    import json

    store = ConversationStore(f"sqlite:///{tmp_path / 's.sqlite'}")
    first = store.add_turn("slack:T:C:1", "slack", "U1", _answer("in 2023?", "SELECT 1"))
    second = store.add_turn("slack:T:C:1", "slack", "U1", _answer("and DC4?", "SELECT 2"))
    store.add_feedback(second, "correction", "slack", "U2", corrected_sql="SELECT 3")
    store.add_feedback(first, "verified", "slack", "U2")
    store.add_feedback(first, "wrong", "teams", "U3")
    rows = store.feedback()
    assert [r["kind"] for r in rows] == ["correction", "verified", "wrong"]
    fix = rows[0]
    assert (fix["question"], fix["wrong_sql"], fix["corrected_sql"]) == \
        ("and DC4?", "SELECT 2", "SELECT 3")
    assert json.loads(fix["history"]) == [{"question": "in 2023?", "sql": "SELECT 1"}]
    assert rows[1]["corrected_sql"] == "SELECT 1" and rows[1]["wrong_sql"] is None
    assert rows[2]["platform"] == "teams" and rows[2]["created_at"] is not None
    import pytest

    with pytest.raises(KeyError):
        store.add_feedback(999, "wrong", "web", "U")


def legacy_turns(metadata: sa.MetaData) -> sa.Table:
    """askdb_turns as askdb created it before turns kept their query as written."""
    current = turns_table
    return sa.Table(current.name, metadata, *(
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in current.columns if c.name != "written_sql"))


def test_history_and_examples_build_on_the_query_as_written_not_as_capped(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    engine = sa.create_engine(url)
    old = legacy_turns(sa.MetaData())
    old.create(engine)
    with engine.begin() as conn:  # a turn an older askdb stored: only the SQL as it ran
        conn.execute(old.insert().values(thread_key="web:t", platform="web", user_id="u",
                                         question="q0", sql="SELECT 0 LIMIT 1000",
                                         created_at=sa.func.now()))
    store = ConversationStore(url)  # upgrades the old table in place
    answer = _answer("q1", "SELECT a FROM t LIMIT 1000")
    answer.written = "SELECT a FROM t"
    turn = store.add_turn("web:t", "web", "u", answer)
    assert [(t.question, t.sql) for t in store.history("web:t")] == [
        ("q0", "SELECT 0 LIMIT 1000"), ("q1", "SELECT a FROM t")]
    assert store.turn(turn)["sql"] == "SELECT a FROM t LIMIT 1000"  # what ran, for the record
    store.add_feedback(turn, "verified", "web", "u")
    assert store.feedback()[0]["corrected_sql"] == "SELECT a FROM t"
    store.dispose()
    engine.dispose()


def test_claim_event_once(tmp_path):
    store = ConversationStore(f"sqlite:///{tmp_path / 's.sqlite'}")
    assert store.claim_event("Ev1") is True
    assert store.claim_event("Ev1") is False
    assert ConversationStore(f"sqlite:///{tmp_path / 's.sqlite'}").claim_event("Ev1") is False
