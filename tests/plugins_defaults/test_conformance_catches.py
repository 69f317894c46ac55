"""The LLM provider suite catches what it promises to: providers that pass everything else but
ignore ``max_tokens``, drop the usage, mis-stream, swallow an error in ``stream()`` or drop
the tools they declare.

Each broken provider is the OpenAI plugin with one fault, run against the fake OpenAI API; the
suite's checks are called as pytest would call them, and must fail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from codex32_openai import OpenAIProvider

from codex32.plugins.api import ChatChunk, ChatRequest, ChatResult, ProviderError, Usage
from codex32.testing import LLMProviderConformance, scripted_failures
from codex32.testing.fake_openai import FakeOpenAI

KEY = "sk-kit-c0dex32-LEAKCHECK-1d2e3f"


class IgnoresMaxTokens(OpenAIProvider):
    def complete(self, request: ChatRequest) -> ChatResult:
        return super().complete(dataclasses.replace(request, max_tokens=4096))

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        yield from super().stream(dataclasses.replace(request, max_tokens=4096))


class DropsUsage(OpenAIProvider):
    def complete(self, request: ChatRequest) -> ChatResult:
        return dataclasses.replace(super().complete(request), usage=Usage())

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        for chunk in super().stream(request):
            yield dataclasses.replace(chunk, usage=Usage() if chunk.usage else None)


class DropsTheFirstPiece(OpenAIProvider):
    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        chunks = super().stream(request)
        next(chunks)
        yield from chunks


class StreamsInOnePiece(OpenAIProvider):
    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        result = self.complete(request)
        yield ChatChunk(text=result.text, model=result.model, usage=result.usage)


class UsageOnEveryPiece(OpenAIProvider):
    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        usage = self.complete(request).usage
        for chunk in super().stream(request):
            yield dataclasses.replace(chunk, usage=usage)


class SwallowsStreamErrors(OpenAIProvider):
    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        try:
            yield from super().stream(request)
        except ProviderError:
            yield ChatChunk(text="Sorry, something went wrong.", usage=Usage())


class DropsTheTools(OpenAIProvider):
    """Declares ``tools`` but sends the request without them: the model answers text."""

    def complete(self, request: ChatRequest) -> ChatResult:
        return super().complete(dataclasses.replace(request, tools=(), tool_choice=None))


class LosesStreamedCalls(OpenAIProvider):
    """Streams the text but not the pieces of the calls."""

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        for chunk in super().stream(request):
            yield dataclasses.replace(chunk, tool_calls=())


class Suite(LLMProviderConformance):
    """The OpenAI plugin's suite, built by hand (pytest does not collect it)."""

    def __init__(self, plugin_class: type[OpenAIProvider], server: FakeOpenAI) -> None:
        self.plugin_class = plugin_class
        self.server = server
        self.plugin_config = {"base_url": server.url, "timeout": 5}
        self.plugin_secrets = {"api_key": KEY}

    def error_cases(self):
        return scripted_failures(self.server)


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def fails(suite: Suite, check: str) -> str:
    """Run one check of ``suite``; it must fail. Returns why."""
    try:
        getattr(suite, check)()
    except (AssertionError, pytest.fail.Exception) as exc:
        return str(exc)
    finally:
        for plugin in suite.__dict__.pop("_built", []):
            plugin.close()
    pytest.fail(f"{check} passed a {suite.plugin_class.__name__}")


def test_the_working_provider_passes_the_new_checks(server):
    suite = Suite(OpenAIProvider, server)
    for check in ("test_usage_is_what_the_backend_counted", "test_max_tokens_bounds_the_answer",
                  "test_stream_says_what_complete_says_in_pieces",
                  "test_provoked_failures_raise_the_same_errors_from_stream",
                  "test_tools_are_called_and_their_results_answered"):
        getattr(suite, check)()


@pytest.mark.parametrize(("broken", "check", "said"), [
    (IgnoresMaxTokens, "test_max_tokens_bounds_the_answer", "did not reach the backend"),
    (DropsUsage, "test_usage_is_what_the_backend_counted", "counts were not read"),
    (DropsTheFirstPiece, "test_stream_says_what_complete_says_in_pieces", "do not add up"),
    (StreamsInOnePiece, "test_stream_says_what_complete_says_in_pieces", "in one piece"),
    (UsageOnEveryPiece, "test_stream_says_what_complete_says_in_pieces", "before the last"),
    (SwallowsStreamErrors, "test_provoked_failures_raise_the_same_errors_from_stream",
     "nothing was raised"),
    (DropsTheTools, "test_tools_are_called_and_their_results_answered",
     "complete() made no tool call"),
    (LosesStreamedCalls, "test_tools_are_called_and_their_results_answered",
     "stream() made no tool call"),
])
def test_the_suite_catches_a_broken_provider(server, broken, check, said):
    assert said in fails(Suite(broken, server), check)
