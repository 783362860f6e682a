"""Write deploy/.env.example from the settings object, so it never misses a setting.

Usage: python scripts/env_example.py   (from the repository root; tests check the result)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from askdb.settings import Settings

EXAMPLES = {  # values that show the compose deployment rather than the local defaults
    "ASKDB_DATABASE_URL": "mssql+pyodbc://askdb_reader:CHANGE-ME@sqlserver:1433/Company"
                          "?driver=FreeTDS&TDS_Version=7.4&Encrypt=yes&TrustServerCertificate=yes",
    "ASKDB_STATE_URL": "postgresql+psycopg://askdb:CHANGE-ME@state:5432/askdb",
    "ASKDB_HOST": "0.0.0.0",
    "ASKDB_CACHE_DIR": "/opt/askdb-cache",
    "ASKDB_LOG_FORMAT": "json",
}


def main() -> None:
    lines = ["# Every askdb setting, with its default. Copy to deploy/.env and fill in.",
             "# Empty means unset. Values here override the image's defaults.", ""]
    for env, default, help_text in Settings.help_table():
        lines += [f"# {line}" for line in textwrap.wrap(help_text, 88)]
        lines += [f"{env}={EXAMPLES.get(env, default)}", ""]
    Path("deploy/.env.example").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
