"""Slack end to end over HTTP: a running `askdb serve` with the real model, a fake Slack.

Signed events and interaction payloads go to /slack/events; the assertions are on what
the fake Slack Web API received (and on the corrections the bot stored).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.store import ConversationStore
from tests.fake_slack import FakeSlack
from tests.serving import askdb_serve

pytestmark = pytest.mark.model

SECRET = "test-signing-secret"


class Slack:
    """The test's side: sends signed requests to the served bot."""

    def __init__(self, url: str, fake: FakeSlack, state_url: str) -> None:
        self.url, self.fake, self.state_url = url, fake, state_url
        self.n = 0

    def post(self, body: str, content_type: str, secret: str = SECRET,
             headers: dict | None = None) -> tuple[int, str]:
        ts = str(int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        request = urllib.request.Request(
            self.url + "slack/events", data=body.encode(), method="POST",
            headers={"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                     "X-Slack-Signature": signature, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def event(self, text: str, ts: str, thread_ts: str | None = None, event_id: str = "",
              channel: str = "C1", kind: str = "app_mention", headers: dict | None = None,
              **extra) -> tuple[int, str]:
        self.n += 1
        event = {"type": kind, "user": "U1", "text": text, "ts": ts, "channel": channel,
                 "event_ts": ts, **extra}
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = {"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                "event_id": event_id or f"Ev{ts}", "event_time": int(time.time()),
                "event": event}
        return self.post(json.dumps(body), "application/json", headers=headers)

    def interaction(self, payload: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")

    def answer_in(self, thread_ts: str, after: int = 0, early: bool = False) -> dict:
        """The chat.update that replaced the placeholder posted in ``thread_ts``: the
        final answer, or with ``early`` the table shown while the sentence was written
        (its text ends in "…")."""
        def find():
            for call in self.fake.of("chat.postMessage")[after:]:
                if call.params.get("thread_ts") != thread_ts:
                    continue
                for update in self.fake.of("chat.update"):
                    if update.at >= call.at and \
                            update.params.get("channel") == call.params.get("channel") and \
                            update.params["text"].endswith("…") == early:
                        return update.params
            return None
        return self.fake.wait_for(find)


def blocks_of(params: dict, kind: str) -> list[dict]:
    return [b for b in params["blocks"] if b["type"] == kind]


def turn_id_of(params: dict) -> int:
    return int(blocks_of(params, "actions")[0]["elements"][0]["value"])


@pytest.fixture(scope="module")
def slack(tmp_path_factory, sample_url):
    fake = FakeSlack().start()
    fake.rate_limit_next.add("chat.postMessage")  # the first post gets a 429
    tmp = tmp_path_factory.mktemp("slack")
    env = {"ASKDB_DATABASE_URL": sample_url, "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.base_url,
           "ASKDB_SLACK_ALLOWED_CHANNELS": "C1,D1",
           "ASKDB_ANSWERER": "model"}  # multi-row results: the table first, then a sentence
    with askdb_serve(tmp, env) as url:
        yield Slack(url, fake, f"sqlite:///{tmp / 'state.sqlite'}")
    fake.stop()


def test_bad_or_missing_signature_is_refused(slack):
    body = json.dumps({"type": "event_callback", "event": {"type": "app_mention"}})
    assert slack.post(body, "application/json", secret="wrong")[0] == 401
    request = urllib.request.Request(slack.url + "slack/events", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 401


def test_url_verification(slack):
    status, body = slack.post(json.dumps({"type": "url_verification", "challenge": "abc"}),
                              "application/json")
    assert status == 200 and "abc" in body


def test_mention_answered_in_thread_with_table(slack):
    status, _ = slack.event("<@UBOT> What is the total time saved by each department?",
                            ts="1700000000.000100")
    # acknowledged before the model answered: nothing has been posted in the thread yet
    assert status == 200 and not slack.fake.of("chat.update")
    answer = slack.answer_in("1700000000.000100")
    table = blocks_of(answer, "table")[0]
    assert len(table["rows"]) == 6  # header + DC1..DC5
    assert {r[0]["text"] for r in table["rows"][1:]} == {"DC1", "DC2", "DC3", "DC4", "DC5"}
    sql = [b for b in blocks_of(answer, "section") if b["text"]["text"].startswith("```")]
    assert "SELECT" in sql[0]["text"]["text"].upper()
    buttons = [e["action_id"] for e in blocks_of(answer, "actions")[0]["elements"]]
    assert buttons == ["askdb_correct", "askdb_wrong", "askdb_fix_sql"]
    # the model phrased the sentence of this 5-row result: the table was shown before,
    # in the same message, with the templated sentence
    early = slack.answer_in("1700000000.000100", early=True)
    assert early["ts"] == answer["ts"] and early["text"] == "Found 5 rows. …"
    assert blocks_of(early, "table")[0]["rows"] == table["rows"]
    assert turn_id_of(early) == turn_id_of(answer)
    updates = [c for c in slack.fake.of("chat.update") if c.params["ts"] == answer["ts"]]
    assert [u.params["text"].endswith("…") for u in updates] == [True, False]
    reaction = slack.fake.of("reactions.add")[0].params
    assert reaction["timestamp"] == "1700000000.000100"
    # the first chat.postMessage got a 429 and was retried after Retry-After
    assert slack.fake.of("chat.postMessage:429")


def test_retries_and_duplicates_answer_once(slack):
    for headers in ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}):
        status, _ = slack.event("<@UBOT> How many improvements save more than 100 hours?",
                                ts="1700000000.000300", event_id="EvDup", headers=headers)
        assert status == 200
    slack.answer_in("1700000000.000300")
    time.sleep(3)
    posts = [c for c in slack.fake.of("chat.postMessage")
             if c.params.get("thread_ts") == "1700000000.000300"]
    assert len(posts) == 1


def test_follow_up_uses_thread_history(slack):
    root = "1700000000.000500"
    slack.event("<@UBOT> How many improvements were made in 2023?", ts=root)
    sql1 = _sql(slack.answer_in(root))
    before = len(slack.fake.of("chat.postMessage"))
    slack.event("<@UBOT> And how many of those were made by DC4?", ts="1700000000.000600",
                thread_ts=root)
    sql2 = _sql(slack.answer_in(root, after=before))
    assert "2023" in sql1
    assert "2023" in sql2 and "DC4" in sql2


def _sql(params: dict) -> str:
    return next(b["text"]["text"] for b in blocks_of(params, "section")
                if b["text"]["text"].startswith("```"))


def test_dm_and_refusal_outside_allowlist(slack):
    slack.event("How many improvements save more than 100 hours?", ts="1700000000.000700",
                channel="D1", kind="message", channel_type="im")
    assert blocks_of(slack.answer_in("1700000000.000700"), "table")
    slack.event("<@UBOT> How many tools are there?", ts="1700000000.000800", channel="C9")
    refusal = slack.fake.wait_for(lambda: [c for c in slack.fake.of("chat.postMessage")
                                           if c.params.get("channel") == "C9"])
    assert "not set up to answer here" in refusal[0].params["text"]


def test_large_result_uploads_csv(slack):
    root = "1700000000.000900"
    slack.event("<@UBOT> List the names of all improvements.", ts=root)
    answer = slack.answer_in(root)
    assert len(blocks_of(answer, "table")[0]["rows"]) == 100
    done = slack.fake.wait_for(lambda: [c for c in slack.fake.of("files.completeUploadExternal")
                                        if c.params.get("thread_ts") == root], timeout=60)
    assert done[0].params["channel_id"] == "C1"
    upload = next(iter(slack.fake.uploads.values())).decode()
    assert len(upload.strip().splitlines()) == 421  # header + every improvement


def test_buttons_and_fix_sql_store_corrections(slack):
    root = "1700000000.001000"
    slack.event("<@UBOT> How many improvements save more than 100 hours?", ts=root)
    answer = slack.answer_in(root)
    turn = turn_id_of(answer)
    base = {"team": {"id": "T1"}, "user": {"id": "U2"}, "api_app_id": "A1",
            "channel": {"id": "C1"}, "trigger_id": "trig-1",
            "container": {"type": "message", "message_ts": answer["ts"], "thread_ts": root},
            "message": {"ts": answer["ts"], "thread_ts": root}}

    def press(action_id: str) -> int:
        return slack.interaction({**base, "type": "block_actions", "actions": [
            {"action_id": action_id, "block_id": "askdb_feedback", "value": str(turn),
             "type": "button", "action_ts": "1"}]})[0]

    assert press("askdb_correct") == 200
    slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"), timeout=30)
    assert press("askdb_fix_sql") == 200
    view = slack.fake.wait_for(lambda: slack.fake.of("views.open"), timeout=30)[0].params["view"]
    prefilled = view["blocks"][1]["element"]["initial_value"]
    assert "TotalTimeSaved" in prefilled

    def submit(sql: str) -> tuple[int, str]:
        return slack.interaction({**base, "type": "view_submission", "view": {
            "id": "V1", "type": "modal", "callback_id": "askdb_fix_sql",
            "private_metadata": view["private_metadata"],
            "state": {"values": {"sql": {"sql_input": {"type": "plain_text_input",
                                                       "value": sql}}}}}})

    status, body = submit("DELETE FROM Jidouka")
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert "only read queries" in json.loads(body)["errors"]["sql"]
    posts_before = len(slack.fake.of("chat.postMessage"))
    status, _ = submit("SELECT COUNT(*) FROM Jidouka WHERE TotalTimeSaved >= 100")
    assert status == 200
    corrected = slack.fake.wait_for(lambda: [c for c in slack.fake.of("chat.postMessage")
                                             [posts_before:]
                                             if c.params.get("thread_ts") == root])[0].params
    assert blocks_of(corrected, "table")

    rows = ConversationStore(slack.state_url).feedback()
    kinds = [(r["kind"], r["turn_id"]) for r in rows]
    assert ("verified", turn) in kinds and ("correction", turn) in kinds
    fix = next(r for r in rows if r["kind"] == "correction")
    assert fix["question"] == "How many improvements save more than 100 hours?"
    assert ">= 100" in fix["corrected_sql"] and "> 100" in fix["wrong_sql"]
    assert fix["user_id"] == "U2" and fix["platform"] == "slack"
