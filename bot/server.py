"""One aiohttp application hosting every configured platform on one port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from .adapters import web as web_chat
from .conversation import Conversation
from .metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)
WARM_UP_KEY = web.AppKey("warm_up", asyncio.Future)


def build_app(conversation: Conversation, warm_up=None, mounts=(),
              status: Callable[[], dict] | None = None,
              ready: Callable[[], bool] | None = None,
              metrics: Metrics | None = None) -> web.Application:
    """The server app; ``warm_up`` (blocking) runs in a thread after start-up.

    Loading a model takes seconds to minutes; the server accepts requests meanwhile,
    and questions that arrive early simply wait for the load.
    """
    app = web.Application(client_max_size=1024 * 1024)

    async def health(request: web.Request) -> web.Response:
        """Liveness: the process answers HTTP (plus what it serves, for operators)."""
        return web.json_response({"status": "ok", **(status() if status else {})})

    async def readiness(request: web.Request) -> web.Response:
        """Readiness: the model is loaded, so a question will not wait for a load."""
        ok = ready() if ready else True
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def scrape(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(metrics.render)  # reads the run records: blocking
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    if metrics is not None:
        app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", readiness)
    web_chat.mount(app, conversation)
    for mount in mounts:  # platform adapters chosen by configuration
        mount(app, conversation)
    if warm_up is not None:
        async def start_warm_up(app: web.Application) -> None:
            app[WARM_UP_KEY] = asyncio.get_running_loop().run_in_executor(None, warm_up)

        app.on_startup.append(start_warm_up)
    return app
