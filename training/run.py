"""One training run, end to end: data, fine-tuning, export, gate, registry, record.

Whatever happens, the run is recorded and the serving adapter only changes through a
passed gate: a crash or a rejection leaves ``registry.json`` as it was.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .benchmarks import EvalItem
from .config import TrainConfig
from .dataset import ChatRenderer, TrainExample, holdout_split
from .gate import decide, score
from .registry import AdapterRegistry, AdapterVersion

log = logging.getLogger(__name__)

# the serving model for the gate, and the file it loads for a version (None = base)
AdapterFile = Callable[[AdapterVersion | None], str | None]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_training(
    examples: Sequence[TrainExample],
    base_dir: str | Path,
    config: TrainConfig,
    registry: AdapterRegistry,
    gate_model=None,
    adapter_file: AdapterFile | None = None,
    regression: Sequence[EvalItem] = (),
    export_gguf: bool = False,
    schema_budget_chars: int = 12_000,
    link_values: bool = True,
    progress: bool = True,
    trigger: str = "manual",
) -> dict:
    """Train, gate and maybe promote; returns the run record (also in runs.jsonl)."""
    from transformers import AutoTokenizer

    from .export import export_gguf_lora
    from .finetune import load_for_training, train

    started = time.perf_counter()
    record: dict = {"started_at": _now(), "trigger": trigger, "method": config.method,
                    "examples": len(examples), "config": config.to_dict(),
                    "max_example_id": max((e.id for e in examples), default=0)}
    version: Path | None = None
    try:
        train_set, held = holdout_split(examples, config.holdout)
        record.update(train_n=len(train_set), holdout_n=len(held))
        if not train_set:
            record.update(status="skipped", reason="no examples to train on")
            return record
        tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
        renderer = ChatRenderer(tokenizer, schema_budget_chars, link_values)
        train_items, skipped = renderer.tokenize_all(train_set, config.max_seq_len)
        eval_items, _ = renderer.tokenize_all(held, config.max_seq_len)
        record["too_long"] = skipped
        version = registry.allocate()
        record["version"] = version.name
        model, device = load_for_training(base_dir, config)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
            else tokenizer.eos_token_id
        result = train(model, train_items, eval_items, config, version, pad, device, progress)
        del model
        gc.collect()
        record["training"] = result.to_dict()
        if export_gguf:
            export_gguf_lora(version, Path(base_dir) / "config.json", version / "adapter.gguf")
        meta = {"created_at": _now(), "base": str(base_dir), "status": "candidate",
                "config": config.to_dict(), "train_n": len(train_items),
                "holdout_n": len(eval_items), "training": result.to_dict()}
        registry.write_meta(version, meta)
        if gate_model is None or adapter_file is None:
            record.update(status="trained", reason="no gate configured: not promoted")
            return record
        candidate = registry.get(version.name)
        current = registry.current()
        gate_model.set_adapter(adapter_file(candidate))
        cand_scores = score(gate_model, held, regression)
        gate_model.set_adapter(adapter_file(current))
        cur_scores = score(gate_model, held, regression)
        decision = decide(cand_scores, cur_scores, config)
        record.update(candidate=cand_scores, current=cur_scores,
                      current_version=current.name if current else None,
                      status="promoted" if decision.promote else "rejected",
                      reason=decision.reason)
        registry.update_meta(version.name, status=record["status"], gate=record["reason"],
                             candidate=cand_scores, current=cur_scores)
        if decision.promote:
            registry.promote(version.name)
        return record
    except Exception as err:  # recorded, then raised: a failed run must be visible
        record.update(status="failed", reason=f"{type(err).__name__}: {err}")
        if version is not None and (version / "askdb-adapter.json").exists():
            registry.update_meta(version.name, status="failed", gate=record["reason"])
        raise
    finally:
        record["seconds"] = round(time.perf_counter() - started, 1)
        record["finished_at"] = _now()
        registry.record_run(record)
        log.info("training run %s: %s", record.get("version"), record.get("status"))
