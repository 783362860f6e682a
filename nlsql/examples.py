"""Worked examples per database: verified answers, corrections and imported pairs.

They take effect at once: every question retrieves the most similar stored examples of
its database and shows them to the model as earlier question/SQL turns. The ranking is
lexical (TF-IDF over words and word pairs), which needs no second model in memory and
is measured by ``askdb eval --learn-split``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from .prompting import Example

SOURCES = ("verified", "correction", "imported")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "a an the of in on at to for by with and or is are was were be been do does did what "
    "which who whom whose how many much show list give find tell me all each every that "
    "those these this there their its it as from than please".split()
)

metadata = sa.MetaData()
examples_table = sa.Table(
    "askdb_examples", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("database", sa.String(300), nullable=False, index=True),
    sa.Column("question", sa.UnicodeText, nullable=False),
    sa.Column("sql", sa.UnicodeText, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("history", sa.UnicodeText, nullable=False, default="[]"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def database_key(url: str) -> str:
    """A stable name for a database URL, without its password."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:{Path(parsed.database or '').name}"
    return parsed.set(password=None).render_as_string(hide_password=True)


def terms(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass(frozen=True)
class StoredExample:
    question: str
    sql: str
    source: str


class ExampleRanker:
    """TF-IDF cosine ranking over one database's examples."""

    def __init__(self, examples: Sequence[StoredExample]) -> None:
        self.examples = list(examples)
        self.vectors = [Counter(terms(e.question)) for e in self.examples]
        df = Counter(t for v in self.vectors for t in v)
        n = len(self.examples)
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self.norms = [self._norm(v) for v in self.vectors]

    def _norm(self, vector: Counter) -> float:
        return math.sqrt(sum((c * self.idf.get(t, 0.0)) ** 2 for t, c in vector.items())) or 1.0

    def top(self, question: str, k: int, min_score: float = 0.05) -> list[StoredExample]:
        query = Counter(terms(question))
        qnorm = self._norm(query)
        scored = []
        for i, vector in enumerate(self.vectors):
            dot = sum(c * vector[t] * self.idf.get(t, 0.0) ** 2 for t, c in query.items()
                      if t in vector)
            score = dot / (qnorm * self.norms[i])
            if score >= min_score:
                scored.append((score, -i, self.examples[i]))
        scored.sort(reverse=True)
        seen, out = set(), []
        for _, _, example in scored:  # one example per distinct query
            if example.sql not in seen:
                seen.add(example.sql)
                out.append(example)
            if len(out) == k:
                break
        return out


class ExampleStore:
    """Examples on SQLAlchemy (the state database), ranked per question."""

    def __init__(self, url_or_engine: str | sa.Engine) -> None:
        self.engine = url_or_engine if isinstance(url_or_engine, sa.Engine) else \
            sa.create_engine(url_or_engine, pool_pre_ping=True)
        metadata.create_all(self.engine)
        self._cache: dict[str, tuple[tuple, ExampleRanker]] = {}
        self._lock = threading.Lock()

    def add(self, database: str, question: str, sql: str, source: str,
            history: Sequence[dict] = ()) -> int:
        if source not in SOURCES:
            raise ValueError(f"unknown example source {source!r}")
        row = {"database": database, "question": question.strip(), "sql": sql.strip(),
               "source": source, "history": json.dumps(list(history), ensure_ascii=False),
               "created_at": dt.datetime.now(dt.UTC)}
        with self.engine.begin() as conn:
            return int(conn.execute(examples_table.insert().values(**row))
                       .inserted_primary_key[0])

    def all(self, database: str | None = None) -> list[dict]:
        query = sa.select(examples_table).order_by(examples_table.c.id)
        if database is not None:
            query = query.where(examples_table.c.database == database)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def delete(self, ids: Sequence[int]) -> int:
        """Remove examples by id; how many there were. Retrieval sees it at once."""
        with self.engine.begin() as conn:
            removed = conn.execute(examples_table.delete().where(
                examples_table.c.id.in_(list(ids)))).rowcount
        with self._lock:
            self._cache.clear()
        return int(removed or 0)

    def count(self, database: str, after_id: int = 0) -> int:
        """Examples of the database added after ``after_id`` (what training has not seen)."""
        query = sa.select(sa.func.count()).select_from(examples_table).where(
            examples_table.c.database == database, examples_table.c.id > after_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def _ranker(self, database: str) -> ExampleRanker:
        """Rebuilt only when the database's examples changed (rows added or deleted, by
        this process or another: `askdb examples delete` beside a running server)."""
        with self.engine.connect() as conn:
            newest = tuple(conn.execute(sa.select(
                sa.func.max(examples_table.c.id), sa.func.count()).where(
                examples_table.c.database == database)).one())
        with self._lock:
            cached = self._cache.get(database)
            if cached and cached[0] == newest:
                return cached[1]
        rows = self.all(database)
        # a correction outranks an older verified answer to the same question
        latest: dict[str, StoredExample] = {}
        for r in rows:
            latest[r["question"].lower()] = StoredExample(r["question"], r["sql"], r["source"])
        ranker = ExampleRanker(list(latest.values()))
        with self._lock:
            self._cache[database] = (newest, ranker)
        return ranker

    def similar(self, database: str, question: str, k: int = 3) -> list[Example]:
        return [Example(e.question, e.sql) for e in self._ranker(database).top(question, k)]
