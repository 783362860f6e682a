"""Slack: bolt's AsyncApp at ``POST /slack/events`` (or Socket Mode), rendering Block Kit.

Inbound converters turn events and interactions into the core's calls; outbound ones
turn a Reply into blocks. Everything else (history, guard, corrections) lives in the
conversation core, shared with Teams and the web chat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from nlsql import AskdbError

from ..conversation import Conversation
from ..messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 100  # Slack's table block limit, header row included
MAX_TABLE_COLUMNS = 20
MAX_TEXT = 2900
FIX_SQL_VIEW = "askdb_fix_sql"
THINKING = "hourglass_flowing_sand"
_MENTION = re.compile(r"<@[A-Z0-9]+>")


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str
    api_url: str = "https://slack.com/api/"
    app_token: str = ""
    allowed_channels: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()

    def allows(self, channel: str, user: str) -> bool:
        return (not self.allowed_channels or channel in self.allowed_channels) and \
            (not self.allowed_users or user in self.allowed_users)


# ---- inbound -------------------------------------------------------------------------

def thread_key(team: str, channel: str, root_ts: str) -> str:
    return f"slack:{team}:{channel}:{root_ts}"


def to_incoming(event: dict, team: str) -> IncomingMessage:
    root = event.get("thread_ts") or event["ts"]
    text = " ".join(_MENTION.sub(" ", event.get("text") or "").split())
    return IncomingMessage(
        platform="slack",
        thread_key=thread_key(team, event["channel"], root),
        text=text,
        user_id=event.get("user", ""),
        message_id=event["ts"],
    )


# ---- outbound ------------------------------------------------------------------------

def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(value) -> dict:
    text = "" if value is None else str(value)
    return {"type": "raw_text", "text": text[:500] or " "}


def table_block(columns, rows) -> dict:
    cols = list(columns)[:MAX_TABLE_COLUMNS]
    body = [list(r)[:MAX_TABLE_COLUMNS] for r in rows[: MAX_TABLE_ROWS - 1]]
    return {"type": "table", "rows": [[_cell(c) for c in cols], *[[_cell(v) for v in r]
                                                                  for r in body]]}


def needs_file(reply: Reply) -> bool:
    table = reply.table
    return bool(table and (table.row_count > MAX_TABLE_ROWS - 1
                           or len(table.columns) > MAX_TABLE_COLUMNS))


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": text},
              "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def render(reply: Reply) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for chat.postMessage / chat.update."""
    if reply.error:
        text = f":warning: {_escape(reply.error)}"
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}}]
    else:
        blocks = [{"type": "section",
                   "text": {"type": "mrkdwn", "text": _escape(reply.text)[:MAX_TEXT]}}]
    if reply.table is not None and reply.table.columns:
        blocks.append(table_block(reply.table.columns, reply.table.rows))
        table = reply.table
        if needs_file(reply):
            note = (f"Showing {min(table.row_count, MAX_TABLE_ROWS - 1)} of "
                    f"{table.row_count}{'+' if table.truncated else ''} rows and "
                    f"{min(len(table.columns), MAX_TABLE_COLUMNS)} of {len(table.columns)} "
                    "columns; the full result is attached as CSV.")
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    if reply.sql:
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": f"```{reply.sql[:MAX_TEXT]}```"}})
    if reply.actions and reply.turn_id is not None:
        value = str(reply.turn_id)
        blocks.append({"type": "actions", "block_id": "askdb_feedback", "elements": [
            _button("Correct", "askdb_correct", value, "primary"),
            _button("Wrong", "askdb_wrong", value, "danger"),
            _button("Fix SQL", "askdb_fix_sql", value),
        ]})
    return (reply.error or reply.text or "askdb")[:MAX_TEXT], blocks


def fix_sql_view(turn_id: int, sql: str, question: str, channel: str, thread_ts: str) -> dict:
    meta = json.dumps({"turn_id": turn_id, "channel": channel, "thread_ts": thread_ts})
    return {
        "type": "modal",
        "callback_id": FIX_SQL_VIEW,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": "Fix SQL"},
        "submit": {"type": "plain_text", "text": "Run"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"*Question:* {_escape(question)[:MAX_TEXT]}"}]},
            {"type": "input", "block_id": "sql", "label": {"type": "plain_text", "text": "SQL"},
             "element": {"type": "plain_text_input", "action_id": "sql_input",
                         "multiline": True, "initial_value": (sql or "")[:3000]}},
        ],
    }


# ---- the app -------------------------------------------------------------------------

