"""Adapter registry: versioned adapter folders, which one serves, and a log of every run.

Plain files under one folder, written atomically (temp file + rename) under a file
lock, so the trainer process and every server process agree on what is current without
talking to each other: servers poll ``registry.json`` and swap when it changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nlsql.errors import ConfigError

META = "askdb-adapter.json"


@dataclass(frozen=True)
class AdapterVersion:
    name: str
    path: Path
    meta: dict

    @property
    def status(self) -> str:
        return self.meta.get("status", "candidate")

    @property
    def gguf(self) -> Path | None:
        """The adapter converted for llama.cpp, when it was exported."""
        path = self.path / "adapter.gguf"
        return path if path.exists() else None


class AdapterRegistry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._state_file = self.root / "registry.json"
        self._runs_file = self.root / "runs.jsonl"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _state(self) -> dict:
        try:
            return json.loads(self._state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"current": None, "history": []}

    def _write_json(self, path: Path, data: dict) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        os.replace(tmp, path)

    # versions -------------------------------------------------------------------------
    def allocate(self) -> Path:
        """A new, empty version folder (v0001, v0002, ...)."""
        with self._locked():
            numbers = [int(p.name[1:]) for p in self.root.glob("v[0-9]*") if p.name[1:].isdigit()]
            path = self.root / f"v{max(numbers, default=0) + 1:04d}"
            path.mkdir()
        return path

    def write_meta(self, path: Path, meta: dict) -> None:
        self._write_json(Path(path) / META, meta)

    def update_meta(self, name: str, **changes) -> None:
        version = self.get(name)
        self.write_meta(version.path, {**version.meta, **changes})

    def versions(self) -> list[AdapterVersion]:
        out = []
        for path in sorted(self.root.glob("v[0-9]*")):
            try:
                meta = json.loads((path / META).read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # a run still writing, or one that died: not a version yet
            out.append(AdapterVersion(path.name, path, meta))
        return out

    def get(self, name: str) -> AdapterVersion:
        for version in self.versions():
            if version.name == name:
                return version
        raise ConfigError(f"There is no adapter version {name!r} in {self.root}.")

    def current(self) -> AdapterVersion | None:
        name = self._state().get("current")
        return self.get(name) if name else None

    def current_name(self) -> str | None:
        return self._state().get("current")

    # serving decisions ---------------------------------------------------------------
    def promote(self, name: str) -> AdapterVersion:
        version = self.get(name)  # must exist and be complete
        with self._locked():
            state = self._state()
            if state.get("current") != name:
                state["history"] = [*state.get("history", []), name]
                state["current"] = name
                self._write_json(self._state_file, state)
        self.update_meta(name, status="promoted",
                         promoted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        return version

    def rollback(self) -> str | None:
        """Serve the version promoted before the current one (None = the base model)."""
        with self._locked():
            state = self._state()
            history = state.get("history", [])
            if not history:
                raise ConfigError("Nothing to roll back: the base model is serving.")
            dropped = history.pop()
            state["current"] = history[-1] if history else None
            state["history"] = history
            self._write_json(self._state_file, state)
        self.update_meta(dropped, status="rolled back")
        return state["current"]

    def remove_weights(self, name: str) -> None:
        """Free the disk of a rejected run; its metadata stays for the record."""
        version = self.get(name)
        for child in version.path.iterdir():
            if child.name != META:
                shutil.rmtree(child) if child.is_dir() else child.unlink()

    # run log -------------------------------------------------------------------------
    def record_run(self, run: dict) -> None:
        with self._locked(), self._runs_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(run, ensure_ascii=False) + "\n")

    def runs(self) -> list[dict]:
        try:
            lines = self._runs_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def last_example_id(self) -> int:
        """The newest example any finished run has seen (the scheduler counts from it)."""
        return max((r.get("max_example_id", 0) for r in self.runs()), default=0)
