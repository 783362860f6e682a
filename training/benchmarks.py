"""Public text-to-SQL dev sets (Spider, SParC) and JSONL files as evaluation items.

The quirks of ../shared/benchmarks are handled here, once: the missing ``wta_1``
database, SParC's split comparison operators, and gold queries that do not run (left
out of scoring by the evaluator, which executes every gold query first).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot.errors import SqlglotError

MISSING_DATABASES = frozenset({"wta_1"})
_SPLIT_OPERATOR = re.compile(r"([!<>])\s+=")


@dataclass(frozen=True)
class EvalItem:
    db: str  # a database id under the data dir, or a database URL
    question: str
    sql: str
    interaction: int | None = None
    turn: int = 0


def fix_gold(sql: str) -> str:
    """Rejoin operators SParC's tokeniser split (``! =``, ``> =``, ``< =``)."""
    return _SPLIT_OPERATOR.sub(r"\1=", sql)


def gold_is_ordered(sql: str) -> bool:
    """Whether the outermost query orders its rows (then order matters when scoring)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except SqlglotError:
        return "order by" in sql.lower()
    return tree.args.get("order") is not None


def database_url(data_dir: Path, db: str) -> str:
    if "://" in db:
        return db
    for folder in ("spider", "sparc"):
        path = Path(data_dir) / folder / "database" / db / f"{db}.sqlite"
        if path.exists():
            return f"sqlite:///{path}"
    raise FileNotFoundError(f"no SQLite file for database {db!r} under {data_dir}")


def load_spider(data_dir: Path) -> list[EvalItem]:
    items = json.loads((Path(data_dir) / "spider" / "dev.json").read_text())
    return [EvalItem(i["db_id"], i["question"], i["query"]) for i in items
            if i["db_id"] not in MISSING_DATABASES]


def load_sparc(data_dir: Path) -> list[list[EvalItem]]:
    interactions = json.loads((Path(data_dir) / "sparc" / "dev.json").read_text())
    out = []
    for n, inter in enumerate(interactions):
        if inter["database_id"] in MISSING_DATABASES:
            continue
        out.append([EvalItem(inter["database_id"], turn["utterance"], fix_gold(turn["query"]),
                             interaction=n, turn=t)
                    for t, turn in enumerate(inter["interaction"])])
    return out


def load_jsonl(path: Path) -> list[EvalItem]:
    items = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            items.append(EvalItem(item["db"], item["question"], item["sql"]))
    return items


def spread(items: list, limit: int | None) -> list:
    """A fixed, evenly spread sample, so that runs with the same limit are comparable."""
    if not limit or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
