"""Helpers of the builder's tests: a scripted model answering through the fake OpenAI server,
model answers carrying files, and the pipeline called as a queue job would call it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from codex32.services import gateway
from codex32.services.builder import pipeline
from codex32.services.builder.report import Build
from codex32.testing.fake_openai import FakeOpenAI

Answer = str | dict[str, Any] | Callable[[dict[str, Any]], str]

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


class ScriptedModel:
    """The workspace's model: answers each chat with the next scripted answer (an answer
    string, or a callable of the request body); unscripted requests fail the test loudly."""

    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.script: list[Answer] = []
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server.reply = self._reply

    def then(self, *answers: Answer) -> ScriptedModel:
        self.script.extend(answers)
        return self

    def _reply(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.bodies.append(body)
            if not self.script:
                return "unscripted request"
            found = self.script.pop(0)
        return found(body) if callable(found) else str(found)

    def prompt(self, index: int) -> str:
        """Every message of the ``index``-th request, joined."""
        return "\n".join(m["content"] for m in self.bodies[index]["messages"])


def run_build(app, tenant, spec: dict[str, Any], **options: Any) -> Build:
    """Call the pipeline as a job does: an app context, no transaction open."""
    options.setdefault("caller", gateway.Caller(conversation_id="conv-1"))
    with app.app_context():
        return pipeline.build(tenant.workspace_id, spec, **options)
