"""What the gateway's router reads from the plugins it routes (language model providers and
embedders): the kind, status and Retry-After of each failure, and one upstream request per
call (the router is the one retry policy; an SDK that retries too multiplies every wait).

:func:`scripted_failures` gives the standard cases for a backend scripted like the kit's
fakes (``enqueue_failure`` and ``enqueue_error``: :class:`~codex32.testing.ScriptedServer`
subclasses such as ``FakeOpenAI`` and ``FakeAnthropic``).
"""

from __future__ import annotations

from typing import Any

import pytest

from codex32.plugins.errors import (
    AUTH,
    CONTEXT_LENGTH,
    INVALID_REQUEST,
    OVERLOADED,
    RATE_LIMITED,
    SERVER,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
)
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import ErrorCase

# The kinds every routed plugin's cases must cover once it declares kinds: each leads the
# router somewhere else (retry after a wait, retry then fall back, stop and name the provider).
REQUIRED_KINDS = (RATE_LIMITED, SERVER, AUTH)
RETRIED_KINDS = frozenset({RATE_LIMITED, OVERLOADED, SERVER})


def scripted_failures(server: Any, *, retry_after: float = 7) -> list[ErrorCase]:
    """Error cases for a backend with ``enqueue_failure``/``enqueue_error`` (the kit's fakes):
    every failure the router tells apart, with the kind, status and Retry-After it must read."""
    def failure(name: str, **options: Any):
        return lambda: server.enqueue_failure(name, **options)

    def status(code: int):
        return lambda: server.enqueue_error(code)

    return [
        ErrorCase("a 429 with Retry-After", ProviderRateLimited, kind=RATE_LIMITED, status=429,
                  retry_after=retry_after, arrange=failure("rate_limit", retry_after=retry_after)),
        ErrorCase("a 500", ProviderError, kind=SERVER, status=500, arrange=failure("server")),
        ErrorCase("a 529 overloaded", ProviderError, kind=OVERLOADED, status=529,
                  arrange=failure("overloaded")),
        ErrorCase("a 503", ProviderError, kind=OVERLOADED, status=503, arrange=status(503)),
        ErrorCase("a prompt past the context length", ProviderError, kind=CONTEXT_LENGTH,
                  status=400, arrange=failure("context_length")),
        ErrorCase("a 401", ProviderAuthError, kind=AUTH, status=401, arrange=failure("auth")),
        ErrorCase("a 403", ProviderAuthError, kind=AUTH, status=403, arrange=status(403)),
        ErrorCase("a 400", ProviderError, kind=INVALID_REQUEST, status=400, arrange=status(400)),
        ErrorCase("a 404", ProviderError, kind=INVALID_REQUEST, status=404, arrange=status(404)),
    ]


class RoutedConformance(PluginConformance):
    """Checks of plugins the gateway's router retries and falls back across. Give your
    :meth:`error_cases` a ``kind`` (and ``status``) each, and :meth:`backend_requests`."""

    def backend_requests(self) -> int | None:
        """How many requests the backend has received so far, or None (that check skips).

        When there are none, the first line of your override's docstring is the skip reason.
        """
        return None

    def _kinded(self) -> list[ErrorCase]:
        cases = [case for case in self.error_cases() if case.kind is not None]
        if not cases:
            pytest.skip(self._why_not("error_cases", "gives no case a kind"))
        return cases

    def test_failures_carry_the_kind_the_router_reads(self):
        """The error cases with a ``kind`` cover rate limits, server errors and refused
        credentials (the router retries the first two and stops at the third); that each
        raises its ``kind``, ``status`` and ``retry_after`` is checked with the other
        provoked failures (``test_provoked_failures_raise_codex32_errors``)."""
        cases = self._kinded()
        missing = sorted(set(REQUIRED_KINDS) - {case.kind for case in cases})
        assert not missing, f"no error case provokes the kinds {missing}"

    def test_a_failure_reaches_the_backend_once(self):
        """A rate limit, an overload or a server error is one backend request: the plugin's
        SDK does not retry (``max_retries=0`` whatever is configured), the router does."""
        if self.backend_requests() is None:
            pytest.skip(self._why_not("backend_requests", "counts no requests"))
        cases = [case for case in self._kinded() if case.kind in RETRIED_KINDS]
        if not cases:
            pytest.skip(f"no error case of the kinds {sorted(RETRIED_KINDS)}")
        for case in cases:
            before = self.backend_requests()
            self.provoke(case)
            sent = (self.backend_requests() or 0) - (before or 0)
            assert sent == 1, f"{case.name}: {sent} requests reached the backend, not 1"
