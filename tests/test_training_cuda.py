"""CUDA-only training paths: QLoRA with paged optimisers and bf16 compute.

Skipped with a reason on machines without a CUDA device (the CI machine); they run on a
GPU server, where they must pass.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device: paged AdamW and bf16 compute only run on GPUs")

from training.config import TrainConfig  # noqa: E402
from training.dataset import ChatRenderer, TrainExample  # noqa: E402
from training.finetune import load_for_training, train  # noqa: E402


def _items(tokenizer, url):
    renderer = ChatRenderer(tokenizer, schema_budget_chars=600)
    examples = [TrainExample(url, "How many tools?", "SELECT COUNT(*) FROM Tool"),
                TrainExample(url, "List departments", "SELECT DepartmentName FROM Department")]
    items, _ = renderer.tokenize_all(examples, 2048)
    return items


@pytest.mark.parametrize("method, optimizer", [
    ("qlora", "paged_adamw_8bit"), ("qlora", "paged_adamw_32bit"), ("lora", "adamw")])
def test_cuda_training_bf16(method, optimizer, tiny_model, tiny_model_dir, sample_url, tmp_path):
    config = TrainConfig(method=method, optimizer=optimizer, compute_dtype="bfloat16",
                         r=4, alpha=8, epochs=2, grad_accum=1, learning_rate=5e-3,
                         warmup_ratio=0.0, gradient_checkpointing=True)
    model, device = load_for_training(tiny_model_dir, config, "cuda")
    assert device == "cuda"
    items = _items(tiny_model.tokenizer, sample_url)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(model, items, items[:1], config, tmp_path / "adapter",
                   tiny_model.tokenizer.pad_token_id, device, progress=False)
    assert result.steps == 4 and result.peak_cuda_mb and result.peak_cuda_mb > 0
    after = dict(model.named_parameters())
    moved = [n for n in before if "lora_B" in n and not after[n].detach().equal(before[n])]
    assert moved
    for name, value in before.items():
        if "lora_" not in name:
            assert after[name].detach().equal(value), name
    lora_dtypes = {p.dtype for n, p in model.named_parameters() if "lora_" in n}
    assert lora_dtypes <= {torch.float32, torch.bfloat16}
