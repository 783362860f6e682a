"""SqlGuard: decides on the parsed tree whether a statement may run, and how.

Every rule is a small function over the sqlglot syntax tree (never over the SQL text),
so each can be read and tested alone. A statement passes only if no rule objects; it
then leaves transpiled to the target dialect and capped in rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..errors import Mistake, SqlRejected
from ..schema import Schema
from .columns import rule_attribute_calls
from .context import (
    DEFAULT_MAX_ROWS,
    SQLALCHEMY_TO_SQLGLOT,
    GuardContext,
    GuardedSql,
    Rule,
)
from .functions import rule_functions
from .operators import rule_no_variables, rule_user_operators_and_types
from .sizes import bound_data_sizes, rule_bounded_sizes
from .statements import rule_is_query, rule_no_writes
from .tables import real_tables, rule_denied_objects, rule_known_tables, rule_table_shape

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


RULES: tuple[Rule, ...] = (
    rule_is_query,
    rule_no_writes,
    rule_table_shape,
    rule_functions,
    rule_no_variables,
    rule_user_operators_and_types,
    rule_denied_objects,
    rule_known_tables,
    rule_attribute_calls,
    rule_bounded_sizes,
)


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Limit):
        options = node.args.get("limit_options")
        if options is not None and (options.args.get("percent")
                                    or options.args.get("with_ties")):
            return None  # TOP 100 PERCENT, TOP 1 WITH TIES: not a row count
        node = node.expression
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def cap_rows(tree: exp.Query, max_rows: int) -> tuple[exp.Query, bool]:
    """Put a row cap on the outermost query; keep a smaller literal limit as it is."""
    limit = tree.args.get("limit")
    fetch = tree.args.get("fetch") if not limit else None
    if fetch is not None:
        wrapped = exp.select("*").from_(tree.subquery("capped"))
        return wrapped.limit(max_rows), True
    if limit is None:
        return tree.limit(max_rows, copy=False), True
    value = _literal_int(limit)
    if value is not None and value <= max_rows:
        return tree, False
    if value is not None:
        return tree.limit(max_rows, copy=False), True
    wrapped = exp.select("*").from_(tree.subquery("capped"))
    return wrapped.limit(max_rows), True


def as_written(sql: str) -> str:
    """One statement's text without the whitespace and semicolons around it."""
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


class SqlGuard:
    """Parse, check and rewrite one statement for a target dialect."""

    def __init__(
        self,
        dialect: str,
        known_tables: Iterable[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        rules: tuple[Rule, ...] = RULES,
        extra_functions: Iterable[str] = (),
        known_columns: Mapping[str, Iterable[str]] | None = None,
        user_functions: Iterable[str] | None = None,
    ) -> None:
        self.dialect = SQLALCHEMY_TO_SQLGLOT.get(dialect, dialect)
        tables = None if known_tables is None else frozenset(t.lower() for t in known_tables)
        columns = None if known_columns is None else {
            t.lower(): frozenset(c) for t, c in known_columns.items()}
        functions = None if user_functions is None else frozenset(
            f.lower() for f in user_functions)
        self.context = GuardContext(self.dialect, tables,
                                    frozenset(f.lower() for f in extra_functions), columns,
                                    functions)
        self.max_rows = max_rows
        self.rules = rules

    @classmethod
    def for_schema(cls, dialect: str, schema: Schema, max_rows: int = DEFAULT_MAX_ROWS,
                   extra_functions: Iterable[str] = ()) -> SqlGuard:
        """A guard that knows a database's tables, their columns and its functions."""
        return cls(dialect, schema.table_names, max_rows, extra_functions=extra_functions,
                   known_columns=schema.columns_by_table, user_functions=schema.functions)

    def parse(self, sql: str) -> exp.Expression:
        if not sql or not sql.strip():
            raise SqlRejected("the statement is empty")
        # a NUL ends the statement early in libpq: what runs is not what was checked
        if _CONTROL.search(sql):
            raise SqlRejected("it contains control characters")
        try:
            statements = [s for s in sqlglot.parse(sql, read=self.dialect) if s is not None]
        except SqlglotError as err:
            first = str(err).splitlines()[0] if str(err) else "syntax error"
            raise SqlRejected(f"it is not valid SQL ({first})") from err
        if len(statements) != 1:
            raise SqlRejected(f"exactly one statement is allowed, got {len(statements)}")
        return statements[0]

    def check(self, sql: str) -> GuardedSql:
        """Return the SQL as it will run, or raise :class:`SqlRejected`."""
        try:
            return self._check(sql)
        except RecursionError as err:  # rules and SQL generation recurse over the tree
            raise SqlRejected("it is nested too deeply to check") from err

    def _check(self, sql: str) -> GuardedSql:
        tree = self.parse(sql)
        for rule in self.rules:
            reason = rule(tree, self.context)
            if reason:
                raise SqlRejected(reason, mistake=isinstance(reason, Mistake))
        assert isinstance(tree, exp.Query)
        bound_data_sizes(tree)
        capped_tree, capped = cap_rows(tree, self.max_rows)
        try:
            out = capped_tree.sql(dialect=self.dialect)
        except SqlglotError as err:
            raise SqlRejected(f"it cannot be written in {self.dialect} ({err})") from err
        tables = tuple(sorted({t.name for t in real_tables(tree, self.dialect)}))
        return GuardedSql(out, self.dialect, capped, self.max_rows, tables, as_written(sql))
