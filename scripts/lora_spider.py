"""Issue 6's figure: a LoRA trained on the Spider learning half, scored on the test half.

Trains on the learning half of the 400 evenly spread Spider dev questions (the split of
``askdb eval --learn-split 0.5``), exports the GGUF LoRA for llama.cpp, then scores the
merged adapter and the base, with and without retrieved examples, on the same torch
backend. Writes progress and results under OUT as it goes (runs of minutes on a GPU).

Usage: python scripts/lora_spider.py MODEL_DIR DATA_DIR OUT
  MODEL_DIR  the prepared model folder (askdb model prepare), DATA_DIR ../shared/benchmarks
The CPU figures come from `askdb eval ... --adapter OUT/adapter.gguf` (llama.cpp).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from nlsql import Text2SqlModel
from training import benchmarks as bench
from training import evaluate as ev
from training.config import TrainConfig
from training.dataset import ChatRenderer, TrainExample, holdout_split
from training.export import export_gguf_lora
from training.finetune import load_for_training, train


def main() -> None:
    base, data, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    learn, test = ev.learn_split(bench.spread(bench.load_spider(data), 400), 0.5)
    examples = [TrainExample(bench.database_url(data, i.db), i.question, i.sql) for i in learn]
    config = TrainConfig(method="lora", r=16, alpha=32, epochs=3, grad_accum=4,
                         learning_rate=2e-4, holdout=0.1, compute_dtype="bfloat16",
                         max_seq_len=2048, patience=2)
    train_items, held = holdout_split(examples, config.holdout)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    renderer = ChatRenderer(tokenizer)
    train_tok, _ = renderer.tokenize_all(train_items, config.max_seq_len)
    held_tok, _ = renderer.tokenize_all(held, config.max_seq_len)
    model, device = load_for_training(str(base), config)
    result = train(model, train_tok, held_tok, config, out / "adapter", tokenizer.pad_token_id,
                   device, progress=False)
    (out / "train.json").write_text(json.dumps(result.to_dict(), default=str, indent=1))
    del model
    torch.cuda.empty_cache()
    export_gguf_lora(out / "adapter", base / "config.json", out / "adapter.gguf")

    scores: dict[str, dict] = {}

    def score(model, lookup, tag: str) -> None:
        started = time.perf_counter()
        evaluator = ev.Evaluator(model, data, progress_file=out / f"{tag}-progress.jsonl")
        _scored, summary = ev.evaluate_items(evaluator, test, lookup, desc=tag)
        scores[tag] = {**summary, "wall_s": round(time.perf_counter() - started, 1)}
        (out / "eval.json").write_text(json.dumps(scores, indent=1))

    tuned = Text2SqlModel.load(base)
    tuned.set_adapter(out / "adapter")
    tuned.model = tuned.model.merge_and_unload()  # unmerged LoRA generates ~1.5x slower
    score(tuned, ev.example_lookup(learn), "lora_with_examples")
    del tuned
    torch.cuda.empty_cache()
    plain = Text2SqlModel.load(base)
    score(plain, ev.example_lookup(learn), "base_with_examples")
    score(plain, None, "base_without_examples")


if __name__ == "__main__":
    main()
