"""Choosing the tables a question needs when the whole schema is too big for the prompt.

Real company databases have hundreds of tables. Tables are ranked by how much of the
question their names, columns and sample values cover; the best ones are kept with their
foreign-key neighbours (the joins between them), until the schema text fits the budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .schema import Schema, Table

_WORDS = re.compile(r"[A-Za-z]+|\d+|[^\W\d_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
MIN_TABLES = 3


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ies", "es", "s"):
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words(text: str) -> set[str]:
    spaced = _CAMEL.sub(" ", text).replace("_", " ")
    return {_stem(w) for w in _WORDS.findall(spaced) if len(w) > 1}


def relevance(table: Table, question_words: set[str]) -> float:
    name = words(table.name)
    score = 3.0 * len(name & question_words)
    for column in table.columns:
        score += 1.0 * len(words(column.name) & question_words)
        for value in column.samples:
            if words(value) and words(value) <= question_words:
                score += 2.0
    return score


def _neighbours(schema: Schema, table: Table) -> list[str]:
    out = [fk.ref_table for fk in table.foreign_keys]
    out += [t.name for t in schema.tables
            if any(fk.ref_table.lower() == table.name.lower() for fk in t.foreign_keys)]
    return out


def select_tables(schema: Schema, question: str, fits: Callable[[Schema], bool]) -> Schema:
    """The most relevant tables (and their join partners) whose text ``fits``."""
    if fits(schema):
        return schema
    question_words = words(question)
    ranked = sorted(schema.tables, key=lambda t: (-relevance(t, question_words), t.name))
    chosen: list[Table] = []

    def subset(tables: list[Table]) -> Schema:
        return Schema(schema.dialect, tuple(sorted(tables, key=lambda t: t.name)),
                      schema.functions)

    def add(table: Table) -> bool:
        if table in chosen:
            return True
        if len(chosen) >= MIN_TABLES and not fits(subset([*chosen, table])):
            return False
        chosen.append(table)
        return True

    for table in ranked:
        if relevance(table, question_words) <= 0 and len(chosen) >= MIN_TABLES:
            break
        if not add(table):
            break
        for name in _neighbours(schema, table):
            neighbour = schema.table(name)
            if neighbour is not None and relevance(neighbour, question_words) > 0:
                add(neighbour)
    # join partners of what was chosen, even without matching words, while room is left
    for table in list(chosen):
        for name in _neighbours(schema, table):
            neighbour = schema.table(name)
            if neighbour is not None and neighbour not in chosen:
                add(neighbour)
    return subset(chosen)
