"""A local Bot Framework connector: records the activities a bot sends to a conversation."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.serving import BackgroundServer


@dataclass
class Sent:
    conversation_id: str
    reply_to_id: str | None
    activity: dict
    at: float = field(default_factory=time.time)
    id: str = ""
    updates: int = 0  # times the bot replaced this message (update_activity)


class FakeConnector(BackgroundServer):
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{reply}",
                            self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}",
                           self._put)

    @property
    def url(self) -> str:
        return self.origin + "/"

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            sent = Sent(request.match_info["conversation"], request.match_info.get("reply"),
                        body, id=f"act-{next(self._ids)}")
            self.sent.append(sent)
        return web.json_response({"id": sent.id})

    async def _put(self, request: web.Request) -> web.Response:
        """Replace a message the bot posted, as Teams shows an edited message in place."""
        body = await request.json()
        with self._lock:
            for sent in self.sent:
                if (sent.id == request.match_info["activity"]
                        and sent.conversation_id == request.match_info["conversation"]):
                    sent.activity, sent.updates = body, sent.updates + 1
                    return web.json_response({"id": sent.id})
        return web.json_response({"error": {"code": "NotFound"}}, status=404)

    def messages(self, conversation_id: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.conversation_id == conversation_id
                    and s.activity.get("type") == "message"]

    def wait_for(self, predicate, timeout: float = 900.0):
        def sent_kinds() -> str:
            return f"sent so far: {[x.activity.get('type') for x in self.sent]}"

        return super().wait_for(predicate, timeout, sent_kinds)
