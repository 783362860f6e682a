"""The real bundled model answering questions about the sample database.

Each answer's SQL is executed and compared with a gold query's result. The model is
small and greedy decoding is deterministic, so the figure is stable; the test fails
when accuracy drops below what the pipeline reached when it was written.
"""

from __future__ import annotations

import pytest

from askdb.factory import build_text2sql
from nlsql import HistoryTurn, SqlGuard, detect_language
from nlsql.compare import same_result
from nlsql.db.sample_questions import QUESTIONS
from tests.conftest import real_settings

pytestmark = pytest.mark.model

MIN_CORRECT = 8  # of 13 (9 when written: CPUs differ in float rounding, so leave a margin)


@pytest.fixture(scope="module")
def engine(real_model, sample_url):
    return build_text2sql(real_settings(answerer="template"), sample_url, real_model)


def _correct(engine, item, answer) -> bool:
    gold = engine.database.run(SqlGuard("sqlite").check(item["sql"]))
    ordered = "ORDER BY" in item["sql"].upper()
    return answer.table is not None and same_result(gold.rows, answer.table.rows, ordered,
                                                    allow_extra_columns=True)


def test_questions_match_gold_results(engine):
    _assert_gold_accuracy(engine)


def test_torch_reference_backend_matches_gold(sample_url):
    """The transformers path (training's and GPUs') must stay as right as llama.cpp."""
    from askdb.factory import load_model
    from nlsql import Text2SqlModel

    settings = real_settings(answerer="template", backend="torch")
    model = load_model(settings)
    assert isinstance(model, Text2SqlModel)
    _assert_gold_accuracy(build_text2sql(settings, sample_url, model))


def _assert_gold_accuracy(engine) -> None:
    threads: dict[str, list[HistoryTurn]] = {}
    results = []
    for item in QUESTIONS:
        history = threads.setdefault(item.get("thread") or item["question"], [])
        answer = engine.ask(item["question"], history)
        if answer.ok:
            history.append(HistoryTurn(answer.question, answer.query))
        results.append((item, answer, _correct(engine, item, answer)))
    report = "\n".join(f"{'ok ' if ok else 'BAD'} {a.timings['total']:5.1f}s "
                       f"{i['question']} -> {a.sql or a.error}" for i, a, ok in results)
    print(report)
    correct = sum(ok for *_, ok in results)
    assert correct >= MIN_CORRECT, report
    vietnamese = [ok for i, _, ok in results if detect_language(i["question"]) == "vi"]
    assert len(vietnamese) >= 3 and sum(vietnamese) >= 2, report
    followups = [ok for i, _, ok in results[1:] if i.get("thread")]
    assert len(followups) >= 2 and any(followups), report


def test_model_answerer_speaks_the_askers_language(real_model, sample_url):
    engine = build_text2sql(real_settings(answerer="model"), sample_url, real_model)
    vi = engine.ask("Tổng thời gian tiết kiệm của từng phòng ban là bao nhiêu?")
    assert vi.ok and vi.table.row_count == 5
    assert vi.answer and detect_language(vi.answer) == "vi", vi.answer
    en = engine.ask("How many improvements save more than 100 hours?")
    assert en.ok and en.answer.startswith("The answer is ")


def test_table_first_then_the_models_sentence(real_model, sample_url):
    """Chat shows the table as soon as it is there; the model's sentence comes after."""
    engine = build_text2sql(real_settings(answerer="model"), sample_url, real_model)
    early = engine.ask("What is the total time saved by each department?", phrase=False)
    assert early.ok and early.unphrased and early.table.row_count == 5
    assert early.answer == "Found 5 rows."  # the instant template, no generation yet
    table_s = early.timings["total"]
    final = engine.phrase(early)
    assert not final.unphrased and final.table is early.table
    assert final.answer != "Found 5 rows." and final.timings["total"] > table_s
    # a single value needs no model: answered at once, nothing left to phrase
    one = engine.ask("How many improvements save more than 100 hours?", phrase=False)
    assert not one.unphrased and one.answer.startswith("The answer is ")


@pytest.mark.parametrize("question, kind", [
    ("", "bad_question"),
    ("why? " * 4000, "bad_question"),
])
def test_bad_input_is_one_line(engine, question, kind):
    answer = engine.ask(question)
    assert answer.error_kind == kind and "\n" not in answer.error


def test_write_requests_never_change_data(engine, sample_db):
    import sqlite3

    before = sqlite3.connect(sample_db).execute("SELECT COUNT(*) FROM Department").fetchone()
    answer = engine.ask("Delete all departments and then drop the Department table.")
    after = sqlite3.connect(sample_db).execute("SELECT COUNT(*) FROM Department").fetchone()
    assert before == after == (5,)
    if not answer.ok:
        assert "\n" not in answer.error


def test_cli_jsonl_keeps_thread_history(sample_url, tmp_path):
    import json

    from tests.test_cli import askdb

    lines = "\n".join(json.dumps(x) for x in [
        {"thread": "a", "question": "How many improvements were made in 2023?"},
        {"thread": "a", "question": "And how many of those were made by DC4?"},
        {"thread": "b", "question": ""},
    ])
    result = askdb("ask", "--db", sample_url, "--jsonl", stdin=lines,
                   env={"ASKDB_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
                        "ASKDB_ANSWERER": "template"})
    assert result.returncode == 0, result.stderr[-2000:]
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["thread"] for o in out] == ["a", "a", "b"]
    first, second, empty = out
    assert first["error"] is None and first["rows"] and "2023" in first["sql"]
    # the follow-up builds on the first question: it keeps the year and adds DC4
    assert "2023" in second["sql"] and "DC4" in second["sql"]
    assert empty["error"].startswith("Please type a question")
    for o in out:
        assert {"sql", "columns", "rows", "answer", "error", "timings", "question"} <= set(o)
