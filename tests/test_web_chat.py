"""The web chat endpoint over HTTP, with the real pipeline on the tiny model.

The tiny model writes nonsense, which is exactly what these tests need: every failure
path must come back as a one-line message, and the server must keep serving.
"""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from askdb.settings import Settings
from bot.conversation import Conversation
from bot.server import build_app
from nlsql import Answerer, LazyText2Sql, ModelUnavailable, ReadOnlyDatabase, Text2Sql
from tests.fixed_asker import Asker


@pytest.fixture
async def client(tiny_model, sample_url, store):
    engine = Text2Sql(ReadOnlyDatabase(sample_url), tiny_model, Answerer(tiny_model),
                      max_new_tokens=24, retries=0)
    app = build_app(Conversation(engine, store))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_page_has_the_chat_form(client):
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert '<form id="ask">' in page and "api/chat" in page


async def test_health(client):
    response = await client.get("/healthz")
    assert (await response.json()) == {"status": "ok"}


@pytest.mark.parametrize("text, expected", [
    ("", "Please type a question"),
    ("   \n ", "Please type a question"),
    ("x" * 20_000, "20,000 characters long"),
])
async def test_bad_questions_get_one_line(client, store, text, expected):
    response = await client.post("/api/chat", json={"thread": "t-bad", "text": text})
    body = await response.json()
    assert response.status == 200
    assert expected in body["error"] and "\n" not in body["error"]
    assert body["error_kind"] == "bad_question"
    assert store.turns("web:t-bad"), "the failed turn is still recorded"


async def test_model_output_that_is_not_runnable_is_explained(client):
    response = await client.post("/api/chat", json={"thread": "t1", "text": "how many tools?"})
    body = await response.json()
    assert body["thread"] == "web:t1"
    # the tiny model's random text never yields a valid query on this schema
    assert body["error_kind"] in {"not_sql", "sql_rejected", "sql_failed"}
    assert body["error"] and "Traceback" not in body["error"] and "\n" not in body["error"]
    assert body["columns"] == [] and body["text"] == body["error"]


async def test_small_talk_is_answered_in_words_and_kept_out_of_the_history(client, store):
    hello = await (await client.post("/api/chat", json={"thread": "t-hi", "text": "hello"})
                   ).json()
    assert hello["error"] is None and hello["sql"] is None and hello["actions"] == []
    assert "Jidouka" in hello["text"] and hello["columns"] == []
    thanks = await (await client.post("/api/chat", json={"thread": "t-hi", "text": "cảm ơn!"})
                    ).json()
    assert thanks["text"].startswith("Không có gì") and thanks["sql"] is None
    assert len(store.turns("web:t-hi")) == 2  # recorded, with no SQL to follow up on


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe"])
async def test_malformed_requests(client, raw):
    response = await client.post("/api/chat", data=raw,
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "Send JSON" in (await response.json())["error"]


async def test_missing_model_is_a_chat_message_and_server_survives(store, tmp_path):
    def factory():
        raise ModelUnavailable("The model qwen is not prepared yet: run `askdb model prepare`.")

    app = build_app(Conversation(LazyText2Sql(factory), store))
    async with TestClient(TestServer(app)) as client:
        for _ in range(2):
            body = await (await client.post("/api/chat", json={"text": "hi"})).json()
            assert body["error_kind"] == "model_unavailable"
            assert "askdb model prepare" in body["text"]
        assert (await client.get("/healthz")).status == 200


async def test_unreachable_database_is_a_chat_message(tiny_model, store):
    settings = Settings.from_env({})
    engine = Text2Sql(ReadOnlyDatabase("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                       timeout_s=2), tiny_model, retries=0)
    app = build_app(Conversation(engine, store, settings.history_turns))
    async with TestClient(TestServer(app)) as client:
        body = await (await client.post("/api/chat", json={"text": "how many tools?"})).json()
    assert body["error_kind"] == "database_unavailable"
    assert body["error"].startswith("I can't reach the database")


async def test_corrections_from_the_web_chat_become_examples(tiny_model, sample_url, store):
    from nlsql.examples import ExampleStore

    examples = ExampleStore(store.engine)
    engine = Text2Sql(ReadOnlyDatabase(sample_url), tiny_model, retries=0, max_new_tokens=8)
    app = build_app(Conversation(engine, store, examples=examples, database="jidouka"))
    async with TestClient(TestServer(app)) as client:
        asked = await (await client.post("/api/chat", json={
            "thread": "t9", "text": "How many tools are there?"})).json()
        turn = asked["turn_id"]
        refused = await client.post("/api/correct", json={"turn_id": turn,
                                                          "sql": "DROP TABLE Tool"})
        assert refused.status == 422
        assert "only read queries" in (await refused.json())["error"]
        fixed = await (await client.post("/api/correct", json={
            "turn_id": turn, "sql": "SELECT COUNT(*) FROM Tool"})).json()
        assert fixed["rows"] == [[10]] and fixed["thread"] == "web:t9"
        assert fixed["sql"] == "SELECT COUNT(*) FROM Tool LIMIT 1000"  # shown as it ran
        thanks = await (await client.post("/api/feedback", json={
            "turn_id": fixed["turn_id"], "kind": "verified"})).json()
        assert thanks["text"].startswith("Thanks")
        missing = await client.post("/api/feedback", json={"turn_id": 999, "kind": "wrong"})
        assert missing.status == 404
    # the correction is an example for the next question on this database, at once, as
    # the person wrote it: the guard's row cap is not part of what the model should learn
    top = examples.similar("jidouka", "how many tools are there", 1)
    assert top and top[0].sql == "SELECT COUNT(*) FROM Tool"
    # and the thread's history now holds the corrected query for follow-ups
    assert store.history("web:t9")[-1].sql == "SELECT COUNT(*) FROM Tool"
    assert [f["corrected_sql"] for f in store.feedback()] == ["SELECT COUNT(*) FROM Tool"] * 2


async def test_an_unexpected_failure_is_a_polite_line_and_recorded(store):
    class Broken:
        def ask(self, question, history, *, phrase=True):
            raise RuntimeError("boom")

        def run_sql(self, sql):
            raise RuntimeError("boom")

    app = build_app(Conversation(Broken(), store))
    async with TestClient(TestServer(app)) as client:
        body = await (await client.post("/api/chat", json={"thread": "x", "text": "hi"})).json()
    assert body["error_kind"] == "internal" and "boom" not in body["error"]
    assert store.turns("web:x")[0]["error_kind"] == "internal"


async def test_the_page_gets_the_table_first_then_the_sentence(store):
    """With Accept: application/x-ndjson, one JSON line per version of the reply."""
    app = build_app(Conversation(Asker(), store))
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/api/chat", json={"thread": "t-s", "text": "saved?"},
                                     headers={"Accept": "application/x-ndjson"})
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        lines = (await response.text()).splitlines()
        plain = await (await client.post("/api/chat", json={"thread": "t-p", "text": "x"})
                       ).json()
    early, final = (json.loads(line) for line in lines)
    assert early["final"] is False and early["text"] == "Found 2 rows. …"
    assert early["columns"] == ["DepartmentName", "Saved"] and early["turn_id"]
    assert final["final"] is True and final["text"] == "DC2 saved the most."
    assert final["turn_id"] == early["turn_id"] and final["rows"] == early["rows"]
    assert plain["text"] == "DC2 saved the most." and "final" not in plain
    assert store.turns("web:t-s")[0]["answer"] == "DC2 saved the most."
