"""Token-aware chunking with overlap that keeps each chunk's heading path.

A section's text is cut into units at sentence ends and line breaks (a unit longer than a
chunk is cut at spaces, and a "word" longer than a chunk by characters); units are packed into
chunks of at most ``max_tokens`` tokens (o200k, the gateway's tokenizer), and each chunk after
the first of a section starts with the trailing units of the one before, up to ``overlap``
tokens. Chunks never cross a section, so a chunk's heading path is exact; the path is stored
with the chunk, searched with it, and put before its text when it is embedded. A chunk's text
is a slice of the document's text, so its location (character offsets, PDF page) is exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from codex32.services.gateway.tokens import count_text
from codex32.services.knowledge.parsing import Parsed

HEADING_SEPARATOR = " > "
_BOUNDARY = re.compile(r"(?<=[.!?])[ \t]+|\n+")
_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Chunk:
    """One passage: its position among the document's chunks, heading path, text, size and
    location (``start``/``end`` character offsets, and ``page`` for a PDF)."""

    ordinal: int
    heading: str
    text: str
    tokens: int
    location: dict[str, Any]

    @property
    def for_embedding(self) -> str:
        """What the embedder sees: the heading path as context, then the passage."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


def chunk(parsed: Parsed, *, max_tokens: int, overlap: int) -> list[Chunk]:
    """The document's chunks in order (none for a document without text)."""
    if max_tokens < 8 or not 0 <= overlap < max_tokens:
        raise ValueError("max_tokens must be at least 8 and overlap below it")
    chunks: list[Chunk] = []
    for section in parsed.sections:
        heading = HEADING_SEPARATOR.join(section.headings)
        current: list[_Unit] = []
        total = 0
        for unit in _units(parsed.text, section.start, section.end, max_tokens):
            if current and total + unit.tokens > max_tokens:
                chunks.append(_chunk(parsed, len(chunks), heading, current))
                current = _tail(current, overlap)
                total = sum(u.tokens for u in current)
                while current and total + unit.tokens > max_tokens:
                    total -= current.pop(0).tokens
            current.append(unit)
            total += unit.tokens
        if current and parsed.text[current[0].start:current[-1].end].strip():
            chunks.append(_chunk(parsed, len(chunks), heading, current))
    return chunks


def _tail(units: list[_Unit], overlap: int) -> list[_Unit]:
    """The trailing units of a chunk that fit in ``overlap`` tokens (its overlap)."""
    kept: list[_Unit] = []
    total = 0
    for unit in reversed(units):
        if total + unit.tokens > overlap:
            break
        kept.insert(0, unit)
        total += unit.tokens
    return kept


def _chunk(parsed: Parsed, ordinal: int, heading: str, units: list[_Unit]) -> Chunk:
    start, end = units[0].start, units[-1].end
    text = parsed.text[start:end]
    # Leading and trailing blanks are no part of the passage; offsets follow the trim.
    stripped = text.lstrip()
    start += len(text) - len(stripped)
    text = stripped.rstrip()
    end = start + len(text)
    location: dict[str, Any] = {"start": start, "end": end}
    page = parsed.page_at(start)
    if page is not None:
        location["page"] = page
        last = parsed.page_at(max(start, end - 1))
        if last != page:
            location["page_end"] = last
    return Chunk(ordinal=ordinal, heading=heading, text=text, tokens=count_text(text),
                 location=location)


def _units(text: str, start: int, end: int, max_tokens: int) -> Iterator[_Unit]:
    position = start
    for found in _BOUNDARY.finditer(text, start, end):
        yield from _sized(text, position, found.end(), max_tokens)
        position = found.end()
    if position < end:
        yield from _sized(text, position, end, max_tokens)


def _sized(text: str, start: int, end: int, max_tokens: int) -> Iterator[_Unit]:
    """One unit for the span, or several when it holds more than ``max_tokens`` tokens."""
    span = text[start:end]
    if not span.strip():
        yield _Unit(start, end, 0)
        return
    tokens = count_text(span)
    if tokens <= max_tokens:
        yield _Unit(start, end, tokens)
        return
    piece, total = start, 0
    for word in _WORD.finditer(span):
        at = start + word.start()
        size = count_text(word.group())
        if size > max_tokens:  # no space to cut at: cut by characters (a token >= 1 char)
            if total:
                yield _Unit(piece, at, total)
            for cut in range(at, start + word.end(), max_tokens):
                stop = min(cut + max_tokens, start + word.end())
                yield _Unit(cut, stop, count_text(text[cut:stop]))
            piece, total = start + word.end(), 0
            continue
        if total and total + size > max_tokens:
            yield _Unit(piece, at, total)
            piece, total = at, 0
        total += size
    if piece < end:
        yield _Unit(piece, end, total)
