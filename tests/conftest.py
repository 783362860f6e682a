"""Shared fixtures: the sample database, the tiny model, the real bundled model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from askdb.settings import Settings
from nlsql.db.sampledb import create_sample_database

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> Path:
    return create_sample_database(tmp_path_factory.mktemp("db") / "jidouka.sqlite")


@pytest.fixture(scope="session")
def sample_url(sample_db) -> str:
    return f"sqlite:///{sample_db}"


@pytest.fixture(scope="module")
def sample_database(sample_url):
    """The sample database opened read-only, as the pipeline opens it."""
    from nlsql.db import ReadOnlyDatabase

    db = ReadOnlyDatabase(sample_url)
    yield db
    db.dispose()


def guarded_rows(database, sql: str) -> list:
    """Sorted rows of ``sql`` run through the guard on ``database``."""
    from nlsql.guard import SqlGuard

    guard = SqlGuard(database.dialect, database.schema().table_names, 1000)
    return sorted(database.run(guard.check(sql)).rows)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from nlsql import Text2SqlModel

    return Text2SqlModel.load(tiny_model_dir)


@pytest.fixture
def store(tmp_path):
    """A fresh conversation store (SQLite) per test."""
    from bot.store import ConversationStore

    return ConversationStore(f"sqlite:///{tmp_path / 'state.sqlite'}")


def real_settings(**overrides) -> Settings:
    """Settings for the real bundled model, prepared by `make` into askdb's home."""
    return Settings.from_env(dict(os.environ), **overrides)


@pytest.fixture(scope="module")
def real_model():
    """Module-scoped: 7 GB in fp32, so it must not stay loaded beside a served model."""
    from nlsql.models.files import bundled, converted_dir, is_prepared

    settings = real_settings()
    model = bundled(settings.model)
    if model is not None and not is_prepared(converted_dir(settings.cache_path, model)):
        pytest.fail(
            f"the bundled model is not prepared in {settings.cache_path}: run "
            "`make setup` (or `askdb model prepare`) before the model tests"
        )
    from askdb.factory import load_model

    return load_model(settings)
