"""Prometheus metrics for ``/metrics``: questions, stage latencies, guard, errors, feedback.

Each app gets its own CollectorRegistry rather than the process-global one, so two
servers in one process (tests, the bench) never collide over metric names. Training
runs happen in another process; they are counted from the run records at scrape time,
so every replica reports the same figure.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from nlsql import Answer

from .messages import IncomingMessage

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class _TrainingRuns:
    """A collector over the adapter registry's run records, read when scraped."""

    def __init__(self, runs: Callable[[], Iterable[dict]]) -> None:
        self.runs = runs

    def collect(self):
        family = CounterMetricFamily("askdb_training_runs", "Training runs by outcome",
                                     labels=["status"])
        try:
            tally = Tally(str(run.get("status", "unknown")) for run in self.runs())
        except Exception:  # a scrape must not fail because the registry is unreadable
            tally = Tally()
        for status, count in sorted(tally.items()):
            family.add_metric([status], count)
        yield family


class Metrics:
    def __init__(self, training_runs: Callable[[], Iterable[dict]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter("askdb_questions", "Questions answered, by platform and "
                                 "outcome (ok or the error kind)", ["platform", "outcome"],
                                 registry=self.registry)
        self.stage_seconds = Histogram("askdb_stage_seconds", "Seconds per pipeline stage",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=self.registry)
        self.guard_rejections = Counter("askdb_guard_rejections", "SQL refused by the guard",
                                        registry=self.registry)
        self.errors = Counter("askdb_errors", "Questions that ended in an error, by kind",
                              ["kind"], registry=self.registry)
        self.feedback_events = Counter("askdb_feedback", "Verified, wrong and corrected "
                                       "answers", ["kind"], registry=self.registry)
        if training_runs is not None:
            self.registry.register(_TrainingRuns(training_runs))

    def answered(self, message: IncomingMessage, answer: Answer, turn_id: int | None) -> None:
        self.questions.labels(message.platform, answer.error_kind or "ok").inc()
        for stage, seconds in answer.timings.items():
            self.stage_seconds.labels(stage).observe(seconds)
        if answer.error_kind:
            self.errors.labels(answer.error_kind).inc()
        if answer.error_kind == "sql_rejected":
            self.guard_rejections.inc()

    def feedback(self, turn: dict, kind: str, platform: str, user_id: str,
                 sql: str | None = None) -> None:
        self.feedback_events.labels(kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
