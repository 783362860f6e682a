"""A model served elsewhere, behind an OpenAI-compatible API (vLLM, when one machine is
not enough).

Several ``askdb serve`` replicas then share one GPU server that batches their requests
and serves the base model with every LoRA adapter the training subpackage produced
(vLLM's multi-LoRA: an adapter is addressed by name in the request's ``model`` field).
Generation is streamed so that askdb's own stop rule (the SQL statement is complete)
ends a request early, exactly as in process; closing the stream aborts it on the server.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ..errors import ModelUnavailable
from .base import Generation, Message, StopWhen, reply_begun

log = logging.getLogger(__name__)


class ServerRefused(ModelUnavailable):
    """An HTTP error answer; the detail is logged, not shown in chat."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"The inference server refused the request (HTTP {code}).")
        self.code, self.detail = code, detail


class OpenAIModel:
    """Same ``generate`` contract as the in-process models; greedy (temperature 0)."""

    def __init__(self, base_url: str, model: str, api_key: str = "",
                 timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.adapter: str | None = None
        self.adapter_version: str | None = None
        self._served_name = model  # the base, or the adapter's name once loaded

    @property
    def name(self) -> str:
        return f"{self.model} at {self.base_url}"

    def _request(self, path: str, payload: dict | None = None):
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.base_url + path, body, headers,
                                         method="POST" if body is not None else "GET")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:300]
            log.error("inference server %s%s answered %s: %s", self.base_url, path,
                      err.code, detail)
            raise ServerRefused(err.code, detail) from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise ModelUnavailable(f"The inference server at {self.base_url} cannot be "
                                   f"reached: {getattr(err, 'reason', err)}") from err

    def served_models(self) -> list[str]:
        """What the server offers (base and loaded adapters): ``askdb doctor`` asks."""
        with self._request("/models") as response:
            return [m.get("id", "") for m in json.load(response).get("data", [])]

    def generate(self, messages: Sequence[Message], max_new_tokens: int = 256,
                 stop_when: StopWhen | None = None) -> Generation:
        payload = {"model": self._served_name, "messages": list(messages),
                   "max_tokens": max_new_tokens, "temperature": 0, "stream": True,
                   "stream_options": {"include_usage": True}}
        if reply_begun(messages):
            # a reply begun for the model (the SQL fence): vLLM continues it, and streams
            # only the continuation, as the in-process backends return it
            payload.update(continue_final_message=True, add_generation_prompt=False)
        started = time.perf_counter()
        try:
            return self._stream(payload, started, stop_when)
        except ServerRefused as err:
            raise ModelUnavailable(f"The inference server refused the question "
                                   f"(HTTP {err.code}).") from err
        except (OSError, ValueError, http.client.HTTPException) as err:
            # timeouts, resets and broken streams mid-answer: a clear line, details logged
            log.error("inference stream from %s broke: %r", self.base_url, err)
            raise ModelUnavailable("The inference server stopped answering mid-way: "
                                   "please ask again.") from err

    def _stream(self, payload: dict, started: float, stop_when: StopWhen | None
                ) -> Generation:
        first: float | None = None
        text, pieces, prompt_tokens = "", 0, 0
        deadline = started + self.timeout_s
        with self._request("/chat/completions", payload) as response:
            for raw in response:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"no complete answer within {self.timeout_s:g} s")
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                usage = chunk.get("usage") or {}
                prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
                for choice in chunk.get("choices", []):
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        first = first or time.perf_counter()
                        text += piece
                        pieces += 1
                if stop_when is not None and text and stop_when(text):
                    break  # leaving the stream closes it: the server stops generating
        ended = time.perf_counter()
        first = first or ended
        return Generation(text=text, prompt_tokens=prompt_tokens, new_tokens=pieces,
                          prefill_s=first - started, decode_s=ended - first)

    def set_adapter(self, adapter_dir: str | Path | None) -> None:
        """Ask the server to load a promoted adapter (vLLM runtime LoRA loading) and
        address it by name from the next question on; None goes back to the base.

        The folder must be visible to the server at the same path (a shared volume).
        """
        if adapter_dir is None:
            self._served_name, self.adapter = self.model, None
            return
        name = Path(adapter_dir).name
        if name in {"", ".", ".."}:
            raise ModelUnavailable(f"{adapter_dir} is not an adapter folder.")
        try:
            with self._request("/load_lora_adapter", {"lora_name": name,
                                                      "lora_path": str(adapter_dir)}):
                pass
        except ServerRefused as err:
            # another replica (or an earlier start) loaded it already: vLLM says so with 400
            if "already" not in err.detail.lower():
                raise ModelUnavailable(f"The inference server would not load adapter "
                                       f"{name} (HTTP {err.code}): {err.detail[:200]}") from err
        self._served_name, self.adapter = name, str(adapter_dir)
        log.info("inference server now serves adapter %s", name)
