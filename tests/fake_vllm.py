"""A local stand-in for a vLLM server: its OpenAI-compatible API, with a real model.

vLLM needs a GPU and cannot run on the test machines, so this server speaks the parts
of its API askdb uses (streamed chat completions, ``/v1/models``, runtime LoRA loading)
and generates with a real in-process model, applying the named LoRA adapter per request
the way vLLM's multi-LoRA does. It records every request for the tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from aiohttp import web

from tests.serving import BackgroundServer


class FakeVllm(BackgroundServer):
    def __init__(self, model, served_name: str) -> None:
        self.model = model  # a Text2SqlModel: set_adapter per request
        self.served_name = served_name
        self.loras: dict[str, str] = {}
        self.requests: list[dict] = []
        self.aborted = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/load_lora_adapter", self._load_lora)

    async def _models(self, request: web.Request) -> web.Response:
        ids = [self.served_name, *self.loras]
        return web.json_response({"object": "list", "data": [{"id": i} for i in ids]})

    async def _load_lora(self, request: web.Request) -> web.Response:
        body = await request.json()
        path = Path(body.get("lora_path", ""))
        if not (path / "adapter_config.json").exists():  # vLLM checks the folder too
            return web.json_response({"error": {"message": f"{path} is no adapter"}},
                                     status=400)
        if body["lora_name"] in self.loras:  # what vLLM answers for a second load
            return web.json_response({"error": {"message": f"The lora adapter "
                                      f"'{body['lora_name']}' has already been loaded."}},
                                     status=400)
        self.loras[body["lora_name"]] = str(path)
        return web.Response(text=f"Success: LoRA adapter '{body['lora_name']}' added")

    def _generate(self, body: dict):
        with self._lock:
            name = body["model"]
            self.model.set_adapter(self.loras[name] if name in self.loras else None)
            out = self.model.generate(body["messages"], body.get("max_tokens", 16))
            ids = self.model.tokenizer(out.text, add_special_tokens=False)["input_ids"]
            return out, [self.model.tokenizer.decode([i]) for i in ids]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if body["model"] != self.served_name and body["model"] not in self.loras:
            return web.json_response({"error": {"message": "model not found"}}, status=404)
        begun = body["messages"][-1]["role"] == "assistant"
        if body.get("continue_final_message") and body.get("add_generation_prompt", True):
            return web.json_response({"error": {"message": "Cannot set both "
                                      "`continue_final_message` and `add_generation_prompt`"
                                      }}, status=400)  # vLLM's own check
        if begun and not body.get("continue_final_message"):
            # vLLM would close that reply and open a new turn; askdb never asks for that
            return web.json_response({"error": {"message": "this fake serves a begun reply "
                                      "only as a continuation"}}, status=400)
        out, pieces = await asyncio.to_thread(self._generate, body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for piece in pieces:
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await asyncio.sleep(0.01)  # tokens arrive one by one, as from vLLM
            usage = {"prompt_tokens": out.prompt_tokens, "completion_tokens": len(pieces)}
            await response.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
                                 .encode())
            await response.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            self.aborted += 1  # the client stopped reading: vLLM aborts the request
            raise
        return response
