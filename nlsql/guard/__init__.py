"""The SQL guard: every statement the model writes passes here before it runs.

``facade`` holds :class:`SqlGuard`, which parses a statement once and runs the rules,
one module per family (``statements``, ``functions``, ``tables``, ``operators``,
``columns``, ``sizes``), each a function of the sqlglot tree and a
:class:`GuardContext`; the lists they consult are data (``lists.toml``).
"""

from .context import (
    DEFAULT_MAX_ROWS,
    SQLALCHEMY_TO_SQLGLOT,
    GuardContext,
    GuardedSql,
    Rule,
)
from .facade import RULES, SqlGuard, as_written, cap_rows

__all__ = [
    "DEFAULT_MAX_ROWS",
    "RULES",
    "SQLALCHEMY_TO_SQLGLOT",
    "GuardContext",
    "GuardedSql",
    "Rule",
    "SqlGuard",
    "as_written",
    "cap_rows",
]
