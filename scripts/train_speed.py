"""Training speed and peak memory on the Spider learning half: a few steps, one process.

Usage: python scripts/train_speed.py lora|qlora STEPS [cpu|cuda]
(run from the repository root, with ../shared/benchmarks and a prepared model).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import AutoTokenizer

from askdb.settings import Settings
from nlsql.models.files import resolve_model_path
from training import benchmarks as bench
from training import evaluate as ev
from training.config import TrainConfig
from training.dataset import ChatRenderer, TrainExample, holdout_split
from training.finetune import load_for_training, train


def main() -> None:
    method, steps = sys.argv[1], int(sys.argv[2])
    device = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    data = Path("../shared/benchmarks")
    settings = Settings.from_env()
    base = resolve_model_path(settings.model, settings.cache_path)
    learn, _test = ev.learn_split(bench.spread(bench.load_spider(data), 400), 0.5)
    examples = [TrainExample(bench.database_url(data, i.db), i.question, i.sql) for i in learn]
    config = TrainConfig(method=method, r=32, alpha=16, epochs=1, grad_accum=4,
                         learning_rate=2e-4, holdout=0.1, max_seq_len=2048, max_steps=steps)
    train_set, _held = holdout_split(examples, config.holdout)
    tokenizer = AutoTokenizer.from_pretrained(base)
    items, _ = ChatRenderer(tokenizer).tokenize_all(train_set, config.max_seq_len)
    model, device = load_for_training(base, config, device)
    result = train(model, items, [], config, Path("results") / f"speed-adapter-{method}",
                   tokenizer.pad_token_id, device, progress=False)
    print(json.dumps({**result.to_dict(), "mean_tokens":
                      sum(len(t.input_ids) for t in items) / len(items)}))


if __name__ == "__main__":
    main()
