"""The model interface and its backends.

``base`` is what the rest of askdb speaks (messages, stop conditions, a generation's
figures); each backend answers ``generate(messages, ...)`` with a :class:`Generation`:
``torch_model`` (transformers, the reference and the training path), ``llamacpp`` and
its batcher (quantised GGUF on CPUs), ``openai_compat`` (a vLLM or other
OpenAI-compatible server); ``files`` prepares the bundled models' files once.
"""

from .base import (
    Generation,
    Message,
    StopWhen,
    deferrable,
    is_deferrable,
    render_chat,
    reply_begun,
)
from .llamacpp import LlamaCppModel, llamacpp_available
from .openai_compat import OpenAIModel
from .torch_model import Text2SqlModel

__all__ = [
    "Generation",
    "LlamaCppModel",
    "Message",
    "OpenAIModel",
    "StopWhen",
    "Text2SqlModel",
    "deferrable",
    "is_deferrable",
    "llamacpp_available",
    "render_chat",
    "reply_begun",
]
