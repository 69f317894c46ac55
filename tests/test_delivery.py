"""Reading Retry-After, shared by the notifier and provider plugins."""

from __future__ import annotations

import email.utils
import time

import pytest

from codex32.delivery import parse_retry_after, retry_after_seconds
from codex32.plugins.errors import redacted


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after-ms": "later", "retry-after": "9"}, 9.0),
    ({"retry-after": "soon"}, None),
    ({"retry-after": "-3"}, 0.0),
    ({}, None),
])
def test_retry_after_header_forms(headers, seconds):
    assert retry_after_seconds(headers) == seconds


def test_retry_after_as_an_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert parse_retry_after(later) == pytest.approx(30, abs=2)
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after(earlier) == 0.0


def test_redacted_removes_every_secret_and_bounds_the_length():
    text = redacted("key sk-1 and sk-2 " + "x" * 500, "sk-1", None, "sk-2")
    assert "sk-1" not in text and "sk-2" not in text and len(text) == 300
