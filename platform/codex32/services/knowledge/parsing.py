"""Turning uploaded bytes into text with its structure: headings, and pages for a PDF.

Every format becomes one ``Parsed``: the plain text, the heading path of each stretch of it
and, for a PDF, where each page starts. Markdown headings are read from the text (outside
code fences); HTML is converted to the same Markdown-like text with selectolax (Lexbor, a
maintained C parser: scripts, styles and navigation dropped); PDF text is extracted page by
page with pypdf. Nothing here touches the database or the network.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from codex32.db.storable import storable
from codex32.errors import Invalid, UnsupportedMediaType

TEXT, MARKDOWN, HTML, PDF = "text/plain", "text/markdown", "text/html", "application/pdf"
MEDIA_TYPES = (TEXT, MARKDOWN, HTML, PDF)
EXTENSIONS = {".txt": TEXT, ".text": TEXT, ".md": MARKDOWN, ".markdown": MARKDOWN,
              ".html": HTML, ".htm": HTML, ".pdf": PDF}
ALIASES = {"text/x-markdown": MARKDOWN, "application/xhtml+xml": HTML,
           "application/x-pdf": PDF}
MAX_PDF_PAGES = 2000
MAX_HEADING_CHARS = 200  # each chunk under a heading stores, searches and embeds its path

# Greedy, then the closing '#'s stripped in Python: a lazy group before "[ \t#]*$" backtracks
# quadratically on a long line of '#'.
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+)$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_SKIPPED = {"script", "style", "noscript", "template", "nav", "svg", "iframe", "head",
            "form", "button"}
_BLOCKS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "ul", "ol",
           "table", "tr", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption",
           "address", "details", "summary", "hr"}
_CELLS = {"td", "th"}


class ParseError(Exception):
    """The document's bytes could not be read as its media type (the reason is the message)."""


@dataclass(frozen=True)
class Section:
    """A stretch ``[start, end)`` of the text under one heading path."""

    headings: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Parsed:
    """A document's text, its sections in order, and the offsets where PDF pages start."""

    text: str
    sections: list[Section]
    pages: list[int] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding ``offset`` (None for documents without pages)."""
        if not self.pages:
            return None
        page = 1
        for number, start in enumerate(self.pages, 1):
            if start <= offset:
                page = number
        return page


def media_type_of(declared: str | None, filename: str | None, content: bytes) -> str:
    """The document's media type from what the client declared, else its file name, else its
    first bytes; 415 for anything else."""
    kind = (declared or "").split(";", 1)[0].strip().lower()
    kind = ALIASES.get(kind, kind)
    if kind in MEDIA_TYPES:
        return kind
    if kind in ("", "application/octet-stream") and filename:
        suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
    if kind in ("", "application/octet-stream") and content.startswith(b"%PDF-"):
        return PDF
    raise UnsupportedMediaType(
        f"unsupported media type {kind or 'unknown'!r}: upload {', '.join(MEDIA_TYPES)}")


def check(media_type: str, content: bytes, field: tuple[str, str] = ("json", "text")) -> None:
    """422 unless ``content`` can be a document of ``media_type`` (cheap checks only: the full
    parse runs in the indexing job); the errors name ``field``, (location, name), where the
    request sent the content."""
    location, name = field

    def refused(message: str, why: str) -> Invalid:
        return Invalid(message, errors={location: {name: [why]}})

    if not content.strip():
        raise refused("the document is empty", "empty")
    if media_type == PDF:
        if not content.lstrip()[:5] == b"%PDF-":
            raise refused("the content is not a PDF (no %PDF- header)", "not a PDF")
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refused(f"the content is not UTF-8 text (byte {exc.start})", "not UTF-8") from None
    if not text.strip():  # a byte-order mark or Unicode spaces alone
        raise refused("the document is empty", "empty")
    if "\x00" in text:
        raise refused("the content holds NUL characters", "NUL characters are not text")


def parse(media_type: str, content: bytes) -> Parsed:
    """The document's text and structure; :class:`ParseError` when it cannot be read."""
    if media_type == PDF:
        return _pdf(content)
    text = content.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    if media_type == HTML:
        text = html_to_markdown(text)
    elif media_type == TEXT:
        return Parsed(text=text, sections=[Section((), 0, len(text))])
    return markdown(text)


def markdown(text: str) -> Parsed:
    """Sections of Markdown text, split at ATX headings (``#`` lines outside code fences)."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    start, offset, fenced = 0, 0, False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        found = None if fenced else _HEADING.match(line.rstrip("\n"))
        if found:
            if offset > start and text[start:offset].strip():
                sections.append(Section(tuple(h for _, h in path), start, offset))
            level = len(found.group(1))
            heading = (found.group(2).rstrip(" \t#") or found.group(2)[:1])[:MAX_HEADING_CHARS]
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
            start = offset + len(line)
        offset += len(line)
    if text[start:].strip() or not sections:
        sections.append(Section(tuple(h for _, h in path), start, len(text)))
    return Parsed(text=text, sections=sections)


def html_to_markdown(html: str) -> str:
    """HTML as Markdown-like text: headings as ``#`` lines, blocks as paragraphs, list items
    as ``-`` lines; scripts, styles, navigation and forms dropped."""
    from selectolax.lexbor import LexborHTMLParser  # only uploads of HTML pay for the import

    tree = LexborHTMLParser(html)
    out: list[str] = []
    title = tree.css_first("title")
    root = tree.body
    if root is None:
        return ""
    if title is not None and title.text(strip=True) and tree.css_first("h1") is None:
        out.append(f"# {title.text(strip=True)}\n\n")
    _walk(root, out)
    text = "".join(out)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _walk(root, out: list[str]) -> None:
    """Append ``root``'s content to ``out``; a stack, not recursion (HTML may nest without
    bound)."""
    stack = [(root.iter(include_text=True), "")]
    while stack:
        children, closing = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            out.append(closing)
            continue
        tag = child.tag
        if tag == "-text":
            out.append(child.text_content or "")
        elif tag in _SKIPPED or tag == "-comment":
            continue
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            heading = " ".join(child.text().split())
            if heading:
                out.append(f"\n\n{'#' * int(tag[1])} {heading}\n\n")
        elif tag == "br":
            out.append("\n")
        else:
            opening, closing = (("\n- ", "\n") if tag == "li" else ("", " | ") if tag in _CELLS
                                else ("\n\n", "\n\n") if tag in _BLOCKS else ("", ""))
            out.append(opening)
            stack.append((child.iter(include_text=True), closing))


def _pdf(content: bytes) -> Parsed:
    from pypdf import PdfReader  # only uploads of PDF pay for the import
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise ParseError("the PDF is encrypted")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise ParseError(f"the PDF has more than {MAX_PDF_PAGES} pages")
        # A string drawn with byte 0 extracts as NUL, which PostgreSQL text cannot hold; a
        # ToUnicode map may give half a UTF-16 pair, which has no UTF-8 form (U+FFFD).
        texts = [storable((page.extract_text() or "").replace("\x00", " ")).strip()
                 for page in reader.pages]
    except ParseError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ParseError(f"the PDF could not be read: {type(exc).__name__}: {exc}"[:500]) from None
    pages, parts, offset = [], [], 0
    for text in texts:
        pages.append(offset)
        parts.append(text + "\n\n")
        offset += len(text) + 2
    joined = "".join(parts)
    if not joined.strip():
        raise ParseError("the PDF holds no extractable text (a scan needs OCR first)")
    return Parsed(text=joined, sections=[Section((), 0, len(joined))], pages=pages)
