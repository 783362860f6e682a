"""The reference pages written from the code itself, so they cannot drift from it.

``docs/configuration.md`` is the settings object's fields (variable, default, help) and
``docs/cli.md`` the command line's parsers. ``make docs`` rewrites both; a test fails
when the committed pages differ from what this module writes.

    python -m askdb.reference docs/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .settings import Settings

CONFIGURATION = "configuration.md"
CLI = "cli.md"


def _default(value: str) -> str:
    home = str(Path.home())
    if value == "":
        return "(empty)"
    if value.startswith(home):  # the user default, not this machine's spelling of it
        value = "~" + value[len(home):]
    return f"`{value}`"


def configuration_page() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- written by `make docs` (askdb/reference.py) from askdb/settings.py: edit the",
        "     settings' help there, not this page -->",
        "",
        "Every setting is an environment variable; all are optional. Platform credentials",
        "keep their platforms' own names. `askdb doctor` checks the ones that can be wrong.",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for env, default, help_text in Settings.help_table():
        lines.append(f"| `{env}` | {_default(default)} | {help_text.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else ""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser,
                                                                   str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            return [(name, sub, helps.get(name) or "") for name, sub in action.choices.items()]
    return []


def _walk(parser: argparse.ArgumentParser, prefix: str, out: list[str]) -> None:
    for name, sub, help_text in _subcommands(parser):
        command = f"{prefix} {name}"
        children = _subcommands(sub)
        if children:
            out += [f"## `{command}`", "", _sentence(help_text), ""]
            _walk(sub, command, out)
            continue
        usage = " ".join(sub.format_usage().split())
        usage = usage.removeprefix("usage: ")
        out += [f"### `{command}`" if prefix != "askdb" else f"## `{command}`", "",
                _sentence(help_text), "", "```", usage, "```", ""]
        for action in sub._actions:
            if action.help in (None, argparse.SUPPRESS) or "-h" in action.option_strings:
                continue
            flag = ", ".join(action.option_strings) or action.dest
            out.append(f"- `{flag}`: {action.help.replace('%%', '%')}")
        if out[-1] != "":
            out.append("")


def cli_page() -> str:
    from .cli import parser

    out = [
        "# Command line reference",
        "",
        "<!-- written by `make docs` (askdb/reference.py) from the argument parsers: edit",
        "     the help in askdb/cli*.py, not this page -->",
        "",
        "`make` installs `askdb` into `.venv/bin/` (`. .venv/bin/activate` puts it on the",
        "PATH). Every command reads the same settings ([configuration](configuration.md))",
        "and the same home (`ASKDB_CACHE_DIR`).",
        "",
    ]
    _walk(parser(), "askdb", out)
    return "\n".join(out).rstrip() + "\n"


PAGES = {CONFIGURATION: configuration_page, CLI: cli_page}


def main(argv: list[str] | None = None) -> int:
    folder = Path((argv or sys.argv[1:] or ["docs"])[0])
    folder.mkdir(parents=True, exist_ok=True)
    for name, render in PAGES.items():
        (folder / name).write_text(render(), encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
