"""One error root for askdb, with a user-facing message on every error.

Adapters catch :class:`AskdbError` at their edge and show ``user_message``; anything
else reaching the edge is a bug, logged with its trace and answered generically.
"""

from __future__ import annotations


class AskdbError(Exception):
    """Root of askdb's own errors; ``user_message`` is safe to show in chat."""

    kind = "error"

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class BadQuestion(AskdbError):
    kind = "bad_question"


class NotSql(AskdbError):
    """The model answered with something that is not a query."""

    kind = "not_sql"

    def __init__(self, user_message: str, model_text: str = "") -> None:
        super().__init__(user_message)
        self.model_text = model_text


class SqlRejected(AskdbError):
    """The guard refused a statement; ``reason`` says which rule.

    ``mistake``: the statement names a table the database does not have, or has a
    placeholder where a value belongs: a slip another try can fix, unlike a refusal on
    purpose (a write, two statements, a server variable).
    """

    kind = "sql_rejected"

    def __init__(self, reason: str, mistake: bool = False) -> None:
        super().__init__(f"I won't run that SQL: {reason}")
        self.reason = reason
        self.mistake = mistake


class Mistake(str):
    """A guard rule's reason that is a fixable mistake (see :attr:`SqlRejected.mistake`)."""


class SqlTimeout(AskdbError):
    kind = "sql_timeout"


class SqlFailed(AskdbError):
    """The database refused a guarded query (unknown column, type error...)."""

    kind = "sql_failed"


class DatabaseUnavailable(AskdbError):
    kind = "database_unavailable"


class ModelUnavailable(AskdbError):
    kind = "model_unavailable"


class ConfigError(AskdbError):
    kind = "config"
