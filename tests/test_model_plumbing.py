"""Generation plumbing on a tiny offline model: stopping, limits, prefix KV cache."""

from __future__ import annotations

import pytest

from nlsql import ModelUnavailable, Text2SqlModel

MESSAGES = [
    {"role": "system", "content": "CREATE TABLE Jidouka (JidoukaId INTEGER PRIMARY KEY);"},
    {"role": "user", "content": "How many improvements did DC2 make in 2024?"},
]


def test_generate_respects_max_new_tokens(tiny_model):
    out = tiny_model.generate(MESSAGES, max_new_tokens=7)
    assert 1 <= out.new_tokens <= 7
    assert out.prompt_tokens > 10
    assert out.prefill_s >= 0 and out.decode_s >= 0


def test_stop_when_ends_generation_early(tiny_model):
    seen: list[str] = []

    def stop(text: str) -> bool:
        seen.append(text)
        return len(seen) >= 3

    out = tiny_model.generate(MESSAGES, max_new_tokens=50, stop_when=stop)
    assert out.new_tokens == 3


def test_prefix_cache_gives_identical_output(tiny_model):
    tiny_model.clear_prefix_cache()
    cold = tiny_model.generate(MESSAGES, max_new_tokens=20)
    assert len(tiny_model._prefixes) == 1
    warm = tiny_model.generate(MESSAGES, max_new_tokens=20)
    other = tiny_model.generate(
        [MESSAGES[0], {"role": "user", "content": "Có bao nhiêu cải tiến?"}], max_new_tokens=20
    )
    assert warm.text == cold.text  # greedy and the same prompt: the cache changes nothing
    assert len(tiny_model._prefixes) == 1  # one schema, one cached prefix
    # and it matches plain generation without any cache
    import torch

    ids = tiny_model.tokenizer(tiny_model.render(MESSAGES), return_tensors="pt",
                               add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        plain = tiny_model.model.generate(ids, max_new_tokens=20, do_sample=False)
    assert tiny_model.tokenizer.decode(plain[0, ids.shape[1]:], skip_special_tokens=True) \
        == cold.text
    assert other.prompt_tokens != cold.prompt_tokens


def test_prefix_cache_is_bounded(tiny_model):
    tiny_model.clear_prefix_cache()
    for i in range(tiny_model.max_cached_prefixes + 2):
        tiny_model.generate([{"role": "system", "content": f"schema {i}"}, MESSAGES[1]], 2)
    assert len(tiny_model._prefixes) == tiny_model.max_cached_prefixes


def test_missing_model_folder_is_a_clear_error(tmp_path):
    from nlsql.models.files import resolve_model_path

    with pytest.raises(ModelUnavailable, match="does not exist"):
        resolve_model_path(str(tmp_path / "nothing-here"), tmp_path)
    with pytest.raises(ModelUnavailable, match="askdb model prepare"):
        resolve_model_path("qwen2.5-coder-0.5b-instruct", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        Text2SqlModel.load(empty)


def test_a_broken_adapter_leaves_the_base_serving(tiny_model, tmp_path):
    (tmp_path / "adapter_config.json").write_text("{not json")
    with pytest.raises(ModelUnavailable, match="adapter"):
        tiny_model.set_adapter(tmp_path)
    assert tiny_model.adapter is None and tiny_model.adapter_version is None
    assert tiny_model.generate(MESSAGES, max_new_tokens=3).new_tokens >= 1


def test_load_model_takes_the_adapter_it_is_told(tiny_model_dir, tmp_path):
    """`askdb eval --adapter` measures a candidate: a path, a version, or 'none'."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from askdb.factory import load_model
    from nlsql.errors import ConfigError
    from tests.conftest import real_settings

    adapter_dir = tmp_path / "cand"
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                                LoraConfig(r=2, target_modules=["q_proj"]))
    peft_model.save_pretrained(str(adapter_dir))
    settings = real_settings(backend="torch", model=str(tiny_model_dir),
                             adapters_dir=str(tmp_path / "registry"))

    loaded = load_model(settings, adapter=str(adapter_dir))
    assert loaded.adapter == str(adapter_dir) and loaded.adapter_version == str(adapter_dir)
    assert load_model(settings, adapter="none").adapter is None
    with pytest.raises(ConfigError, match="v0009"):
        load_model(settings, adapter="v0009")


def test_static_cache_path_gives_identical_output(tiny_model):
    """The fixed-size cache CUDA graphs decode with (here uncompiled, on the CPU)."""
    tiny_model.clear_prefix_cache()
    dynamic = [tiny_model.generate(m, max_new_tokens=20).text
               for m in (MESSAGES, [MESSAGES[0], {"role": "user", "content": "List tools"}])]
    tiny_model.static_cache_len = 512
    try:
        static = [tiny_model.generate(m, max_new_tokens=20).text
                  for m in (MESSAGES, [MESSAGES[0], {"role": "user", "content": "List tools"}])]
        assert tiny_model._static_cache is not None  # one cache, reset between questions
        # a prompt longer than the static cache falls back to the dynamic path
        long = [MESSAGES[0], {"role": "user", "content": "tools " * 600}]
        assert tiny_model.generate(long, max_new_tokens=5).new_tokens >= 1
    finally:
        tiny_model.static_cache_len = 0
        tiny_model._static_cache = None
    assert static == dynamic
