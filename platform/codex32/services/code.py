"""Checks on bot code before it is stored: it must compile. Nothing is executed here."""

from __future__ import annotations

from codex32.errors import Invalid


def check_code(code: str) -> None:
    """Raise ``Invalid`` with the line and reason when ``code`` is not valid Python."""
    try:
        compile(code, "bot.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        detail = f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
        raise Invalid(f"the code does not compile ({detail})",
                      errors={"json": {"code": [detail]}}) from exc
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. null bytes, deep nesting
        raise Invalid("the code does not compile",
                      errors={"json": {"code": [str(exc)[:200]]}}) from exc
