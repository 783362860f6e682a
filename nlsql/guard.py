"""SqlGuard: decides on the parsed tree whether a statement may run, and how.

Every rule is a small function over the sqlglot syntax tree (never over the SQL text),
so each can be read and tested alone. A statement passes only if no rule objects; it
then leaves transpiled to the target dialect and capped in rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .errors import Mistake, SqlRejected
from .guard_columns import rule_attribute_calls
from .guard_functions import (
    ALLOWED_FUNCTIONS,
    ALLOWED_PREFIXES,
    BUILTIN_SCHEMAS,
    POSTGRES_BUILTINS,
    TSQL_TABLE_FUNCTIONS,
    XML_METHODS,
    called_name,
    func_name,
)
from .guard_scopes import normalized_scopes
from .guard_sizes import bound_data_sizes, rule_bounded_sizes
from .schema import Schema

DEFAULT_MAX_ROWS = 1000

SQLALCHEMY_TO_SQLGLOT = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mssql": "tsql",
    "tsql": "tsql",
    "mysql": "mysql",
    "mariadb": "mysql",
}

# Statements and clauses that write, change session or server state, or reach outside.
WRITE_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
    exp.TruncateTable, exp.Copy, exp.Command, exp.Pragma, exp.Attach, exp.Detach,
    exp.Set, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Grant, exp.Revoke,
    exp.Kill, exp.LoadData, exp.Execute, exp.Declare, exp.Comment, exp.Analyze,
    exp.Cache, exp.Uncache, exp.Refresh, exp.Into, exp.Lock, exp.NextValueFor,
)

# Functions that read files, run commands, sleep, reach other servers or change state.
DENIED_FUNCTIONS: dict[str, frozenset[str]] = {
    "common": frozenset({
        "sleep", "benchmark", "load_file", "sys_exec", "sys_eval", "get_lock",
        "release_lock", "release_all_locks",
    }),
    "sqlite": frozenset({
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
        "sqlar_compress", "sqlar_uncompress", "fsdir",
    }),
    "postgres": frozenset({
        "pg_sleep", "pg_sleep_for", "pg_sleep_until", "lo_import", "lo_export", "lo_open",
        "lo_create", "lo_unlink", "lo_put", "lo_from_bytea", "lo_get", "set_config",
        "nextval", "setval", "query_to_xml", "query_to_xml_and_xmlschema", "table_to_xml",
        "cursor_to_xml", "database_to_xml", "schema_to_xml", "current_setting",
        "txid_current", "pg_current_xact_id", "pg_notify", "pg_stat_file",
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_switch_wal", "pg_promote", "pg_create_restore_point", "pg_log_backend_memory_contexts",
        "copy", "inet_server_addr", "version",
        # what exists outside the schema askdb was given: other schemas' tables (any oid
        # cast ::regclass), roles, privileges, comments on any object
        "to_regclass", "to_regrole", "to_regnamespace", "to_regproc", "to_regprocedure",
        "to_regtype", "to_regoper", "to_regoperator", "to_regcollation",
        "obj_description", "col_description", "shobj_description", "current_schemas",
        "getpgusername", "session_user", "current_user", "current_role",
    }),
    "tsql": frozenset({
        "openrowset", "openquery", "opendatasource", "openxml", "sp_executesql",
        "xp_cmdshell", "xp_dirtree", "xp_fileexist", "xp_regread", "sp_oacreate",
        "sp_configure", "fn_xe_file_target_read_file", "fn_get_audit_file", "fn_dblog",
        "bulk", "pwdencrypt", "pwdcompare", "loginproperty",
    }),
}
DENIED_FUNCTION_PREFIXES = (
    "pg_read_", "pg_ls_", "pg_file_", "pg_advisory", "pg_try_advisory", "pg_logical_",
    "pg_replication_", "pg_create_", "pg_drop_", "pg_import_", "pg_backup_",
    "pg_start_backup", "pg_stop_backup", "pg_stat_reset", "pg_wal_replay_", "dblink", "lo_",
    "has_",  # PostgreSQL's has_table_privilege(...) and kin: probes of other objects
    "xp_", "sp_",
    "pragma_",  # SQLite's table-valued pragmas: file paths, compile options, no answers
)
# SQL Server table hints that take or hold locks: a read that blocks everyone's writes.
LOCKING_HINTS = frozenset({
    "tablock", "tablockx", "updlock", "xlock", "holdlock", "paglock", "rowlock",
    "serializable", "repeatableread", "readcommittedlock",
})

# Catalogs that hold credentials or other sessions' queries: never readable, anywhere.
DENIED_OBJECTS = frozenset({
    "pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_largeobject",
    "pg_hba_file_rules", "pg_file_settings", "pg_stat_activity", "pg_ident_file_mappings",
    "pg_settings", "pg_roles", "pg_auth_members",
    "syslogins", "sysxlogins", "sysprocesses", "sysoledbusers", "sysremotelogins",
})
# Generic names that are only catalogs inside SQL Server's sys schema.
DENIED_SYS_OBJECTS = frozenset({
    "sql_logins", "server_principals", "credentials", "linked_logins",
    "database_scoped_credentials", "master_key_passwords", "dm_exec_sessions",
    "dm_exec_connections", "dm_exec_requests", "dm_exec_sql_text", "symmetric_keys",
    "asymmetric_keys", "certificates", "server_role_members", "servers",
})
DENIED_SCHEMAS = frozenset({"mysql"})

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class GuardContext:
    dialect: str
    known_tables: frozenset[str] | None = None
    extra_functions: frozenset[str] = frozenset()  # ASKDB_ALLOWED_FUNCTIONS
    # lower-cased table name -> its column names as the database spells them
    known_columns: Mapping[str, frozenset[str]] | None = None
    # PostgreSQL: the database's own function names, lower-cased (None: not known)
    user_functions: frozenset[str] | None = None


@dataclass(frozen=True)
class GuardedSql:
    """A statement the guard let through, as it will run."""

    sql: str
    dialect: str
    capped: bool
    max_rows: int
    tables: tuple[str, ...] = field(default_factory=tuple)
    # The statement as it was written and checked, without the row cap. Thread history,
    # worked examples and training keep this: a model shown its earlier queries with
    # ``LIMIT 100000`` appended learns to write the guard's cap as its own.
    written: str = ""

    @property
    def query(self) -> str:
        """What to remember of this statement: as written, or as run when unknown."""
        return self.written or self.sql


Rule = Callable[[exp.Expression, GuardContext], "str | None"]


_DEFAULT_SCHEMAS = {"postgres": ("public",), "tsql": ("dbo",), "sqlite": ("main",)}
# Dialects where a CTE may name itself without RECURSIVE (recursion, not the table).
_RECURSIVE_WITHOUT_KEYWORD = frozenset({"tsql", "sqlite"})


def _real_tables(tree: exp.Expression, dialect: str) -> list[exp.Table]:
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


def rule_table_shape(tree: exp.Expression, ctx: GuardContext) -> str | None:
    """A table is a name or a table function; ``server.db.schema.table`` is neither."""
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier | exp.Func):
            return f"the table reference {table.sql(ctx.dialect)} is not allowed"
    return None


def rule_denied_objects(tree: exp.Expression, ctx: GuardContext) -> str | None:
    for table in _real_tables(tree, ctx.dialect):
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
    for table in _real_tables(tree, ctx.dialect):
        if table.catalog:
            return f"cross-database reference {table.sql()} is not allowed"
        # the schema askdb reflects is the database's default one: hr.t is another table
        if table.db and table.db.lower() not in _DEFAULT_SCHEMAS.get(ctx.dialect, ()):
            return f"the table {table.sql(dialect=ctx.dialect)} is outside the schema askdb reads"
        if table.name.lower() not in ctx.known_tables:
            return Mistake(f"the table {table.name} is not part of this database")
    return None


RULES: tuple[Rule, ...] = (
    rule_is_query,
    rule_no_writes,
    rule_table_shape,
    rule_functions,
    rule_no_variables,
    rule_user_operators_and_types,
    rule_denied_objects,
    rule_known_tables,
    rule_attribute_calls,
    rule_bounded_sizes,
)


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Limit):
        options = node.args.get("limit_options")
        if options is not None and (options.args.get("percent")
                                    or options.args.get("with_ties")):
            return None  # TOP 100 PERCENT, TOP 1 WITH TIES: not a row count
        node = node.expression
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def cap_rows(tree: exp.Query, max_rows: int) -> tuple[exp.Query, bool]:
    """Put a row cap on the outermost query; keep a smaller literal limit as it is."""
    limit = tree.args.get("limit")
    fetch = tree.args.get("fetch") if not limit else None
    if fetch is not None:
        wrapped = exp.select("*").from_(tree.subquery("capped"))
        return wrapped.limit(max_rows), True
    if limit is None:
        return tree.limit(max_rows, copy=False), True
    value = _literal_int(limit)
    if value is not None and value <= max_rows:
        return tree, False
    if value is not None:
        return tree.limit(max_rows, copy=False), True
    wrapped = exp.select("*").from_(tree.subquery("capped"))
    return wrapped.limit(max_rows), True


def as_written(sql: str) -> str:
    """One statement's text without the whitespace and semicolons around it."""
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


