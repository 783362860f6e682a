"""Text2SqlModel: the in-process causal language model that writes SQL and answers.

One instance per process, shared by every thread of every platform; generation is
serialised by a lock because a CPU model is memory-bound and gains nothing from running
two generations at once.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from ..errors import ModelUnavailable
from .base import Generation, Message, StopWhen, render_chat

log = logging.getLogger(__name__)


def _stopping_criteria(tokenizer, prompt_len: int, stop_when: StopWhen | None, marks: list):
    """Stop as soon as ``stop_when`` says the text is complete; record first-token time."""
    import torch
    from transformers import StoppingCriteria

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            if not marks:
                marks.append(time.perf_counter())
            done = False
            if stop_when is not None:
                text = tokenizer.decode(input_ids[0, prompt_len:], skip_special_tokens=True)
                done = stop_when(text)
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool,
                              device=input_ids.device)

    return _Stop()


class Text2SqlModel:
    """A chat model loaded with transformers from a local folder (or a hub id)."""

    def __init__(self, model, tokenizer, name: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self._lock = threading.Lock()
        # system-prompt text -> (token ids, KV cache): the schema part of every prompt
        # on one database is the same, so it is prefilled once, not per question.
        self._prefixes: OrderedDict[str, tuple[list[int], object]] = OrderedDict()
        self.max_cached_prefixes = 4
        self.use_prefix_cache = True  # off = plain `generate`, the benchmark's baseline
        self.adapter: str | None = None
        self.adapter_version: str | None = None  # registry name, set by the loader
        # CUDA: a fixed-size KV cache lets transformers compile the decode step into CUDA
        # graphs; one token then costs a graph replay instead of ~30 ms of kernel launches
        self.static_cache_len = 0
        self._static_cache = None
        self._graph_thread = None  # the one thread CUDA-graph decoding runs on

    @classmethod
    def load(cls, path: str | Path, dtype: str = "auto", device: str | None = None,
             static_cache_len: int = 0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        started = time.perf_counter()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
        except (OSError, ValueError) as err:
            raise ModelUnavailable(f"The model at {path} could not be loaded: {err}") from err
        model.to(device)
        model.eval()
        log.info("loaded model %s on %s in %.1fs", path, device, time.perf_counter() - started)
        loaded = cls(model, tokenizer, str(path))
        if device.startswith("cuda"):
            loaded.static_cache_len = static_cache_len
        return loaded

    @property
    def device(self):
        return self.model.device

    def render(self, messages: Sequence[Message]) -> str:
        return render_chat(self.tokenizer, messages)

    def set_adapter(self, path: str | Path | None) -> None:
        """Serve with the LoRA adapter in ``path`` (None: the plain base model).

        Taken under the generation lock: a question being answered finishes with the
        old weights, the next one gets the new ones; nothing is dropped.
        """
        from peft import PeftModel

        with self._lock:
            model = self.model
            if isinstance(model, PeftModel):
                model = model.unload()  # LoRA layers out, base weights untouched
            if path is not None:
                try:
                    model = PeftModel.from_pretrained(model, str(path))
                except (OSError, ValueError) as err:
                    # the old adapter is already unloaded: serve the base and say so
                    self.model, self.adapter, self.adapter_version = model, None, None
                    self._prefixes.clear()
                    raise ModelUnavailable(f"The adapter {path} could not be loaded: {err}") \
                        from err
                model.eval()
            self.model = model
            self.adapter = str(path) if path is not None else None
            self._prefixes.clear()
            self._static_cache = None

    def clear_prefix_cache(self) -> None:
        """Forget cached prefixes (call after the weights or adapter change)."""
        with self._lock:
            self._prefixes.clear()

    def _prefix_cache(self, messages: Sequence[Message], ids: list[int]):
        """A private copy of the cached KV of the system message, when it is a prefix."""
        import torch

        if not messages or messages[0].get("role") != "system" or len(messages) < 2:
            return None
        text = self.tokenizer.apply_chat_template(
            list(messages[:1]), tokenize=False, add_generation_prompt=False
        )
        entry = self._prefixes.get(text)
        if entry is None:
            prefix_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(prefix_ids) >= len(ids) or ids[: len(prefix_ids)] != prefix_ids:
                return None
            with torch.inference_mode():
                out = self.model(
                    torch.tensor([prefix_ids], device=self.device), use_cache=True
                )
            entry = (prefix_ids, out.past_key_values)
            self._prefixes[text] = entry
            while len(self._prefixes) > self.max_cached_prefixes:
                self._prefixes.popitem(last=False)
        else:
            self._prefixes.move_to_end(text)
        prefix_ids, cache = entry
        if len(prefix_ids) >= len(ids) or ids[: len(prefix_ids)] != prefix_ids:
            return None
        return copy.deepcopy(cache)

    def _static(self, needed: int):
        """The reset static cache when decoding on CUDA graphs, else None.

        The whole prompt is prefilled each time (milliseconds on a GPU); a prompt longer
        than the cache takes the dynamic path rather than failing.
        """
        if not self.static_cache_len or needed > self.static_cache_len:
            return None
        if self._static_cache is None:
            from transformers import StaticCache

            self._static_cache = StaticCache(config=self.model.config,
                                             max_cache_len=self.static_cache_len)
        self._static_cache.reset()
        return self._static_cache

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(
        self,
        messages: Sequence[Message],
        max_new_tokens: int = 256,
        stop_when: StopWhen | None = None,
    ) -> Generation:
        """Greedy generation of the assistant's next turn.

        With CUDA graphs, every generation runs on one dedicated thread: compiled graphs
        are recorded per thread, and the server's worker threads would each record (and
        hold GPU memory for) their own.
        """
        if not self.static_cache_len:
            return self._generate(messages, max_new_tokens, stop_when)
        with self._lock:
            if self._graph_thread is None:
                from concurrent.futures import ThreadPoolExecutor

                self._graph_thread = ThreadPoolExecutor(1, thread_name_prefix="askdb-cuda")
        return self._graph_thread.submit(
            self._generate, messages, max_new_tokens, stop_when).result()

    def _generate(
        self,
        messages: Sequence[Message],
        max_new_tokens: int,
        stop_when: StopWhen | None,
    ) -> Generation:
        import torch

        prompt = self.render(messages)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        prompt_len = int(inputs["input_ids"].shape[1])
        marks: list[float] = []
        criteria = _stopping_criteria(self.tokenizer, prompt_len, stop_when, marks)
        with self._lock, torch.inference_mode():
            started = time.perf_counter()
            cache = self._static(prompt_len + max_new_tokens)
            if cache is None and self.use_prefix_cache:
                cache = self._prefix_cache(messages, inputs["input_ids"][0].tolist())
            extra = {"past_key_values": cache} if cache is not None else {}
            output = self.model.generate(
                **inputs,
                **extra,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                stopping_criteria=[criteria],
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
            ended = time.perf_counter()
        new = output[0, prompt_len:]
        first = marks[0] if marks else ended
        return Generation(
            text=self.tokenizer.decode(new, skip_special_tokens=True),
            prompt_tokens=prompt_len,
            new_tokens=int(new.shape[0]),
            prefill_s=first - started,
            decode_s=ended - first,
        )
