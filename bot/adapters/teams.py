"""Microsoft Teams through botbuilder's CloudAdapter at ``POST /api/messages``.

Kept to converters and one bot class so that moving to the Microsoft 365 Agents SDK
(which replaces the Bot Framework SDK for Python) touches this module only. Answers
are sent proactively after the HTTP turn has been acknowledged: a CPU model can take
longer than the Bot Framework waits for a reply to its POST.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass

import aiohttp
import jwt
from aiohttp import web
from botbuilder.core import ActivityHandler, CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, Attachment

from nlsql import AskdbError

from ..conversation import THANKS, Conversation
from ..messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

MAX_CARD_ROWS = 30
MAX_CARD_COLUMNS = 10
MAX_CARD_BYTES = 20_000  # Teams refuses messages over ~28 KB; leave room for the rest
MAX_CELL = 120


@dataclass(frozen=True)
class TeamsConfig:
    app_id: str = ""
    app_password: str = ""
    tenant_id: str = ""
    app_type: str = "MultiTenant"


class _BotConfiguration:
    """The attribute names botbuilder's configuration classes read."""

    def __init__(self, config: TeamsConfig) -> None:
        self.APP_ID = config.app_id
        self.APP_PASSWORD = config.app_password
        self.APP_TYPE = config.app_type
        self.APP_TENANTID = config.tenant_id


# ---- inbound -------------------------------------------------------------------------

def to_incoming(activity: Activity, text: str) -> IncomingMessage:
    return IncomingMessage(
        platform="teams",
        thread_key=f"teams:{activity.conversation.id}",
        text=" ".join((text or "").split()),
        user_id=(activity.from_property.aad_object_id or activity.from_property.id or "")
        if activity.from_property else "",
        user_name=activity.from_property.name or "" if activity.from_property else "",
        message_id=activity.id or "",
    )


# ---- outbound ------------------------------------------------------------------------

def _text(text: str, **extra) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _table(columns, rows) -> dict:
    def cell(value, bold: bool = False) -> dict:
        shown = "" if value is None else str(value)[:MAX_CELL]
        return {"type": "TableCell", "items": [_text(shown, **({"weight": "Bolder"}
                                                               if bold else {}))]}

    return {
        "type": "Table",
        "columns": [{"width": 1} for _ in columns],
        "firstRowAsHeader": True,
        "rows": [{"type": "TableRow", "cells": [cell(c, True) for c in columns]}]
        + [{"type": "TableRow", "cells": [cell(v) for v in row]} for row in rows],
    }


def render_card(reply: Reply, max_rows: int = MAX_CARD_ROWS) -> tuple[dict, int]:
    """(Adaptive Card 1.5, rows left out). Rows are cut until the card fits in size."""
    table = reply.table
    while True:
        body: list[dict] = [_text(reply.error or reply.text,
                                  **({"color": "Attention"} if reply.error else {}))]
        left_out = 0
        if table is not None and table.columns:
            columns = list(table.columns)[:MAX_CARD_COLUMNS]
            rows = [list(r)[:MAX_CARD_COLUMNS] for r in table.json_rows()[:max_rows]]
            left_out = table.row_count - len(rows)
            body.append(_table(columns, rows))
            if left_out or len(table.columns) > len(columns):
                body.append(_text(
                    f"{left_out:,} more rows and {len(table.columns) - len(columns)} more "
                    "columns are in the attached CSV file.", isSubtle=True, size="Small"))
        if reply.sql:
            body.append(_text("```\n" + reply.sql + "\n```", fontType="Monospace",
                              size="Small"))
        card = {"type": "AdaptiveCard", "version": "1.5",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "body": body}
        if reply.actions and reply.turn_id is not None:
            card["actions"] = _actions(reply.turn_id, reply.sql or "")
        if len(json.dumps(card)) <= MAX_CARD_BYTES or max_rows <= 1:
            return card, left_out
        max_rows //= 2


def _actions(turn_id: int, sql: str) -> list[dict]:
    return [
        {"type": "Action.Submit", "title": "Correct",
         "data": {"askdb": "verified", "turn_id": turn_id}},
        {"type": "Action.Submit", "title": "Wrong",
         "data": {"askdb": "wrong", "turn_id": turn_id}},
        {"type": "Action.ShowCard", "title": "Fix SQL", "card": {
            "type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "Input.Text", "id": "sql", "isMultiline": True, "value": sql,
                      "label": "Corrected SQL"}],
            "actions": [{"type": "Action.Submit", "title": "Run corrected SQL",
                         "data": {"askdb": "fix_sql", "turn_id": turn_id}}],
        }},
    ]


