"""Mechanical repair of column references a generated query gets provably wrong.

A small model's commonest failure on joins is the alias mix-up: ``T2.Name`` where
``Name`` belongs to the table aliased ``T1``, or a bare ``id`` that two joined tables
both have. The database refuses such a query, and asking the model again mostly repeats
the mistake. Both are decidable from the syntax tree and the schema, so they are fixed
here, before the query runs. A reference is only rewritten when it cannot work as
written and exactly one reading makes it work; a query that is valid is never touched,
and the result still goes through the guard like any other generated SQL.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from .schema import Schema, Table, quote_identifier

log = logging.getLogger(__name__)

# columns every row has without the schema listing them (SQLite, PostgreSQL system columns)
IMPLICIT_COLUMNS = frozenset({"rowid", "oid", "_rowid_", "ctid", "xmin", "xmax", "cmin",
                              "cmax", "tableoid"})


def _lower_columns(table: Table) -> set[str]:
    return {c.lower() for c in table.column_names}


def _other_side(column: exp.Column) -> exp.Expression | None:
    """The other operand when ``column`` is one side of an equality, else None."""
    eq = column.parent
    if not isinstance(eq, exp.EQ):
        return None
    return eq.expression if eq.this is column else eq.this


def _source_columns(source, schema: Schema) -> set[str] | None:
    """Lower-cased column names a FROM source offers, or None when unknown."""
    if isinstance(source, exp.Table):
        table = schema.table(source.name)
        return None if table is None else _lower_columns(table)
    if isinstance(source, Scope):
        names = source.expression.named_selects if isinstance(
            source.expression, (exp.Select, exp.Union)) else []
        if not names or "*" in names:
            return None
        return {n.lower() for n in names}
    return None


def _own_columns(scope: Scope) -> list[exp.Column]:
    """Columns written directly in this scope's SELECT, not in a nested subquery."""
    own = []
    for column in scope.columns:
        if column.find_ancestor(exp.Select) is scope.expression:
            own.append(column)
    return own


def _alias_of_table(scope: Scope, name: str) -> str | None:
    """The alias under which the scope reads table ``name`` (``singer.x`` vs ``T1``)."""
    hits = [alias for alias, src in scope.sources.items()
            if isinstance(src, exp.Table) and src.name.lower() == name.lower()]
    return hits[0] if len(hits) == 1 else None


def _enclosing_names(scope: Scope) -> set[str]:
    """Lower-cased source names (aliases) the enclosing queries make visible here."""
    names: set[str] = set()
    parent = scope.parent
    while parent is not None:
        names |= {alias.lower() for alias in parent.sources}
        parent = parent.parent
    return names


def _tied(scope: Scope, holders: list[str], name: str) -> bool:
    """Whether equality conditions on ``name`` tie every holder together (same value)."""
    root = {h.lower(): h.lower() for h in holders}

    def find(a: str) -> str:
        while root[a] != a:
            a = root[a]
        return a

    for eq in scope.expression.find_all(exp.EQ):
        left, right = eq.this, eq.expression
        if eq.find_ancestor(exp.Select) is not scope.expression:
            continue
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        a, b = left.table.lower(), right.table.lower()
        if left.name.lower() == right.name.lower() == name and a in root and b in root:
            root[find(a)] = find(b)
    return len({find(h.lower()) for h in holders}) == 1


def _merges_columns(select: exp.Expression) -> bool:
    """USING / NATURAL joins merge same-named columns: bare names mean the merged one."""
    return any(join.args.get("using") or join.text("method").upper() == "NATURAL"
               for join in select.args.get("joins") or [])


def _equated_tables(column: exp.Column, scope: Scope, schema: Schema
                    ) -> tuple[exp.Column, Table, Table] | None:
    """For ``A.x = B.y``: the other side's column and the schema tables of A and B."""
    other = _other_side(column)
    if not isinstance(other, exp.Column) or not other.table:
        return None
    mine, theirs = scope.sources.get(column.table), scope.sources.get(other.table)
    if not isinstance(mine, exp.Table) or not isinstance(theirs, exp.Table):
        return None
    a, b = schema.table(mine.name), schema.table(theirs.name)
    return None if a is None or b is None else (other, a, b)


def _key_pairs(a: Table, b: Table) -> list[tuple[str, str]]:
    """(A's column, B's column) of every single-column foreign key between A and B."""
    pairs = [(fk.columns[0], fk.ref_columns[0]) for fk in a.foreign_keys  # A REFERENCES B
             if len(fk.columns) == 1 and fk.ref_table.lower() == b.name.lower()]
    pairs += [(fk.ref_columns[0], fk.columns[0]) for fk in b.foreign_keys  # B REFERENCES A
              if len(fk.columns) == 1 and fk.ref_table.lower() == a.name.lower()]
    return pairs


