"""The platform-free turn: thread history -> nlsql -> Reply.

Every adapter calls :meth:`Conversation.handle`, so Slack, Teams and the web chat
behave the same. The model and the databases are blocking; they run in worker threads
so the event loop keeps acknowledging other platforms' requests.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from nlsql import Answer, AskdbError, HistoryTurn

from .messages import IncomingMessage, Reply
from .store import ConversationStore

log = logging.getLogger(__name__)


class Asker(Protocol):
    def ask(self, question: str, history: list[HistoryTurn]) -> Answer: ...


class Conversation:
    def __init__(self, asker: Asker, store: ConversationStore, history_turns: int = 3) -> None:
        self.asker = asker
        self.store = store
        self.history_turns = history_turns

    async def handle(self, message: IncomingMessage) -> Reply:
        try:
            history = await asyncio.to_thread(
                self.store.history, message.thread_key, self.history_turns
            )
            answer = await asyncio.to_thread(self.asker.ask, message.text, history)
        except AskdbError as err:
            answer = Answer(question=message.text, answer=err.user_message,
                            error=err.user_message, error_kind=err.kind)
        turn_id = await self._record(message, answer)
        return Reply.from_answer(message.thread_key, answer, turn_id)

    async def _record(self, message: IncomingMessage, answer: Answer) -> int | None:
        try:
            return await asyncio.to_thread(
                self.store.add_turn, message.thread_key, message.platform, message.user_id,
                answer,
            )
        except Exception:  # the answer is still worth sending if the state DB hiccups
            log.exception("could not store the turn of thread %s", message.thread_key)
            return None
