"""Stored examples: ranking, per-database separation, live updates, the import command."""

from __future__ import annotations

import json

from nlsql.examples import ExampleStore, database_key
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


class _Recording:
    """The real model, with every prompt it is given kept for the test to read."""

    def __init__(self, model) -> None:
        self.model = model
        self.prompts: list[list[dict]] = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, messages, *args, **kwargs):
        self.prompts.append(list(messages))
        return self.model.generate(messages, *args, **kwargs)


def test_a_query_failing_with_examples_is_asked_again_without_them(sample_database,
                                                                     tiny_model):
    """Examples can mislead; the plain prompt gets its own try (the tiny model never
    writes working SQL, so every path here ends in failure)."""
    from nlsql import Example, Text2Sql

    model = _Recording(tiny_model)
    engine = Text2Sql(sample_database, model, retries=0, max_new_tokens=8)
    examples = [Example("List the departments.", "SELECT DepartmentName FROM Department")]
    answer = engine.ask("How many departments are there?", examples=examples)
    assert not answer.ok and answer.error_kind in {"not_sql", "sql_failed", "sql_rejected"}
    with_examples, without = model.prompts
    assert "List the departments." in [m["content"] for m in with_examples]
    assert [m["role"] for m in without] == ["system", "user"]
    assert without[-1] == with_examples[-1]  # the same question, only the examples gone

    model.prompts.clear()
    engine.ask("How many departments are there?", examples=[])
    assert len(model.prompts) == 1  # without examples there is nothing to fall back to
