"""Which calls a query may make: built-ins askdb knows to be read-only, nothing else.

sqlglot types the common functions; every other call must be on the allowed lists
(``lists.toml``): a deny list always misses one, so an unknown, user-defined or
schema-qualified function is refused unless the operator allows it by name.
"""

from __future__ import annotations

import re

from sqlglot import exp

from .context import GuardContext
from .lists import (
    ALLOWED_FUNCTIONS,
    ALLOWED_PREFIXES,
    BUILTIN_SCHEMAS,
    DENIED_FUNCTION_PREFIXES,
    DENIED_FUNCTIONS,
    POSTGRES_BUILTINS,
    TSQL_TABLE_FUNCTIONS,
    XML_METHODS,
)


def func_name(node: exp.Func) -> str:
    """A call's name as sqlglot knows it (typed nodes by their canonical SQL name)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


_CALL = re.compile(r'\s*("?)([A-Za-z_][A-Za-z0-9_$]*)"?\s*\(')


def called_name(node: exp.Func, dialect: str) -> tuple[str, bool] | None:
    """The function name the database will see, and whether it is quoted (None when
    the node is written as syntax, not as a call: ``CASE``, ``x::int``, ``INTERVAL``)."""
    match = _CALL.match(node.sql(dialect=dialect))
    return (match.group(2).lower(), bool(match.group(1))) if match else None


def _qualifier(node: exp.Func) -> str | None:
    """``sys`` in ``sys.dm_exec_sql_text(h)`` or ``FROM evil.generate_series(1, 3)``: the
    schema a call goes through, if any."""
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return parent.this.sql().lower().strip('"[]`')
    if isinstance(parent, exp.Table) and parent.this is node and (parent.db or parent.catalog):
        return ".".join(p for p in (parent.catalog, parent.db) if p).lower()
    return None


def _on_a_value(node: exp.Func, qualifier: str, tree: exp.Expression,
                 ctx: GuardContext) -> bool:
    """``x.value(...)``, ``e.x.nodes(...)``, ``(SELECT ... FOR XML PATH).value(...)``: an
    xml method on a column or subquery, not ``sales.value()``, a user function in the
    schema ``sales``."""
    if not isinstance(node.parent, exp.Dot):  # FROM sales.nodes(...): a table function
        return False
    if isinstance(node.parent.this, exp.Subquery | exp.Paren):
        return True
    parts = qualifier.split(".")
    tables = list(tree.find_all(exp.Table))
    table_aliases = list(tree.find_all(exp.TableAlias))
    aliases = {t.alias_or_name.lower() for t in tables} | {
        a.name.lower() for a in table_aliases if a.name}
    read = {t.name.lower() for t in tables}  # only the columns of this query's tables count
    known = {c.name.lower() for a in table_aliases for c in a.columns} | {
        c.lower() for t, cs in (ctx.known_columns or {}).items() if t in read for c in cs}
    if len(parts) == 2:
        return parts[0] in aliases and (parts[1] in known or ctx.known_columns is None)
    return len(parts) == 1 and parts[0] in known


def _allowed(name: str, ctx: GuardContext) -> bool:
    return name in ALLOWED_FUNCTIONS or name.startswith(ALLOWED_PREFIXES) or (
        ctx.dialect == "postgres" and name in POSTGRES_BUILTINS)


def _database_defines(name: str, ctx: GuardContext) -> bool:
    """PostgreSQL resolves an unqualified call among every function of that name on the
    search path: a name askdb allows for another dialect (quarter, total) is, there, the
    database's own function, and a built-in name the database also defines (an overload
    lower(integer)) may run that one. Either may read any table or have side effects."""
    return ctx.dialect == "postgres" and ctx.user_functions is not None \
        and name in ctx.user_functions and not name.startswith(ALLOWED_PREFIXES)


# Functions dangerous in one dialect are never needed in another: deny them all.
_DENIED_ANYWHERE = frozenset().union(*DENIED_FUNCTIONS.values())


def _table_valued(node: exp.Func) -> bool:
    """``FROM f(...)`` or ``CROSS APPLY f(...)``: a call in a table's place."""
    parent = node.parent
    return isinstance(parent, exp.Table | exp.Lateral) and parent.this is node


def rule_functions(tree: exp.Expression, ctx: GuardContext) -> str | None:
    for node in tree.find_all(exp.Func):
        name = func_name(node)
        called = called_name(node, ctx.dialect)
        names = {name, called[0]} if called else {name}
        if names & ctx.extra_functions:
            continue
        for each in names:
            if each in _DENIED_ANYWHERE or each.startswith(DENIED_FUNCTION_PREFIXES):
                return f"the function {each}() is not allowed"
        parent = node.parent
        if ctx.dialect == "sqlite" and isinstance(parent, exp.Table) and parent.this is node \
                and not (parent.db or parent.catalog) and ctx.known_tables is not None \
                and name in ctx.known_tables:
            continue  # SQLite full-text search: a table queried as a function
        qualifier = _qualifier(node)
        if qualifier is not None:
            if ctx.dialect == "tsql" and name in XML_METHODS and _on_a_value(node, qualifier,
                                                                             tree, ctx):
                continue
            if qualifier not in BUILTIN_SCHEMAS:
                return (f"the function {qualifier}.{name}() is not a built-in askdb knows to "
                        "be read-only")
        if called and called[1]:
            return f"the quoted function name \"{called[0]}\" is not allowed"
        if ctx.dialect == "tsql" and _table_valued(node) and qualifier is None and (
                not called or called[0] not in TSQL_TABLE_FUNCTIONS):
            shown = called[0] if called else name
            return (f"the table function {shown}() is not a built-in askdb knows to be "
                    "read-only (an operator can allow it with ASKDB_ALLOWED_FUNCTIONS)")
        # typed nodes written as calls are checked by the name the database sees only
        # where a name from another dialect can reach a user-defined function (PostgreSQL)
        shown = called[0] if called else name
        checked = isinstance(node, exp.Anonymous) or (ctx.dialect == "postgres" and called)
        if checked and qualifier is None and _database_defines(shown, ctx):
            return (f"{shown}() may call this database's own function of that name, which "
                    "askdb cannot see into (an operator can allow it with "
                    "ASKDB_ALLOWED_FUNCTIONS)")
        if checked and not _allowed(shown, ctx):
            return (f"the function {shown}() is not one askdb knows to be read-only (an "
                    "operator can allow it with ASKDB_ALLOWED_FUNCTIONS)")
    return None