class SqlGuard:
    """Parse, check and rewrite one statement for a target dialect."""

    def __init__(
        self,
        dialect: str,
        known_tables: Iterable[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        rules: tuple[Rule, ...] = RULES,
        extra_functions: Iterable[str] = (),
        known_columns: Mapping[str, Iterable[str]] | None = None,
        user_functions: Iterable[str] | None = None,
    ) -> None:
        self.dialect = SQLALCHEMY_TO_SQLGLOT.get(dialect, dialect)
        tables = None if known_tables is None else frozenset(t.lower() for t in known_tables)
        columns = None if known_columns is None else {
            t.lower(): frozenset(c) for t, c in known_columns.items()}
        functions = None if user_functions is None else frozenset(
            f.lower() for f in user_functions)
        self.context = GuardContext(self.dialect, tables,
                                    frozenset(f.lower() for f in extra_functions), columns,
                                    functions)
        self.max_rows = max_rows
        self.rules = rules

    @classmethod
    def for_schema(cls, dialect: str, schema: Schema, max_rows: int = DEFAULT_MAX_ROWS,
                   extra_functions: Iterable[str] = ()) -> SqlGuard:
        """A guard that knows a database's tables, their columns and its functions."""
        return cls(dialect, schema.table_names, max_rows, extra_functions=extra_functions,
                   known_columns=schema.columns_by_table, user_functions=schema.functions)

    def parse(self, sql: str) -> exp.Expression:
        if not sql or not sql.strip():
            raise SqlRejected("the statement is empty")
        # a NUL ends the statement early in libpq: what runs is not what was checked
        if _CONTROL.search(sql):
            raise SqlRejected("it contains control characters")
        try:
            statements = [s for s in sqlglot.parse(sql, read=self.dialect) if s is not None]
        except SqlglotError as err:
            first = str(err).splitlines()[0] if str(err) else "syntax error"
            raise SqlRejected(f"it is not valid SQL ({first})") from err
        if len(statements) != 1:
            raise SqlRejected(f"exactly one statement is allowed, got {len(statements)}")
        return statements[0]

    def check(self, sql: str) -> GuardedSql:
        """Return the SQL as it will run, or raise :class:`SqlRejected`."""
        try:
            return self._check(sql)
        except RecursionError as err:  # rules and SQL generation recurse over the tree
            raise SqlRejected("it is nested too deeply to check") from err

    def _check(self, sql: str) -> GuardedSql:
        tree = self.parse(sql)
        for rule in self.rules:
            reason = rule(tree, self.context)
            if reason:
                raise SqlRejected(reason, mistake=isinstance(reason, Mistake))
        assert isinstance(tree, exp.Query)
        bound_data_sizes(tree)
        capped_tree, capped = cap_rows(tree, self.max_rows)
        try:
            out = capped_tree.sql(dialect=self.dialect)
        except SqlglotError as err:
            raise SqlRejected(f"it cannot be written in {self.dialect} ({err})") from err
        tables = tuple(sorted({t.name for t in _real_tables(tree, self.dialect)}))
        return GuardedSql(out, self.dialect, capped, self.max_rows, tables, as_written(sql))
