"""The guard's rule for PostgreSQL's calls without parentheses: ``t.f`` is ``f(t)``.

PostgreSQL reads ``t.leak`` as the function call ``leak(t)`` when ``t`` has no column
``leak`` ("attribute notation"), and ``(t).leak``, ``t.tags[1].leak`` or
``(SELECT ...).leak`` the same way on any row or composite value. The function rule never
sees those calls: there is no call in the syntax tree.

Working out which names are columns means redoing PostgreSQL's name resolution (output
names of subqueries, set operations, table functions, scoping of FROM items): two red-team
passes on a real server found a way through every approximation of it. So the rule turns
the question around: a qualified name or field is refused when it is the name of one of
the database's own functions (read from ``pg_proc`` with the schema; built-ins in
``pg_catalog`` are read-only and harmless), unless it plainly names a column of a table
in its own query's FROM that no enclosing query has a name for. Names nothing can call
pass; PostgreSQL reports a name that is neither column nor function as its own error.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from .context import GuardContext
from .scopes import normalized_scopes


def rule_attribute_calls(tree: exp.Expression, ctx: GuardContext) -> str | None:
    if ctx.dialect != "postgres":
        return None
    functions = ctx.user_functions
    for dot in tree.find_all(exp.Dot):
        if isinstance(dot.expression, exp.Func):  # pg_catalog.lower(x): a call, checked
            continue
        if functions is None or dot.expression.name.lower() in functions:
            return (f"field selection {dot.sql(dialect='postgres')} is not allowed (on a "
                    "row it calls a function)")
    if not functions:  # unknown: no database to ask; none: nothing to reach
        return None
    scoped = normalized_scopes(tree, "postgres")
    if scoped is None:
        return "its column references could not be checked"
    normal, scopes = scoped
    scope_of = {id(c): scope for scope in scopes for c in scope.columns}
    for column in normal.find_all(exp.Column):
        if not column.table or not isinstance(column.this, exp.Identifier):
            continue  # unqualified: always a column (or an error), never a call
        if column.name.lower() not in functions:
            continue
        if _plain_column(column, scope_of.get(id(column)), ctx):
            continue
        return (f"{column.sql(dialect='postgres')} would call the database's function "
                f"{column.name}() (PostgreSQL reads t.f as f(t) when t has no column f)")
    return None


def _plain_column(column: exp.Column, scope: Scope | None, ctx: GuardContext) -> bool:
    """``e.email`` where ``e`` is a table with that column in this query's own FROM and no
    enclosing query has anything called ``e``: PostgreSQL takes the column then. Anything
    less plain (renamed columns, a name bound at two levels) is not worked out."""
    if scope is None or ctx.known_columns is None:
        return False
    source = scope.sources.get(column.table)
    if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
        return False
    alias = source.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return False  # AS e(a, b) renames columns
    outer = scope.parent
    while outer is not None:
        if column.table in outer.sources:
            return False
        outer = outer.parent
    return column.name in ctx.known_columns.get(source.name.lower(), frozenset())
