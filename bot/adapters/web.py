"""Local web chat: a page at ``/`` and a JSON endpoint the page posts questions to.

Inbound: ``POST /api/chat`` ``{"thread": ..., "text": ...}`` -> IncomingMessage.
Outbound: Reply -> JSON; the page renders the table, SQL and answer itself.
"""

from __future__ import annotations

import json
import logging
from importlib import resources

from aiohttp import web

from ..conversation import Conversation
from ..messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
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


async def chat(request: web.Request) -> web.Response:
    try:
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _error(413, "That message is too long.")
        payload = json.loads(raw.decode("utf-8") or "{}")
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        return _error(400, 'Send JSON like {"thread": "t1", "text": "your question"}.')
    message = to_incoming(payload, request.remote or "")
    reply = await request.app[CONVERSATION_KEY].handle(message)
    return web.json_response(to_payload(reply), dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "text": message}, status=status)


def mount(app: web.Application, conversation: Conversation) -> None:
    app[CONVERSATION_KEY] = conversation
    app.router.add_get("/", index)
    app.router.add_post("/api/chat", chat)
