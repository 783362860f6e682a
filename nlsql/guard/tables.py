"""Which tables a query reads: the database's own, by their real names (CTEs resolved
scope by scope), never a credential catalog, another schema or another server."""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from ..errors import Mistake
from .context import GuardContext
from .lists import DENIED_OBJECTS, DENIED_SCHEMAS, DENIED_SYS_OBJECTS
from .scopes import normalized_scopes

_DEFAULT_SCHEMAS = {"postgres": ("public",), "tsql": ("dbo",), "sqlite": ("main",)}
# Dialects where a CTE may name itself without RECURSIVE (recursion, not the table).
_RECURSIVE_WITHOUT_KEYWORD = frozenset({"tsql", "sqlite"})


def real_tables(tree: exp.Expression, dialect: str) -> list[exp.Table]:
    """:func:`_resolve_tables`, once per tree: two rules and the result each ask."""
    key = f"askdb_real_tables_{dialect}"
    if key not in tree.meta:
        tree.meta[key] = list(_resolve_tables(tree, dialect))
    return tree.meta[key]


def _resolve_tables(tree: exp.Expression, dialect: str) -> Iterable[exp.Table]:
    """The tables a query reads from the database, CTEs resolved scope by scope.

    A CTE only hides an unqualified name inside its own WITH, and a non-recursive CTE
    body that names itself reads the real table (``WITH secret AS (SELECT * FROM
    secret)``). Anything the scopes do not account for counts as real: fail closed.
    """
    # names compared as the database compares them, on a normalised copy
    normal, scopes = normalized_scopes(tree, dialect) or (tree, [])
    original = dict(zip((id(t) for t in normal.find_all(exp.Table)),
                        tree.find_all(exp.Table), strict=True))
    seen: set[int] = set()
    for scope in scopes:
        for table in scope.tables:
            if not isinstance(table.this, exp.Identifier):
                continue
            seen.add(id(table))
            qualified = bool(table.args.get("db") or table.args.get("catalog"))
            if not qualified and table.name in scope.cte_sources:
                continue
            cte = table.find_ancestor(exp.CTE)
            if (not qualified and cte is not None and cte.alias_or_name == table.name
                    and (dialect in _RECURSIVE_WITHOUT_KEYWORD
                         or (cte.parent is not None and cte.parent.args.get("recursive")))):
                continue
            yield original[id(table)]
    for table in normal.find_all(exp.Table):
        if id(table) not in seen and isinstance(table.this, exp.Identifier):
            yield original[id(table)]


def rule_table_shape(tree: exp.Expression, ctx: GuardContext) -> str | None:
    """A table is a name or a table function; ``server.db.schema.table`` is neither."""
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier | exp.Func):
            return f"the table reference {table.sql(ctx.dialect)} is not allowed"
    return None


def rule_denied_objects(tree: exp.Expression, ctx: GuardContext) -> str | None:
    for table in real_tables(tree, ctx.dialect):
        name = table.name.lower()
        schema = (table.db or "").lower()
        if (
            name in DENIED_OBJECTS
            or name.startswith("pragma_")  # SQLite's pragmas read as tables
            or schema in DENIED_SCHEMAS
            or (schema == "sys" and name in DENIED_SYS_OBJECTS)
        ):
            shown = f"{schema}.{name}" if schema else name
            return f"the system catalog {shown} is not readable"
    return None


def rule_known_tables(tree: exp.Expression, ctx: GuardContext) -> str | None:
    if ctx.known_tables is None:
        return None
    for table in real_tables(tree, ctx.dialect):
        if table.catalog:
            return f"cross-database reference {table.sql()} is not allowed"
        # the schema askdb reflects is the database's default one: hr.t is another table
        if table.db and table.db.lower() not in _DEFAULT_SCHEMAS.get(ctx.dialect, ()):
            return f"the table {table.sql(dialect=ctx.dialect)} is outside the schema askdb reads"
        if table.name.lower() not in ctx.known_tables:
            return Mistake(f"the table {table.name} is not part of this database")
    return None
