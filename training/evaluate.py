"""Execution accuracy: run the model's SQL and the gold SQL, compare the results.

One evaluator serves the benchmarks (``askdb eval``), JSONL files of {db, question, sql}
and the gate that decides whether a retrained adapter is promoted.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from nlsql import (
    Answerer,
    AskdbError,
    Example,
    GuardedSql,
    HistoryTurn,
    ReadOnlyDatabase,
    Text2Sql,
    Text2SqlModel,
)
from nlsql.compare import same_result
from nlsql.examples import ExampleRanker, StoredExample

from .benchmarks import EvalItem, database_url, gold_is_ordered

EVAL_MAX_ROWS = 100_000


@dataclass
class Scored:
    item: EvalItem
    predicted: str | None
    correct: bool
    error: str | None
    seconds: float
    gold_ok: bool = True
    written: str | None = None  # the query without the row cap: a follow-up's history

    def to_json(self) -> dict:
        return {"db": self.item.db, "question": self.item.question, "gold": self.item.sql,
                "interaction": self.item.interaction, "turn": self.item.turn,
                "predicted": self.predicted, "correct": self.correct, "error": self.error,
                "seconds": round(self.seconds, 3), "gold_ok": self.gold_ok}


@dataclass
class Evaluator:
    model: Text2SqlModel
    data_dir: Path
    retries: int = 1
    max_new_tokens: int = 256
    timeout_s: float = 30.0
    progress_file: Path | None = None  # every scored item is appended here at once
    model_answers: bool = False  # phrase answers with the model (the benchmark times it)
    link_values: bool = True  # ASKDB_VALUE_LINKING, so scores describe what serving does
    _engines: dict[str, Text2Sql] = field(default_factory=dict)

    def engine(self, db: str) -> Text2Sql:
        if db not in self._engines:
            database = ReadOnlyDatabase(database_url(self.data_dir, db), self.timeout_s)
            self._engines[db] = Text2Sql(
                database, self.model, Answerer(self.model, use_model=self.model_answers),
                max_rows=EVAL_MAX_ROWS, max_new_tokens=self.max_new_tokens,
                retries=self.retries, link_values=self.link_values)
        return self._engines[db]

    def gold(self, item: EvalItem):
        database = self.engine(item.db).database
        return database.run(GuardedSql(item.sql, database.dialect, False, EVAL_MAX_ROWS))

    def score(self, item: EvalItem, history: Sequence[HistoryTurn] = (),
              examples: Sequence[Example] = ()) -> Scored:
        scored = self._score(item, history, examples)
        if self.progress_file is not None:  # a long run stopped early keeps what it did
            with self.progress_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps({**scored.to_json(), "examples": len(examples)},
                                     ensure_ascii=False) + "\n")
        return scored

    def _score(self, item: EvalItem, history: Sequence[HistoryTurn],
               examples: Sequence[Example]) -> Scored:
        try:
            gold = self.gold(item)
        except AskdbError as err:
            return Scored(item, None, False, f"gold does not run: {err.user_message}", 0.0,
                          gold_ok=False)
        started = time.perf_counter()
        answer = self.engine(item.db).ask(item.question, history, examples)
        seconds = time.perf_counter() - started
        correct = answer.table is not None and same_result(
            gold.rows, answer.table.rows, gold_is_ordered(item.sql))
        return Scored(item, answer.sql, correct, answer.error, seconds, written=answer.query)


def _summary(scored: Sequence[Scored], **extra) -> dict:
    counted = [s for s in scored if s.gold_ok]
    seconds = [s.seconds for s in counted]
    return {
        "n": len(counted),
        "ex": round(sum(s.correct for s in counted) / len(counted), 4) if counted else 0.0,
        "seconds_per_question": round(statistics.mean(seconds), 3) if seconds else 0.0,
        "median_seconds": round(statistics.median(seconds), 3) if seconds else 0.0,
        "skipped_gold": len(scored) - len(counted),
        **extra,
    }


def evaluate_items(evaluator: Evaluator, items: Sequence[EvalItem],
                   examples_for: Callable[[EvalItem], Sequence[Example]] | None = None,
                   desc: str = "questions") -> tuple[list[Scored], dict]:
    scored = []
    bar = tqdm(items, desc=desc, unit="q")
    for item in bar:
        scored.append(evaluator.score(item, (), examples_for(item) if examples_for else ()))
        bar.set_postfix(ex=f"{sum(s.correct for s in scored) / len(scored):.1%}")
    return scored, _summary(scored)


def evaluate_interactions(evaluator: Evaluator, interactions: Sequence[Sequence[EvalItem]]
                          ) -> tuple[list[Scored], dict]:
    """SParC: every turn asked in one thread, with history exactly as in chat."""
    scored: list[Scored] = []
    complete = 0
    bar = tqdm(interactions, desc="interactions", unit="int")
    for interaction in bar:
        history: list[HistoryTurn] = []
        turns = []
        for item in interaction:
            result = evaluator.score(item, history)
            turns.append(result)
            if result.predicted and result.error is None:
                history.append(HistoryTurn(item.question, result.written or result.predicted))
        scored.extend(turns)
        counted = [t for t in turns if t.gold_ok]
        complete += bool(counted) and all(t.correct for t in counted)
        bar.set_postfix(qm=f"{_summary(scored)['ex']:.1%}")
    summary = _summary(scored)
    summary["qm"] = summary["ex"]
    summary["im"] = round(complete / len(interactions), 4) if interactions else 0.0
    summary["interactions"] = len(interactions)
    return scored, summary


def learn_split(items: Sequence[EvalItem], fraction: float
                ) -> tuple[list[EvalItem], list[EvalItem]]:
    """Per database, split by gold query so paraphrases never fall on both sides."""
    groups: dict[tuple[str, str], list[EvalItem]] = defaultdict(list)
    for item in items:
        groups[(item.db, " ".join(item.sql.lower().split()))].append(item)
    by_db: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in groups:
        by_db[key[0]].append(key)
    learn, test = [], []
    for keys in by_db.values():
        keys.sort(key=lambda k: hashlib.sha1("|".join(k).encode()).hexdigest())
        cut = round(len(keys) * fraction)
        for i, key in enumerate(keys):
            (learn if i < cut else test).extend(groups[key])
    return learn, test


def example_lookup(learn: Iterable[EvalItem], k: int = 3):
    """item -> the k most similar learned examples of its database."""
    rankers: dict[str, ExampleRanker] = {}
    per_db: dict[str, list[StoredExample]] = defaultdict(list)
    for item in learn:
        per_db[item.db].append(StoredExample(item.question, item.sql, "verified"))
    for db, examples in per_db.items():
        rankers[db] = ExampleRanker(examples)

    def lookup(item: EvalItem) -> list[Example]:
        ranker = rankers.get(item.db)
        return [] if ranker is None else [Example(e.question, e.sql)
                                          for e in ranker.top(item.question, k)]
    return lookup


def write_results(folder: Path, scored: Sequence[Scored], summary: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as out:
        for s in scored:
            out.write(json.dumps(s.to_json(), ensure_ascii=False) + "\n")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return folder
