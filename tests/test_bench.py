"""`askdb bench` end to end on the tiny model: every figure is produced and consistent.

Speed is not asserted (that is the benchmark's job); the report's shape, the accuracy
of the same run and the concurrent path are.
"""

from __future__ import annotations

import json

from tests.conftest import REPO
from tests.test_cli import askdb

DATA = REPO.parent / "shared" / "benchmarks"


def test_bench_json_with_baseline_and_concurrency(tiny_model_dir, sample_url, tmp_path):
    result = askdb("bench", "--json", "--compare", "--concurrency", "4", "--spider", "2",
                   "--data-dir", str(DATA),
                   env={"ASKDB_MODEL": str(tiny_model_dir), "ASKDB_DATABASE_URL": sample_url,
                        "ASKDB_MAX_NEW_TOKENS": "12", "ASKDB_ANSWERER": "template",
                        "ASKDB_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("p50_s", "p95_s", "ex", "peak_rss_mb", "baseline_p50_s", "baseline_ex",
                "speedup", "tokens_per_s"):
        assert key in out, key
    assert out["n"] == 15 and 0 <= out["ex"] <= 1 and out["p95_s"] >= out["p50_s"] > 0
    assert out["peak_rss_mb"] > 100
    assert set(out["stages"]) >= {"prefill", "decode", "guard", "total"}
    assert out["stages"]["total"]["p50_s"] == out["p50_s"]
    assert 0 < out["table_p50_s"] <= out["p50_s"] and out["table_p95_s"] <= out["p95_s"]
    assert out["concurrent"] == {**out["concurrent"], "concurrency": 4, "answered": 4}
    # the tiny model writes no valid SQL: the accuracy of the very run says so
    assert out["ex"] == 0.0 and out["baseline_ex"] == 0.0 and out["errors"] == 15
    # each set's own figures and its own side-by-side ratio
    assert {name: figures["n"] for name, figures in out["sets"].items()} == \
        {"sample": 13, "spider": 2}
    for figures in out["sets"].values():
        assert figures["speedup"] == round(figures["baseline_p50_s"] / figures["p50_s"], 2)
        assert "stages" not in figures


def test_time_to_table_leaves_out_the_models_sentence():
    from askdb.bench import BenchRun
    from nlsql import Answer

    run = BenchRun("x")
    for total, answer in ((3.0, 1.0), (2.0, 0.0), (5.0, 1.5)):
        run.add(Answer("q", timings={"total": total, "answer": answer}), correct=True)
    out = run.summary()
    assert out["stages"]["to_table"]["p50_s"] == 2.0 and out["table_p50_s"] == 2.0
    assert out["table_p95_s"] == 3.5 and out["p95_s"] == 5.0
