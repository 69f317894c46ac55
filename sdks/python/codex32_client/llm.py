"""The LLM gateway (v1 only: ``POST /api/v1/llm/chat``), whole or streamed.

A stream is Server-Sent Events: ``chunk`` events with ``text``, then one ``done`` event (usage,
cost, attempts) or an ``error`` event. ``chat_stream`` yields the texts and keeps the ``done``
event's data as ``.result``; an ``error`` event raises. Stopping early closes the connection,
which stops the upstream call on the server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from codex32_client.api_v1 import AuthenticatedClient
from codex32_client.api_v1.api.llm import chat
from codex32_client.api_v1.models import Chat, ChatAnswer, Message
from codex32_client.errors import (
    Codex32Error,
    Timeout,
    TransportError,
    acall,
    call,
    expect,
    from_answer,
)

CHAT_PATH = "/api/v1/llm/chat"

Messages = Sequence[Message | Mapping[str, str]]


def chat_body(messages: Messages, **options: Any) -> Chat:
    """The request body: ``messages`` as models or ``{"role", "content"}`` mappings."""
    given = {name: value for name, value in options.items() if value is not None}
    return Chat.from_dict({"messages": [m.to_dict() if isinstance(m, Message) else dict(m)
                                        for m in messages], **given})


class _Stream:
    """What the sync and async streams share: reading one event, typing a failure."""

    def __init__(self, answer: httpx.Response) -> None:
        self._answer = answer
        self.result: dict[str, Any] | None = None

    def _take(self, event: str, data: dict[str, Any]) -> str | None:
        """One event: a chunk's text; ``done`` kept as ``result``; ``error`` raised."""
        if event == "chunk":
            return str(data.get("text", ""))
        if event == "done":
            self.result = data
        elif event == "error":
            code = data.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 502
            raise from_answer(status, self._answer.headers, json.dumps(data).encode())
        return None

    def _broken(self, exc: ValueError | httpx.TransportError) -> Codex32Error:
        if isinstance(exc, ValueError):  # not an event this API sends (a proxy's, a cut one)
            unreadable = {"message": f"unreadable event in the stream: {exc}"}
            return from_answer(502, self._answer.headers, json.dumps(unreadable).encode())
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(f"no chunk within the timeout: {exc}")
        return TransportError(f"the stream broke: {exc}")


class ChatStream(_Stream):
    """The texts of a streamed answer, in order; ``result`` holds the final ``done`` data."""

    def __iter__(self) -> Iterator[str]:
        try:
            for event, data in _events(self._answer.iter_lines()):
                text = self._take(event, data)
                if text is not None:
                    yield text
        except (ValueError, httpx.TransportError) as exc:
            raise self._broken(exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (the server stops the upstream call and records what was produced)."""
        self._answer.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChatStream(_Stream):
    """``ChatStream`` for ``AsyncCodex32``: ``async for`` the texts; ``aclose()`` stops it."""

    async def __aiter__(self) -> AsyncIterator[str]:
        events = _Events()
        try:
            async for line in self._answer.aiter_lines():
                for event, data in events.feed(line):
                    text = self._take(event, data)
                    if text is not None:
                        yield text
            for event, data in events.end():
                self._take(event, data)
        except (ValueError, httpx.TransportError) as exc:
            raise self._broken(exc) from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._answer.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Events:
    """Server-Sent Events fed line by line: (event name, JSON object data) per event;
    ValueError for other data."""

    def __init__(self) -> None:
        self.event, self.data = "message", list[str]()

    def feed(self, line: str) -> list[tuple[str, dict[str, Any]]]:
        if not line:
            return self.end()
        if line.startswith("event:"):
            self.event = line[6:].strip()
        elif line.startswith("data:"):
            self.data.append(line[5:].removeprefix(" "))
        return []

    def end(self) -> list[tuple[str, dict[str, Any]]]:
        """The event being read, if it has data (at a blank line or the stream's end)."""
        done = [(self.event, _object("\n".join(self.data)))] if self.data else []
        self.event, self.data = "message", []
        return done


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON object data) per Server-Sent Event; ValueError for other data."""
    events = _Events()
    for line in lines:
        yield from events.feed(line)
    yield from events.end()


def _object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"an event's data is not a JSON object: {text[:100]!r}")
    return value


class Llm:
    """``client.llm``: chat through the workspace's route (aliases, fallback, budgets)."""

    def __init__(self, api: AuthenticatedClient) -> None:
        self.api = api

    def chat(self, messages: Messages, *, model: str | None = None,
             max_tokens: int | None = None, temperature: float | None = None,
             json_mode: bool | None = None, cache: bool | None = None,
             timeout: float | None = None) -> ChatAnswer:
        """The whole answer at once."""
        body = chat_body(messages, model=model, max_tokens=max_tokens, temperature=temperature,
                         json_mode=json_mode, cache=cache, timeout=timeout)
        return expect(call(chat.sync_detailed, client=self.api, body=body), ChatAnswer)

    def chat_stream(self, messages: Messages, *, model: str | None = None,
                    max_tokens: int | None = None, temperature: float | None = None,
                    timeout: float | None = None) -> ChatStream:
        """The answer as it is produced: iterate for text chunks. Errors before the first chunk
        (401, 422, 429 after retries) raise here; a failure later raises while iterating."""
        body = chat_body(messages, model=model, max_tokens=max_tokens, temperature=temperature,
                         timeout=timeout, stream=True)
        http = self.api.get_httpx_client()
        request = http.build_request("POST", CHAT_PATH, json=body.to_dict(),
                                     headers={"Accept": "text/event-stream"})
        answer = call(http.send, request, stream=True)
        if answer.status_code >= 400:
            answer.read()
            answer.close()
            raise from_answer(answer.status_code, answer.headers, answer.content)
        return ChatStream(answer)


class AsyncLlm:
    """``client.llm`` of ``AsyncCodex32``: the same calls, awaited."""

    def __init__(self, api: AuthenticatedClient) -> None:
        self.api = api

    async def chat(self, messages: Messages, *, model: str | None = None,
                   max_tokens: int | None = None, temperature: float | None = None,
                   json_mode: bool | None = None, cache: bool | None = None,
                   timeout: float | None = None) -> ChatAnswer:
        """The whole answer at once."""
        body = chat_body(messages, model=model, max_tokens=max_tokens, temperature=temperature,
                         json_mode=json_mode, cache=cache, timeout=timeout)
        return expect(await acall(chat.asyncio_detailed, client=self.api, body=body), ChatAnswer)

    async def chat_stream(self, messages: Messages, *, model: str | None = None,
                          max_tokens: int | None = None,
                          temperature: float | None = None,
                          timeout: float | None = None) -> AsyncChatStream:
        """The answer as it is produced: ``async for`` its text chunks. Errors before the first
        chunk raise here; a failure later raises while iterating."""
        body = chat_body(messages, model=model, max_tokens=max_tokens, temperature=temperature,
                         timeout=timeout, stream=True)
        http = self.api.get_async_httpx_client()
        request = http.build_request("POST", CHAT_PATH, json=body.to_dict(),
                                     headers={"Accept": "text/event-stream"})
        answer = await acall(http.send, request, stream=True)
        if answer.status_code >= 400:
            await answer.aread()
            await answer.aclose()
            raise from_answer(answer.status_code, answer.headers, answer.content)
        return AsyncChatStream(answer)
