"""Test helpers: a running `askdb serve` subprocess, and fake services in a thread."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float) -> bool:
    """True once the server at ``url`` answers /healthz; False if it exits or is late."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url + "healthz", timeout=2)
            return True
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                return False
            time.sleep(0.5)


@contextmanager
def askdb_serve(tmp: Path, env: dict[str, str]):
    """Start `askdb serve` with ``env`` added; yield its base URL; stop it afterwards."""
    port = free_port()
    full = {**os.environ,
            "ASKDB_STATE_URL": f"sqlite:///{tmp / 'state.sqlite'}",
            "ASKDB_ANSWERER": "template", **env, "ASKDB_PORT": str(port)}
    log_path = tmp / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "askdb", "serve"], env=full,
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        if not wait_healthy(url, proc, 120):
            proc.kill()
            pytest.fail("askdb serve did not start: " + log_path.read_text()[-3000:])
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


class BackgroundServer:
    """An aiohttp app on a free local port, served from its own thread and loop."""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self):
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            self.routes(app)
            self.runner = web.AppRunner(app)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.origin = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    @staticmethod
    def wait_for(predicate, timeout: float = 900.0, what=lambda: ""):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting; {what()}")
