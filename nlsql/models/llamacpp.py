"""LlamaCppModel: the same chat model served by llama.cpp on its own quantised weights.

On a CPU, decoding is bound by memory bandwidth: the fp32 torch model reads ~7 GB per
token, the Q4_K_M GGUF the bundled packages ship reads ~1 GB, so llama.cpp decodes 3-4x
faster on the very weights we verify by SHA-256. Its 8-bit activations flip a few
near-tied tokens (Spider, 200 questions: 73.0 % against 77.0 % for fp32 torch on the same
weights; Q8_0 weights 74.5 %). The torch model stays the reference and the training
path; this class mirrors its
``generate`` contract so the pipeline cannot tell them apart. Prompts are rendered and
tokenised by the same Hugging Face tokenizer, so both backends see identical token ids.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from ..errors import BadQuestion, ModelUnavailable
from .base import Generation, Message, StopWhen, is_deferrable, render_chat

log = logging.getLogger(__name__)


def llamacpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def _open(llama_class, gguf_path, n_ctx: int, threads: int, lora_path=None):
    if lora_path is not None and not Path(lora_path).is_file():
        raise ModelUnavailable(f"The adapter {lora_path} does not exist.")
    try:
        return llama_class(
            model_path=str(gguf_path), n_ctx=n_ctx, n_batch=512, n_threads=threads,
            n_threads_batch=threads, lora_path=str(lora_path) if lora_path else None,
            verbose=False,
        )
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelUnavailable(f"The model {gguf_path} could not be loaded: {err}") from err


def _own_context(n_ctx: int, slots: int) -> int:
    """The Llama object's own context: unused when a batcher serves (its KV is ~28 KB a
    token, 230 MB at 8192), so only a token's worth is kept then."""
    return n_ctx if slots == 1 else 64


