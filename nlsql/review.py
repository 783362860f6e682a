"""Cheap checks of a generated query against the schema, before or after running it.

A small model's most common mistakes are structural: a column taken from the wrong
table, or an id column compared with a name ("DepartmentId = 'DC3'"). Both are visible
on the syntax tree and the schema, and a precise hint lets the model repair the query
in one more try instead of showing the user an error or an empty table.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .schema import Schema

_NUMERIC = ("INT", "BIGINT", "SMALLINT", "TINYINT", "INTEGER", "NUMERIC", "DECIMAL", "FLOAT",
            "REAL", "DOUBLE", "NUMBER")
_MISSING_COLUMN = [
    re.compile(r"no such column: (?:\w+\.)?\"?(\w+)\"?", re.I),           # SQLite
    re.compile(r"column \"?(?:\w+\.)?(\w+)\"? does not exist", re.I),     # PostgreSQL
    re.compile(r"Invalid column name '(\w+)'", re.I),                      # SQL Server
]


def tables_with_column(schema: Schema, column: str) -> list[str]:
    low = column.lower()
    return [t.name for t in schema.tables if any(c.name.lower() == low for c in t.columns)]


def missing_column_hint(schema: Schema, error: str, sql: str = "", dialect: str = "") -> str:
    """'X is a column of A: join that table.' for a database's unknown-column error.

    With the failed query, the hint spells out the join from the query's tables to the
    column's (through one link table at most, by the foreign keys): a small model told
    only "join that table" often joins it on a wrong key or gives up on the join.
    """
    for pattern in _MISSING_COLUMN:
        match = pattern.search(error)
        if match:
            column = match.group(1)
            owners = tables_with_column(schema, column)
            if not owners:
                return f" No table has a column {column}."
            hint = f" {column} is a column of {', '.join(owners)}"
            path = _join_path(schema, _query_tables(sql, dialect), owners) if sql else None
            if path:
                return f"{hint}: join it with {path}."
            return f"{hint}: join that table."
    return ""


def _query_tables(sql: str, dialect: str) -> list[str]:
    tree = _parsed(sql, dialect)
    if tree is None:
        return []
    return list(dict.fromkeys(t.name for t in tree.find_all(exp.Table) if t.name))


def _join_path(schema: Schema, used: list[str], owners: list[str]) -> str | None:
    """The JOIN clauses from a table of the query to the nearest owner, by foreign keys.

    None when an owner is in the query already (the error is about something else, such
    as a wrong alias) or when no owner is within two foreign keys of the query's tables.
    """
    by_name = {t.name.lower(): t for t in schema.tables}
    used_low = [u.lower() for u in used if u.lower() in by_name]
    if not used_low or any(o.lower() in used_low for o in owners):
        return None
    links: dict[str, list[tuple[str, str]]] = {}  # table -> (neighbour, ON condition)
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.ref_table.lower() not in by_name or fk.ref_table.lower() == table.name.lower():
                continue
            on = " AND ".join(f"{table.name}.{c} = {fk.ref_table}.{r}"
                              for c, r in zip(fk.columns, fk.ref_columns, strict=False))
            links.setdefault(table.name.lower(), []).append((fk.ref_table.lower(), on))
            links.setdefault(fk.ref_table.lower(), []).append((table.name.lower(), on))
    targets = {o.lower() for o in owners}
    paths: dict[str, list[tuple[str, str]]] = {u: [] for u in used_low}
    frontier = list(used_low)
    for _depth in range(2):  # the owner itself, or through one link table
        nxt = []
        for name in frontier:
            for neighbour, on in links.get(name, []):
                if neighbour in paths:
                    continue
                paths[neighbour] = [*paths[name], (neighbour, on)]
                if neighbour in targets:
                    return " ".join(f"JOIN {by_name[t].name} ON {c}"
                                    for t, c in paths[neighbour])
                nxt.append(neighbour)
        frontier = nxt
    return None


def _is_numeric(type_name: str) -> bool:
    return type_name.upper().startswith(_NUMERIC)


def id_compared_with_text(schema: Schema, sql: str, dialect: str) -> str | None:
    """A hint when a numeric column is compared with a non-numeric text literal."""
    tree = _parsed(sql, dialect)
    return None if tree is None else _id_compared_with_text(schema, tree)


def _parsed(sql: str, dialect: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read=dialect or None)
    except SqlglotError:
        return None


def _id_compared_with_text(schema: Schema, tree: exp.Expression) -> str | None:
    used = {t.name.lower() for t in tree.find_all(exp.Table)}
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        column = node.this if isinstance(node.this, exp.Column) else None
        values = node.expressions if isinstance(node, exp.In) else [node.expression]
        if column is None:
            continue
        texts = [v for v in values if isinstance(v, exp.Literal) and v.is_string]
        if not texts or all(_numeric_text(v.this) for v in texts):
            continue
        types = [c.type for t in schema.tables if t.name.lower() in used
                 for c in t.columns if c.name.lower() == column.name.lower()]
        if types and all(_is_numeric(t) for t in types):
            value = texts[0].this
            holders = _text_columns_holding_samples(schema, value)
            where = f" The value '{value}' looks like {holders}." if holders else ""
            return (f"{column.name} holds numbers, but the query compares it with the text "
                    f"'{value}'.{where} Join the table that has that value.")
    return None


def problem_before_running(schema: Schema, sql: str, dialect: str) -> str | None:
    """The first mistake visible before running the query, as a hint for the retry
    (the query parsed once for all the checks)."""
    tree = _parsed(sql, dialect)
    if tree is None:
        return None
    return _id_compared_with_text(schema, tree) or _column_equal_to_two_values(tree, dialect)


def column_equal_to_two_values(sql: str, dialect: str) -> str | None:
    """A hint when one condition asks a column to equal two different values at once.

    "Nations that speak both English and French" often comes out as ``Language =
    'English' AND Language = 'French'``: no single row can match, so the query returns
    nothing however the data looks. Found on the syntax tree, it costs one retry instead
    of an empty answer the asker takes for a fact.
    """
    tree = _parsed(sql, dialect)
    return None if tree is None else _column_equal_to_two_values(tree, dialect)


def _column_equal_to_two_values(tree: exp.Expression, dialect: str) -> str | None:
    for where in tree.find_all(exp.Where, exp.Having):
        wanted: dict[tuple[str, str], dict[object, exp.Literal]] = {}
        written: dict[tuple[str, str], str] = {}
        for condition in _conjuncts(where.this):
            if not isinstance(condition, exp.EQ):
                continue
            column, value = condition.this, condition.expression
            if isinstance(value, exp.Column) and isinstance(column, exp.Literal):
                column, value = value, column
            if not (isinstance(column, exp.Column) and isinstance(value, exp.Literal)):
                continue
            key = (column.table.lower(), column.name.lower())
            wanted.setdefault(key, {})[_literal_value(value)] = value
            written.setdefault(key, column.sql(dialect=dialect))
        for key, values in wanted.items():
            if len(values) > 1:
                name = written[key]
                first, second = (v.sql(dialect=dialect) for v in list(values.values())[:2])
                return (f"The query asks {name} to equal {first} and {second} in the same "
                        f"row, so it can never return anything. If the question wants what "
                        f"has both, write one query with {name} = {first}, one with {name} "
                        f"= {second}, and join them with INTERSECT; only if either will do, "
                        f"use {name} IN ({first}, {second}).")
    return None


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    """The parts of an AND chain (through parentheses); OR and NOT are one part each."""
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    return [condition]


def _literal_value(literal: exp.Literal) -> object:
    """A literal's value as loosely as any database compares it: '1', 1 and 1.0 are one
    value (type affinity), 'DC2' and 'dc2' too (case-insensitive collations), so only
    values that can never match one row are told apart."""
    try:
        return float(literal.this)
    except ValueError:
        return literal.this.casefold()


def _numeric_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text_columns_holding_samples(schema: Schema, value: str) -> str:
    low = value.lower()
    for table in schema.tables:
        for col in table.columns:
            if any(s.lower() == low for s in col.samples):
                return f"a {table.name}.{col.name}"
    return ""
