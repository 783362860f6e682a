"""The question-to-answer pipeline: prompt, generate, guard, execute, phrase.

``Text2Sql.ask`` never raises askdb's own errors: they become ``Answer.error`` with a
one-line message, so every caller (CLI, chat adapters, evaluation) reports failures the
same way and the thread keeps its history.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import smalltalk
from .answerer import Answerer
from .db import ReadOnlyDatabase, ResultTable
from .errors import AskdbError, BadQuestion, NotSql, SqlFailed, SqlRejected
from .guard import GuardedSql, SqlGuard
from .models import Text2SqlModel
from .prompting import (
    REPLY_START,
    Example,
    HistoryTurn,
    build_messages,
    extract_sql,
    reply_is_complete,
    retry_messages,
    with_reply_start,
)
from .repair import repair_columns
from .review import missing_column_hint, problem_before_running
from .schema import schema_text as render_schema
from .selection import select_tables
from .sqlite_strings import sqlite_strings
from .values import database_values, value_hint

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000


@dataclass
class Answer:
    question: str
    sql: str | None = None  # as it ran: the asker sees the guard's row cap
    table: ResultTable | None = None
    answer: str = ""
    error: str | None = None
    error_kind: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    # the answer text is the instant template; Text2Sql.phrase writes the model's
    unphrased: bool = False
    # the query as written (the model's after repair, or a person's), without the row
    # cap: what follow-ups, worked examples and training build on
    written: str | None = None

    @property
    def query(self) -> str | None:
        """The SQL to remember for this turn."""
        return self.written or self.sql

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "sql": self.sql,
            **ResultTable.json_fields(self.table),
            "answer": self.answer,
            "error": self.error,
            "error_kind": self.error_kind,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


class _Clock:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


def prompt_schema(database: ReadOnlyDatabase, question: str, budget_chars: int) -> str:
    """The schema text for the prompt: all of it, or the relevant part of a big one."""
    full = database.schema_text()
    if len(full) <= budget_chars:
        return full
    selected = select_tables(database.schema(), question,
                             lambda s: len(render_schema(s)) <= budget_chars)
    return render_schema(selected)


def linked_question(database: ReadOnlyDatabase, question: str) -> str:
    """The question with the database values it names and where they live, if any."""
    hint = value_hint(database_values(database).matches(question))
    return f"{question}\n{hint}" if hint else question


def prompt_messages(database: ReadOnlyDatabase, question: str,
                    history: Sequence[HistoryTurn] = (), examples: Sequence[Example] = (),
                    budget_chars: int = 12_000, link_values: bool = True,
                    ) -> list[dict[str, str]]:
    """The chat the model sees for a question: what training must reproduce exactly.

    Worked examples get the same value line as the question: shown how a hinted value
    became a filter (or a join to the table that holds it), the model follows the hint
    under its own question too.
    """
    shown = question
    if link_values:
        shown = linked_question(database, question)
        examples = [Example(linked_question(database, e.question), e.sql) for e in examples]
    return build_messages(prompt_schema(database, question, budget_chars), database.dialect,
                          shown, history, examples)


def _retryable(err: SqlFailed | SqlRejected) -> bool:
    """A mistake another try can fix: the database refused it, or the guard found a slip
    (``SqlRejected.mistake``); not a query refused on purpose (a write, two statements)."""
    return isinstance(err, SqlFailed) or err.mistake


class Text2Sql:
    """Answers questions about one database with one model."""

    def __init__(
        self,
        database: ReadOnlyDatabase,
        model: Text2SqlModel,
        answerer: Answerer | None = None,
        max_rows: int = 1000,
        max_new_tokens: int = 256,
        retries: int = 1,
        max_question_chars: int = MAX_QUESTION_CHARS,
        example_source: Callable[[str], Sequence[Example]] | None = None,
        schema_budget_chars: int = 12_000,
        link_values: bool = True,
        extra_functions: Sequence[str] = (),
    ) -> None:
        self.extra_functions = tuple(extra_functions)
        self.schema_budget_chars = schema_budget_chars
        self.link_values = link_values
        self.database = database
        self.example_source = example_source
        self.model = model
        self.answerer = answerer or Answerer(model)
        self.max_rows = max_rows
        self.max_new_tokens = max_new_tokens
        self.retries = retries
        self.max_question_chars = max_question_chars

    def guard(self) -> SqlGuard:
        schema = self.database.schema()
        return SqlGuard.for_schema(self.database.dialect, schema, self.max_rows,
                                   extra_functions=self.extra_functions)

    def prompt_schema(self, question: str) -> str:
        return prompt_schema(self.database, question, self.schema_budget_chars)

    def checked_sql(self, sql: str, guard: SqlGuard | None = None) -> GuardedSql:
        """Generated SQL made ready to run: wrong column qualifiers repaired, then guarded.

        The repair comes first so that the guard judges exactly what will run.
        """
        schema = self.database.schema()
        if self.database.dialect == "sqlite":
            sql = sqlite_strings(sql, schema)
        repaired = repair_columns(sql, schema, self.database.dialect)
        return (guard or self.guard()).check(repaired or sql)

    def run_sql(self, sql: str) -> tuple[GuardedSql, ResultTable]:
        """Run SQL a person wrote (a correction): same guard, same read-only connection."""
        guarded = self.guard().check(sql)
        return guarded, self.database.run(guarded)

    def check_question(self, question: str) -> str:
        question = " ".join((question or "").split())
        if not question:
            raise BadQuestion("Please type a question about the data, e.g. "
                              "“how many improvements were made in 2024?”.")
        if len(question) > self.max_question_chars:
            raise BadQuestion(
                f"That question is {len(question):,} characters long; please keep it under "
                f"{self.max_question_chars:,}."
            )
        return question

    def ask(
        self,
        question: str,
        history: Sequence[HistoryTurn] = (),
        examples: Sequence[Example] | None = None,
        phrase: bool = True,
    ) -> Answer:
        """Answer one question; ``examples`` None means: retrieve them from the source.

        ``phrase=False`` returns as soon as the table is there, with the instant
        templated answer and ``unphrased`` set when the model would phrase a better one:
        chat shows the table first, then calls :meth:`phrase`.
        """
        answer = Answer(question=question)
        started = time.perf_counter()
        try:
            self._ask(answer, history, examples, phrase)
        except AskdbError as err:
            answer.error, answer.error_kind = err.user_message, err.kind
            answer.answer = answer.answer or err.user_message
            log.info("question failed (%s): %s", err.kind, err.user_message)
        answer.timings["total"] = time.perf_counter() - started
        return answer

    def phrase(self, answer: Answer) -> Answer:
        """Replace the instant answer of ``ask(phrase=False)`` with the model's sentence."""
        if not answer.unphrased or answer.table is None:
            return answer
        started = time.perf_counter()
        try:
            answer.answer = self.answerer.answer(answer.question, answer.table)
        except AskdbError as err:  # the templated answer stands
            log.info("answer not phrased (%s): %s", err.kind, err.user_message)
        elapsed = time.perf_counter() - started
        answer.unphrased = False
        answer.timings["answer"] = answer.timings.get("answer", 0.0) + elapsed
        answer.timings["total"] = answer.timings.get("total", 0.0) + elapsed
        return answer

    def _ask(self, answer: Answer, history, examples, phrase: bool = True) -> None:
        clock = _Clock(answer.timings)
        answer.question = question = self.check_question(answer.question)
        talk = smalltalk.classify(question)
        if talk is not None:  # "thanks!" is not a follow-up query
            answer.answer = smalltalk.reply(talk, question, self._table_names())
            return
        guard = self.guard()
        clock.lap("schema")
        if examples is None:
            examples = self.example_source(question) if self.example_source else ()
            clock.lap("examples")
        def prompt(shown: Sequence[Example]) -> list[dict[str, str]]:
            messages = prompt_messages(self.database, question, history, shown,
                                       self.schema_budget_chars, self.link_values)
            clock.lap("prompt")
            return messages

        try:
            answer.table = self._query(prompt(examples), answer, clock, guard)
        except (SqlFailed, SqlRejected) as err:
            if not examples or not _retryable(err):
                raise  # a refusal on purpose (a write, two statements) stays one
            # worked examples can mislead (a join or filter copied from a different
            # question); a query that still fails after its repair gets the plain prompt
            log.info("failed with worked examples (%s); asking without them", err.kind)
            answer.table = self._query(prompt(()), answer, clock, guard)
        if phrase or not self.answerer.uses_model(answer.table):
            answer.answer = self.answerer.answer(question, answer.table)
        else:
            answer.answer = self.answerer.instant(question, answer.table)
            answer.unphrased = True
        clock.lap("answer")

    def _query(self, messages, answer: Answer, clock: _Clock, guard: SqlGuard) -> ResultTable:
        """Generate, repair, guard and run; a refused query goes back to the model."""
        for attempt in range(self.retries + 1):
            sql = self._generate(messages, answer, clock)
            answer.sql, answer.written = sql, None  # this attempt, not an earlier one
            last = attempt >= self.retries
            try:
                guarded = self.checked_sql(sql, guard)
                clock.lap("guard")
                answer.sql, answer.written = guarded.sql, guarded.query
                problem = None if last else problem_before_running(
                    self.database.schema(), guarded.sql, self.database.dialect)
                if problem is None:
                    table = self.database.run(guarded)
                    clock.lap("execute")
                    return table
                log.info("repairing before running: %s", problem)
            except (SqlFailed, SqlRejected) as err:
                clock.lap("execute")
                if last or not _retryable(err):
                    raise
                problem = err.user_message + missing_column_hint(
                    self.database.schema(), err.user_message, sql, self.database.dialect)
                log.info("retrying after: %s", problem)
            messages = retry_messages(messages, sql, problem)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _generate(self, messages, answer: Answer, clock: _Clock) -> str:
        generation = self.model.generate(with_reply_start(messages), self.max_new_tokens,
                                         reply_is_complete)
        answer.timings["prefill"] = answer.timings.get("prefill", 0.0) + generation.prefill_s
        answer.timings["decode"] = answer.timings.get("decode", 0.0) + generation.decode_s
        answer.tokens["prompt"] = generation.prompt_tokens
        answer.tokens["new"] = answer.tokens.get("new", 0) + generation.new_tokens
        clock.last = time.perf_counter()
        sql = extract_sql(REPLY_START + generation.text)
        if sql is None:
            names = ", ".join(self._table_names()[:3])
            raise NotSql(
                "I couldn't turn that into a database query. Try asking about the data "
                f"with the names it uses{f' (e.g. {names})' if names else ''}.",
                generation.text,
            )
        return sql

    def _table_names(self) -> list[str]:
        """The database's tables, for replies that tell people what they can ask about."""
        try:
            return [table.name for table in self.database.schema().tables]
        except AskdbError:  # an unreachable database must not break a greeting
            return []


class LazyText2Sql:
    """Builds the pipeline on first use and retries a failed build on the next question.

    A server must come up, and answer "the model is not prepared" in chat, even when
    the model or the database is missing; once fixed, the next question just works.
    """

    def __init__(self, factory) -> None:
        self._factory = factory
        self._engine: Text2Sql | None = None
        self._lock = threading.Lock()

    def get(self) -> Text2Sql:
        with self._lock:
            if self._engine is None:
                self._engine = self._factory()
            return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def ask(self, question: str, history: Sequence[HistoryTurn] = (),
            examples: Sequence[Example] | None = None, phrase: bool = True) -> Answer:
        try:
            engine = self.get()
        except AskdbError as err:
            log.warning("pipeline unavailable: %s", err.user_message)
            return Answer(question=question, answer=err.user_message, error=err.user_message,
                          error_kind=err.kind)
        return engine.ask(question, history, examples, phrase)

    def phrase(self, answer: Answer) -> Answer:
        return self.get().phrase(answer) if answer.unphrased else answer

    def run_sql(self, sql: str) -> tuple[GuardedSql, ResultTable]:
        return self.get().run_sql(sql)
