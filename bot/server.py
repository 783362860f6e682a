"""One aiohttp application hosting every configured platform on one port."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .adapters import web as web_chat
from .conversation import Conversation

log = logging.getLogger(__name__)
WARM_UP_KEY = web.AppKey("warm_up", asyncio.Future)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(conversation: Conversation, warm_up=None, mounts=()) -> web.Application:
    """The server app; ``warm_up`` (blocking) runs in a thread after start-up.

    Loading a model takes seconds to minutes; the server accepts requests meanwhile,
    and questions that arrive early simply wait for the load.
    """
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", health)
    web_chat.mount(app, conversation)
    for mount in mounts:  # platform adapters chosen by configuration
        mount(app, conversation)
    if warm_up is not None:
        async def start_warm_up(app: web.Application) -> None:
            app[WARM_UP_KEY] = asyncio.get_running_loop().run_in_executor(None, warm_up)

        app.on_startup.append(start_warm_up)
    return app
