"""TrainConfig: every fine-tuning knob in one place, with the help text the CLI shows.

The defaults follow the seed design's QLoRA recipe (r 32-64, alpha 16-32, lr 1e-4..2e-4,
early stopping with patience on a held-out split), scaled to what a CPU server finishes
overnight: a few epochs over a few hundred corrections.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from nlsql.errors import ConfigError

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    method: str = field(default="lora", metadata={
        "help": "'lora' trains on full-precision weights; 'qlora' loads the base in 4-bit NF4 "
                "(bitsandbytes, double quantisation) and trains the adapter on top: less "
                "memory, slower on a CPU"})
    r: int = field(default=32, metadata={"help": "LoRA rank"})
    alpha: int = field(default=16, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    target_modules: tuple[str, ...] = field(default=TARGET_MODULES, metadata={
        "help": "projections that get adapters (attention and MLP)"})
    learning_rate: float = field(default=2e-4, metadata={"help": "peak learning rate"})
    warmup_ratio: float = field(default=0.1, metadata={
        "help": "share of the steps spent warming the learning rate up (then cosine decay)"})
    epochs: int = field(default=3, metadata={"help": "most passes over the training split"})
    batch_size: int = field(default=1, metadata={"help": "examples per forward pass"})
    grad_accum: int = field(default=4, metadata={
        "help": "forward passes per optimiser step (effective batch = batch_size x this)"})
    max_seq_len: int = field(default=1536, metadata={
        "help": "longest tokenised example; longer ones are skipped, not truncated"})
    patience: int = field(default=2, metadata={
        "help": "evaluations without a better held-out loss before stopping early"})
    eval_every: int = field(default=0, metadata={
        "help": "optimiser steps between held-out evaluations; 0 = once per epoch"})
    holdout: float = field(default=0.2, metadata={
        "help": "share of the examples (by distinct SQL) held out for the gate"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps; 0 = none"})
    seed: int = field(default=0, metadata={"help": "random seed (shuffling, dropout)"})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "recompute activations in the backward pass: less memory, ~30%% slower"})
    optimizer: str = field(default="auto", metadata={
        "help": "'adamw' (torch), 'paged_adamw_8bit' or 'paged_adamw_32bit' (bitsandbytes, "
                "CUDA); 'auto' = paged 8-bit for qlora on CUDA, else adamw"})
    compute_dtype: str = field(default="auto", metadata={
        "help": "bfloat16, float16 or float32; 'auto' = bfloat16 on a GPU that has it, "
                "float32 on a CPU"})
    margin: float = field(default=0.01, metadata={
        "help": "execution accuracy a new adapter must gain over the serving one"})
    max_regression: float = field(default=0.0, metadata={
        "help": "accuracy the new adapter may lose on the fixed regression set"})
    min_new_examples: int = field(default=20, metadata={
        "help": "scheduled runs start only when this many new corrections/pairs arrived"})

    def __post_init__(self) -> None:
        if self.method not in {"lora", "qlora"}:
            raise ConfigError("method must be 'lora' or 'qlora'.")
        if self.optimizer not in {"auto", "adamw", "paged_adamw_8bit", "paged_adamw_32bit"}:
            raise ConfigError("optimizer must be auto, adamw, paged_adamw_8bit or "
                              "paged_adamw_32bit.")
        if self.compute_dtype not in {"auto", "bfloat16", "float16", "float32"}:
            raise ConfigError("compute_dtype must be auto, bfloat16, float16 or float32.")
        if self.r < 1 or self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("r, epochs, batch_size and grad_accum must be at least 1.")
        if not 0 <= self.holdout < 1:
            raise ConfigError("holdout must be in [0, 1).")

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """JSON or YAML with any subset of the fields."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        return cls().with_values(data)

    def with_values(self, data: dict) -> TrainConfig:
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return replace(self, **values)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One --flag per field, all optional: unset flags keep the file's or defaults."""
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            meta = f.name.upper()
            default = f.default
            if isinstance(default, bool):
                parser.add_argument(flag, dest=f"cfg_{f.name}", default=None,
                                    action=argparse.BooleanOptionalAction,
                                    help=f"{f.metadata['help']} (default {default})")
            elif isinstance(default, tuple):
                parser.add_argument(flag, dest=f"cfg_{f.name}", default=None, metavar=meta,
                                    type=lambda s: tuple(x for x in s.split(",") if x),
                                    help=f"{f.metadata['help']} (default {','.join(default)})")
            else:
                parser.add_argument(flag, dest=f"cfg_{f.name}", default=None, metavar=meta,
                                    type=type(default),
                                    help=f"{f.metadata['help']} (default {default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace, path: str | None = None) -> TrainConfig:
        base = cls.from_file(path) if path else cls()
        values = {f.name: getattr(args, f"cfg_{f.name}") for f in fields(cls)
                  if getattr(args, f"cfg_{f.name}", None) is not None}
        return base.with_values(values)