class SlackAdapter:
    def __init__(self, config: SlackConfig, conversation: Conversation) -> None:
        self.config = config
        self.conversation = conversation
        client = AsyncWebClient(token=config.bot_token, base_url=config.api_url)
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        self.app = AsyncApp(client=client, signing_secret=config.signing_secret,
                            process_before_response=False)
        self._register()

    def _register(self) -> None:
        app = self.app

        async def ack_now(ack):
            await ack()

        async def on_mention(body, event, client):
            await self.answer(body, event, client)

        async def on_message(body, event, client):
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            await self.answer(body, event, client)

        app.event("app_mention")(ack=ack_now, lazy=[on_mention])
        app.event("message")(ack=ack_now, lazy=[on_message])
        app.action("askdb_correct")(self.on_verdict)
        app.action("askdb_wrong")(self.on_verdict)
        app.action("askdb_fix_sql")(self.on_fix_sql)
        app.view(FIX_SQL_VIEW)(self.on_fix_submitted)

    async def answer(self, body: dict, event: dict, client: AsyncWebClient) -> None:
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not await self._claim(event_id):
            log.info("duplicate delivery of %s ignored", event_id)
            return
        message = to_incoming(event, body.get("team_id") or event.get("team", ""))
        channel, root = event["channel"], event.get("thread_ts") or event["ts"]
        if not self.config.allows(channel, message.user_id):
            await client.chat_postMessage(
                channel=channel, thread_ts=root,
                text="Sorry, I'm not set up to answer here. Please ask in a channel "
                     "where askdb is enabled, or ask your admin for access.")
            return
        await self._quietly(client.reactions_add(channel=channel, timestamp=event["ts"],
                                                 name=THINKING))
        placeholder = await client.chat_postMessage(
            channel=channel, thread_ts=root, text="Looking that up…")
        uploaded = False

        async def post(reply: Reply) -> None:
            nonlocal uploaded
            text, blocks = render(reply)
            await client.chat_update(channel=channel, ts=placeholder["ts"], text=text,
                                     blocks=blocks)
            if needs_file(reply) and not uploaded:  # the note in the message promises it
                await client.files_upload_v2(
                    channel=channel, thread_ts=root, content=reply.table.to_csv(),
                    filename="askdb-result.csv", title="Full result (CSV)")
                uploaded = True

        # the table first (as soon as the query has run), then with the model's sentence
        await post(await self.conversation.handle(message, on_table=post))

    async def on_verdict(self, ack, body, client):
        await ack()
        action = body["actions"][0]
        kind = "verified" if action["action_id"] == "askdb_correct" else "wrong"
        try:
            thanks = await self.conversation.feedback(int(action["value"]), kind, "slack",
                                                      body["user"]["id"])
        except AskdbError as err:
            thanks = err.user_message
        await client.chat_postEphemeral(
            channel=body["channel"]["id"], user=body["user"]["id"], text=thanks,
            thread_ts=_thread_of(body))

    async def on_fix_sql(self, ack, body, client):
        await ack()
        turn_id = int(body["actions"][0]["value"])
        turn = await self._turn(turn_id)
        await client.views_open(trigger_id=body["trigger_id"], view=fix_sql_view(
            turn_id, turn.get("sql") or "", turn.get("question") or "",
            body["channel"]["id"], _thread_of(body)))

    async def on_fix_submitted(self, ack, body, view, client):
        meta = json.loads(view.get("private_metadata") or "{}")
        sql = view["state"]["values"]["sql"]["sql_input"].get("value") or ""
        user = body["user"]["id"]
        try:
            reply = await self.conversation.correct(int(meta["turn_id"]), sql, "slack", user)
        except AskdbError as err:
            await ack(response_action="errors", errors={"sql": err.user_message[:150]})
            return
        await ack()
        text, blocks = render(reply)
        await client.chat_postMessage(channel=meta["channel"], thread_ts=meta["thread_ts"],
                                      text=text, blocks=blocks)
        await client.chat_postEphemeral(channel=meta["channel"], user=user,
                                        thread_ts=meta["thread_ts"],
                                        text="Thanks! I saved your correction and will "
                                             "learn from it.")

    async def _claim(self, event_id: str) -> bool:
        return await asyncio.to_thread(self.conversation.store.claim_event, f"slack:{event_id}")

    async def _turn(self, turn_id: int) -> dict:
        return await asyncio.to_thread(self.conversation.store.turn, turn_id) or {}

    @staticmethod
    async def _quietly(call) -> None:
        try:
            await call
        except SlackApiError as err:  # a missing reaction scope must not stop the answer
            log.warning("Slack call failed: %s", err.response.get("error"))

    async def handle_http(self, request: web.Request) -> web.Response:
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)


def _thread_of(body: dict) -> str:
    message = body.get("message") or {}
    container = body.get("container") or {}
    return message.get("thread_ts") or container.get("thread_ts") or message.get("ts") or ""


SOCKET_KEY = web.AppKey("slack_socket", object)


def mount(app: web.Application, conversation: Conversation, config: SlackConfig) -> SlackAdapter:
    adapter = SlackAdapter(config, conversation)
    app.router.add_post("/slack/events", adapter.handle_http)
    if config.app_token:
        async def start_socket_mode(app: web.Application) -> None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(adapter.app, config.app_token)
            await handler.connect_async()
            app[SOCKET_KEY] = handler

        async def stop_socket_mode(app: web.Application) -> None:
            handler = app.get(SOCKET_KEY)
            if handler is not None:
                await handler.close_async()

        app.on_startup.append(start_socket_mode)
        app.on_cleanup.append(stop_socket_mode)
    return adapter
