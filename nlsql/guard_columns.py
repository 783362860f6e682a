"""The guard's column rule for PostgreSQL: ``t.name`` must be a column, not a call.

PostgreSQL reads ``t.leak`` as the function call ``leak(t)`` when ``t`` has no column
``leak`` ("attribute notation"), and ``(t).leak`` and ``t.address.leak`` the same way on a
row or composite value. The function rule never sees those calls: there is no call in the
syntax tree. So a qualified name must be a column of what it qualifies: a reflected table's
column, or an output name of a subquery or CTE. Names are compared as PostgreSQL compares
them (unquoted folded to lower case), so what is refused here would not have been read
as a column by the server either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope

from .errors import Mistake
from .guard_functions import func_name

if TYPE_CHECKING:
    from .guard import GuardContext

# columns every PostgreSQL row has without the catalog listing them
SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"})


def rule_attribute_calls(tree: exp.Expression, ctx: GuardContext) -> str | None:
    if ctx.dialect != "postgres":
        return None
    for dot in tree.find_all(exp.Dot):
        if isinstance(dot.this, exp.Paren):
            return (f"field selection {dot.sql(dialect='postgres')} is not allowed (on a "
                    "row it calls a function)")
    if ctx.known_columns is None:
        return None
    try:
        scopes = traverse_scope(normalize_identifiers(tree.copy(), dialect="postgres"))
    except (SqlglotError, RecursionError, KeyError, ValueError):
        return "its column references could not be checked"
    for scope in scopes:
        for column in scope.columns:
            reason = _check(column, scope, ctx)
            if reason:
                return reason
    return None


def _check(column: exp.Column, scope: Scope, ctx: GuardContext) -> str | None:
    if not column.table or not isinstance(column.this, exp.Identifier):
        return None  # unqualified: always a column (or an error), never a call
    name = column.name
    if column.args.get("db") and column.args["db"].name not in ("public",):
        return f"{column.sql(dialect='postgres')} is not a column askdb can check"
    source = _source(scope, column.table)
    offered = _offered(source, ctx)
    if offered is None or name in offered:
        return None
    return Mistake(f"there is no column {name} in {column.table}")


def _source(scope: Scope, alias: str):
    """What ``alias`` names here or in an enclosing query (a correlated reference)."""
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None  # PostgreSQL: "missing FROM-clause entry", an error, not a call


def _offered(source, ctx: GuardContext) -> frozenset[str] | None:
    """The column names a source offers, or None when any name is harmless there."""
    assert ctx.known_columns is not None
    if isinstance(source, exp.Table):
        if not isinstance(source.this, exp.Identifier):
            return None  # a table function: the function rule checked it
        listed = _alias_columns(source)
        if listed:
            return listed
        columns = ctx.known_columns.get(source.name.lower())
        return None if columns is None else columns | SYSTEM_COLUMNS  # unknown: refused
    if isinstance(source, Scope):
        node = source.expression
        listed = _alias_columns(node) or _alias_columns(node.parent)
        if listed:
            return listed
        names = _output_names(node)
        if names is None:  # SELECT *: the columns of the tables it reads
            return frozenset().union(*ctx.known_columns.values()) | SYSTEM_COLUMNS
        return names or None  # no SELECT: a table function's columns, checked as a call
    return None


def _alias_columns(node: exp.Expression) -> frozenset[str]:
    """``AS s(a, b)`` or ``WITH c(a, b)``: names the query gives its source's columns."""
    alias = node.args.get("alias") if isinstance(node, exp.Expression) else None
    if isinstance(alias, exp.TableAlias):
        return frozenset(c.name for c in alias.columns)
    return frozenset()


def _output_names(query: exp.Expression) -> frozenset[str] | None:
    names = set()
    for select in _selects(query):
        for projection in select.selects:
            if isinstance(projection, exp.Star) or (
                    isinstance(projection, exp.Column) and isinstance(projection.this,
                                                                      exp.Star)):
                return None
            names.add(projection.alias_or_name)
            if isinstance(projection, exp.Func):  # PostgreSQL names count(*) "count"
                names.add(func_name(projection))
    return frozenset(names)


def _selects(query: exp.Expression) -> Iterator[exp.Select]:
    if isinstance(query, exp.SetOperation):
        yield from _selects(query.this)
        yield from _selects(query.expression)
    elif isinstance(query, exp.Select):
        yield query
    elif isinstance(query, exp.Subquery | exp.Lateral):
        yield from _selects(query.this)
