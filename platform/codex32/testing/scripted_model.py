"""A scripted model: the next answers of a fake OpenAI or Anthropic server, in order.

For tests that drive a feature (the builder's conversation, say) through the real SDKs and the
gateway: script what "the model" answers, turn by turn, and read what it was asked.

    with FakeOpenAI() as server:
        model = ScriptedModel(server)
        model.says("not json").answers({"specification": {...}, "questions": []})
        ...                                   # the code under test calls the gateway twice
        assert model.asked[1]["messages"][-1]["content"].startswith("Your answer was invalid")

``answers(value)`` is structured output: the JSON text of ``value`` as OpenAI's message
content, or the forced tool's input on Anthropic (the fake builds the ``tool_use`` block);
``says(text)`` is plain text, which on a structured request is what an invalid answer looks
like. A request beyond the script fails loudly (the fake answers 400 naming the script), so a
test cannot pass on an answer it did not write.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from codex32.testing.fake_openai import JSONValue, ScriptedServer, structured_schema


class ScriptExhausted(ValueError):
    """The model was asked more often than the script says (the fake answers 400)."""


class ScriptedModel:
    """Installs itself as ``server.reply``; each chat request takes the next scripted answer."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.asked: list[JSONValue] = []  # the request bodies, oldest first
        self._answers: deque[str] = deque()
        self._lock = threading.Lock()
        server.reply = self._reply

    def says(self, *texts: str) -> ScriptedModel:
        """The next answers are these texts, as the model wrote them."""
        with self._lock:
            self._answers.extend(texts)
        return self

    def answers(self, *values: Any) -> ScriptedModel:
        """The next answers are these JSON values (structured output or tool input)."""
        return self.says(*(json.dumps(value) for value in values))

    @property
    def remaining(self) -> int:
        """Scripted answers not asked for yet."""
        with self._lock:
            return len(self._answers)

    def schemas(self) -> list[JSONValue]:
        """The JSON Schema each request asked its answer to match (None for free text)."""
        return [structured_schema(body) for body in self.asked]

    def prompt(self, index: int) -> str:
        """The text of every message of the ``index``-th request, joined (text parts only)."""
        body = self.asked[index]
        messages = body.get("messages", []) if isinstance(body, dict) else []
        parts: list[str] = []
        for message in messages if isinstance(messages, list) else []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(part.get("text")) for part in content
                             if isinstance(part, dict) and "text" in part)
        return "\n".join(parts)

    def detach(self) -> None:
        """Give the server its default answers back."""
        self.server.reply = None

    def _reply(self, body: JSONValue) -> str:
        with self._lock:
            self.asked.append(body)
            if not self._answers:
                raise ScriptExhausted(f"script exhausted: request {len(self.asked)} was not "
                                      "scripted")
            return self._answers.popleft()
