"""Local web chat: a page at ``/`` and a JSON endpoint the page posts questions to.

Inbound: ``POST /api/chat`` ``{"thread": ..., "text": ...}`` -> IncomingMessage.
Outbound: Reply -> JSON; the page renders the table, SQL and answer itself. A client that
sends ``Accept: application/x-ndjson`` (the page does) gets one JSON line per version of
the reply instead: the table as soon as the query has run, then the reply with the model's
sentence, which replaces it; so the web chat shows the table first, like Slack and Teams.
"""

from __future__ import annotations

import json
import logging
from importlib import resources

from aiohttp import web

from nlsql import AskdbError

from ..conversation import Conversation
from ..messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
NDJSON = "application/x-ndjson"
CONVERSATION_KEY = web.AppKey("conversation", Conversation)


def to_incoming(payload: dict, remote: str) -> IncomingMessage:
    thread = str(payload.get("thread") or "default")[:200]
    return IncomingMessage(
        platform="web",
        thread_key=f"web:{thread}",
        text=str(payload.get("text") or ""),
        user_id=str(payload.get("user") or remote or "")[:100],
    )


def to_payload(reply: Reply) -> dict:
    return reply.to_json()


async def index(request: web.Request) -> web.Response:
    page = resources.files("bot.adapters").joinpath("static/chat.html").read_text("utf-8")
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def chat(request: web.Request) -> web.StreamResponse:
    payload = await _read_object(request, '{"thread": "t1", "text": "your question"}')
    if isinstance(payload, web.Response):
        return payload
    message = to_incoming(payload, request.remote or "")
    conversation = request.app[CONVERSATION_KEY]
    if NDJSON not in request.headers.get("Accept", ""):
        return _reply_json(await conversation.handle(message))
    response = web.StreamResponse(headers={"Content-Type": f"{NDJSON}; charset=utf-8",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)

    async def send(reply: Reply, final: bool = False) -> None:
        await response.write(_dumps({**to_payload(reply), "final": final}).encode() + b"\n")

    await send(await conversation.handle(message, on_table=send), final=True)
    await response.write_eof()
    return response


async def feedback(request: web.Request) -> web.Response:
    """``{"turn_id": N, "kind": "verified"|"wrong"}`` -> thanks."""
    payload = await _read_object(request, '{"turn_id": 1, "kind": "verified"}')
    if isinstance(payload, web.Response):
        return payload
    if payload.get("kind") not in ("verified", "wrong"):
        return _error(400, 'Send JSON like {"turn_id": 1, "kind": "verified"}.')
    return await _on_turn(request, payload, 404, lambda conversation, turn_id: (
        conversation.feedback(turn_id, payload["kind"], "web", request.remote or "")))


async def correct(request: web.Request) -> web.Response:
    """``{"turn_id": N, "sql": "..."}`` -> the corrected reply, or a one-line error."""
    payload = await _read_object(request, '{"turn_id": 1, "sql": "SELECT ..."}')
    if isinstance(payload, web.Response):
        return payload
    if not isinstance(payload.get("sql"), str):
        return _error(400, 'Send JSON like {"turn_id": 1, "sql": "SELECT ..."}.')
    return await _on_turn(request, payload, 422, lambda conversation, turn_id: (
        conversation.correct(turn_id, payload["sql"], "web", request.remote or "")))


async def _on_turn(request: web.Request, payload: dict, error_status: int, call):
    """Run ``call(conversation, turn_id)``; askdb errors become ``error_status``."""
    try:
        turn_id = int(payload.get("turn_id"))
    except (TypeError, ValueError):
        return _error(400, "turn_id must be a number.")
    try:
        result = await call(request.app[CONVERSATION_KEY], turn_id)
    except AskdbError as err:
        return _error(error_status, err.user_message)
    return _reply_json(result) if isinstance(result, Reply) else \
        web.json_response({"text": result})


async def _read_object(request: web.Request, example: str) -> dict | web.Response:
    """The request's JSON object, or the error response to send instead."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _error(413, "That message is too long.")
    try:
        payload = json.loads(raw.decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        return _error(400, f"Send JSON like {example}.")
    return payload


def _dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False)  # Vietnamese stays readable


def _reply_json(reply: Reply) -> web.Response:
    return web.json_response(to_payload(reply), dumps=_dumps)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "text": message}, status=status)


def mount(app: web.Application, conversation: Conversation) -> None:
    app[CONVERSATION_KEY] = conversation
    app.router.add_get("/", index)
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/feedback", feedback)
    app.router.add_post("/api/correct", correct)
