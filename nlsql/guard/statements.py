"""One read query and nothing else: no writes, DDL, session commands or locks anywhere
in the tree, however deeply nested (a writable CTE, ``SELECT INTO``, ``FOR UPDATE``)."""

from __future__ import annotations

from sqlglot import exp

from .context import GuardContext
from .lists import LOCKING_HINTS

# Statements and clauses that write, change session or server state, or reach outside.
WRITE_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
    exp.TruncateTable, exp.Copy, exp.Command, exp.Pragma, exp.Attach, exp.Detach,
    exp.Set, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Grant, exp.Revoke,
    exp.Kill, exp.LoadData, exp.Execute, exp.Declare, exp.Comment, exp.Analyze,
    exp.Cache, exp.Uncache, exp.Refresh, exp.Into, exp.Lock, exp.NextValueFor,
)


def rule_is_query(tree: exp.Expression, ctx: GuardContext) -> str | None:
    if not isinstance(tree, exp.Query):
        kind = tree.key.upper()
        return f"only read queries (SELECT) are allowed, not {kind}"
    return None


def rule_no_writes(tree: exp.Expression, ctx: GuardContext) -> str | None:
    for node in tree.walk():
        if isinstance(node, exp.Into):
            return "SELECT ... INTO writes a table"
        if isinstance(node, exp.Lock):
            return "locking clauses (FOR UPDATE / FOR SHARE) are not allowed"
        if isinstance(node, exp.WithTableHint):
            for hint in node.expressions:
                if hint.name.lower() in LOCKING_HINTS:
                    return f"the locking hint {hint.name.upper()} is not allowed"
        if isinstance(node, WRITE_NODES):
            return f"{node.key.upper()} changes data or state and is not allowed"
    return None
