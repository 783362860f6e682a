"""LoRA / QLoRA fine-tuning of the base model on tokenised chats, with early stopping.

A plain loop rather than a trainer framework: the data are a few hundred short chats,
the loss is masked to the SQL, and we need exact control of what is saved (only the
adapter with the best held-out loss) and of memory on a CPU server.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from .config import TrainConfig
from .dataset import IGNORE, Tokenized

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    adapter_dir: str
    method: str
    device: str
    train_examples: int
    eval_examples: int
    steps: int = 0
    epochs: float = 0.0
    losses: list[dict] = field(default_factory=list)  # {"step", "loss"} per optimiser step
    eval_losses: list[dict] = field(default_factory=list)  # {"step", "loss"} per evaluation
    best_eval_loss: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0
    seconds_per_example: float = 0.0  # per example seen (epochs x examples)
    peak_rss_mb: float = 0.0
    peak_cuda_mb: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _dtype(config: TrainConfig, device: str):
    import torch

    if config.compute_dtype != "auto":
        return getattr(torch, config.compute_dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_for_training(model_dir: str | Path, config: TrainConfig, device: str | None = None):
    """The base model with fresh LoRA adapters on the configured projections."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = _dtype(config, device)
    if config.method == "qlora":
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), quantization_config=quant, dtype=dtype, device_map={"": device})
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
        _keep_4bit_layout(model)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).to(device)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
    model.config.use_cache = False
    lora = LoraConfig(
        r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM",
    )
    torch.manual_seed(config.seed)  # LoRA's A matrices start random: same seed, same run
    return get_peft_model(model, lora), device


def _keep_4bit_layout(model) -> None:
    """Keep bitsandbytes from repacking 4-bit weights for its CPU inference kernel.

    On CPUs with AVX-512 BF16, a 4-bit layer's first no-grad forward in eval mode (the
    held-out loss) rewrites its weight into a packed layout, in place; that fails on
    layers narrower than a quantisation block and leaves the frozen base in another
    format for the training steps that follow. Training wants one layout throughout.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _optimizer(model, config: TrainConfig, device: str):
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    name = config.optimizer
    if name == "auto":
        name = "paged_adamw_8bit" if config.method == "qlora" and device.startswith("cuda") \
            else "adamw"
    if name.startswith("paged_"):
        if not device.startswith("cuda"):
            raise ValueError(f"{name} needs a CUDA device; use --optimizer adamw on a CPU.")
        import bitsandbytes as bnb

        cls = bnb.optim.PagedAdamW8bit if name.endswith("8bit") else bnb.optim.PagedAdamW32bit
        return cls(params, lr=config.learning_rate, weight_decay=0.0), name
    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0), name


def _batches(items: Sequence[Tokenized], size: int, pad_id: int, device: str):
    import torch

    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        width = max(len(t.input_ids) for t in chunk)
        ids = [t.input_ids + [pad_id] * (width - len(t.input_ids)) for t in chunk]
        labels = [t.labels + [IGNORE] * (width - len(t.labels)) for t in chunk]
        mask = [[1] * len(t.input_ids) + [0] * (width - len(t.input_ids)) for t in chunk]
        yield (torch.tensor(ids, device=device), torch.tensor(labels, device=device),
               torch.tensor(mask, device=device))


def eval_loss(model, items: Sequence[Tokenized], pad_id: int, device: str) -> float:
    """Mean token loss on the answers of ``items`` (the early-stopping signal)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, labels, mask in _batches(items, 1, pad_id, device):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            n = int((labels[:, 1:] != IGNORE).sum())
            total += float(out.loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def _lr_lambda(total_steps: int, warmup_ratio: float):
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def train(model, train_items: Sequence[Tokenized], eval_items: Sequence[Tokenized],
          config: TrainConfig, adapter_dir: str | Path, pad_id: int, device: str = "cpu",
          progress: bool = True) -> TrainResult:
    """Train the LoRA weights of ``model`` (a peft model); save the best adapter."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    if not train_items:
        raise ValueError("no training examples")
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    result = TrainResult(str(adapter_dir), config.method, device, len(train_items),
                         len(eval_items))
    optimizer, result_optimizer = _optimizer(model, config, device)
    log.info("training %s with %s on %s: %d examples, %d held out", config.method,
             result_optimizer, device, len(train_items), len(eval_items))
    per_epoch = math.ceil(len(train_items) / (config.batch_size * config.grad_accum))
    total = per_epoch * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total, config.warmup_ratio))
    eval_every = config.eval_every or per_epoch
    best_state, bad_evals, seen = None, 0, 0
    started = time.perf_counter()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model.train()
    bar = tqdm(total=total, desc=f"{config.method} steps", unit="step", disable=not progress)
    order = list(train_items)
    step, micro, running = 0, 0, 0.0
    while step < total:
        random.shuffle(order)
        for ids, labels, mask in _batches(order, config.batch_size, pad_id, device):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            (out.loss / config.grad_accum).backward()
            running += float(out.loss.detach()) / config.grad_accum
            micro += 1
            seen += int(ids.shape[0])
            if micro % config.grad_accum:
                continue
            torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.losses.append({"step": step, "loss": round(running, 5)})
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}")
            running = 0.0
            if eval_items and (step % eval_every == 0 or step == total):
                loss = eval_loss(model, eval_items, pad_id, device)
                result.eval_losses.append({"step": step, "loss": round(loss, 5)})
                if result.best_eval_loss is None or loss < result.best_eval_loss:
                    result.best_eval_loss = loss
                    best_state = copy.deepcopy(get_peft_model_state_dict(model))
                    bad_evals = 0
                else:
                    bad_evals += 1
                    if bad_evals >= config.patience:
                        result.stopped_early = True
                        break
            if step >= total:
                break
        if result.stopped_early:
            break
    bar.close()
    if best_state is not None:  # the adapter with the best held-out loss, not the last
        set_peft_model_state_dict(model, best_state)
    Path(adapter_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(adapter_dir))
    result.steps = step
    result.epochs = round(seen / len(train_items), 2)
    result.seconds = round(time.perf_counter() - started, 2)
    result.seconds_per_example = round(result.seconds / max(seen, 1), 3)
    result.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if device.startswith("cuda"):
        result.peak_cuda_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result
