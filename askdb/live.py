"""Background jobs of ``askdb serve``: swap in promoted adapters, run the training schedule.

Both run on the server's event loop and hand blocking work to threads or processes, so
answering never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

from aiohttp import web

from nlsql import AskdbError, LazyText2Sql
from nlsql.examples import ExampleStore, database_key
from training.registry import AdapterRegistry

from .factory import adapter_file_for
from .leader import Leadership, leadership_for
from .settings import Settings

log = logging.getLogger(__name__)
WATCHER_KEY = web.AppKey("adapter_watcher", asyncio.Task)
SCHEDULE_KEY = web.AppKey("training_schedule", object)
LEADER_KEY = web.AppKey("schedule_leader", asyncio.Task)


class AdapterWatcher:
    """Swaps the serving model's adapter when the registry's promoted version changes."""

    def __init__(self, registry: AdapterRegistry, engine: LazyText2Sql) -> None:
        self.registry = registry
        self.engine = engine
        self.swaps = 0
        self._failed: set[str | None] = set()  # versions that would not load: not retried

    async def check(self) -> bool:
        """One look at the registry; True when the adapter was swapped."""
        if not self.engine.loaded:
            return False  # the loader applies the promoted adapter itself
        model = self.engine.get().model
        wanted = await asyncio.to_thread(self.registry.current_name)
        if wanted == getattr(model, "adapter_version", None) or wanted in self._failed:
            return False
        try:
            version = self.registry.get(wanted) if wanted else None
            path = adapter_file_for(model)(version)
            await asyncio.to_thread(model.set_adapter, path)
        except AskdbError as err:  # keep serving what we have; /healthz tells the truth
            log.error("could not swap in adapter %s: %s", wanted, err.user_message)
            self._failed.add(wanted)
            return False
        self._failed.discard(wanted)
        model.adapter_version = wanted
        self.swaps += 1
        log.info("now serving adapter %s", wanted or "(base model)")
        return True

    async def run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check()
            except Exception:  # a poll must never end the loop
                log.exception("adapter check failed")


class ScheduleRole:
    """Runs the training schedule only while this replica holds the leadership lock."""

    def __init__(self, schedule, leadership: Leadership) -> None:
        self.schedule = schedule
        self.leadership = leadership
        self.leader = False

    @property
    def name(self) -> str:
        return "leader" if self.leader else "standby"

    async def check(self) -> None:
        if self.leader:
            if not await asyncio.to_thread(self.leadership.still_held):
                log.warning("lost the training-schedule lock: schedule stopped here")
                self.schedule.shutdown()
                self.leader = False
        elif await asyncio.to_thread(self.leadership.try_acquire):
            self.schedule.start()
            self.leader = True
            log.info("this replica runs the training schedule (%s)", self.schedule.cron)

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a failed check must not end the loop
                log.exception("training-schedule lock check failed")
            await asyncio.sleep(interval_s)

    def stop(self) -> None:
        if self.leader:
            self.schedule.shutdown()
        self.leadership.release()
        self.leader = False


def install(app: web.Application, settings: Settings, engine: LazyText2Sql,
            examples: ExampleStore) -> ScheduleRole | None:
    """Start the watcher (always) and the training schedule (when configured).

    Returns the schedule's role (leader or standby among replicas), or None without one.
    """
    registry = AdapterRegistry(settings.adapters_path)
    watcher = AdapterWatcher(registry, engine)
    schedule = None
    if settings.train_cron:
        from training.schedule import TrainingSchedule

        key = database_key(settings.effective_database_url)
        schedule = TrainingSchedule(
            settings.train_cron,
            lambda: examples.count(key, after_id=registry.last_example_id()),
            _min_new(settings),
            [sys.executable, "-m", "askdb", "train", "--if-needed"],
            env=dict(os.environ),
        )

    role = None if schedule is None else ScheduleRole(
        schedule, leadership_for(settings.effective_state_url, settings.cache_path))

    async def start(app: web.Application) -> None:
        app[WATCHER_KEY] = asyncio.create_task(watcher.run(settings.adapter_poll_s))
        if role is not None:
            app[SCHEDULE_KEY] = schedule
            app[LEADER_KEY] = asyncio.create_task(role.run(settings.adapter_poll_s))

    async def stop(app: web.Application) -> None:
        tasks = [app[WATCHER_KEY]] + ([app[LEADER_KEY]] if role is not None else [])
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if role is not None:
            role.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return role


def _min_new(settings: Settings) -> int:
    from training.config import TrainConfig

    config = TrainConfig.from_file(settings.train_config) if settings.train_config \
        else TrainConfig()
    return config.min_new_examples
