"""Remembered generations, so that a prompt experiment re-runs only the prompts it changed.

Greedy decoding is deterministic: the same model, adapter, device, dtype, prompt and
stopping rule give the same SQL (a repeated 202-question Spider run flipped none); all of
them are in the key. A change to the code of the stopping rule is not: start a new file.
A change to example ranking or to the value line alters the prompts of some questions
only; with ``askdb eval --memo FILE`` every other question's generation is read back
instead of recomputed, so a change is
judged on all 200+ questions in the time of the few it touches. Timings of a memo run
are not speed figures (hits cost nothing); the summary counts the hits.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from nlsql.models import Generation, Message, StopWhen


class MemoModel:
    """Wraps a model; ``generate`` answers from the memo file when it has seen the prompt.

    Everything else (adapters, rendering, token counts) is the wrapped model's.
    """

    def __init__(self, model, path: Path) -> None:
        self._model = model
        self.path = path
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._memo: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a run killed mid-write: that one is redone
                    continue
                self._memo[entry["key"]] = entry["generation"]

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def key(self, messages: Sequence[Message], max_new_tokens: int,
            stop_when: StopWhen | None = None) -> str:
        """Everything that decides the greedy text: weights, numbers, prompt, stopping."""
        model = self._model
        identity = {
            "model": getattr(model, "name", type(model).__name__),
            "backend": type(model).__name__,
            "adapter": getattr(model, "adapter_version", None),
            "adapter_path": str(getattr(model, "adapter", None)),
            # the same weights decode differently in bf16 on a GPU and fp32 on a CPU
            "device": str(getattr(model, "device", "")),
            "dtype": str(getattr(getattr(model, "model", None), "dtype", "")),
            "stop_when": getattr(stop_when, "__qualname__", None),
            "max_new_tokens": max_new_tokens,
            "messages": list(messages),
        }
        blob = json.dumps(identity, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def generate(self, messages: Sequence[Message], max_new_tokens: int = 256,
                 stop_when: StopWhen | None = None) -> Generation:
        key = self.key(messages, max_new_tokens, stop_when)
        with self._lock:
            known = self._memo.get(key)
            self.hits += known is not None
        if known is not None:
            return Generation(**{**known, "prefill_s": 0.0, "decode_s": 0.0})
        generation = self._model.generate(messages, max_new_tokens, stop_when)
        with self._lock:
            self.misses += 1
            self._memo[key] = asdict(generation)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"key": key, "generation": asdict(generation)},
                                     ensure_ascii=False) + "\n")
        return generation
