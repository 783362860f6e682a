"""What every guard rule is given, and what the guard gives back.

Rules live in one module per family and only import this one (and the lists), so the
facade can import them all without a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

DEFAULT_MAX_ROWS = 1000

SQLALCHEMY_TO_SQLGLOT = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mssql": "tsql",
    "tsql": "tsql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


@dataclass(frozen=True)
class GuardContext:
    dialect: str
    known_tables: frozenset[str] | None = None
    extra_functions: frozenset[str] = frozenset()  # ASKDB_ALLOWED_FUNCTIONS
    # lower-cased table name -> its column names as the database spells them
    known_columns: Mapping[str, frozenset[str]] | None = None
    # PostgreSQL: the database's own function names, lower-cased (None: not known)
    user_functions: frozenset[str] | None = None


@dataclass(frozen=True)
class GuardedSql:
    """A statement the guard let through, as it will run."""

    sql: str
    dialect: str
    capped: bool
    max_rows: int
    tables: tuple[str, ...] = field(default_factory=tuple)
    # The statement as it was written and checked, without the row cap. Thread history,
    # worked examples and training keep this: a model shown its earlier queries with
    # ``LIMIT 100000`` appended learns to write the guard's cap as its own.
    written: str = ""

    @property
    def query(self) -> str:
        """What to remember of this statement: as written, or as run when unknown."""
        return self.written or self.sql


# A rule returns the reason a statement may not run (a Mistake when the model can mend
# it on a retry), or None.
Rule = Callable[[exp.Expression, GuardContext], "str | None"]
