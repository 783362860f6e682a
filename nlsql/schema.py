"""Database schema reflection and its text form for prompts.

The model only sees what this module writes, so it carries what a person would need to
write the query: types, keys, and a few real values of short text columns (the model
cannot guess that a department is spelled 'DC2').
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SAMPLE_VALUES = 4
SAMPLE_MAX_LEN = 40


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    primary_key: bool = False
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Schema:
    dialect: str
    tables: tuple[Table, ...] = field(default_factory=tuple)
    # PostgreSQL: names of the database's own functions (not pg_catalog's), which a
    # query can reach without a call in its text (``t.f`` is ``f(t)``); None: not read
    functions: frozenset[str] | None = None

    def table(self, name: str) -> Table | None:
        low = name.lower()
        return next((t for t in self.tables if t.name.lower() == low), None)

    @property
    def table_names(self) -> set[str]:
        return {t.name.lower() for t in self.tables}

    @property
    def columns_by_table(self) -> dict[str, list[str]]:
        """What the guard checks ``t.name`` against (lower-cased table names)."""
        return {t.name.lower(): t.column_names for t in self.tables}


def _is_short_text(col_type: sa.types.TypeEngine) -> bool:
    if not isinstance(col_type, sa.String):
        return False
    length = getattr(col_type, "length", None)
    return length is None or length <= 200


def _samples(conn: sa.Connection, table: sa.Table, column: sa.Column) -> tuple[str, ...]:
    query = (
        sa.select(column)
        .where(column.is_not(None))
        .group_by(column)
        .order_by(sa.func.count().desc(), column)
        .limit(SAMPLE_VALUES + 1)
    )
    try:
        values = [r[0] for r in conn.execute(query)]
    except sa.exc.SQLAlchemyError:
        return ()
    texts = [str(v) for v in values if isinstance(v, str)]
    if not texts or any(len(v) > SAMPLE_MAX_LEN or "\n" in v for v in texts):
        return ()
    return tuple(texts[:SAMPLE_VALUES])


def reflect_schema(engine: Engine, with_samples: bool = True) -> Schema:
    """Read tables, columns, keys and sample values through SQLAlchemy."""
    inspector = sa.inspect(engine)
    metadata = sa.MetaData()
    tables: list[Table] = []
    with engine.connect() as conn:
        for name in sorted(inspector.get_table_names()):
            pk = set(inspector.get_pk_constraint(name).get("constrained_columns") or [])
            sa_table = sa.Table(name, metadata, autoload_with=conn)
            columns = []
            for col in sa_table.columns:
                samples = ()
                if with_samples and col.name not in pk and _is_short_text(col.type):
                    samples = _samples(conn, sa_table, col)
                columns.append(Column(col.name, _type_name(col.type), col.name in pk, samples))
            fks = tuple(
                ForeignKey(
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in inspector.get_foreign_keys(name)
                if fk.get("referred_table")
            )
            tables.append(Table(name, tuple(columns), fks))
        functions = _user_functions(conn) if engine.dialect.name == "postgresql" else None
        conn.rollback()
    return Schema(dialect=engine.dialect.name, tables=tuple(tables), functions=functions)


# every function outside PostgreSQL's own schemas (a superset of what a query can reach)
POSTGRES_USER_FUNCTIONS = (
    "SELECT DISTINCT p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "
    "ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')")


def _user_functions(conn: sa.Connection) -> frozenset[str]:
    return frozenset(str(name).lower()
                     for (name,) in conn.exec_driver_sql(POSTGRES_USER_FUNCTIONS))


def _type_name(col_type: sa.types.TypeEngine) -> str:
    try:
        return str(col_type).split("(")[0] or "TEXT"
    except Exception:  # some dialect types cannot render without a dialect
        return type(col_type).__name__.upper()


def quote_literal(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_identifier(name: str, dialect: str) -> str:
    """The name as the model must write it: quoted only where the dialect needs it.

    ``dialect`` may be SQLAlchemy's name or sqlglot's (ODBC databases know the latter).
    """
    dialect = {"postgres": "postgresql", "tsql": "mssql"}.get(dialect, dialect)
    needs = not _PLAIN.match(name) or (dialect == "postgresql" and name != name.lower())
    if not needs:
        return name
    if dialect == "mssql":
        return "[" + name.replace("]", "]]") + "]"
    if dialect in ("mysql", "mariadb"):
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def schema_text(schema: Schema) -> str:
    """The schema as compact CREATE TABLE statements.

    Single-column foreign keys are written inline (``REFERENCES T(c)``) on the column
    itself, and sample values as a comment on their column: a small model reads what is
    on the line it is looking at far better than a constraint listed further down.
    """
    q = lambda name: quote_identifier(name, schema.dialect)  # noqa: E731
    blocks = []
    for table in schema.tables:
        pk = [c.name for c in table.columns if c.primary_key]
        inline = {fk.columns[0]: fk for fk in table.foreign_keys if len(fk.columns) == 1}
        parts: list[tuple[str, str]] = []  # (definition, comment)
        for col in table.columns:
            line = f"{q(col.name)} {col.type}"
            if col.primary_key and len(pk) == 1:
                line += " PRIMARY KEY"
            if col.name in inline:
                fk = inline[col.name]
                line += f" REFERENCES {q(fk.ref_table)}({q(fk.ref_columns[0])})"
            comment = ("e.g. " + ", ".join(map(quote_literal, col.samples))
                       if col.samples else "")
            parts.append((line, comment))
        if len(pk) > 1:
            parts.append((f"PRIMARY KEY ({', '.join(map(q, pk))})", ""))
        for fk in table.foreign_keys:
            if len(fk.columns) > 1:
                parts.append((
                    f"FOREIGN KEY ({', '.join(map(q, fk.columns))}) REFERENCES "
                    f"{q(fk.ref_table)}({', '.join(map(q, fk.ref_columns))})", ""))
        lines = []
        for i, (definition, comment) in enumerate(parts):
            sep = "," if i < len(parts) - 1 else ""
            lines.append(f"  {definition}{sep}" + (f"  -- {comment}" if comment else ""))
        blocks.append(f"CREATE TABLE {q(table.name)} (\n" + "\n".join(lines) + "\n);")
    return "\n".join(blocks)


class SchemaCache:
    """Reflection costs seconds on big databases: done once, on first use, per process.

    Databases (SQLAlchemy or ODBC) inherit this and say how to read their schema.
    """

    _schema: Schema | None = None
    _schema_text: str | None = None

    def _reflect(self) -> Schema:
        raise NotImplementedError

    def schema(self) -> Schema:
        with self._schema_lock:
            if self._schema is None:
                self._schema = self._reflect()
                self._schema_text = schema_text(self._schema)
            return self._schema

    def schema_text(self) -> str:
        with self._schema_lock:  # re-entrant: schema() takes it too
            self.schema()
            assert self._schema_text is not None
            return self._schema_text

    def refresh_schema(self) -> None:
        with self._schema_lock:
            self._schema = self._schema_text = None

    @property
    def _schema_lock(self):
        lock = self.__dict__.get("_lock_for_schema")
        if lock is None:
            lock = self.__dict__.setdefault("_lock_for_schema", threading.RLock())
        return lock
