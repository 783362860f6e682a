"""A peft LoRA of the real base reaches llama.cpp through the GGUF export."""

from __future__ import annotations

import pytest

from nlsql.prompting import sql_is_complete
from training.export import export_gguf_lora

pytestmark = pytest.mark.model

MESSAGES = [
    {"role": "system", "content": "You write SQLite queries.\nCREATE TABLE Tool (ToolId "
                                  "INTEGER PRIMARY KEY, ToolName TEXT);"},
    {"role": "user", "content": "List all tool names."},
]


def _adapter(base_dir, out, scale: float) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8,
                                            target_modules=["q_proj", "down_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, scale) if scale else param.zero_()
    model.save_pretrained(str(out))


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, real_model):
    from nlsql.models.llamacpp import LlamaCppModel

    if not isinstance(real_model, LlamaCppModel):
        pytest.fail("the default backend here should be llama.cpp")
    from pathlib import Path

    base_dir = Path(real_model.tokenizer.name_or_path)
    root = tmp_path_factory.mktemp("lora")
    out = {}
    for label, scale in (("zero", 0.0), ("strong", 1.0)):
        _adapter(base_dir, root / label, scale)
        out[label] = export_gguf_lora(root / label, base_dir / "config.json",
                                      root / label / "adapter.gguf")
    return out


def test_exported_lora_loads_and_steers_llamacpp(real_model, adapters):
    real_model.set_adapter(None)
    base = real_model.generate(MESSAGES, 40, sql_is_complete).text
    try:
        real_model.set_adapter(adapters["zero"])  # a LoRA with B = 0 changes nothing
        assert real_model.generate(MESSAGES, 40, sql_is_complete).text == base
        real_model.set_adapter(adapters["strong"])
        assert real_model.adapter == str(adapters["strong"])
        assert real_model.generate(MESSAGES, 40, sql_is_complete).text != base
    finally:
        real_model.set_adapter(None)
    assert real_model.generate(MESSAGES, 40, sql_is_complete).text == base