class LlamaCppModel:
    """A GGUF model run in-process by llama-cpp-python, greedy like the torch path."""

    def __init__(self, llm, tokenizer, name: str, n_ctx: int, threads: int = 1,
                 slots: int = 1) -> None:
        self.llm = llm
        self.slots = slots
        self.threads = threads
        self.tokenizer = tokenizer
        self.name = name
        self.n_ctx = n_ctx
        self.adapter: str | None = None
        self.adapter_version: str | None = None  # registry name, set by the loader
        self._lock = threading.Lock()
        # llama.cpp reuses the longest common prefix with what it evaluated last; when
        # questions alternate between databases, the KV state of each schema prefix is
        # parked here so switching back costs a state copy, not a prefill.
        self._states: OrderedDict[str, object] = OrderedDict()
        self._current: str | None = None
        self.max_cached_prefixes = 4
        # several slots: concurrent questions are decoded together (llamacpp_batch)
        self._batcher = self._new_batcher() if slots > 1 else None

    @classmethod
    def load(
        cls, gguf_path: str | Path, tokenizer_dir: str | Path, n_ctx: int = 8192,
        threads: int | None = None, lora_path: str | Path | None = None, slots: int = 1,
    ) -> LlamaCppModel:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelUnavailable(
                "The llama.cpp backend needs llama-cpp-python: run `make setup`, or set "
                "ASKDB_BACKEND=torch."
            ) from err
        from transformers import AutoTokenizer

        threads = threads or max(1, os.cpu_count() or 1)
        started = time.perf_counter()
        if not Path(gguf_path).is_file():
            raise ModelUnavailable(f"The GGUF file {gguf_path} does not exist: run "
                                   "`askdb model prepare`.")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        except (OSError, ValueError) as err:
            raise ModelUnavailable(f"The tokenizer in {tokenizer_dir} could not be loaded: "
                                   f"{err}") from err
        llm = _open(Llama, gguf_path, _own_context(n_ctx, slots), threads, lora_path)
        log.info("loaded %s with llama.cpp (%d threads) in %.1fs", gguf_path, threads,
                 time.perf_counter() - started)
        model = cls(llm, tokenizer, str(gguf_path), n_ctx, threads, slots)
        model.adapter = str(lora_path) if lora_path else None
        return model

    def set_adapter(self, lora_path: str | Path | None) -> None:
        """Serve with a GGUF LoRA on the same base (None: the base alone).

        The base is memory-mapped, so reopening it with the adapter takes seconds; it
        happens under the generation lock, so a question in flight finishes first.
        """
        from llama_cpp import Llama

        with self._lock:
            # open first: a bad adapter raises here and leaves everything serving
            llm = _open(Llama, self.name, _own_context(self.n_ctx, self.slots), self.threads,
                        lora_path)
            if self._batcher is not None:
                self._batcher.close()  # finishes the questions already in it
            old, self.llm = self.llm, llm
            old.close()
            if self._batcher is not None:
                self._batcher = self._new_batcher()
            self.adapter = str(lora_path) if lora_path else None
            self._states.clear()
            self._current = None

    def _new_batcher(self):
        import llama_cpp

        from .llamacpp_batch import Batcher

        # the unified KV cache holds every slot's tail plus the parked schema prefixes:
        # ~ half the slots at full length, but no more than the model was trained on
        # (llama.cpp warns of a "training context overflow" past it, ~28 KB a cell)
        cells = min(self.n_ctx * (1 + self.slots // 2),
                    max(self.n_ctx, llama_cpp.llama_model_n_ctx_train(self.llm._model.model)))
        return Batcher(self.llm, self.tokenizer, self.slots, cells, self.threads)

    def _generate_batched(self, ids: list[int], messages: Sequence[Message],
                          max_new_tokens: int, stop_when: StopWhen | None) -> Generation:
        from .llamacpp_batch import BatcherClosed, Request, prefix_ids, turns_end

        key, shared = prefix_ids(self.tokenizer, messages)
        request = Request(ids, key, shared, max_new_tokens, stop_when, is_deferrable(),
                          turns_end(self.tokenizer, messages))
        for _attempt in range(3):
            with self._lock:  # an adapter swap replaces the batcher under this lock
                batcher = self._batcher
            try:
                batcher.submit(request)
                break
            except BatcherClosed:
                continue
        else:
            raise ModelUnavailable("The model is being reloaded: please ask again.")
        text = request.text if stop_when is not None else \
            self.tokenizer.decode(request.new, skip_special_tokens=True)
        first = request.first or request.ended or time.perf_counter()
        return Generation(text=text, prompt_tokens=len(ids), new_tokens=len(request.new),
                          prefill_s=first - request.submitted,
                          decode_s=(request.ended or first) - first)

    @property
    def device(self) -> str:
        return "cpu"

    def render(self, messages: Sequence[Message]) -> str:
        return render_chat(self.tokenizer, messages)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def clear_prefix_cache(self) -> None:
        """Forget every evaluated prefix (call after the weights or adapter change)."""
        with self._lock:
            self._states.clear()
            self._current = None
            self.llm.reset()

    def _switch_prefix(self, messages: Sequence[Message]) -> None:
        """Park the KV state of the previous schema prefix and restore this one's."""
        key = messages[0]["content"] if messages and messages[0].get("role") == "system" \
            else ""
        if key == self._current:
            return
        if self._current is not None and self.llm.n_tokens > 0:
            self._states[self._current] = self.llm.save_state()
            self._states.move_to_end(self._current)
            while len(self._states) > self.max_cached_prefixes:
                self._states.popitem(last=False)
        state = self._states.pop(key, None)
        if state is not None:
            self.llm.load_state(state)
        self._current = key

    def generate(
        self,
        messages: Sequence[Message],
        max_new_tokens: int = 256,
        stop_when: StopWhen | None = None,
    ) -> Generation:
        """Greedy generation of the assistant's next turn."""
        import llama_cpp

        ids = self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"]
        if len(ids) + max_new_tokens > self.n_ctx:
            raise BadQuestion(
                "This question and the thread before it are too long for the model: "
                "start a new thread or ask a shorter question."
            )
        if self._batcher is not None:
            return self._generate_batched(ids, messages, max_new_tokens, stop_when)
        new: list[int] = []
        text = ""
        with self._lock:
            started = time.perf_counter()
            first: float | None = None
            self._switch_prefix(messages)
            vocab = self.llm._model.vocab
            for token in self.llm.generate(
                ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0
            ):
                if first is None:
                    first = time.perf_counter()
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    break
                new.append(token)
                if stop_when is not None:
                    text = self.tokenizer.decode(new, skip_special_tokens=True)
                    if stop_when(text):
                        break
                if len(new) >= max_new_tokens:
                    break
            ended = time.perf_counter()
        if stop_when is None:
            text = self.tokenizer.decode(new, skip_special_tokens=True)
        first = first or ended
        return Generation(
            text=text,
            prompt_tokens=len(ids),
            new_tokens=len(new),
            prefill_s=first - started,
            decode_s=ended - first,
        )
