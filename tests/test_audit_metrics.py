"""Audit rows and Prometheus metrics for every question and piece of feedback."""

from __future__ import annotations

import csv
import io
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.audit import AuditLog
from bot.conversation import Conversation
from bot.messages import IncomingMessage
from bot.metrics import Metrics
from bot.server import build_app
from nlsql import Answer, Answerer, ReadOnlyDatabase, ResultTable, Text2Sql


@pytest.fixture
async def served(tiny_model, sample_url, store):
    engine = Text2Sql(ReadOnlyDatabase(sample_url), tiny_model, Answerer(tiny_model),
                      max_new_tokens=16, retries=0)
    runs = [{"status": "promoted"}, {"status": "rejected"}, {"status": "rejected"}]
    metrics = Metrics(training_runs=lambda: runs)
    audit = AuditLog(store.engine)
    conversation = Conversation(engine, store, listeners=[audit, metrics])
    async with TestClient(TestServer(build_app(conversation, metrics=metrics))) as client:
        yield client, audit


def _sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


async def test_questions_and_feedback_reach_metrics_and_audit(served):
    client, audit = served
    await client.post("/api/chat", json={"thread": "a", "text": ""})  # bad question
    body = await (await client.post("/api/chat", json={"thread": "a",
                                                       "text": "how many tools?"})).json()
    response = await client.post("/api/feedback", json={"turn_id": body["turn_id"],
                                                         "kind": "wrong"})
    assert response.status == 200
    response = await client.post("/api/correct", json={"turn_id": body["turn_id"],
                                                       "sql": "SELECT COUNT(*) FROM Tool"})
    assert response.status == 200

    scrape = await client.get("/metrics")
    assert scrape.status == 200 and scrape.headers["Content-Type"].startswith("text/plain")
    text = await scrape.text()
    assert _sample(text, "askdb_questions_total", platform="web", outcome="bad_question") == 1
    assert _sample(text, "askdb_questions_total", platform="web",
                   outcome=body["error_kind"]) == 1
    assert _sample(text, "askdb_errors_total", kind="bad_question") == 1
    assert _sample(text, "askdb_feedback_total", kind="wrong") == 1
    assert _sample(text, "askdb_feedback_total", kind="correction") == 1
    assert _sample(text, "askdb_stage_seconds_count", stage="total") == 2
    assert _sample(text, "askdb_training_runs_total", status="rejected") == 2

    out = io.StringIO()
    assert audit.export_csv(out) == 4
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["event"] for r in rows] == ["question", "question", "wrong", "correction"]
    asked = rows[1]
    assert asked["question"] == "how many tools?" and asked["platform"] == "web"
    assert asked["error_kind"] == body["error_kind"] and asked["guard"] in {"passed",
                                                                            "rejected", "none"}
    assert "total" in json.loads(asked["timings"])
    assert rows[3]["sql"].startswith("SELECT COUNT(*) FROM Tool")
    assert rows[3]["turn_id"] == str(body["turn_id"])


def test_guard_rejections_and_row_counts_are_recorded(store):
    metrics, audit = Metrics(), AuditLog(store.engine)
    message = IncomingMessage("slack", "slack:C1:1", "delete everything", "U1")
    refused = Answer(question=message.text, sql="DELETE FROM Tool", error="refused",
                     error_kind="sql_rejected", timings={"guard": 0.001, "total": 0.5})
    table = ResultTable(columns=("n",), rows=((1,), (2,)))
    fine = Answer(question="list", sql="SELECT 1", table=table, timings={"total": 1.0})
    for answer in (refused, fine):
        metrics.answered(message, answer, None)
        audit.answered(message, answer, None)
    assert _sample(metrics.render().decode(), "askdb_guard_rejections_total") == 1
    rows = list(audit.rows())
    assert [(r["guard"], r["row_count"], r["user_id"]) for r in rows] == [
        ("rejected", None, "U1"), ("passed", 2, "U1")]


async def test_a_failing_listener_never_reaches_the_asker(tiny_model, sample_url, store):
    class Broken:
        def answered(self, *args):
            raise RuntimeError("audit database down")

    engine = Text2Sql(ReadOnlyDatabase(sample_url), tiny_model, Answerer(tiny_model),
                      max_new_tokens=8, retries=0)
    conversation = Conversation(engine, store, listeners=[Broken()])
    reply = await conversation.handle(IncomingMessage("web", "web:x", "how many tools?"))
    assert reply.turn_id is not None and store.turns("web:x")
