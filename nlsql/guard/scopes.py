"""The query's scopes with names folded as the database folds them, worked out once.

Two guard rules resolve names scope by scope (which tables a query really reads, and on
PostgreSQL which qualified names are columns); both need the same normalised copy of the
tree and its scopes, so the first one to ask computes them and the other reuses them.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope


def normalized_scopes(tree: exp.Expression,
                      dialect: str) -> tuple[exp.Expression, list[Scope]] | None:
    """A normalised copy of ``tree`` and its scopes, or None when sqlglot cannot scope it.

    PostgreSQL folds unquoted names to lower case and keeps quoted ones ("Secret" is not
    secret); the copy leaves the tree that is checked and emitted untouched.
    """
    key = f"askdb_scopes_{dialect}"
    if key not in tree.meta:
        try:
            normal = normalize_identifiers(tree.copy(), dialect=dialect)
            tree.meta[key] = (normal, traverse_scope(normal))
        except (SqlglotError, RecursionError, KeyError, ValueError):
            tree.meta[key] = None
    return tree.meta[key]
