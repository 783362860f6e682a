"""A local HTTP server that speaks the parts of Slack's Web API askdb uses, and records them."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.serving import BackgroundServer


@dataclass
class Call:
    method: str
    params: dict
    at: float = field(default_factory=time.time)


class FakeSlack(BackgroundServer):
    """Run in a background thread; ``base_url`` is what SLACK_API_URL should be."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}
        self.rate_limit_next: set[str] = set()  # methods answered 429 once
        self._ts = itertools.count(1)
        self._lock = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)

    @property
    def base_url(self) -> str:
        return self.origin + "/api/"

    # -- queries for tests -------------------------------------------------------------
    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate, timeout: float = 900.0):
        return super().wait_for(predicate, timeout,
                                lambda: f"calls so far: {[c.method for c in self.calls]}")

    # -- handlers ----------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = json.loads(await request.text() or "{}")  # auth.test sends no body
        else:
            params = dict(await request.post())
        params = {**dict(request.query), **params}  # some methods send query parameters
        for key in ("blocks", "view", "files"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        if method in self.rate_limit_next:
            self.rate_limit_next.discard(method)
            with self._lock:
                self.calls.append(Call(method + ":429", params))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": "1"})
        with self._lock:
            self.calls.append(Call(method, params))
        return web.json_response(self._answer(method, params, request))

    def _answer(self, method: str, params: dict, request: web.Request) -> dict:
        if method == "auth.test":
            if request.headers.get("Authorization", "").endswith("-revoked"):
                return {"ok": False, "error": "invalid_auth"}  # as Slack answers one
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test",
                    "user": "askdb", "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT"}
        if method in ("chat.postMessage", "chat.update"):
            ts = params.get("ts") or f"{int(time.time())}.{next(self._ts):06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            base = str(request.url.origin())
            return {"ok": True, "upload_url": f"{base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")}
                                          for f in files]}
        if method == "files.info":
            return {"ok": True, "file": {"id": params.get("file"), "name": "askdb-result.csv"}}
        return {"ok": True}

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.uploads[request.match_info["file_id"]] = body
            self.calls.append(Call("upload", {"file_id": request.match_info["file_id"]}))
        return web.Response(text=f"OK - {len(body)}")
