"""What every model backend speaks: chat messages, stop conditions, one generation's
figures, and the marks a batching backend reads.

The pipeline, the answerer and training only ever use these names, so a backend (torch,
llama.cpp, an OpenAI-compatible server) can be swapped without touching them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

Message = dict[str, str]
StopWhen = Callable[[str], bool]

# Generations that can wait (phrasing an answer whose table is already posted) are marked
# here rather than through every backend's ``generate`` signature: a batching backend
# admits them after the SQL of questions still waiting for their table.
_DEFERRABLE = contextvars.ContextVar("askdb_deferrable_generation", default=False)


@contextlib.contextmanager
def deferrable() -> Iterator[None]:
    """Generations in this block yield to SQL generations queued beside them."""
    token = _DEFERRABLE.set(True)
    try:
        yield
    finally:
        _DEFERRABLE.reset(token)


def is_deferrable() -> bool:
    return _DEFERRABLE.get()


def reply_begun(messages: Sequence[Message]) -> bool:
    """A final assistant message is a reply started for the model (the SQL fence): every
    backend continues that text instead of opening a new turn after it."""
    return bool(messages) and messages[-1].get("role") == "assistant"


def render_chat(tokenizer, messages: Sequence[Message]) -> str:
    """The prompt for the assistant's next turn, or for the rest of a turn already begun."""
    if reply_begun(messages):
        return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                             continue_final_message=True)
    return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                         add_generation_prompt=True)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    prefill_s: float
    decode_s: float

