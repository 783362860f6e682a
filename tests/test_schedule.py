"""The training schedule: cron-driven, starts a separate process only past the threshold."""

from __future__ import annotations

import asyncio
import sys

import pytest

from askdb.settings import Settings
from nlsql import ConfigError
from nlsql.examples import ExampleStore
from training.schedule import TrainingSchedule


def _marker_command(path) -> list[str]:
    return [sys.executable, "-c", f"open({str(path)!r}, 'a').write('ran\\n')"]


async def test_tick_trains_only_past_the_threshold(tmp_path):
    store = ExampleStore(f"sqlite:///{tmp_path / 'state.db'}")
    marker = tmp_path / "ran.txt"
    schedule = TrainingSchedule("0 2 * * *", lambda: store.count("db"), 3,
                                _marker_command(marker))
    store.add("db", "q1", "SELECT 1", "correction")
    store.add("db", "q2", "SELECT 2", "verified")
    assert await schedule.tick() is False and not marker.exists()
    store.add("db", "q3", "SELECT 3", "imported")
    store.add("other", "q4", "SELECT 4", "imported")  # another database does not count
    assert await schedule.tick() is True
    assert marker.read_text() == "ran\n" and schedule.last_exit == 0
    assert store.count("db", after_id=2) == 1


async def test_a_running_job_is_not_stacked(tmp_path):
    slow = [sys.executable, "-c", "import time; time.sleep(1.5)"]
    schedule = TrainingSchedule("* * * * *", lambda: 10, 1, slow)
    first = asyncio.create_task(schedule.tick())
    await asyncio.sleep(0.3)
    assert schedule.running
    assert await schedule.tick() is False  # skipped while the first still runs
    assert await first is True and schedule.runs_started == 1


async def test_shutdown_stops_the_run_in_progress():
    """A replica that loses the schedule's lock must not keep training beside the new leader."""
    slow = [sys.executable, "-c", "import time; time.sleep(60)"]
    schedule = TrainingSchedule("* * * * *", lambda: 10, 1, slow)
    run = asyncio.create_task(schedule.tick())
    for _ in range(50):
        await asyncio.sleep(0.1)
        if schedule._process is not None:
            break
    assert schedule.running
    schedule.shutdown()
    assert await asyncio.wait_for(run, 10) is True  # well before the 60 s sleep ends
    assert schedule.last_exit is not None and schedule.last_exit < 0  # SIGTERM
    assert not schedule.running


async def test_shutdown_while_counting_starts_nothing(tmp_path):
    marker = tmp_path / "ran.txt"

    def slow_count() -> int:
        import time

        time.sleep(0.5)
        return 10

    schedule = TrainingSchedule("* * * * *", slow_count, 1, _marker_command(marker))
    run = asyncio.create_task(schedule.tick())
    await asyncio.sleep(0.1)
    schedule.shutdown()  # the lock was lost while the count was running
    assert await run is False
    assert not marker.exists() and schedule.runs_started == 0


async def test_schedule_starts_on_the_event_loop():
    schedule = TrainingSchedule("30 3 * * *", lambda: 0, 1, ["true"])
    schedule.start()
    try:
        when = schedule.next_run_time
        assert (when.hour, when.minute) == (3, 30)
    finally:
        schedule.shutdown()


def test_bad_cron_is_a_config_error():
    with pytest.raises(ConfigError, match="cron"):
        Settings(train_cron="every night")
    assert Settings(train_cron="0 2 * * *").train_cron == "0 2 * * *"
