"""The guard's column rule for PostgreSQL: ``t.name`` must be a column, not a call.

PostgreSQL reads ``t.leak`` as the function call ``leak(t)`` when ``t`` has no column
``leak`` ("attribute notation"), and ``(t).leak``, ``t.tags[1].leak`` or
``(SELECT ...).leak`` the same way on any row or composite value. The function rule never
sees those calls: there is no call in the syntax tree. So a qualified name must be a
column of what it qualifies, worked out the way PostgreSQL names columns: a reflected
table's columns, a subquery's output names (its aliases, a column's own name, a call's
name, else ``?column?``; the first branch of a set operation; ``column1..N`` of
VALUES), a table function's declared columns. Anything the rule cannot name offers no
columns (fail closed). Names are compared as PostgreSQL compares them (unquoted folded
to lower case), so a refusal here is a query the server would not have read as columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope

from .errors import Mistake
from .guard_functions import called_name

if TYPE_CHECKING:
    from .guard import GuardContext

# columns every PostgreSQL row has without the catalog listing them
SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"})
# built-in set-returning functions whose rows have named columns
FUNCTION_COLUMNS = {
    "json_each": ("key", "value"), "jsonb_each": ("key", "value"),
    "json_each_text": ("key", "value"), "jsonb_each_text": ("key", "value"),
    "json_array_elements": ("value",), "jsonb_array_elements": ("value",),
    "json_array_elements_text": ("value",), "jsonb_array_elements_text": ("value",),
    "regexp_matches": ("regexp_matches",), "ts_debug": ("alias", "token", "lexemes"),
}
_NAMELESS = "?column?"


def rule_attribute_calls(tree: exp.Expression, ctx: GuardContext) -> str | None:
    if ctx.dialect != "postgres":
        return None
    for dot in tree.find_all(exp.Dot):
        if not isinstance(dot.expression, exp.Func):  # pg_catalog.lower(x) is a call
            return (f"field selection {dot.sql(dialect='postgres')} is not allowed (on a "
                    "row it calls a function): select the column itself, or read a "
                    "function's fields with FROM f(...) AS x and x.field")
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
    if column.args.get("catalog") or (column.args.get("db")
                                      and column.args["db"].name != "public"):
        return f"{column.sql(dialect='postgres')} is not a column askdb can check"
    source = _source(scope, column.table)
    if source is None:
        return Mistake(f"{column.table} in {column.sql(dialect='postgres')} is not a table "
                       "of this query")
    if column.name in _offered(source, ctx):
        return None
    return Mistake(f"there is no column {column.name} in {column.table}")


def _source(scope: Scope | None, alias: str):
    """What ``alias`` names here or in an enclosing query (a correlated reference)."""
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _offered(source, ctx: GuardContext) -> frozenset[str]:
    """The column names a FROM source offers, as PostgreSQL names them."""
    assert ctx.known_columns is not None
    if isinstance(source, Scope):
        return _scope_columns(source, ctx)
    if isinstance(source, exp.Table):
        listed = _listed(source)
        if isinstance(source.this, exp.Identifier):  # a table (an alias list renames some)
            return listed | ctx.known_columns.get(source.name.lower(), frozenset()) | SYSTEM_COLUMNS
        if isinstance(source.this, exp.Func):
            return listed or _function_columns(source.this, source)
    return frozenset()


def _scope_columns(scope: Scope, ctx: GuardContext) -> frozenset[str]:
    node = scope.expression
    if isinstance(node, exp.Unnest | exp.Lateral) and not isinstance(node.this,
                                                                      exp.Query):
        listed = _listed(node)
        offset = node.args.get("offset")
        if isinstance(offset, exp.Identifier):  # WITH ORDINALITY AS x(tag, pos)
            listed |= {offset.name}
        if listed:
            return listed
        if isinstance(node, exp.Unnest):  # one column, named after the alias
            return _function_columns(None, node)
        return _function_columns(node.this, node) if isinstance(node.this, exp.Func) \
            else frozenset()
    owner = node.find_ancestor(exp.CTE, exp.Subquery, exp.Lateral) \
        if not isinstance(node, exp.Lateral) else node
    listed = _listed(node) | (_listed(owner) if owner is not None else frozenset())
    return listed | _output_names(scope, node, ctx)


def _output_names(scope: Scope, node: exp.Expression, ctx: GuardContext) -> frozenset[str]:
    while isinstance(node, exp.SetOperation | exp.Subquery | exp.Lateral):
        node = node.this  # PostgreSQL names a set operation's columns by its first branch
    if isinstance(node, exp.Values):
        width = len(node.expressions[0].expressions) if node.expressions and isinstance(
            node.expressions[0], exp.Tuple) else 1
        return frozenset(f"column{i}" for i in range(1, width + 1))
    if not isinstance(node, exp.Select):
        return frozenset()
    names: set[str] = set()
    for projection in node.selects:
        if isinstance(projection, exp.Star):
            for source in scope.sources.values():
                names |= _offered(source, ctx)
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            inner = scope.sources.get(projection.table)
            names |= _offered(inner, ctx) if inner is not None else frozenset()
        else:
            names.add(_name_of(projection))
    return frozenset(names)


def _name_of(projection: exp.Expression) -> str:
    """The column name PostgreSQL gives an output expression (its FigureColname)."""
    if isinstance(projection, exp.Alias):
        return projection.alias
    node = projection
    while isinstance(node, exp.Cast | exp.Collate | exp.Paren | exp.Window | exp.Filter):
        node = node.this
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Case):
        return "case"
    if isinstance(node, exp.Func):
        called = called_name(node, "postgres")
        if called:
            return called[0]
        keyword = node.sql(dialect="postgres")  # CURRENT_TIMESTAMP, CURRENT_DATE
        if keyword.replace("_", "").isalpha():
            return keyword.lower()
    return _NAMELESS


def _function_columns(call: exp.Func | None, holder: exp.Expression) -> frozenset[str]:
    """A table function (None: unnest) without a column list: its known columns, or its
    one column, which PostgreSQL names after the alias (or the function)."""
    called = called_name(call, "postgres") if call is not None else ("unnest", False)
    name = called[0] if called else ""
    names = set(FUNCTION_COLUMNS.get(name, ()))
    if not names:
        alias = holder.args.get("alias")
        names.add(alias.name if isinstance(alias, exp.TableAlias) and alias.name else name)
    if holder.args.get("ordinality") or holder.args.get("offset") is True:
        names.add("ordinality")
    return frozenset(names)


def _listed(node: exp.Expression | None) -> frozenset[str]:
    """``AS s(a, b)`` or ``WITH c(a, b)``: names given to a source's columns."""
    alias = node.args.get("alias") if isinstance(node, exp.Expression) else None
    if isinstance(alias, exp.TableAlias):
        return frozenset(c.name for c in alias.columns)
    return frozenset()
