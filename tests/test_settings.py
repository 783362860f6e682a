"""The settings object: environment names, defaults, validation."""

from __future__ import annotations

import pytest

from askdb.settings import Settings
from nlsql import ConfigError


def test_from_env_reads_askdb_names(tmp_path):
    settings = Settings.from_env({
        "ASKDB_DATABASE_URL": "postgresql+psycopg://x/y",
        "ASKDB_STATE_URL": "sqlite:///s.db",
        "ASKDB_MODEL": "/models/mine",
        "ASKDB_PORT": "4000",
        "ASKDB_QUERY_TIMEOUT": "2.5",
        "ASKDB_CACHE_DIR": str(tmp_path),
    })
    assert settings.effective_database_url == "postgresql+psycopg://x/y"
    assert settings.effective_state_url == "sqlite:///s.db"
    assert settings.model == "/models/mine"
    assert settings.port == 4000 and settings.query_timeout_s == 2.5


def test_defaults_use_the_sample_database(tmp_path):
    settings = Settings.from_env({"ASKDB_CACHE_DIR": str(tmp_path)})
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'jidouka.sqlite'}"
    assert settings.effective_state_url.startswith("sqlite:///")
    assert settings.port == 3978


@pytest.mark.parametrize("env, message", [
    ({"ASKDB_PORT": "abc"}, "ASKDB_PORT"),
    ({"ASKDB_PORT": "70000"}, "not a port"),
    ({"ASKDB_ANSWERER": "poetry"}, "ASKDB_ANSWERER"),
    ({"ASKDB_MAX_ROWS": "0"}, "positive"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"),
    ({"TEAMS_APP_TYPE": "Everyone"}, "TEAMS_APP_TYPE"),
    ({"TEAMS_APP_ID": "x", "ASKDB_TEAMS_INSECURE_LOCAL": "1"}, "only allowed without"),
])
def test_bad_values_are_config_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_every_setting_has_help():
    for env, _default, text in Settings.help_table():
        assert env.startswith(("ASKDB_", "SLACK_", "TEAMS_")) and text


def test_the_configuration_reference_documents_every_setting():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    missing = [env for env, _d, _t in Settings.help_table() if f"`{env}`" not in page]
    assert not missing, f"docs/configuration.md lacks {missing}"
