"""A local Bot Framework connector: records the activities a bot sends to a conversation."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Sent:
    conversation_id: str
    reply_to_id: str | None
    activity: dict
    at: float = field(default_factory=time.time)


class FakeConnector:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.url = ""

    def start(self) -> FakeConnector:
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
            app.router.add_post("/v3/conversations/{conversation}/activities/{reply}",
                                self._post)
            self.runner = web.AppRunner(app)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.sent.append(Sent(request.match_info["conversation"],
                                  request.match_info.get("reply"), body))
        return web.json_response({"id": f"act-{next(self._ids)}"})

    def messages(self, conversation_id: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.conversation_id == conversation_id
                    and s.activity.get("type") == "message"]

    def wait_for(self, predicate, timeout: float = 300.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.2)
        kinds = [s.activity.get("type") for s in self.sent]
        raise AssertionError(f"timed out; sent so far: {kinds}")
