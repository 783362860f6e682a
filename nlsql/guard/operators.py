"""Ways to reach past the data without a function call: server variables and
placeholders, user-defined operators and types, casts to object identifiers."""

from __future__ import annotations

from sqlglot import exp

from ..errors import Mistake
from .context import GuardContext


def rule_no_variables(tree: exp.Expression, ctx: GuardContext) -> str | None:
    """``@@VERSION``, ``@@hostname``, ``@x``, ``$1``: server and session variables, and
    placeholders, say nothing about the data and a question never needs them."""
    for node in tree.find_all(exp.SessionParameter, exp.Parameter, exp.Placeholder):
        reason = (f"variables and parameters ({node.sql(dialect=ctx.dialect)}) are not "
                  "allowed: write the values into the query")
        # a placeholder where a value belongs is a slip the model can mend on a retry
        server = isinstance(node, exp.SessionParameter) or (  # @@VERSION, T-SQL's too
            isinstance(node, exp.Parameter) and isinstance(node.this, exp.Parameter))
        return reason if server else Mistake(reason)
    return None


def rule_user_operators_and_types(tree: exp.Expression, ctx: GuardContext) -> str | None:
    """PostgreSQL runs user code behind ``OPERATOR(s.===)`` and casts to ``s.domain``."""
    for node in tree.find_all(exp.Operator):
        operator = str(node.args.get("operator") or "").lower()
        if "." in operator and not operator.startswith("pg_catalog."):
            return f"the operator {operator} is not a built-in askdb knows to be read-only"
    for node in tree.find_all(exp.DataType):
        if node.this == exp.DataType.Type.USERDEFINED and isinstance(node.args.get("kind"),
                                                                      exp.Dot):
            shown = node.sql(dialect=ctx.dialect)
            if not shown.lower().startswith("pg_catalog."):
                return f"the type {shown} is not a built-in askdb knows"
    for node in tree.find_all(exp.ObjectIdentifier):
        # ::oid, ::regclass, ::regrole: look up any table, role or function by number
        # or name, the schema askdb was given or not
        return (f"casts to {node.sql(dialect=ctx.dialect)} look up database objects, "
                "not data")
    return None
