"""``askdb train`` and ``askdb adapters``: retrain on corrections, manage adapter versions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.config import TrainConfig

from .settings import Settings


def _registry(settings: Settings):
    from .factory import adapter_registry

    return adapter_registry(settings)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from nlsql.examples import ExampleStore
    from nlsql.models.files import resolve_model_path
    from nlsql.models.llamacpp import LlamaCppModel
    from training.benchmarks import load_jsonl
    from training.dataset import from_store
    from training.run import run_training

    from .factory import adapter_file_for, choose_backend, load_model

    config = TrainConfig.from_args(args, args.config or settings.train_config or None)
    url = args.db or settings.effective_database_url
    registry = _registry(settings)
    examples = from_store(ExampleStore(settings.effective_state_url), url)
    new = sum(e.id > registry.last_example_id() for e in examples)
    if args.if_needed and new < config.min_new_examples:
        print(f"not training: {new} new examples since the last run "
              f"(min_new_examples is {config.min_new_examples})")
        return 0
    regression_file = args.regression or settings.regression_set
    regression = load_jsonl(Path(regression_file)) if regression_file else []
    gate_model = None if args.no_gate else load_model(settings, adapter=False)
    record = run_training(
        examples, resolve_model_path(settings.model, settings.cache_path), config, registry,
        gate_model=gate_model,
        adapter_file=adapter_file_for(gate_model) if gate_model is not None else None,
        regression=regression,
        # the llama.cpp backend serves adapters as GGUF: export whenever it may serve them
        export_gguf=isinstance(gate_model, LlamaCppModel) or args.export_gguf
        or choose_backend(settings) == "llamacpp",
        schema_budget_chars=settings.schema_budget,
        link_values=settings.value_linking,
        progress=not args.json,
        trigger="schedule" if args.if_needed else "manual",
    )
    if args.json:
        print(json.dumps(record, ensure_ascii=False, default=str))
    else:
        _print_run(record)
    return 0


def _print_run(record: dict) -> None:
    training = record.get("training") or {}
    rows = [
        ("version", record.get("version", "-")),
        ("status", record.get("status")),
        ("reason", record.get("reason", "")),
        ("examples", f"{record.get('train_n', 0)} train / {record.get('holdout_n', 0)} held out"),
        ("steps", training.get("steps", "-")),
        ("best held-out loss", training.get("best_eval_loss", "-")),
        ("seconds", record.get("seconds")),
        ("s per example", training.get("seconds_per_example", "-")),
        ("peak RSS MB", training.get("peak_rss_mb", "-")),
    ]
    for key in ("candidate", "current"):
        if key in record:
            scores = record[key]
            rows.append((f"{key} EX", f"held-out {scores['holdout_ex']} "
                                      f"(n={scores['holdout_n']}), regression "
                                      f"{scores['regression_ex']} (n={scores['regression_n']})"))
    for key, value in rows:
        print(f"{key:>20}: {value}")


def cmd_adapters_list(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(settings)
    current = registry.current_name()
    versions = registry.versions()
    if args.json:
        print(json.dumps([{"version": v.name, "current": v.name == current, **v.meta}
                          for v in versions], default=str))
        return 0
    if not versions:
        print(f"no adapters yet in {registry.root}; the base model is serving")
        return 0
    for v in versions:
        scores = v.meta.get("candidate") or {}
        print(f"{'*' if v.name == current else ' '} {v.name}  {v.status:<12} "
              f"{v.meta.get('created_at', ''):<25} train {v.meta.get('train_n', '?'):>4}  "
              f"held-out EX {scores.get('holdout_ex', '-')}")
    if current is None:
        print("(the base model is serving)")
    return 0


def cmd_adapters_promote(args: argparse.Namespace, settings: Settings) -> int:
    version = _registry(settings).promote(args.version)
    print(f"{version.name} is now serving (servers swap it in within "
          f"{settings.adapter_poll_s:g} s)")
    return 0


def cmd_adapters_rollback(args: argparse.Namespace, settings: Settings) -> int:
    current = _registry(settings).rollback()
    print(f"now serving: {current or 'the base model'}")
    return 0


def cmd_adapters_export(args: argparse.Namespace, settings: Settings) -> int:
    from nlsql.models.files import resolve_model_path
    from training.export import export_gguf_lora, merge_adapter

    version = _registry(settings).get(args.version)
    base = Path(resolve_model_path(settings.model, settings.cache_path))
    if args.merged:
        out = merge_adapter(base, version.path, args.merged)
    else:
        out = export_gguf_lora(version.path, base / "config.json", version.path / "adapter.gguf")
    print(out)
    return 0


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="fine-tune a LoRA adapter on the stored corrections",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--config", help="YAML/JSON training settings (ASKDB_TRAIN_CONFIG)")
    train.add_argument("--db", help="database whose examples to train on (default: configured)")
    train.add_argument("--regression", help="JSONL regression set (ASKDB_REGRESSION_SET)")
    train.add_argument("--if-needed", action="store_true",
                       help="only when min_new_examples arrived since the last run")
    train.add_argument("--no-gate", action="store_true",
                       help="train and register, but do not evaluate or promote")
    train.add_argument("--export-gguf", action="store_true",
                       help="also write the llama.cpp LoRA when the gate does not need it")
    train.add_argument("--json", action="store_true", help="print the run record as JSON")
    TrainConfig.add_arguments(train)
    train.set_defaults(func=cmd_train)

    adapters = sub.add_parser("adapters", help="trained adapter versions")
    adapters_sub = adapters.add_subparsers(dest="adapters_command", required=True)
    listing = adapters_sub.add_parser("list", help="versions, status and scores")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_adapters_list)
    promote = adapters_sub.add_parser("promote", help="serve this version")
    promote.add_argument("version")
    promote.set_defaults(func=cmd_adapters_promote)
    rollback = adapters_sub.add_parser("rollback", help="serve the previous version again")
    rollback.set_defaults(func=cmd_adapters_rollback)
    export = adapters_sub.add_parser(
        "export", help="write the llama.cpp LoRA (adapter.gguf), or a merged model folder")
    export.add_argument("version")
    export.add_argument("--merged", metavar="DIR",
                        help="fold the adapter into the base and save the model here")
    export.set_defaults(func=cmd_adapters_export)