def csv_attachment(reply: Reply) -> Attachment:
    assert reply.table is not None
    data = base64.b64encode(reply.table.to_csv().encode()).decode()
    return Attachment(content_type="text/csv", name="askdb-result.csv",
                      content_url=f"data:text/csv;base64,{data}")


def to_activity(reply: Reply) -> Activity:
    card, left_out = render_card(reply)
    attachments = [CardFactory.adaptive_card(card)]
    table = reply.table
    if table is not None and (left_out or len(table.columns) > MAX_CARD_COLUMNS):
        attachments.append(csv_attachment(reply))
    activity = MessageFactory.attachment(attachments[0])
    activity.attachments = attachments
    activity.text = None
    activity.summary = (reply.error or reply.text)[:200]
    return activity


# ---- the bot -------------------------------------------------------------------------

class TeamsBot(ActivityHandler):
    def __init__(self, adapter: CloudAdapter, conversation: Conversation,
                 app_id: str) -> None:
        self.adapter = adapter
        self.conversation = conversation
        self.app_id = app_id
        self._tasks: set[asyncio.Task] = set()

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if isinstance(activity.value, dict) and activity.value.get("askdb"):
            await self._on_card_action(turn_context, activity.value)
            return
        if not await asyncio.to_thread(self.conversation.store.claim_event,
                                       f"teams:{activity.conversation.id}:{activity.id}"):
            return  # a redelivery of a message already being answered
        message = to_incoming(activity, TurnContext.remove_recipient_mention(activity))
        await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        reference = TurnContext.get_conversation_reference(activity)
        task = asyncio.create_task(self._answer_later(reference, message, activity.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_later(self, reference, message: IncomingMessage, reply_to: str) -> None:
        shown: list[str] = []

        async def show_table(early: Reply) -> None:  # the table first, the sentence next
            sent = await self._send(reference, to_activity(early), reply_to)
            if sent:
                shown.append(sent)

        reply = await self.conversation.handle(message, on_table=show_table)
        activity = to_activity(reply)
        if not shown or not await self._send(reference, activity, reply_to, replace=shown[0]):
            await self._send(reference, activity, reply_to)

    async def _send(self, reference, activity: Activity, reply_to: str | None,
                    replace: str | None = None) -> str | None:
        """Post ``activity`` (or put it in place of the message ``replace``); its id."""
        sent: list[str] = []

        async def send(context: TurnContext) -> None:
            # botbuilder replies to the id of the turn's activity: make the proactive
            # turn stand for the question, so the answer lands in its reply chain
            context.activity.id = reply_to
            if replace is None:
                response = await context.send_activity(activity)
            else:
                activity.id = replace
                response = await context.update_activity(activity)
            sent.append(getattr(response, "id", None) or replace or "")

        try:
            await self.adapter.continue_conversation(reference, send, self.app_id)
        except Exception:  # the connector may be down; the turn is stored regardless
            log.exception("could not send the Teams reply to %s", reference.conversation.id)
            return None
        return sent[0] if sent else None

    async def _on_card_action(self, turn_context: TurnContext, value: dict) -> None:
        kind, user = value.get("askdb"), to_incoming(turn_context.activity, "").user_id
        try:
            turn_id = int(value.get("turn_id"))
            if kind == "fix_sql":
                reply = await self.conversation.correct(turn_id, str(value.get("sql") or ""),
                                                        "teams", user)
                await turn_context.send_activity(to_activity(reply))
                await turn_context.send_activity(THANKS["correction"])
            elif kind in ("verified", "wrong"):
                await turn_context.send_activity(
                    await self.conversation.feedback(turn_id, kind, "teams", user))
        except AskdbError as err:
            await turn_context.send_activity(f"⚠️ {err.user_message}")
        except (TypeError, ValueError):
            await turn_context.send_activity("⚠️ I couldn't read that card action.")


def mount(app: web.Application, conversation: Conversation, config: TeamsConfig) -> TeamsBot:
    auth = ConfigurationBotFrameworkAuthentication(_BotConfiguration(config))
    adapter = CloudAdapter(auth)

    async def on_error(context: TurnContext, error: Exception) -> None:
        log.exception("Teams turn failed", exc_info=error)
        await context.send_activity("Sorry, something went wrong on my side. "
                                    "Please try again.")

    adapter.on_turn_error = on_error
    bot = TeamsBot(adapter, conversation, config.app_id)

    async def messages(request: web.Request) -> web.Response:
        try:
            return await adapter.process(request, bot)
        except (jwt.PyJWTError, PermissionError, aiohttp.ClientError, OSError) as err:
            # a token that cannot be verified (forged, expired, or the signing keys are
            # unreachable) is refused like a missing one
            log.warning("Teams request refused: %s", err)
            raise web.HTTPUnauthorized() from err

    app.router.add_post("/api/messages", messages)
    return bot
