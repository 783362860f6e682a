"""Adapters for other engines: a GGUF LoRA for llama.cpp, a merged folder for the rest.

The CPU server runs llama.cpp on the quantised base; it applies a LoRA given as GGUF on
top of it, so a trained adapter reaches serving without re-quantising the model. The
merged folder (adapter folded into the base, as the seed design did) is for engines that
cannot load adapters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nlsql.errors import ConfigError

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<base>.+)\.lora_(?P<ab>[AB])\.weight$")


def export_gguf_lora(adapter_dir: str | Path, base_config: str | Path, out: str | Path) -> Path:
    """Write a llama.cpp LoRA (``adapter.type = lora``) from a peft adapter folder."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    adapter_dir, out = Path(adapter_dir), Path(out)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if config.get("use_dora") or config.get("use_rslora"):
        raise ConfigError("DoRA / rsLoRA adapters cannot be converted for llama.cpp.")
    base = json.loads(Path(base_config).read_text())
    arch = next((a for a, name in gguf.MODEL_ARCH_NAMES.items()
                 if name == base.get("model_type")), None)
    if arch is None:
        raise ConfigError(f"llama.cpp has no architecture {base.get('model_type')!r}.")
    names = gguf.get_tensor_name_map(arch, int(base["num_hidden_layers"]))
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, object]] = {}
    for key, value in tensors.items():
        match = _LORA_KEY.match(key)
        if match is None:
            raise ConfigError(f"unexpected tensor {key} in the adapter")
        pairs.setdefault(match["base"], {})[match["ab"]] = value
    tmp = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), arch=gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for base_name, ab in sorted(pairs.items()):
        target = names.get_name(base_name + ".weight", try_suffixes=(".weight",))
        if target is None or set(ab) != {"A", "B"}:
            raise ConfigError(f"cannot map adapter weight {base_name} to llama.cpp")
        # torch layouts (r x in, out x r) are what llama.cpp expects after GGUF's dim flip;
        # f16 halves the file against f32 and is what llama.cpp's own converter writes
        for part in ("A", "B"):
            array = ab[part].float().numpy().astype(np.float16)
            writer.add_tensor(f"{target}.lora_{part.lower()}", array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


def merge_adapter(base_dir: str | Path, adapter_dir: str | Path, out: str | Path) -> Path:
    """Fold the adapter into the base weights and save model + tokenizer together."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(str(out))
    return Path(out)
