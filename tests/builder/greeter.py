"""A greeting bot's files as a model would answer them, and its specification: the builder's
tests script these answers (``answer(files)``) on the fake model."""

from __future__ import annotations

import json
from typing import Any

GOOD_BOT = '''"""Greets whoever the event names."""


def main(event: dict, context) -> dict:
    """Return a greeting for ``event["name"]``."""
    name = event.get("name", "world")
    context.logger.info("greeting %s", name)
    return {"greeting": f"Hello, {name}!"}
'''

GOOD_TESTS = '''"""Tests of the greeting bot."""

import logging

import pytest

import bot


class FakeContext:
    logger = logging.getLogger("test")
    secrets: dict = {}
    execution_id = "e-1"
    bot_id = "b-1"


@pytest.mark.parametrize("name", ["Ada", "Zoë"])
def test_greets_the_name(name):
    assert bot.main({"name": name}, FakeContext())["greeting"] == f"Hello, {name}!"


def test_greets_the_world_by_default():
    assert bot.main({}, FakeContext()) == {"greeting": "Hello, world!"}
'''

GOOD_FILES = {"bot.py": GOOD_BOT, "test_bot.py": GOOD_TESTS,
              "requirements.txt": "# standard library only\n",
              "README.md": "# greeter\n\n## Overview\n\nGreets.\n\n## Configuration\n\nNone."
                           "\n\n## Usage\n\n`{\"name\": \"Ada\"}`\n\n## Troubleshooting\n\nNone.\n"}

SPEC = {"name": "greeter", "purpose": "Greet whoever the event names.",
        "trigger": {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
        "limits": {"timeout_seconds": 20}, "secrets": ["GREETING_TOKEN"],
        "outputs": [{"kind": "email", "target": "ops@example.com"}]}


def answer(files: dict[str, str] | None = None, **extra: Any) -> str:
    """A model answer carrying ``files`` as the builder's prompt asks."""
    return json.dumps({**({"files": files} if files is not None else {}), **extra})
