"""The guard's lists (``lists.toml``, ``postgres_functions.txt``), loaded once.

They are data, not code, so that what the guard lets a query reach can be reviewed (and
extended by a pull request) without reading the rules that use them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

_HERE = Path(__file__).parent


def _load() -> dict:
    with open(_HERE / "lists.toml", "rb") as file:
        return tomllib.load(file)


def _names(*blocks: str) -> frozenset[str]:
    return frozenset(name.lower() for block in blocks for name in block.split())


def _lines(name: str) -> frozenset[str]:
    text = (_HERE / name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


_LISTS = _load()
_ALLOWED, _DENIED = _LISTS["allowed"], _LISTS["denied"]

ALLOWED_FUNCTIONS = _names(*_ALLOWED["functions"].values())
ALLOWED_PREFIXES = tuple(_ALLOWED["prefixes"])
BUILTIN_SCHEMAS = frozenset(_ALLOWED["builtin_schemas"])
XML_METHODS = frozenset(_ALLOWED["xml_methods"])
TSQL_TABLE_FUNCTIONS = frozenset(_ALLOWED["tsql_table_functions"])
# On PostgreSQL every call is checked by the name PostgreSQL will see, typed or not: a
# name sqlglot knows from another dialect (``search``, ``transform``, ``read_csv``) is
# no built-in there and would call whatever function of that name the database has.
POSTGRES_BUILTINS = _lines("postgres_functions.txt")

DENIED_FUNCTIONS: dict[str, frozenset[str]] = {
    dialect: _names(block) for dialect, block in _DENIED["functions"].items()}
DENIED_FUNCTION_PREFIXES = tuple(_DENIED["function_prefixes"])
LOCKING_HINTS = frozenset(_DENIED["locking_hints"])
DENIED_OBJECTS = frozenset(_DENIED["objects"])
DENIED_SYS_OBJECTS = frozenset(_DENIED["sys_objects"])
DENIED_SCHEMAS = frozenset(_DENIED["schemas"])
