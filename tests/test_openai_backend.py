"""ASKDB_INFERENCE=openai: generation on a vLLM-style server, adapters published to it."""

from __future__ import annotations

import pytest

from askdb.factory import load_model
from nlsql import ModelUnavailable
from nlsql.models.openai_compat import OpenAIModel
from nlsql.prompting import REPLY_START, with_reply_start
from tests.conftest import real_settings
from tests.fake_vllm import FakeVllm
from tests.test_adapter_swap import _make_adapter
from training.registry import AdapterRegistry

MESSAGES = [
    {"role": "system", "content": "CREATE TABLE Tool (ToolId INTEGER, ToolName TEXT);"},
    {"role": "user", "content": "How many tools are there?"},
]


@pytest.fixture
def vllm(tiny_model):
    server = FakeVllm(tiny_model, "tiny").start()
    yield server
    server.stop()
    tiny_model.set_adapter(None)


def test_served_generation_matches_in_process(vllm, tiny_model):
    remote = OpenAIModel(vllm.base_url, "tiny")
    assert remote.served_models() == ["tiny"]
    local = tiny_model.generate(MESSAGES, 12)
    served = remote.generate(MESSAGES, 12)
    assert served.text == local.text and served.new_tokens >= 1
    assert served.prompt_tokens == local.prompt_tokens
    assert vllm.requests[-1]["temperature"] == 0 and vllm.requests[-1]["stream"] is True


def test_a_begun_reply_is_continued_like_in_process(vllm, tiny_model):
    begun = with_reply_start(MESSAGES)
    local = tiny_model.generate(begun, 12)
    served = OpenAIModel(vllm.base_url, "tiny").generate(begun, 12)
    assert served.text == local.text and served.new_tokens >= 1
    sent = vllm.requests[-1]
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert tiny_model.render(begun).endswith("assistant\n" + REPLY_START)


def test_stop_rule_ends_the_stream_early(vllm, tiny_model):
    full = tiny_model.generate(MESSAGES, 24).text
    assert len(full) > 4
    served = OpenAIModel(vllm.base_url, "tiny").generate(MESSAGES, 24,
                                                        lambda text: len(text) >= 3)
    assert 3 <= len(served.text) < len(full) and full.startswith(served.text)


def test_promoted_adapter_is_published_and_used(vllm, tiny_model, tiny_model_dir, tmp_path):
    registry = AdapterRegistry(tmp_path / "adapters")
    version = registry.allocate()
    _make_adapter(tiny_model_dir, version)
    registry.write_meta(version, {"base": str(tiny_model_dir), "status": "candidate"})
    registry.promote(version.name)
    settings = real_settings(inference="openai", openai_url=vllm.base_url,
                             openai_model="tiny", model=str(tiny_model_dir),
                             adapters_dir=str(registry.root))

    remote = load_model(settings)
    assert isinstance(remote, OpenAIModel) and remote.adapter_version == version.name
    assert vllm.loras == {version.name: str(version)}
    served = remote.generate(MESSAGES, 12)
    assert vllm.requests[-1]["model"] == version.name
    tiny_model.set_adapter(version)
    assert served.text == tiny_model.generate(MESSAGES, 12).text
    tiny_model.set_adapter(None)
    replica = load_model(settings)  # a second replica finds the adapter already loaded
    assert replica.adapter_version == version.name and len(vllm.loras) == 1
    remote.set_adapter(None)
    remote.generate(MESSAGES, 4)
    assert vllm.requests[-1]["model"] == "tiny"


def test_server_errors_are_clear(vllm, tmp_path):
    remote = OpenAIModel(vllm.base_url, "tiny")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match=r"would not load.*no adapter"):
        remote.set_adapter(tmp_path / "empty")
    assert remote.adapter is None
    with pytest.raises(ModelUnavailable, match=r"refused.*404"):
        OpenAIModel(vllm.base_url, "other").generate(MESSAGES, 4)
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        OpenAIModel("http://127.0.0.1:9/v1", "tiny", timeout_s=5).generate(MESSAGES, 4)


def test_openai_inference_needs_a_url():
    from nlsql.errors import ConfigError

    with pytest.raises(ConfigError, match="ASKDB_OPENAI_URL"):
        real_settings(inference="openai")


def test_doctor_checks_the_inference_server(vllm):
    from askdb import doctor

    good = real_settings(inference="openai", openai_url=vllm.base_url, openai_model="tiny")
    assert [c.status for c in doctor.check_model(good)] == [doctor.OK]
    wrong = real_settings(inference="openai", openai_url=vllm.base_url, openai_model="big")
    (check,) = doctor.check_model(wrong)
    assert check.status == doctor.FAIL and "serves tiny" in check.detail
