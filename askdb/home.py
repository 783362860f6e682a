"""askdb's one home: where prepared models and its state live, for every way of starting it.

``make``, ``askdb serve`` and each CLI command resolve the same folder (``ASKDB_CACHE_DIR``,
default ``~/.cache/askdb``) whatever the shell or working directory, so a correction
given in the web chat of ``make run`` is the one ``askdb examples list`` shows. Earlier
releases had ``make`` keep a second home in the checkout's ``.cache``: a store found
there (or in any other known home) with corrections in it while the one in use is empty
is reported, never silently ignored: to a person it would look as if their corrections
were lost.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

STATE_FILE = "askdb-state.sqlite"
# the tables whose rows a person would miss: threads, feedback, worked examples
_COUNTED = {"turns": "askdb_turns", "feedback": "askdb_feedback", "examples": "askdb_examples"}
_CHECKOUT = Path(__file__).resolve().parents[1]  # the source tree of an editable install


def default_home() -> Path:
    """The home when ``ASKDB_CACHE_DIR`` is not set: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "askdb"


@dataclass(frozen=True)
class StoreContents:
    """How much a state store holds: what makes it worth reporting when it is not used."""

    location: str
    turns: int = 0
    feedback: int = 0
    examples: int = 0

    @property
    def empty(self) -> bool:
        return not (self.turns or self.feedback or self.examples)

    def summary(self) -> str:
        return (f"{self.location} ({self.examples} examples, {self.feedback} feedback, "
                f"{self.turns} turns)")


def sqlite_contents(path: Path) -> StoreContents | None:
    """Counts of a SQLite state file, read without creating or changing it (None: none)."""
    if not path.is_file():
        return None
    counts: dict[str, int] = {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        present = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for key, table in _COUNTED.items():
            if table in present:
                counts[key] = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return StoreContents(str(path), **counts)


def store_contents(url: str) -> StoreContents:
    """Counts of the store at a SQLAlchemy URL (SQLite file, PostgreSQL...)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return StoreContents(url)
        return sqlite_contents(Path(parsed.database)) or StoreContents(parsed.database)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            counts = {key: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                      for key, table in _COUNTED.items() if table in tables}
    finally:
        engine.dispose()
    return StoreContents(parsed.render_as_string(hide_password=True), **counts)


def other_homes(home: Path) -> list[Path]:
    """Homes askdb may have used before, other than ``home``: the user default, the
    checkout's ``.cache`` (``make`` before it used the user default), the working
    directory's, and the Docker image's."""
    candidates = [default_home(), _CHECKOUT / ".cache", Path.cwd() / ".cache",
                  Path("/opt/askdb-cache")]
    seen = {_resolved(home)}
    out = []
    for candidate in candidates:
        key = _resolved(candidate)
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except OSError:
        return path


def stray_stores(state_url: str, home: Path) -> list[StoreContents]:
    """Stores elsewhere that hold what a person gave, when the one in use holds nothing."""
    try:
        if not store_contents(state_url).empty:
            return []
    except sa.exc.SQLAlchemyError:
        return []  # the store itself is unreachable: doctor reports that on its own
    found = (sqlite_contents(other / STATE_FILE) for other in other_homes(home))
    return [store for store in found if store is not None and not store.empty]


def stray_warning(strays: list[StoreContents], state_url: str, home: Path) -> str:
    """One sentence naming the stores found and how to use one."""
    where = "; ".join(store.summary() for store in strays)
    first = Path(strays[0].location)
    return (f"the state store in use ({state_url}) is empty, but another holds what "
            f"people gave: {where}. Move it into the home (mv {first} {home / STATE_FILE}, "
            f"with askdb stopped) or point askdb at it (ASKDB_STATE_URL=sqlite:///{first})")
