"""Two `askdb serve` replicas on one PostgreSQL state: shared threads, one scheduler."""

from __future__ import annotations

import time

import pytest

from askdb.leader import FileLeadership, PostgresLeadership
from bot.store import ConversationStore
from tests.pgserver import create_database, postgres_server
from tests.serving import askdb_serve
from tests.test_adapter_swap import _ask, _get

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def state_url():
    with postgres_server() as base:
        yield create_database(base, "replicas")


def _role(url: str) -> str | None:
    try:
        return _get(url + "healthz").get("training_schedule")
    except OSError:
        return None


def _wait_roles(urls: list[str], timeout: float = 60) -> list[str | None]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        roles = [_role(u) for u in urls]
        if all(roles) and roles.count("leader") == 1:
            return roles
        time.sleep(0.3)
    pytest.fail(f"no single leader: {roles}")


def test_two_replicas_share_threads_and_elect_one_scheduler(
        state_url, tiny_model_dir, sample_url, tmp_path):
    env = {"ASKDB_MODEL": str(tiny_model_dir), "ASKDB_BACKEND": "torch",
           "ASKDB_DATABASE_URL": sample_url, "ASKDB_STATE_URL": state_url,
           "ASKDB_TRAIN_CRON": "0 3 * * *", "ASKDB_ADAPTER_POLL": "0.3",
           "ASKDB_MAX_NEW_TOKENS": "8", "ASKDB_ADAPTERS_DIR": str(tmp_path / "adapters")}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    servers = {}
    try:
        for name in ("a", "b"):
            manager = askdb_serve(tmp_path / name, env)
            servers[manager.__enter__()] = manager
        a, b = servers
        roles = _wait_roles([a, b])
        # one thread, two replicas: each turn lands in the shared state
        first, second = _ask(a, 7), _ask(b, 7)
        assert first["status"] == second["status"] == 200
        store = ConversationStore(state_url)
        assert [t["id"] for t in store.turns("web:t7")] == [first["turn_id"],
                                                             second["turn_id"]]
        store.dispose()
        # the leader goes away: the standby takes the schedule over
        leader, standby = (a, b) if roles[0] == "leader" else (b, a)
        servers.pop(leader).__exit__(None, None, None)
        assert _wait_roles([standby]) == ["leader"]
    finally:
        for manager in servers.values():
            manager.__exit__(None, None, None)


def test_postgres_lock_is_exclusive_and_freed_with_its_connection(state_url):
    first, second = PostgresLeadership(state_url), PostgresLeadership(state_url)
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_file_lock_is_exclusive(tmp_path):
    first, second = FileLeadership(tmp_path / "l"), FileLeadership(tmp_path / "l")
    assert first.try_acquire() and not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
