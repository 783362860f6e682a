"""``askdb serve``: wire settings, store, pipeline and adapters, then run the server."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.audit import AuditLog
from bot.conversation import Conversation
from bot.metrics import Metrics
from bot.server import build_app
from bot.store import ConversationStore
from nlsql import LazyText2Sql
from nlsql.examples import ExampleStore, database_key

from . import live
from .factory import adapter_registry, build_text2sql, locations
from .settings import Settings

log = logging.getLogger(__name__)


def make_app(settings: Settings) -> web.Application:
    store = ConversationStore(settings.effective_state_url)
    examples = ExampleStore(store.engine)  # one store: corrections teach the next question
    engine = LazyText2Sql(lambda: build_text2sql(settings, examples=examples))

    def warm_up() -> None:
        try:
            engine.get().database.schema()
        except Exception as err:  # reported again, politely, on the first question
            log.warning("warm-up failed: %s", getattr(err, "user_message", err))

    metrics = Metrics(training_runs=lambda: adapter_registry(settings).runs())
    conversation = Conversation(
        engine, store, settings.history_turns,
        examples=examples,
        database=database_key(settings.effective_database_url),
        listeners=[AuditLog(store.engine), metrics],
    )
    role = None

    def status() -> dict:
        model = engine.get().model if engine.loaded else None
        return {"model_loaded": model is not None,
                "backend": type(model).__name__ if model is not None else None,
                "adapter": getattr(model, "adapter_version", None),
                "training_schedule": role.name if role is not None else None}

    app = build_app(conversation, warm_up, platform_mounts(settings), status,
                    lambda: engine.loaded, metrics)
    role = live.install(app, settings, engine, examples)

    async def worker_pool(app: web.Application) -> None:
        install_worker_pool(settings)

    app.on_startup.insert(0, worker_pool)
    return app


def announce_locations(settings: Settings) -> None:
    """Say at start where the model and the store are, and whether another store holds
    what people gave: two homes are seen in the first lines, not weeks later."""
    from .home import stray_stores, stray_warning

    for name, where in locations(settings).items():
        log.info("%s: %s", name, where)
    strays = stray_stores(settings.effective_state_url, settings.cache_path)
    if strays:
        log.warning(stray_warning(strays, settings.effective_state_url, settings.cache_path))


def install_worker_pool(settings: Settings) -> None:
    """Each question waits for the model in a worker thread; with batching, many questions
    wait at once, so the pool must be larger than the default (CPU count + 4)."""
    workers = max(8, 2 * settings.batch_slots + 4)
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="askdb"))


def _ids(value: str) -> frozenset[str]:
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def platform_mounts(settings: Settings) -> list:
    """The adapters whose credentials are configured."""
    mounts = []
    if settings.slack_bot_token:
        from bot.adapters import slack

        config = slack.SlackConfig(
            bot_token=settings.slack_bot_token,
            signing_secret=settings.slack_signing_secret,
            api_url=settings.slack_api_url,
            app_token=settings.slack_app_token,
            allowed_channels=_ids(settings.slack_allowed_channels),
            allowed_users=_ids(settings.slack_allowed_users),
        )
        mounts.append(lambda app, conversation: slack.mount(app, conversation, config))
        log.info("Slack enabled at /slack/events%s",
                 " and over Socket Mode" if settings.slack_app_token else "")
    if settings.teams_app_id or settings.teams_insecure_local:
        from bot.adapters import teams

        teams_config = teams.TeamsConfig(
            app_id=settings.teams_app_id,
            app_password=settings.teams_app_password,
            tenant_id=settings.teams_app_tenant_id,
            app_type=settings.teams_app_type,
        )
        mounts.append(lambda app, conversation: teams.mount(app, conversation, teams_config))
        log.info("Teams enabled at /api/messages%s", "" if settings.teams_app_id else
                 " WITHOUT authentication (ASKDB_TEAMS_INSECURE_LOCAL=1)")
    return mounts


def serve(settings: Settings, port: int | None = None, host: str | None = None) -> None:
    host = host or settings.host
    port = port or settings.port
    announce_locations(settings)
    log.info("askdb serving on http://%s:%d/", host, port)
    web.run_app(make_app(settings), host=host, port=port, print=None, access_log=None)
