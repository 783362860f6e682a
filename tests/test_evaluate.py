"""The evaluation harness: benchmark quirks, splits, scoring, results files."""

from __future__ import annotations

import json

import pytest

from nlsql import Text2SqlModel
from tests.conftest import REPO
from training import benchmarks as bench
from training import evaluate as ev

DATA = REPO.parent / "shared" / "benchmarks"


def test_spider_and_sparc_load_without_wta_1():
    spider = bench.load_spider(DATA)
    assert len(spider) == 972 and all(i.db != "wta_1" for i in spider)
    sparc = bench.load_sparc(DATA)
    assert len(sparc) == 404
    assert all("! =" not in t.sql and "> =" not in t.sql for i in sparc for t in i)


@pytest.mark.parametrize("raw, fixed", [
    ("SELECT * FROM t WHERE a ! = 1", "SELECT * FROM t WHERE a != 1"),
    ("SELECT * FROM t WHERE a >   = 1 AND b < = 2", "SELECT * FROM t WHERE a >= 1 AND b <= 2"),
])
def test_fix_gold(raw, fixed):
    assert bench.fix_gold(raw) == fixed


def test_ordered_only_at_top_level():
    assert bench.gold_is_ordered("SELECT a FROM t ORDER BY a")
    assert not bench.gold_is_ordered("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)")


def test_spread_is_fixed_and_even():
    items = list(range(100))
    assert bench.spread(items, 4) == [0, 25, 50, 75]
    assert bench.spread(items, 4) == bench.spread(items, 4)
    assert bench.spread(items, None) == items


def test_learn_split_never_splits_a_gold_query():
    items = bench.load_spider(DATA)
    learn, test = ev.learn_split(items, 0.5)
    assert len(learn) + len(test) == len(items)
    key = lambda i: (i.db, " ".join(i.sql.lower().split()))  # noqa: E731
    assert not {key(i) for i in learn} & {key(i) for i in test}
    assert 0.35 < len(learn) / len(items) < 0.65
    lookup = ev.example_lookup(learn)
    examples = lookup(test[0])
    assert examples and all(isinstance(e.sql, str) for e in examples)


def test_harness_runs_and_writes_results(tiny_model_dir, tmp_path):
    model = Text2SqlModel.load(tiny_model_dir)
    progress = tmp_path / "progress.jsonl"
    evaluator = ev.Evaluator(model, DATA, retries=0, max_new_tokens=8, progress_file=progress)
    items = bench.spread(bench.load_spider(DATA), 3)
    scored, summary = ev.evaluate_items(evaluator, items)
    assert summary["n"] == 3 and 0.0 <= summary["ex"] <= 1.0
    # written as it goes, so a run stopped early keeps its scored items
    assert len(progress.read_text().splitlines()) == 3
    # the gold query scored against itself is always right: the comparer works
    gold = evaluator.gold(items[0])
    from nlsql.compare import same_result

    assert same_result(gold.rows, gold.rows, bench.gold_is_ordered(items[0].sql))
    interactions = bench.spread(bench.load_sparc(DATA), 1)
    turns, sparc = ev.evaluate_interactions(evaluator, interactions)
    assert {"qm", "im", "n"} <= set(sparc) and len(turns) == len(interactions[0])
    folder = ev.write_results(tmp_path / "run", scored, summary)
    assert json.loads((folder / "summary.json").read_text())["n"] == 3
    assert len((folder / "predictions.jsonl").read_text().splitlines()) == 3
