"""Syntax highlighting of generated files and diffs, on the server (Pygments), as HTML whose
colours come from the console's own stylesheet (no inline styles: the pages' CSP forbids them)."""

from __future__ import annotations

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

FORMATTER = HtmlFormatter(cssclass="code", nowrap=False)
MAX_CHARS = 200_000  # a longer file is shown plain


def code(path: str, text: str) -> Markup:
    """``text`` highlighted by the lexer its file name suggests (plain when none fits)."""
    try:
        lexer = get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    if len(text) > MAX_CHARS:
        lexer = TextLexer(stripnl=False)
    return Markup(highlight(text, lexer, FORMATTER))


def stylesheet() -> str:
    """The CSS rules for the highlighted tokens (served as a static-like file)."""
    return FORMATTER.get_style_defs(".code")