def _join_key(column: exp.Column, scope: Scope, schema: Schema) -> str | None:
    """For ``A.x = B.y`` with no ``x`` in A: A's column that a foreign key pairs with B.y."""
    equated = _equated_tables(column, scope, schema)
    if equated is None:
        return None
    other, a, b = equated
    target = other.name.lower()
    return next((mine for mine, theirs in _key_pairs(a, b) if theirs.lower() == target), None)


def _join_of_condition(column: exp.Column) -> exp.Join | None:
    """The join whose ON clause the column is written in, if any."""
    node: exp.Expression = column
    while node.parent is not None and not isinstance(node.parent, exp.Join):
        node = node.parent
    join = node.parent
    return join if join is not None and join.args.get("on") is node else None


def _visible_at(join: exp.Join, select: exp.Expression) -> set[str]:
    """Lower-cased aliases an ON clause may name: FROM and the joins up to its own."""
    seen = set()
    from_ = select.args.get("from_") or select.args.get("from")  # sqlglot 30 says from_
    if from_ is not None:
        seen.add(from_.this.alias_or_name.lower())
    for existing in select.args.get("joins") or []:
        seen.add(existing.this.alias_or_name.lower())
        if existing is join:
            break
    return seen


def _foreign_key_pair(column: exp.Column, scope: Scope, schema: Schema,
                      holders: list[str]) -> tuple[exp.Column, str, str] | None:
    """For ``ON A.x = B.y`` where A has no ``x``: the one foreign key that ties A to B.

    ``Documents JOIN Templates ON Documents.Template_Type_Code = Templates.Template_Type_
    Code``: the model meant to join the two tables and guessed the key from a column B
    shares with a third table. When exactly one single-column foreign key links A and B,
    and no other table this ON clause can see has ``x`` (then ``A`` may just be the wrong
    alias), the join condition becomes that key pair: returns B's column in the query
    with (A's key column, B's key column). Joining another copy of B through A's key
    instead would pair B's rows with each other on a column that is not a key,
    multiplying them.
    """
    join = _join_of_condition(column)
    if join is None:
        return None
    equated = _equated_tables(column, scope, schema)
    if equated is None:
        return None
    other, a, b = equated
    visible = _visible_at(join, scope.expression)
    if any(h.lower() != other.table.lower() and h.lower() in visible for h in holders):
        return None
    if a.name.lower() == b.name.lower() or other.name.lower() not in _lower_columns(b):
        return None
    pairs = set(_key_pairs(a, b))
    return (other, *pairs.pop()) if len(pairs) == 1 else None


def _identifier(name: str, dialect: str) -> exp.Identifier:
    """A column name as the schema spells it, quoted where the dialect would fold it."""
    return exp.to_identifier(name, quoted=quote_identifier(name, dialect) != name)


def _join_named_table(scope: Scope, qualifier: str, name: str, schema: Schema, dialect: str,
                      offered: dict[str, set[str]], joined: dict[tuple[str, str], str],
                      outer: set[str]) -> str | None:
    """``FROM Jidouka WHERE Department.DepartmentName = 'DC2'``: a table named, never joined.

    When exactly one table of the query has a foreign key to the named table, that key is
    the join the model left out (many-to-one: no rows are added). A table reached only
    through a link table (many-to-many) is left to the model, which the retry hint tells
    the way.
    """
    target = schema.table(qualifier)
    if target is None or name not in _lower_columns(target):
        return None
    via = []
    for alias, source in scope.sources.items():
        table = schema.table(source.name) if isinstance(source, exp.Table) else None
        if table is not None and any(
                len(fk.columns) == 1 and fk.ref_table.lower() == target.name.lower()
                for fk in table.foreign_keys):
            via.append(alias)
    if len(via) != 1:
        return None
    return _complete_join(scope, via[0], name, schema, dialect, offered, joined, outer,
                          only=target.name)


