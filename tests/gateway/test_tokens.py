"""codex32.services.gateway.tokens: offline prompt counts for reservations and rate limits."""

from __future__ import annotations

import uuid

from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services.gateway import tokens


def test_a_repeated_message_is_tokenized_once_and_counted_alike(monkeypatch):
    encoding = tokens._encoding()
    assert encoding is not None
    encoded: list[str] = []
    real = encoding.encode

    def counting(text, **options):
        encoded.append(text)
        return real(text, **options)

    monkeypatch.setattr(encoding, "encode", counting)
    system = "You write Python bots. " * 50 + uuid.uuid4().hex
    first = tokens.prompt_tokens(ChatRequest(messages=(Message("system", system),
                                                       Message("user", "one"))))
    second = tokens.prompt_tokens(ChatRequest(messages=(Message("system", system),
                                                        Message("user", "one"))))
    assert encoded.count(system) == 1
    assert first == second > tokens.count_text(system)


def test_a_text_too_long_to_keep_is_still_counted():
    long = "word " * (tokens.MAX_CACHED_CHARS // 4)
    assert tokens.count_message(long) == tokens.count_text(long) > 0
