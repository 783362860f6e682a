"""Continuous batching for llama.cpp: concurrent questions decode in one forward pass.

With one sequence at a time, twenty people asking at once wait in line: the twentieth
waits for nineteen answers. On a CPU, decoding one token is bound by reading the weights,
so evaluating several sequences' next tokens in one batch costs little more than one.
This batcher owns a llama.cpp context with several sequence slots; each question gets a
slot, starts from the KV cells of the longest cached prefix of its prompt (shared, not
copied: a unified KV cache lets sequences share cells), prefills only its own tail, and
then decodes in lock-step with the others. Cached prefixes are the schema part of each
database's prompt and the last few finished questions: a retry's prompt is the failed
attempt plus the database's error, a follow-up's starts with the thread's earlier
question and its SQL, so both prefill only what is new. Greedy, like the
single-sequence path. Waiting questions are admitted SQL first: phrasing an answer whose
table is already posted takes a free slot only when no SQL is waiting for one.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
PREFILL_CHUNK = 256  # prompt tokens per step, so one long prompt never stalls the others
RECENT = 8  # finished questions whose KV cells are kept for a retry or a follow-up
RECENT_TOKENS = 8192  # ... holding at most this many tokens between them


class BatcherClosed(RuntimeError):
    """The batcher was closed (adapter swap): submit to the new one."""


@dataclass
class Request:
    ids: list[int]
    prefix_key: str
    prefix_ids: list[int]
    max_new: int
    stop_when: Callable[[str], bool] | None
    deferrable: bool = False  # admitted after every waiting request that is not
    turns_end: int = 0  # where the latest user message starts: earlier turns end there
    reused: int = 0  # prompt tokens whose cells came from a cached sequence
    done: threading.Event = field(default_factory=threading.Event)
    new: list[int] = field(default_factory=list)
    text: str = ""
    error: BaseException | None = None
    submitted: float = field(default_factory=time.perf_counter)
    first: float | None = None
    ended: float | None = None


@dataclass
class _Slot:
    seq: int
    request: Request
    pending: list[int]  # prompt tokens still to evaluate
    pos: int            # next position in this sequence
    last: int | None = None  # last sampled token, evaluated next step
    cached: bool = False


class Batcher:
    def __init__(self, llm, tokenizer, slots: int, n_ctx: int, threads: int,
                 cached_prefixes: int = 4, recent: int = RECENT,
                 recent_tokens: int = RECENT_TOKENS) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.llama_cpp = llama_cpp
        self.tokenizer = tokenizer
        self.slots = slots
        self.cached_prefixes = cached_prefixes
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = 512
        self.recent_max = recent
        self.recent_tokens = recent_tokens
        params.n_seq_max = slots + cached_prefixes + recent
        params.kv_unified = True  # sequences share the cells of a common prefix
        params.n_threads = params.n_threads_batch = threads
        self.ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        adapter = getattr(llm, "_lora_adapter", None)
        if adapter is not None:  # the same LoRA the single-sequence context serves with
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
            scales = (ctypes.c_float * 1)(1.0)
            if llama_cpp.llama_set_adapters_lora(self.ctx.ctx, adapters, 1, scales):
                raise RuntimeError("could not apply the LoRA adapter to the batch context")
        self.vocab = llm._model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.batch = llama_cpp.llama_batch_init(512, 0, params.n_seq_max)
        self.memory = self.ctx.memory
        # prefix key -> (cache sequence id, its tokens); LRU
        self.prefixes: OrderedDict[str, tuple[int, list[int]]] = OrderedDict()
        # finished questions: cache sequence id -> the tokens evaluated in it; LRU
        self.recent: OrderedDict[int, list[int]] = OrderedDict()
        self._recent_seqs = range(slots + cached_prefixes, slots + cached_prefixes + recent)
        # (deferrable, arrival, request): SQL first, then first come first served
        self.queue: queue.PriorityQueue[tuple[bool, int, Request | None]] = \
            queue.PriorityQueue()
        self._arrivals = itertools.count()
        self.closing = False
        self._submit_lock = threading.Lock()  # no question slips in after close() began
        self._thread = threading.Thread(target=self._loop, name="llama-batcher", daemon=True)
        self._thread.start()

    # -- public -----------------------------------------------------------------------
    def submit(self, request: Request) -> Request:
        with self._submit_lock:
            if self.closing:
                raise BatcherClosed()
            self.queue.put((request.deferrable, next(self._arrivals), request))
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request

    def close(self) -> None:
        """Finish every question already submitted, then free the context (once)."""
        with self._submit_lock:
            if self.closing:
                return
            self.closing = True
            self.queue.put((True, next(self._arrivals), None))  # wake the loop
        self._thread.join()
        self.llama_cpp.llama_batch_free(self.batch)
        self.ctx.close()

    # -- the loop ---------------------------------------------------------------------
    def _loop(self) -> None:
        active: dict[int, _Slot] = {}
        free = list(range(self.slots))
        while True:
            block = not active
            try:
                while free:
                    _, _, request = self.queue.get(block=block)
                    block = False
                    if request is None:
                        continue
                    seq = free[-1]
                    try:
                        active[seq] = self._admit(seq, request)
                        free.pop()
                    except Exception as err:  # fail this question, keep the loop alive
                        log.exception("could not admit a question to the batch")
                        request.error = err
                        request.done.set()
            except queue.Empty:
                pass
            if not active:
                if self.closing and self.queue.empty():
                    return
                continue
            try:
                self._step(active)
            except Exception as err:  # a failed decode fails its questions, not the loop
                log.exception("batched decode failed")
                for slot in active.values():
                    slot.request.error = err
            for seq in [s for s, slot in active.items()
                        if slot.request.error is not None or slot.request.ended]:
                slot = active.pop(seq)
                self._retire(slot)
                free.append(seq)
                slot.request.done.set()

    def _admit(self, seq: int, request: Request) -> _Slot:
        """Start the question from the cached sequence sharing the longest prefix with it."""
        # the last prompt token is always evaluated: its logits give the first new token
        limit = len(request.ids) - 1
        # Reuse starts from a whole schema prefix or none: another grouping of the same
        # tokens can flip a near-tie greedy choice, so a question's SQL must not depend
        # on which database was asked before (their prompts share a first line).
        best_seq, start = -1, 0
        for cache_seq, tokens in self.prefixes.values():
            if len(tokens) > start and common_prefix(tokens, request.ids, limit) == len(tokens):
                best_seq, start = cache_seq, len(tokens)
        # a kept question supplies the earlier turns only: the latest question is
        # evaluated as it would be without it, so asking the same again gives the same SQL
        floor = max(start, len(request.prefix_ids))
        turns = min(limit, request.turns_end)
        for cache_seq, tokens in self.recent.items():
            n = common_prefix(tokens, request.ids, turns)
            if n > start and n >= floor:
                best_seq, start = cache_seq, n
        request.reused = start
        log.debug("question admitted with %d of its %d prompt tokens cached", start,
                  len(request.ids))
        if start:
            self.llama_cpp.llama_memory_seq_cp(self.memory, best_seq, seq, 0, start)
            if best_seq in self.recent:
                self.recent.move_to_end(best_seq)
            if request.prefix_key in self.prefixes:
                self.prefixes.move_to_end(request.prefix_key)
        return _Slot(seq, request, request.ids[start:], start)

    def _retire(self, slot: _Slot) -> None:
        """Free the slot, keeping a finished question's cells for a retry or follow-up.

        Phrasing an answer (deferrable) is never continued, so it is not kept; nor is a
        question whose decode failed, whose cells may be half-written.
        """
        request, llama_cpp = slot.request, self.llama_cpp
        tokens = (request.ids + request.new)[:slot.pos]  # what the cells hold
        if self.recent_max and not request.deferrable and request.error is None \
                and tokens:
            for cache_seq, kept in list(self.recent.items()):
                if common_prefix(kept, tokens, len(kept)) == len(kept):  # subsumed
                    self._forget(cache_seq)
            while self.recent and (len(self.recent) >= self.recent_max or
                                   sum(map(len, self.recent.values())) + len(tokens) >
                                   self.recent_tokens):
                self._forget(next(iter(self.recent)))
            if len(tokens) <= self.recent_tokens:
                cache_seq = next(s for s in self._recent_seqs if s not in self.recent)
                llama_cpp.llama_memory_seq_cp(self.memory, slot.seq, cache_seq, 0, len(tokens))
                self.recent[cache_seq] = tokens
        llama_cpp.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)

    def _forget(self, cache_seq: int) -> None:
        self.llama_cpp.llama_memory_seq_rm(self.memory, cache_seq, -1, -1)
        del self.recent[cache_seq]

    def _forget_recent(self) -> bool:
        """Drop every kept question; False when there was none."""
        kept = bool(self.recent)
        for cache_seq in list(self.recent):
            self._forget(cache_seq)
        return kept

    def _forget_prefixes(self) -> bool:
        """Drop every parked schema prefix; False when there was none."""
        parked = bool(self.prefixes)
        for cache_seq, _tokens in self.prefixes.values():
            self.llama_cpp.llama_memory_seq_rm(self.memory, cache_seq, -1, -1)
        self.prefixes.clear()
        if parked:
            log.warning("the model's memory is full: dropped the cached schema prefixes")
        return parked

    def _add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        b, i = self.batch, self.batch.n_tokens
        b.token[i], b.pos[i], b.n_seq_id[i] = token, pos, 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits
        b.n_tokens = i + 1
        return i

    def _step(self, active: dict[int, _Slot]) -> None:
        llama_cpp = self.llama_cpp
        self.batch.n_tokens = 0
        wants: list[tuple[_Slot, int]] = []  # (slot, batch index of its logits)
        budget = 512
        for slot in active.values():  # decoders first: one token each
            if not slot.pending and slot.last is not None:
                wants.append((slot, self._add(slot.last, slot.pos, slot.seq, True)))
                slot.pos += 1
                budget -= 1
        for slot in active.values():  # then prompt chunks, within the batch
            if slot.pending and budget > 0:
                chunk = slot.pending[:min(PREFILL_CHUNK, budget)]
                slot.pending = slot.pending[len(chunk):]
                for k, token in enumerate(chunk):
                    last = not slot.pending and k == len(chunk) - 1
                    index = self._add(token, slot.pos, slot.seq, last)
                    slot.pos += 1
                    if last:
                        wants.append((slot, index))
                budget -= len(chunk)
        failed = llama_cpp.llama_decode(self.ctx.ctx, self.batch)
        # 1: no free cells (nothing was written). Kept questions make room first, then
        # the parked schema prefixes; the questions in the batch keep their own cells.
        for make_room in (self._forget_recent, self._forget_prefixes):
            if failed != 1:
                break
            if make_room():
                failed = llama_cpp.llama_decode(self.ctx.ctx, self.batch)
        if failed:
            from ..errors import ModelUnavailable

            raise ModelUnavailable("Too many long questions at once for the model's "
                                   "memory: please ask again in a moment.")
        import numpy as np

        for slot, index in wants:
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx.ctx, index),
                                           shape=(self.n_vocab,))
            token = int(logits.argmax())
            self._took(slot, token)
            if not slot.cached and not slot.pending:
                self._remember_prefix(slot)

    def _took(self, slot: _Slot, token: int) -> None:
        request = slot.request
        now = time.perf_counter()
        request.first = request.first or now
        if self.llama_cpp.llama_vocab_is_eog(self.vocab, token):
            request.ended = now
            return
        request.new.append(token)
        slot.last = token
        if request.stop_when is not None:
            request.text = self.tokenizer.decode(request.new, skip_special_tokens=True)
            if request.stop_when(request.text):
                request.ended = now
                return
        if len(request.new) >= request.max_new:
            request.ended = now

    def _remember_prefix(self, slot: _Slot) -> None:
        """Keep this question's schema prefix for the next question on the database."""
        slot.cached = True
        request = slot.request
        n = len(request.prefix_ids)
        if not n or request.ids[:n] != request.prefix_ids or request.prefix_key in \
                self.prefixes:
            return
        used = {s for s, _ in self.prefixes.values()}
        if len(self.prefixes) >= self.cached_prefixes:
            _key, (cache_seq, _) = self.prefixes.popitem(last=False)
            self.llama_cpp.llama_memory_seq_rm(self.memory, cache_seq, -1, -1)
            used.discard(cache_seq)
        cache_seq = next(s for s in range(self.slots, self.slots + self.cached_prefixes)
                         if s not in used)
        self.llama_cpp.llama_memory_seq_cp(self.memory, slot.seq, cache_seq, 0, n)
        self.prefixes[request.prefix_key] = (cache_seq, list(request.prefix_ids))


def common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """How many leading tokens a and b share, at most limit."""
    n = min(len(a), len(b), limit)
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def turns_end(tokenizer, messages: Sequence[dict]) -> int:
    """How many tokens the turns before the latest user message take.

    The chat template closes every turn with a special token, so these tokens are a
    prefix of the whole prompt's.
    """
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
    if last_user == 0:
        return 0
    text = tokenizer.apply_chat_template(list(messages[:last_user]), tokenize=False,
                                         add_generation_prompt=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def prefix_ids(tokenizer, messages: Sequence[dict]) -> tuple[str, list[int]]:
    """The system message's tokens as the chat template renders them (the shared part)."""
    if not messages or messages[0].get("role") != "system":
        return "", []
    text = tokenizer.apply_chat_template([messages[0]], tokenize=False,
                                         add_generation_prompt=False)
    return messages[0]["content"], tokenizer(text, add_special_tokens=False)["input_ids"]
