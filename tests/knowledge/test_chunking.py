"""Parsing and chunking without a database: headings kept as context, overlap between
neighbouring chunks, exact locations, and nothing lost."""

from __future__ import annotations

import itertools

import pytest

from codex32.errors import Invalid, UnsupportedMediaType
from codex32.services.gateway.tokens import count_text
from codex32.services.knowledge import chunking, parsing

LONG = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(120))
DOC = f"""# Guide

Intro paragraph.

## Setup

{LONG}

```python
# not a heading
print("hi")
```

### Linux

Install the package.

# Appendix

Last words.
"""


def test_chunks_keep_their_heading_path_and_exact_location():
    parsed = parsing.parse(parsing.MARKDOWN, DOC.encode())
    chunks = chunking.chunk(parsed, max_tokens=60, overlap=15)
    headings = [c.heading for c in chunks]
    assert headings[0] == "Guide"
    assert "Guide > Setup" in headings and "Guide > Setup > Linux" in headings
    assert headings[-1] == "Appendix"
    assert not any("not a heading" in h for h in headings)  # '#' inside a code fence
    for piece in chunks:
        assert DOC[piece.location["start"]:piece.location["end"]] == piece.text
        assert piece.tokens == count_text(piece.text) <= 60
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[1].for_embedding.startswith("Guide > Setup\n\n")


def test_neighbouring_chunks_of_a_section_overlap_and_cover_it_all():
    parsed = parsing.parse(parsing.TEXT, LONG.encode())
    chunks = chunking.chunk(parsed, max_tokens=50, overlap=20)
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        assert after.location["start"] < before.location["end"]  # they overlap
        shared = LONG[after.location["start"]:before.location["end"]]
        assert 0 < count_text(shared) <= 20
    assert chunks[0].location["start"] == 0 and chunks[-1].location["end"] == len(LONG)
    without = chunking.chunk(parsed, max_tokens=50, overlap=0)
    assert all(a.location["end"] <= b.location["start"]
               for a, b in itertools.pairwise(without))


def test_a_word_longer_than_a_chunk_is_cut():
    blob = "x" * 1500
    chunks = chunking.chunk(parsing.parse(parsing.TEXT, blob.encode()), max_tokens=100,
                            overlap=10)
    assert "".join(c.text for c in chunks) == blob
    assert all(c.tokens <= 100 for c in chunks)


def test_html_becomes_headed_text_without_scripts():
    parsed = parsing.parse(parsing.HTML, b"<h1>Top</h1><script>evil()</script><p>Body <i>text"
                           b"</i></p><h3>Deep</h3><table><tr><td>a</td><td>b</td></tr></table>")
    assert "evil" not in parsed.text and "Body text" in parsed.text
    assert [s.headings for s in parsed.sections] == [("Top",), ("Top", "Deep")]


@pytest.mark.parametrize(("declared", "filename", "content", "expected"), [
    ("text/markdown; charset=utf-8", None, b"# x", parsing.MARKDOWN),
    ("application/octet-stream", "page.HTM", b"<p>x", parsing.HTML),
    (None, None, b"%PDF-1.4 ...", parsing.PDF),
    ("text/x-markdown", None, b"x", parsing.MARKDOWN),
])
def test_the_media_type_comes_from_the_declaration_the_name_or_the_bytes(declared, filename,
                                                                        content, expected):
    assert parsing.media_type_of(declared, filename, content) == expected


def test_unknown_types_and_unreadable_text_are_refused():
    with pytest.raises(UnsupportedMediaType):
        parsing.media_type_of("image/png", "a.png", b"\x89PNG")
    with pytest.raises(Invalid, match="NUL"):
        parsing.check(parsing.TEXT, b"a\x00b")
