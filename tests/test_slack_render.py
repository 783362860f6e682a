"""Slack converters: events to IncomingMessage, Reply to Block Kit (no server needed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.adapters.slack import (
    MAX_TABLE_COLUMNS,
    MAX_TABLE_ROWS,
    SlackConfig,
    fix_sql_view,
    needs_file,
    render,
    to_incoming,
)
from bot.messages import ACTIONS, Reply
from nlsql import ResultTable


def test_mention_is_stripped_and_thread_keyed_by_root():
    event = {"type": "app_mention", "user": "U1", "text": "<@UBOT>  how many   tools?",
             "ts": "2.0", "thread_ts": "1.0", "channel": "C1"}
    message = to_incoming(event, "T1")
    assert message.text == "how many tools?"
    assert message.thread_key == "slack:T1:C1:1.0"
    top = to_incoming({**event, "thread_ts": None}, "T1")
    assert top.thread_key == "slack:T1:C1:2.0"


def _reply(rows: int, cols: int) -> Reply:
    table = ResultTable(tuple(f"c{i}" for i in range(cols)),
                        tuple(tuple(r * cols + c for c in range(cols)) for r in range(rows)))
    return Reply("k", "Found rows & <stuff>.", sql="SELECT 1", table=table, turn_id=7,
                 actions=ACTIONS)


def test_small_table_renders_whole():
    text, blocks = render(_reply(3, 2))
    assert text == "Found rows & <stuff>."  # notification fallback: plain text
    kinds = [b["type"] for b in blocks]
    assert kinds == ["section", "table", "section", "actions"]
    assert blocks[0]["text"]["text"] == "Found rows &amp; &lt;stuff&gt;."
    assert [c["text"] for c in blocks[1]["rows"][0]] == ["c0", "c1"]
    assert len(blocks[1]["rows"]) == 4
    assert blocks[2]["text"]["text"] == "```SELECT 1```"
    assert {e["value"] for e in blocks[3]["elements"]} == {"7"}
    assert not needs_file(_reply(3, 2))


def test_big_table_is_capped_and_needs_a_file():
    reply = _reply(250, 25)
    _, blocks = render(reply)
    table = next(b for b in blocks if b["type"] == "table")
    assert len(table["rows"]) == MAX_TABLE_ROWS
    assert all(len(r) == MAX_TABLE_COLUMNS for r in table["rows"])
    assert needs_file(reply)
    note = next(b for b in blocks if b["type"] == "context")["elements"][0]["text"]
    assert "of 250 rows" in note and "of 25 columns" in note
    assert len(reply.table.to_csv().strip().splitlines()) == 251


def test_error_reply_has_no_buttons():
    _, blocks = render(Reply("k", "x", error="I won't run that SQL: nope", error_kind="e"))
    assert [b["type"] for b in blocks] == ["section"]
    assert blocks[0]["text"]["text"].startswith(":warning: I won't run that SQL")


def test_fix_sql_view_prefills_sql():
    view = fix_sql_view(3, "SELECT 1", "q?", "C1", "1.0")
    assert view["blocks"][1]["element"]["initial_value"] == "SELECT 1"
    assert '"turn_id": 3' in view["private_metadata"]


def test_allowlists():
    open_config = SlackConfig("t", "s")
    assert open_config.allows("C1", "U1")
    closed = SlackConfig("t", "s", allowed_channels=frozenset({"C1"}),
                         allowed_users=frozenset({"U1"}))
    assert closed.allows("C1", "U1")
    assert not closed.allows("C2", "U1") and not closed.allows("C1", "U2")


def test_manifest_asks_for_what_the_adapter_uses():
    manifest = yaml.safe_load((Path(__file__).parents[1] / "deploy/slack/manifest.yaml")
                              .read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "im:history", "reactions:write",
            "files:write"} <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.im"}
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")
