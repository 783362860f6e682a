"""``askdb bench``: speed per stage and accuracy of the same run, side by side with a baseline.

Speed claims are only worth the benchmark behind them: a fixed question list (the sample
database's gold questions, optionally an evenly spread Spider sample) is run through the
full pipeline after a warm-up, every stage is timed, and the accuracy of the very same
answers is reported, so a speed-up that costs correctness shows at once.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nlsql import HistoryTurn
from nlsql.compare import same_result
from nlsql.db.sample_questions import QUESTIONS
from training.benchmarks import EvalItem
from training.evaluate import Evaluator

STAGES = ("schema", "examples", "prompt", "prefill", "decode", "guard", "execute", "answer",
          "total")
# what the asker waits for in chat: the table is posted before the model's sentence
TO_TABLE = "to_table"


@dataclass(frozen=True)
class BenchItem:
    db: str  # a database URL, or a Spider database id
    question: str
    gold: str
    thread: str | None = None
    ordered: bool = False


@dataclass
class BenchRun:
    label: str
    seconds: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    new_tokens: int = 0
    decode_s: float = 0.0
    correct: int = 0
    errors: int = 0

    def add(self, answer, correct: bool) -> None:
        self.seconds.append(answer.timings.get("total", 0.0))
        for stage in STAGES:
            self.stages.setdefault(stage, []).append(answer.timings.get(stage, 0.0))
        self.stages.setdefault(TO_TABLE, []).append(
            answer.timings.get("total", 0.0) - answer.timings.get("answer", 0.0))
        self.new_tokens += answer.tokens.get("new", 0)
        self.decode_s += answer.timings.get("decode", 0.0)
        self.correct += correct
        self.errors += answer.error is not None

    @classmethod
    def merged(cls, label: str, runs) -> BenchRun:
        """One run made of several (the sample and the Spider questions together)."""
        out = cls(label)
        for run in runs:
            out.seconds += run.seconds
            for stage, values in run.stages.items():
                out.stages.setdefault(stage, []).extend(values)
            out.new_tokens += run.new_tokens
            out.decode_s += run.decode_s
            out.correct += run.correct
            out.errors += run.errors
        return out

    def summary(self, stages: bool = True) -> dict:
        n = len(self.seconds)
        figures = {
            "n": n,
            "p50_s": _pct(self.seconds, 50), "p95_s": _pct(self.seconds, 95),
            "table_p50_s": _pct(self.stages.get(TO_TABLE, []), 50),
            "table_p95_s": _pct(self.stages.get(TO_TABLE, []), 95),
            "ex": round(self.correct / n, 4) if n else 0.0,
            "errors": self.errors,
            "tokens_per_s": round(self.new_tokens / self.decode_s, 2) if self.decode_s else 0.0,
        }
        if stages:
            figures["stages"] = {s: {"p50_s": _pct(v, 50), "p95_s": _pct(v, 95)}
                                 for s, v in self.stages.items()}
        return figures


def comparison(result: dict, baseline: dict) -> dict:
    """The baseline's figures beside a run's, and the speed-up measured side by side."""
    return {"baseline_p50_s": baseline["p50_s"], "baseline_p95_s": baseline["p95_s"],
            "baseline_ex": baseline["ex"], "baseline_tokens_per_s": baseline["tokens_per_s"],
            "speedup": round(baseline["p50_s"] / result["p50_s"], 2) if result["p50_s"] else None}


def _pct(values: Sequence[float], pct: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))], 3)


def sample_items(url: str) -> list[BenchItem]:
    return [BenchItem(url, q["question"], q["sql"], q.get("thread"),
                      "ORDER BY" in q["sql"].upper()) for q in QUESTIONS]


def spider_items(data_dir: Path, n: int) -> list[BenchItem]:
    from training.benchmarks import gold_is_ordered, load_spider, spread

    return [BenchItem(i.db, i.question, i.sql, None, gold_is_ordered(i.sql))
            for i in spread(load_spider(data_dir), n)]


def _correct(evaluator: Evaluator, item: BenchItem, answer) -> bool:
    if answer.table is None:
        return False
    gold = evaluator.gold(EvalItem(item.db, item.question, item.gold))
    return same_result(gold.rows, answer.table.rows, item.ordered, allow_extra_columns=True)


def run_sequential(evaluator: Evaluator, items: Sequence[BenchItem], label: str) -> BenchRun:
    """Every item once, threads in order; one warm-up question per database first."""
    for db in dict.fromkeys(i.db for i in items):
        first = next(i for i in items if i.db == db)
        evaluator.engine(db).ask(first.question)  # schema reflection + prefix prefill
    run = BenchRun(label)
    threads: dict[str, list[HistoryTurn]] = {}
    for item in items:
        history = threads.setdefault(item.thread or f"{item.db}:{item.question}", [])
        answer = evaluator.engine(item.db).ask(item.question, history)
        if answer.ok:
            history.append(HistoryTurn(answer.question, answer.sql))
        run.add(answer, _correct(evaluator, item, answer))
    return run


async def run_concurrent(conversation, items: Sequence[BenchItem], n: int) -> dict:
    """``n`` threads ask at once through the chat path (Conversation.handle)."""
    from bot.messages import IncomingMessage

    chosen = [items[i % len(items)] for i in range(n)]

    async def one(i: int, item: BenchItem) -> tuple[float, float]:
        started = time.perf_counter()
        table_at: list[float] = []

        async def on_table(_reply) -> None:  # as Slack and Teams post the table first
            table_at.append(time.perf_counter() - started)

        reply = await conversation.handle(
            IncomingMessage("bench", f"bench:{i}:{time.time_ns()}", item.question),
            on_table=on_table)
        elapsed = time.perf_counter() - started
        if not reply.text:
            return float("inf"), float("inf")
        return elapsed, table_at[0] if table_at else elapsed

    timed = await asyncio.gather(*(one(i, item) for i, item in enumerate(chosen)))
    answered = [t for t in timed if t[0] != float("inf")]
    totals, tables = [t[0] for t in answered], [t[1] for t in answered]
    return {"concurrency": n, "answered": len(answered),
            "p50_s": _pct(totals, 50), "p95_s": _pct(totals, 95),
            "table_p50_s": _pct(tables, 50), "table_p95_s": _pct(tables, 95)}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report(result: dict) -> str:
    """The human table: stage p50/p95, then the totals (and the baseline)."""
    lines = [f"{'stage':<10} {'p50 s':>8} {'p95 s':>8}"]
    for stage, values in result["stages"].items():
        lines.append(f"{stage:<10} {values['p50_s']:>8.3f} {values['p95_s']:>8.3f}")
    keys = ("n", "p50_s", "p95_s", "table_p50_s", "table_p95_s", "ex", "tokens_per_s",
            "peak_rss_mb", "baseline_p50_s", "baseline_ex", "speedup", "concurrent")
    lines += [f"{k:>15}: {result[k]}" for k in keys if k in result]
    for name, figures in result.get("sets", {}).items():
        shown = ", ".join(f"{k} {figures[k]}" for k in keys if k in figures)
        lines.append(f"{name:>15}: {shown}")
    return "\n".join(lines)
