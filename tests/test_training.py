"""Fine-tuning on the tiny model: LoRA and QLoRA (NF4 on CPU) learn, the base stays put."""

from __future__ import annotations

import json

import pytest

from nlsql import HistoryTurn
from nlsql.examples import ExampleStore, database_key
from training.config import TrainConfig
from training.dataset import IGNORE, ChatRenderer, TrainExample, from_store, holdout_split
from training.finetune import load_for_training, train

PAIRS = [
    ("How many departments are there?", "SELECT COUNT(*) FROM Department"),
    ("List all tools.", "SELECT ToolName FROM Tool"),
    ("Total time saved?", "SELECT SUM(TotalTimeSaved) FROM Jidouka"),
    ("How many authors?", "SELECT COUNT(*) FROM Author"),
    ("Number of authors?", "SELECT COUNT(*) FROM Author"),
    ("Names of departments", "SELECT DepartmentName FROM Department"),
]


@pytest.fixture()
def examples(sample_url):
    return [TrainExample(sample_url, q, s) for q, s in PAIRS]


def test_chat_rendering_masks_the_prompt(tiny_model, sample_url):
    renderer = ChatRenderer(tiny_model.tokenizer)
    ex = TrainExample(sample_url, "And in 2024?", "SELECT COUNT(*) FROM Jidouka",
                      (HistoryTurn("How many improvements?", "SELECT COUNT(*) FROM Jidouka"),))
    tok = renderer.tokenize(ex)
    answer = [t for t, label in zip(tok.input_ids, tok.labels, strict=True) if label != IGNORE]
    text = tiny_model.tokenizer.decode(answer)
    # the fence is where the bot begins the reply, so the loss starts after it
    assert text.startswith("SELECT COUNT(*) FROM Jidouka\n```")
    prompt = renderer.prompt(ex)
    assert prompt[0]["role"] == "system" and "CREATE TABLE" in prompt[0]["content"]
    # the thread history is in the prompt exactly as the bot shows it
    assert prompt[1] == {"role": "user", "content": "How many improvements?"}
    assert "Follow-up" in prompt[-1]["content"]


def test_holdout_keeps_paraphrases_together(examples):
    train_set, held = holdout_split(examples, 0.4)
    assert train_set and held and len(train_set) + len(held) == len(examples)
    held_sql = {e.sql_key for e in held}
    assert not held_sql & {e.sql_key for e in train_set}
    assert holdout_split(examples, 0.4) == (train_set, held)  # deterministic


def test_examples_come_from_the_store_latest_wins(tmp_path, sample_url):
    store = ExampleStore(f"sqlite:///{tmp_path / 'state.db'}")
    key = database_key(sample_url)
    store.add(key, "How many tools?", "SELECT 1", "verified")
    store.add(key, "How many tools?", "SELECT COUNT(*) FROM Tool", "correction",
              [{"question": "hi", "sql": "SELECT 2"}])
    store.add(key, "How many tools?", "SELECT COUNT(*) FROM Tool", "correction")
    store.add("sqlite:other.sqlite", "x", "SELECT 3", "imported")
    got = from_store(store, sample_url)
    assert sorted((e.sql, len(e.history)) for e in got) == [
        ("SELECT COUNT(*) FROM Tool", 0), ("SELECT COUNT(*) FROM Tool", 1)]
    assert all(e.database_url == sample_url for e in got)
    assert from_store(store, sample_url, after_id=max(e.id for e in got)) == []


def test_config_file_and_flags(tmp_path):
    import argparse

    path = tmp_path / "train.yaml"
    path.write_text("r: 8\nepochs: 5\ntarget_modules: [q_proj, v_proj]\n")
    parser = argparse.ArgumentParser()
    TrainConfig.add_arguments(parser)
    args = parser.parse_args(["--epochs", "2", "--method", "qlora"])
    config = TrainConfig.from_args(args, str(path))
    assert (config.r, config.epochs, config.method) == (8, 2, "qlora")
    assert config.target_modules == ("q_proj", "v_proj")
    (tmp_path / "bad.json").write_text(json.dumps({"rank": 4}))
    from nlsql import ConfigError

    with pytest.raises(ConfigError, match="rank"):
        TrainConfig.from_file(tmp_path / "bad.json")
    with pytest.raises(ConfigError):
        TrainConfig(method="full")


def _base_snapshot(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_steps_change_lora_weights_only(method, tiny_model, tiny_model_dir, examples,
                                        tmp_path):
    config = TrainConfig(method=method, r=4, alpha=8, epochs=2, grad_accum=1,
                         learning_rate=5e-3, warmup_ratio=0.0, holdout=0.3, max_seq_len=1024)
    model, device = load_for_training(tiny_model_dir, config, "cpu")
    if method == "qlora":
        import bitsandbytes as bnb

        assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    renderer = ChatRenderer(tiny_model.tokenizer, schema_budget_chars=600)  # short chats
    train_set, held = holdout_split(examples, config.holdout)
    train_items, _ = renderer.tokenize_all(train_set, config.max_seq_len)
    eval_items, _ = renderer.tokenize_all(held, config.max_seq_len)
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters()
                   if "lora_B" in n}
    base_before = _base_snapshot(model)
    result = train(model, train_items, eval_items, config, tmp_path / "adapter",
                   tiny_model.tokenizer.pad_token_id, device, progress=False)
    assert result.steps == 2 * len(train_items) and result.losses
    assert result.eval_losses and result.best_eval_loss is not None
    assert result.peak_rss_mb > 0 and result.seconds_per_example > 0
    changed = [n for n, p in model.named_parameters()
               if "lora_B" in n and not p.detach().equal(lora_before[n])]
    assert changed, "no LoRA weight moved"
    for name, before in base_before.items():
        assert dict(model.named_parameters())[name].detach().equal(before), name
    saved = tmp_path / "adapter"
    assert (saved / "adapter_config.json").exists()
    assert json.loads((saved / "adapter_config.json").read_text())["r"] == 4
    # the first loss is worse than the best later one: it learned something
    assert min(x["loss"] for x in result.losses[1:]) < result.losses[0]["loss"]
