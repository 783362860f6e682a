"""The README and docs/ stay true: what they name exists, and every page is reachable.

Settings and commands are read from the code (the settings object, the argument
parsers), so a renamed variable or a removed command fails here instead of misleading
a reader.
"""

from __future__ import annotations

import argparse
import re

import pytest

from askdb import reference
from askdb.cli import parser
from askdb.settings import Settings
from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
ALL = [README, *PAGES]
README_MAX_LINES = 150

# variables named in the docs that belong to other programs, not to askdb's settings
FOREIGN = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING", "WEB_CHAT_SCREENSHOT"}
_VARIABLE = re.compile(r"\b(?:ASKDB|SLACK|TEAMS)_[A-Z0-9_]+\b")
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_COMMAND = re.compile(r"(?:^|[\s`(|;])askdb((?:\s+[a-z][a-z-]*)+)")
_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _commands() -> dict[str, set[str]]:
    """Top-level commands and the subcommands of each."""
    out: dict[str, set[str]] = {}
    for action in parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = set()
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        out[name] = set(inner.choices)
    return out


def _code_spans(text: str) -> list[str]:
    return [m.group(0).strip("`") for m in _CODE.finditer(text)]


@pytest.mark.parametrize("page", ALL, ids=lambda p: p.name)
def test_every_variable_named_exists(page):
    known = {env for env, _, _ in Settings.help_table()}
    named = set(_VARIABLE.findall(page.read_text(encoding="utf-8")))
    assert named - known - FOREIGN == set()


@pytest.mark.parametrize("page", ALL, ids=lambda p: p.name)
def test_every_command_named_exists(page):
    commands = _commands()
    wrong = []
    for span in _code_spans(page.read_text(encoding="utf-8")):
        for line in span.splitlines():
            for match in _COMMAND.finditer(line):
                words = match.group(1).split()
                command = words[0]
                if command not in commands:
                    wrong.append(f"askdb {command}")
                elif commands[command] and len(words) > 1 and words[1] not in commands[command]:
                    wrong.append(f"askdb {command} {words[1]}")
    assert wrong == []


def test_the_checks_catch_what_does_not_exist():
    commands = _commands()
    assert "examples" in commands and {"import", "list", "delete"} <= commands["examples"]
    assert not {"ASKDB_NO_SUCH"} <= {env for env, _, _ in Settings.help_table()}
    words = _COMMAND.search("run `askdb frobnicate now`").group(1).split()
    assert words[0] not in commands


@pytest.mark.parametrize("page", ALL, ids=lambda p: p.name)
def test_links_point_at_files_that_exist(page):
    for target, _anchor in _LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_is_a_front_door_to_every_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    linked = {(README.parent / target).resolve() for target, _ in _LINK.findall(text)}
    assert {p.resolve() for p in PAGES} - linked == set()
    picture = DOCS / "web-chat.png"
    assert picture.resolve() in linked and picture.read_bytes()[:4] == b"\x89PNG"
    for section in ("## Two commands", "## Connect your database", "## Slack",
                    "## Microsoft Teams", "## Training"):
        assert section in text


@pytest.mark.parametrize("name", sorted(reference.PAGES))
def test_generated_pages_are_current(name):
    """`make docs` writes these; a setting or option changed without it fails here."""
    assert (DOCS / name).read_text(encoding="utf-8") == reference.PAGES[name](), \
        f"docs/{name} is stale: run `make docs`"


def test_the_configuration_page_lists_every_setting_with_default_and_help():
    page = (DOCS / reference.CONFIGURATION).read_text(encoding="utf-8")
    for env, _default, help_text in Settings.help_table():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{env}` |")),
                   None)
        assert row is not None, env
        assert help_text.replace("|", "/") in row
