"""The platform-free turn: thread history -> nlsql -> Reply.

Every adapter calls :meth:`Conversation.handle`, so Slack, Teams and the web chat
behave the same. The model and the databases are blocking; they run in worker threads
so the event loop keeps acknowledging other platforms' requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from nlsql import Answer, AskdbError, BadQuestion, GuardedSql, HistoryTurn, ResultTable
from nlsql.answerer import count_sentence, detect_language, direct_answer
from nlsql.examples import ExampleStore

from .messages import IncomingMessage, Reply
from .store import ConversationStore, remembered_sql

log = logging.getLogger(__name__)


class TurnListener(Protocol):
    """Told about every answer and piece of feedback: the audit log and the metrics."""

    def answered(self, message: IncomingMessage, answer: Answer, turn_id: int | None
                 ) -> None: ...

    def feedback(self, turn: dict, kind: str, platform: str, user_id: str,
                 sql: str | None = None) -> None: ...


class Asker(Protocol):
    def ask(self, question: str, history: list[HistoryTurn], *,
            phrase: bool = True) -> Answer: ...

    def phrase(self, answer: Answer) -> Answer: ...

    def run_sql(self, sql: str) -> tuple[GuardedSql, ResultTable]: ...


THANKS = {
    "verified": "Thanks! I'll remember this answer as correct.",
    "wrong": "Thanks for flagging it. Use “Fix SQL” to show me the right query.",
    "correction": "Thanks! I saved your correction and will learn from it.",
}


class Conversation:
    def __init__(self, asker: Asker, store: ConversationStore, history_turns: int = 3,
                 examples: ExampleStore | None = None, database: str = "",
                 listeners: Sequence[TurnListener] = ()) -> None:
        self.asker = asker
        self.listeners = list(listeners)
        self.store = store
        self.history_turns = history_turns
        self.examples = examples  # where verified answers and corrections teach at once
        self.database = database

    async def handle(self, message: IncomingMessage,
                     on_table: Callable[[Reply], Awaitable[None]] | None = None) -> Reply:
        """Answer one message; returns the reply to post (or to post over ``on_table``'s).

        With ``on_table``, a result the model still has to phrase is handed to it as soon
        as the table is there (the instant templated sentence with a trailing "…"), so
        the asker reads the table while the sentence is written; the reply returned then
        replaces that message. The turn is stored before the table is shown: a follow-up
        sent at once already has it in its history, and the buttons already work.
        """
        answer = await self._answer(message, phrase=on_table is None)
        turn_id = await self._record(message, answer)
        if answer.unphrased and on_table is not None:
            await self._show_table(message, answer, turn_id, on_table)
            answer = await self._phrase(answer)
            await self._set_answer(turn_id, answer)
        await self._tell("answered", message, answer, turn_id)
        return Reply.from_answer(message.thread_key, answer, turn_id)

    async def _answer(self, message: IncomingMessage, phrase: bool) -> Answer:
        try:
            history = await asyncio.to_thread(
                self.store.history, message.thread_key, self.history_turns
            )
            return await asyncio.to_thread(self.asker.ask, message.text, history,
                                           phrase=phrase)
        except AskdbError as err:
            return Answer(question=message.text, answer=err.user_message,
                          error=err.user_message, error_kind=err.kind)
        except Exception:  # a bug must not leave the asker waiting or lose the turn
            log.exception("unexpected failure answering in %s", message.thread_key)
            text = "Sorry, something went wrong on my side; it has been logged."
            return Answer(question=message.text, answer=text, error=text,
                          error_kind="internal")

    @staticmethod
    async def _show_table(message: IncomingMessage, answer: Answer, turn_id: int | None,
                          on_table: Callable[[Reply], Awaitable[None]]) -> None:
        reply = Reply.from_answer(message.thread_key, answer, turn_id)
        try:
            await on_table(dataclasses.replace(reply, text=f"{reply.text} …"))
        except Exception:  # the platform hiccuped: the full reply is still posted
            log.exception("could not show the table early in %s", message.thread_key)

    async def _phrase(self, answer: Answer) -> Answer:
        try:
            return await asyncio.to_thread(self.asker.phrase, answer)
        except Exception:  # the table and the templated sentence are a fine answer
            log.exception("could not phrase the answer to %r", answer.question)
            answer.unphrased = False
            return answer

    async def _set_answer(self, turn_id: int | None, answer: Answer) -> None:
        if turn_id is None:
            return
        try:
            await asyncio.to_thread(self.store.set_answer, turn_id, answer)
        except Exception:  # the reply still goes out; the stored turn keeps the template
            log.exception("could not store the answer of turn %s", turn_id)

    async def feedback(self, turn_id: int, kind: str, platform: str, user_id: str) -> str:
        """Store "correct" / "wrong" on a turn; returns the thanks to show the person."""
        try:
            await asyncio.to_thread(self.store.add_feedback, turn_id, kind, platform, user_id)
        except KeyError as err:
            raise BadQuestion("I can't find that answer any more.") from err
        turn = await asyncio.to_thread(self.store.turn, turn_id)
        if turn is not None:
            await self._tell("feedback", turn, kind, platform, user_id)
        if kind == "verified" and turn and remembered_sql(turn):
            await self._learn(turn, remembered_sql(turn), "verified")
        return THANKS[kind]

    async def _learn(self, turn: dict, sql: str, source: str) -> None:
        """Make a verified or corrected pair an example for the very next question."""
        if self.examples is None:
            return
        history = await asyncio.to_thread(self.store.history_before, turn["id"],
                                          turn["thread_key"], self.history_turns)
        await asyncio.to_thread(
            self.examples.add, self.database, turn["question"], sql, source,
            [{"question": h.question, "sql": h.sql} for h in history])

    async def correct(self, turn_id: int, sql: str, platform: str, user_id: str) -> Reply:
        """Run a person's corrected SQL for an earlier turn and answer with it.

        Raises AskdbError (rejected, failed, timed out) for the adapter to show where the
        SQL was typed. On success the correction is stored, and the corrected turn joins
        the thread so that follow-ups build on the right query.
        """
        turn = await asyncio.to_thread(self.store.turn, turn_id)
        if turn is None:
            raise BadQuestion("I can't find that answer any more.")
        guarded, table = await asyncio.to_thread(self.asker.run_sql, sql)
        language = detect_language(turn["question"])
        text = direct_answer(table, language) or count_sentence(table, language)
        answer = Answer(question=turn["question"], sql=guarded.sql, table=table, answer=text,
                        written=guarded.query)
        await asyncio.to_thread(self.store.add_feedback, turn_id, "correction", platform,
                                user_id, guarded.query)
        await self._tell("feedback", turn, "correction", platform, user_id, guarded.sql)
        await self._learn(turn, guarded.query, "correction")
        message = IncomingMessage(platform, turn["thread_key"], turn["question"], user_id)
        new_turn = await self._record(message, answer)
        return Reply.from_answer(turn["thread_key"], answer, new_turn)

    async def _tell(self, event: str, *args) -> None:
        """Audit and metrics see every event; their failure never reaches the asker."""
        for listener in self.listeners:
            try:
                await asyncio.to_thread(getattr(listener, event), *args)
            except Exception:
                log.exception("%s could not record %s", type(listener).__name__, event)

    async def _record(self, message: IncomingMessage, answer: Answer) -> int | None:
        try:
            return await asyncio.to_thread(
                self.store.add_turn, message.thread_key, message.platform, message.user_id,
                answer,
            )
        except Exception:  # the answer is still worth sending if the state DB hiccups
            log.exception("could not store the turn of thread %s", message.thread_key)
            return None
