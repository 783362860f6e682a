"""Teams end to end: Activity JSON posted to a running `askdb serve`, a fake connector.

The served bot runs the real model; cards and corrections are asserted on what the
fake Bot Connector received and on the stored feedback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters import teams
from bot.conversation import Conversation
from bot.server import build_app
from bot.store import ConversationStore
from tests.fake_connector import FakeConnector
from tests.serving import REPO, askdb_serve

CARD = "application/vnd.microsoft.card.adaptive"


def activity(service_url: str, conversation: str, text: str = "", value: dict | None = None,
             activity_id: str = "1") -> dict:
    body = {
        "type": "message", "id": activity_id, "channelId": "msteams",
        "serviceUrl": service_url, "timestamp": "2026-11-22T10:00:00.000Z",
        "from": {"id": "29:user-1", "name": "Lan", "aadObjectId": "aad-user-1"},
        "recipient": {"id": "28:askdb-bot", "name": "askdb"},
        "conversation": {"id": conversation, "conversationType": "channel"},
        "text": f"<at>askdb</at> {text}" if text else "",
        "entities": [{"type": "mention", "text": "<at>askdb</at>",
                      "mentioned": {"id": "28:askdb-bot", "name": "askdb"}}],
    }
    if value is not None:
        body["value"] = value
    return body


def post(url: str, body: dict, headers: dict | None = None) -> int:
    request = urllib.request.Request(url + "api/messages", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


async def test_refuses_unauthenticated_when_app_id_is_set(tiny_model, sample_url, tmp_path):
    from nlsql import ReadOnlyDatabase, Text2Sql

    store = ConversationStore(f"sqlite:///{tmp_path / 's.sqlite'}")
    engine = Text2Sql(ReadOnlyDatabase(sample_url), tiny_model, retries=0)
    config = teams.TeamsConfig(app_id="00000000-0000-0000-0000-000000000001",
                               app_password="secret")
    app = build_app(Conversation(engine, store),
                    mounts=[lambda a, c: teams.mount(a, c, config)])
    async with TestClient(TestServer(app)) as client:
        body = activity("http://127.0.0.1:9/", "conv-1", "how many tools?")
        response = await client.post("/api/messages", json=body)
        assert response.status == 401
        forged = await client.post("/api/messages", json=body,
                                   headers={"Authorization": "Bearer not-a-real-token"})
        assert forged.status == 401
    assert store.turns("teams:conv-1") == []  # nothing reached the conversation


def test_card_renders_table_and_caps_size():
    from bot.messages import ACTIONS, Reply
    from nlsql import ResultTable

    table = ResultTable(tuple(f"c{i}" for i in range(12)),
                        tuple(tuple("x" * 50 for _ in range(12)) for _ in range(300)))
    reply = Reply("k", "Found 300 rows.", sql="SELECT * FROM t", table=table, turn_id=4,
                  actions=ACTIONS)
    card, left_out = teams.render_card(reply)
    assert card["version"] == "1.5" and card["type"] == "AdaptiveCard"
    assert len(json.dumps(card)) <= teams.MAX_CARD_BYTES
    grid = next(b for b in card["body"] if b["type"] == "Table")
    assert len(grid["rows"][0]["cells"]) == teams.MAX_CARD_COLUMNS
    assert left_out == 300 - (len(grid["rows"]) - 1) and left_out > 0
    titles = [a["title"] for a in card["actions"]]
    assert titles == ["Correct", "Wrong", "Fix SQL"]
    fix = card["actions"][2]["card"]["body"][0]
    assert fix["type"] == "Input.Text" and fix["value"] == "SELECT * FROM t"
    message = teams.to_activity(reply)
    assert [a.content_type for a in message.attachments] == [CARD, "text/csv"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, sample_url, monkeypatch_module):
    connector = FakeConnector().start()
    tmp = tmp_path_factory.mktemp("teams")
    monkeypatch_module.delenv("TEAMS_APP_ID", raising=False)
    env = {"ASKDB_DATABASE_URL": sample_url, "ASKDB_TEAMS_INSECURE_LOCAL": "1",
           "ASKDB_ANSWERER": "model"}  # multi-row results: the table first, then a sentence
    with askdb_serve(tmp, env) as url:
        yield url, connector, f"sqlite:///{tmp / 'state.sqlite'}"
    connector.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _card_of(sent) -> dict:
    return next(a["content"] for a in sent.activity["attachments"] if a["contentType"] == CARD)


def _sql_of(card: dict) -> str:
    return next(b["text"] for b in card["body"] if b.get("fontType") == "Monospace")


@pytest.mark.model
def test_question_follow_up_and_correction(served):
    url, connector, state_url = served
    conv = "19:abc@thread.tacv2;messageid=1700000000001"
    status = post(url, activity(connector.url, conv,
                                "What is the total time saved by each department?",
                                activity_id="m1"))
    assert status in (200, 201)
    first = connector.wait_for(lambda: connector.messages(conv))[0]
    assert first.reply_to_id == "m1"
    typing = [s for s in connector.sent if s.activity.get("type") == "typing"]
    assert typing and typing[0].conversation_id == conv
    card = _card_of(first)
    grid = next(b for b in card["body"] if b["type"] == "Table")
    names = {r["cells"][0]["items"][0]["text"] for r in grid["rows"][1:]}
    assert names == {"DC1", "DC2", "DC3", "DC4", "DC5"}
    # the table came first; the model's sentence then replaced that message in place
    connector.wait_for(lambda: first.updates)
    assert first.updates == 1 and not first.activity["summary"].endswith("…")
    final = _card_of(first)
    assert final["actions"] and final["actions"][0]["data"]["turn_id"]

    # a follow-up in the same reply chain builds on the thread's history
    post(url, activity(connector.url, conv, "How many improvements were made in 2023?",
                       activity_id="m2"))
    connector.wait_for(lambda: len(connector.messages(conv)) >= 2)
    post(url, activity(connector.url, conv, "And how many of those were made by DC4?",
                       activity_id="m3"))
    third = connector.wait_for(lambda: connector.messages(conv)[2:])[0]
    sql = _sql_of(_card_of(third))
    assert "2023" in sql and "DC4" in sql

    # a submitted correction is guarded, run, answered in the chain and stored
    turn_id = _card_of(third)["actions"][0]["data"]["turn_id"]
    fixed = ("SELECT COUNT(*) FROM Jidouka j JOIN Department d ON d.DepartmentId = "
             "j.DepartmentId WHERE d.DepartmentName = 'DC4' "
             "AND strftime('%Y', j.DateCreate) = '2023'")
    post(url, activity(connector.url, conv, value={"askdb": "fix_sql", "turn_id": turn_id,
                                                   "sql": fixed}, activity_id="m4"))
    answered = connector.wait_for(lambda: connector.messages(conv)[3:])[0]
    assert "DC4" in _sql_of(_card_of(answered))
    post(url, activity(connector.url, conv, value={"askdb": "fix_sql", "turn_id": turn_id,
                                                   "sql": "DROP TABLE Jidouka"},
                       activity_id="m5"))
    refused = connector.wait_for(
        lambda: [s for s in connector.messages(conv) if "won't run" in
                 (s.activity.get("text") or "")])
    assert "only read queries" in refused[0].activity["text"]
    rows = ConversationStore(state_url).feedback()
    fix = next(r for r in rows if r["kind"] == "correction")
    assert fix["platform"] == "teams" and fix["turn_id"] == turn_id
    assert fix["user_id"] == "aad-user-1" and "DC4" in fix["corrected_sql"]
    assert fix["question"] == "And how many of those were made by DC4?"


def test_teams_package_builds(tmp_path):
    import struct
    import zipfile

    out = tmp_path / "askdb-teams.zip"
    result = subprocess.run([sys.executable, str(REPO / "deploy/teams/make_package.py"),
                             "11111111-2222-3333-4444-555555555555", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as package:
        manifest = json.loads(package.read("manifest.json"))
        assert manifest["bots"][0]["botId"] == "11111111-2222-3333-4444-555555555555"
        assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}
        for name, size in (("color.png", 192), ("outline.png", 32)):
            data = package.read(name)
            assert data.startswith(b"\x89PNG") and struct.unpack(">II", data[16:24]) == \
                (size, size)
