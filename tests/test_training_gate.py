"""The gate and the registry on real training runs of a tiny model.

The tiny model is built with large initial weights so that LoRA can make it confident:
trained on "count the departments" questions it learns to write a department count,
which is right for the held-out paraphrases (their gold SQL differs in text, not in
result), while the untrained base writes nothing useful.
"""

from __future__ import annotations

import sqlite3

import pytest

from askdb.factory import adapter_file_for
from nlsql import ConfigError, Text2SqlModel
from training.config import TrainConfig
from training.dataset import TrainExample
from training.gate import decide
from training.registry import AdapterRegistry
from training.run import run_training

QUESTIONS = ["How many departments?", "Count the departments.", "Number of departments?",
             "How many DCs are there?", "Total departments?", "department count"]


@pytest.fixture(scope="module")
def learnable_dir(tmp_path_factory):
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("learnable"), initializer_range=0.3)


@pytest.fixture(scope="module")
def dept_examples(tmp_path_factory):
    db = tmp_path_factory.mktemp("dept") / "dept.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE Department (DepartmentId INTEGER PRIMARY KEY, "
                     "DepartmentName TEXT)")
        conn.executemany("INSERT INTO Department VALUES (?, ?)",
                         [(i, f"DC{i}") for i in range(1, 6)])
    url = f"sqlite:///{db}"
    return [TrainExample(url, q, "SELECT COUNT(*) FROM Department", id=i)
            for i, q in enumerate(QUESTIONS[:3], 1)] + \
        [TrainExample(url, q, "SELECT COUNT(DepartmentId) FROM Department", id=i)
         for i, q in enumerate(QUESTIONS[3:], 4)]


GOOD = TrainConfig(r=8, alpha=16, epochs=8, grad_accum=1, learning_rate=1e-2,
                   warmup_ratio=0.0, holdout=0.5, patience=100, max_seq_len=1024)


def test_gate_promotes_better_and_rejects_worse(learnable_dir, dept_examples, tmp_path):
    registry = AdapterRegistry(tmp_path / "adapters")
    gate_model = Text2SqlModel.load(learnable_dir)
    files = adapter_file_for(gate_model)

    good = run_training(dept_examples, learnable_dir, GOOD, registry, gate_model, files,
                        progress=False)
    assert good["status"] == "promoted", good
    assert good["candidate"]["holdout_ex"] > good["current"]["holdout_ex"]
    assert registry.current_name() == good["version"]

    # barely trained: no better than the serving adapter, so it must not replace it
    worse_config = TrainConfig(**{**GOOD.to_dict(), "learning_rate": 1e-7, "epochs": 1,
                                  "target_modules": GOOD.target_modules})
    worse = run_training(dept_examples, learnable_dir, worse_config, registry, gate_model,
                         files, progress=False)
    assert worse["status"] == "rejected", worse
    assert registry.current_name() == good["version"]  # serving adapter untouched
    assert registry.get(worse["version"]).status == "rejected"
    runs = registry.runs()
    assert [r["status"] for r in runs] == ["promoted", "rejected"]
    assert all(r["training"]["losses"] and r["seconds"] > 0 for r in runs)
    assert runs[-1]["max_example_id"] == len(QUESTIONS) == registry.last_example_id()


def test_failed_run_is_recorded_and_changes_nothing(learnable_dir, dept_examples, tmp_path):
    registry = AdapterRegistry(tmp_path / "adapters")
    bad = TrainConfig(max_seq_len=10, holdout=0.5)  # every example too long: nothing to train
    with pytest.raises(ValueError, match="no training examples"):
        run_training(dept_examples, learnable_dir, bad, registry, progress=False)
    assert registry.current_name() is None
    assert registry.runs()[-1]["status"] == "failed"


def test_registry_promote_and_rollback(tmp_path):
    registry = AdapterRegistry(tmp_path)
    first, second = registry.allocate(), registry.allocate()
    assert (first.name, second.name) == ("v0001", "v0002")
    registry.write_meta(first, {"status": "candidate"})
    with pytest.raises(ConfigError):
        registry.promote("v0002")  # no metadata yet: not a finished version
    registry.write_meta(second, {"status": "candidate"})
    registry.promote("v0001")
    registry.promote("v0002")
    assert registry.current_name() == "v0002"
    assert registry.rollback() == "v0001"
    assert registry.get("v0002").status == "rolled back"
    assert registry.rollback() is None  # back to the base model
    with pytest.raises(ConfigError, match="Nothing to roll back"):
        registry.rollback()


def test_decide_margin_and_regression():
    config = TrainConfig(margin=0.05, max_regression=0.0)
    base = {"holdout_ex": 0.5, "holdout_n": 10, "regression_ex": 0.8, "regression_n": 5}
    assert decide({**base, "holdout_ex": 0.6}, base, config).promote
    assert not decide({**base, "holdout_ex": 0.52}, base, config).promote
    regressed = decide({**base, "holdout_ex": 0.9, "regression_ex": 0.6}, base, config)
    assert not regressed.promote and "regression" in regressed.reason
    assert not decide({**base, "holdout_n": 0}, base, config).promote
