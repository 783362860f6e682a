"""Stored examples: ranking, per-database separation, live updates, the import command."""

from __future__ import annotations

import json

import pytest

from nlsql.examples import ExampleStore, database_key
from nlsql.prompting import REPLY_START
from tests.test_cli import askdb


def test_ranking_prefers_similar_questions(tmp_path):
    store = ExampleStore(f"sqlite:///{tmp_path / 'x.sqlite'}")
    db = "sqlite:jidouka.sqlite"
    store.add(db, "How many improvements did DC2 make in 2024?",
              "SELECT COUNT(*) FROM Jidouka WHERE DepartmentId = 2", "verified")
    store.add(db, "List all tools", "SELECT ToolName FROM Tool", "imported")
    store.add(db, "Who wrote the most improvements?", "SELECT AuthorName FROM Author", "verified")
    store.add("other", "How many improvements did DC2 make in 2023?", "SELECT 1", "verified")
    top = store.similar(db, "how many improvements did DC3 make in 2022", k=2)
    assert top[0].sql == "SELECT COUNT(*) FROM Jidouka WHERE DepartmentId = 2"
    assert all(e.sql != "SELECT 1" for e in top)  # another database's examples stay out
    assert store.similar(db, "completely unrelated words", k=3) == []


def test_a_correction_takes_effect_on_the_next_question(tmp_path):
    store = ExampleStore(f"sqlite:///{tmp_path / 'x.sqlite'}")
    db = "d"
    store.add(db, "total time saved per group", "SELECT 1", "verified")
    assert store.similar(db, "total time saved per group?", 1)[0].sql == "SELECT 1"
    store.add(db, "Total time saved per group", "SELECT 2", "correction")
    assert store.similar(db, "total time saved per group?", 1)[0].sql == "SELECT 2"


def test_database_key_hides_passwords():
    assert database_key("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"
    assert database_key("sqlite:////a/b/jidouka.sqlite") == "sqlite:jidouka.sqlite"


def test_examples_import_command(tmp_path, sample_url):
    lines = tmp_path / "pairs.jsonl"
    lines.write_text("\n".join([
        json.dumps({"question": "How many tools?", "sql": "SELECT COUNT(*) FROM Tool"}),
        json.dumps({"question": "Drop it", "sql": "DROP TABLE Tool"}),
        "not json",
    ]))
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    result = askdb("examples", "import", str(lines), "--db", sample_url,
                   env={"ASKDB_STATE_URL": state})
    assert result.returncode == 0, result.stderr
    assert "imported 1 examples" in result.stdout
    assert "line 2: skipped (I won't run that SQL" in result.stderr
    assert [r["question"] for r in ExampleStore(state).all()] == ["How many tools?"]



class _Scripted:
    """Writes a set reply per kind of prompt, with or without worked examples, and keeps
    every prompt: the fallback's control flow, tested without depending on what a real
    model happens to write (the real model's path is covered by the integration tests)."""

    def __init__(self, with_examples: str, without: str) -> None:
        self.replies = {True: with_examples, False: without}
        self.prompts: list[list[dict]] = []
        self.name, self.adapter_version = "scripted", None

    def generate(self, messages, max_new_tokens=256, stop_when=None):
        from nlsql.models import Generation

        assert messages[-1] == {"role": "assistant", "content": REPLY_START}
        asked = list(messages[:-1])  # the reply askdb began for the model
        self.prompts.append(asked)
        text = self.replies[len(asked) > 2]
        return Generation(text=text, prompt_tokens=10, new_tokens=5, prefill_s=0.0,
                          decode_s=0.0)


EXAMPLES = [("List the departments.", "SELECT DepartmentName FROM Department")]


def _ask(database, model):
    from nlsql import Answerer, Example, Text2Sql

    engine = Text2Sql(database, model, Answerer(model, use_model=False), retries=0)
    return engine.ask("How many departments are there?",
                      examples=[Example(q, sql) for q, sql in EXAMPLES])


def test_a_query_failing_with_examples_is_asked_again_without_them(sample_database):
    """Examples can mislead (a column copied from another question); the plain prompt
    gets its own try."""
    model = _Scripted("SELECT COUNT(DepartmentTitle) FROM Department\n```",
                      "SELECT COUNT(*) FROM Department\n```")
    answer = _ask(sample_database, model)
    assert answer.ok and answer.sql.startswith("SELECT COUNT(*) FROM Department")
    assert list(answer.table.rows) == [(5,)]
    with_examples, without = model.prompts
    assert "List the departments." in [m["content"] for m in with_examples]
    assert [m["role"] for m in without] == ["system", "user"]
    assert without[-1] == with_examples[-1]  # the same question, only the examples gone


@pytest.mark.parametrize("reply", ["DELETE FROM Department\n```",
                                   "-- I can only help with questions about the data.\n```"])
def test_a_refusal_or_no_sql_is_not_asked_again(sample_database, reply):
    """A write refused on purpose must stay refused, and small talk must not cost a
    second generation."""
    model = _Scripted(reply, "SELECT COUNT(*) FROM Department\n```")
    answer = _ask(sample_database, model)
    assert not answer.ok and answer.error_kind in {"sql_rejected", "not_sql"}
    assert len(model.prompts) == 1
