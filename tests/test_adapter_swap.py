"""A running server swaps a promoted adapter in while answering, and rolls it back.

The adapter is a real peft LoRA on the tiny model (random, non-zero weights: what it
says does not matter here, that the server keeps answering across the swap does).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving import askdb_serve
from training.registry import AdapterRegistry


def _make_adapter(base_dir, out) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base_dir)),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(str(out))


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _ask(url: str, n: int) -> dict:
    body = json.dumps({"thread": f"t{n}", "text": f"how many tools? ({n})"}).encode()
    request = urllib.request.Request(url + "api/chat", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return {"status": response.status, **json.loads(response.read())}


def _wait_for(url: str, adapter) -> dict:
    deadline = time.time() + 60
    while time.time() < deadline:
        health = _get(url + "healthz")
        if health.get("model_loaded") and health.get("adapter") == adapter:
            return health
        time.sleep(0.2)
    pytest.fail(f"the server never served adapter {adapter}: {health}")


def test_server_swaps_adapters_while_answering(tiny_model_dir, sample_url, tmp_path):
    registry = AdapterRegistry(tmp_path / "adapters")
    version = registry.allocate()
    _make_adapter(tiny_model_dir, version)
    registry.write_meta(version, {"base": str(tiny_model_dir), "status": "candidate"})
    env = {"ASKDB_MODEL": str(tiny_model_dir), "ASKDB_DATABASE_URL": sample_url,
           "ASKDB_ADAPTERS_DIR": str(registry.root), "ASKDB_ADAPTER_POLL": "0.2",
           "ASKDB_MAX_NEW_TOKENS": "24"}
    with askdb_serve(tmp_path, env) as url:
        _ask(url, 0)  # loads the model
        assert _wait_for(url, None)["backend"] == "Text2SqlModel"
        assert _get(url + "readyz") == {"ready": True}
        answers: list[dict] = []
        stop = threading.Event()

        def keep_asking() -> None:
            n = 1
            while not stop.is_set():
                answers.append(_ask(url, n))
                n += 1

        with ThreadPoolExecutor(2) as pool:
            askers = [pool.submit(keep_asking) for _ in range(2)]
            time.sleep(1)
            from tests.test_cli import askdb

            promoted = askdb("adapters", "promote", version.name,
                             env={"ASKDB_ADAPTERS_DIR": str(registry.root)})
            assert promoted.returncode == 0, promoted.stderr
            _wait_for(url, version.name)
            time.sleep(1)  # answer a few with the adapter
            assert registry.rollback() is None
            _wait_for(url, None)
            time.sleep(0.5)
            stop.set()
            for asker in askers:
                asker.result(timeout=120)
        # every question asked across both swaps got a reply, none was dropped
        assert len(answers) >= 4
        assert all(a["status"] == 200 and a["text"] for a in answers)
        assert all("Traceback" not in a["text"] for a in answers)
        log = (tmp_path / "serve.log").read_text()
        assert f"now serving adapter {version.name}" in log
        assert "now serving adapter (base model)" in log