def _complete_join(scope: Scope, alias: str, name: str, schema: Schema, dialect: str,
                   offered: dict[str, set[str]], joined: dict[tuple[str, str], str],
                   outer: set[str], only: str | None = None) -> str | None:
    """Join the table that ``alias``'s foreign key points at when only it has ``name``.

    ``Has_Pet AS T1 ... T1.fname``: the pet link has no names, but its StuID references
    Student, which has ``fname``. Following a many-to-one foreign key adds no rows, so
    the (left) join only brings in the attribute the query was reaching for and keeps
    rows whose key is empty. Returns the new table's alias; several columns reaching the
    same table share one join.
    """
    source = scope.sources.get(alias)
    table = schema.table(source.name) if isinstance(source, exp.Table) else None
    if table is None:
        return None
    targets = []
    for fk in table.foreign_keys:
        target = schema.table(fk.ref_table)
        if len(fk.columns) == 1 and target is not None and name in _lower_columns(target) \
                and (only is None or target.name.lower() == only.lower()):
            targets.append((fk.columns[0], target, fk.ref_columns[0]))
    if len(targets) != 1:
        return None
    fk_column, target, ref_column = targets[0]
    done = joined.get((alias, target.name))
    if done is not None:
        return done
    target_columns = _lower_columns(target)
    # a bare column the new table also has would become ambiguous: name the one table
    # that has it now (``COUNT(DISTINCT JidoukaId)`` -> ``JidoukaTool.JidoukaId``)
    bare = [c for c in _own_columns(scope) if not c.table and c.name.lower() in target_columns]
    owners = [[a for a, cols in offered.items() if c.name.lower() in cols] for c in bare]
    if any(len(found) != 1 for found in owners):
        return None
    for column, (owner,) in zip(bare, owners, strict=True):
        column.set("table", exp.to_identifier(owner))
    taken = {a.lower() for a in offered} | outer
    new = target.name
    n = 1
    while new.lower() in taken:
        n += 1
        new = f"{target.name}_{n}"
    q = lambda ident: quote_identifier(ident, schema.dialect)  # noqa: E731
    join = sqlglot.parse_one(
        f"SELECT 1 FROM x LEFT JOIN {q(target.name)} AS {q(new)} "
        f"ON {q(alias)}.{q(fk_column)} = {q(new)}.{q(ref_column)}", read=dialect,
    ).args["joins"][0]
    select = scope.expression
    joins = list(select.args.get("joins") or [])
    position = 0  # right after the table it hangs off, so later ON clauses can use it
    for i, existing in enumerate(joins):
        if existing.this.alias_or_name.lower() == alias.lower():
            position = i + 1
    joins.insert(position, join)
    select.set("joins", joins)
    offered[new] = target_columns
    joined[(alias, target.name)] = new
    return new


def _fix_scope(scope: Scope, schema: Schema, dialect: str) -> int:
    offered: dict[str, set[str]] = {}
    for alias, source in scope.sources.items():
        cols = _source_columns(source, schema)
        if cols is None:
            return 0  # an unknown source could hold any column: don't guess
        offered[alias] = cols
    by_lower = {alias.lower(): alias for alias in offered}
    # ORDER BY cnt may name an output alias rather than a column
    output_aliases = {s.alias.lower() for s in scope.expression.selects
                      if isinstance(s, exp.Alias)}
    outer = _enclosing_names(scope)
    joined: dict[tuple[str, str], str] = {}
    changes = 0
    for column in _own_columns(scope):
        name = column.name.lower()
        if not name or isinstance(column.this, exp.Star) or name in IMPLICIT_COLUMNS:
            continue
        holders = [alias for alias, cols in offered.items() if name in cols]
        qualifier = column.table
        if qualifier:
            alias = by_lower.get(qualifier.lower())
            if alias is None:
                if qualifier.lower() in outer:
                    continue  # a correlated subquery reading the outer query's table
                alias = _alias_of_table(scope, qualifier)
            if alias is None and not holders and (added := _join_named_table(
                    scope, qualifier, name, schema, dialect, offered, joined, outer)):
                column.set("table", exp.to_identifier(added))
                changes += 1
                continue
            if alias is not None and name in offered[alias]:
                if alias != qualifier:
                    column.set("table", exp.to_identifier(alias))
                    changes += 1
                continue
            key = _join_key(column, scope, schema) if alias is not None else None
            pair = _foreign_key_pair(column, scope, schema, holders) \
                if alias is not None and key is None else None
            if key is not None:
                column.set("this", _identifier(key, schema.dialect))
                changes += 1
            elif pair is not None:
                other, mine, theirs = pair
                column.set("this", _identifier(mine, schema.dialect))
                other.set("this", _identifier(theirs, schema.dialect))
                changes += 1
            elif len(holders) == 1 and not _same_alias_both_sides(column, holders[0]):
                column.set("table", exp.to_identifier(holders[0]))
                changes += 1
            elif alias is not None and (added := _complete_join(
                    scope, alias, name, schema, dialect, offered, joined, outer)) is not None:
                column.set("table", exp.to_identifier(added))
                changes += 1
        elif (len(holders) > 1 and name not in output_aliases
              and not _merges_columns(scope.expression) and _tied(scope, holders, name)):
            # joined on this very column: every holder has the same value, any will do
            column.set("table", exp.to_identifier(holders[0]))
            changes += 1
    return changes


def _same_alias_both_sides(column: exp.Column, alias: str) -> bool:
    """Moving the column to ``alias`` would make ``A.x = A.y`` out of a join condition."""
    other = _other_side(column)
    return isinstance(other, exp.Column) and other.table.lower() == alias.lower()


def repair_columns(sql: str, schema: Schema, dialect: str) -> str | None:
    """The query with wrong column qualifiers fixed, or None when nothing needed fixing."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        scopes = traverse_scope(tree)
    except (SqlglotError, RecursionError):
        return None
    changes = 0
    for scope in scopes:
        if isinstance(scope.expression, exp.Select):
            changes += _fix_scope(scope, schema, dialect)
    if not changes:
        return None
    fixed = tree.sql(dialect=dialect)
    log.info("repaired %d column reference(s): %s -> %s", changes, sql, fixed)
    return fixed
