"""Scheduled retraining inside ``askdb serve``: a cron job that trains only when it should.

Training takes minutes to hours and gigabytes, so the job starts ``askdb train`` as a
separate process and awaits it; the server's event loop and its model keep answering.
A job that fires while a run is still going is skipped, never stacked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)
KILL_AFTER_S = 30.0

class TrainingSchedule:
    def __init__(self, cron: str, new_examples: Callable[[], int], min_new: int,
                 command: Sequence[str], env: dict[str, str] | None = None) -> None:
        from apscheduler.triggers.cron import CronTrigger

        self.trigger = CronTrigger.from_crontab(cron)  # ValueError on a bad expression
        self.cron = cron
        self.new_examples = new_examples
        self.min_new = min_new
        self.command = list(command)
        self.env = env
        self.running = False
        self.runs_started = 0
        self.last_exit: int | None = None
        self._scheduler = None
        self._process: asyncio.subprocess.Process | None = None
        self._stopped = False  # shut down: a tick in flight must not start training

    def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._stopped = False
        self._scheduler = AsyncIOScheduler()
        self._scheduler.add_job(self.tick, self.trigger, id="askdb-train",
                                max_instances=1, coalesce=True, misfire_grace_time=3600)
        self._scheduler.start()
        log.info("training schedule '%s': next check at %s", self.cron, self.next_run_time)

    @property
    def next_run_time(self):
        job = self._scheduler.get_job("askdb-train") if self._scheduler else None
        return job.next_run_time if job else None

    def shutdown(self) -> None:
        """Stop scheduling, and stop a training run this replica started.

        Called when the replica loses the schedule's lock (another replica now runs the
        schedule) or stops: a run left going here could race the new leader's run on the
        shared adapter registry.
        """
        self._stopped = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self._stop_process()

    def _stop_process(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        log.warning("stopping the training run in progress (pid %d)", process.pid)
        process.terminate()
        try:  # a run that ignores SIGTERM is killed after a grace period
            asyncio.get_running_loop().call_later(
                KILL_AFTER_S, lambda: process.returncode is None and process.kill())
        except RuntimeError:  # no event loop here: SIGTERM is all we can send
            pass

    async def tick(self) -> bool:
        """One scheduled check; True when it started (and finished) a training run."""
        if self.running:
            log.info("training still running from the last schedule: skipped")
            return False
        new = await asyncio.to_thread(self.new_examples)
        if self._stopped:
            return False
        if new < self.min_new:
            log.info("training not needed: %d new examples (< %d)", new, self.min_new)
            return False
        self.running = True
        self.runs_started += 1
        try:
            log.info("training: %d new examples, starting %s", new, " ".join(self.command))
            self._process = await asyncio.create_subprocess_exec(*self.command, env=self.env)
            if self._stopped:  # shut down while the process was starting
                self._stop_process()
            self.last_exit = await self._process.wait()
            log.info("training process exited with %s", self.last_exit)
        finally:
            self.running = False
            self._process = None
        return True
