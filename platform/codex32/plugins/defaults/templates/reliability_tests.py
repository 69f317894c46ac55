"""Tests of the bot's reliability code (retries, circuit breaker, cache, metrics), the same for
every template: the generator copies them into each generated test_bot.py, after the
template's own tests. Every external call here is a fake."""

from __future__ import annotations

import urllib.error

import bot
import pytest

SERVICE_URL = "https://service.example/data"


class Flaky:
    """A request that fails with ``errors`` in turn, then answers ``value``."""

    def __init__(self, *errors: Exception, value: str = "answer") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def http_error(status: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(SERVICE_URL, status, "error", {}, None)


@pytest.mark.parametrize("error", [
    urllib.error.URLError("connection refused"), TimeoutError("timed out"),
    http_error(429), http_error(503)])
def test_a_passing_failure_is_retried_after_a_growing_jittered_delay(context, slept, error):
    calls = bot.Calls(context)
    request = Flaky(error, error)

    assert calls.call("fetch", SERVICE_URL, request) == "answer"

    assert request.calls == bot.Calls.RETRY_ATTEMPTS == 3
    first, second = bot.Calls.BACKOFF_SECONDS, bot.Calls.BACKOFF_SECONDS * 2
    assert len(slept) == 2
    assert first / 2 <= slept[0] <= first and second / 2 <= slept[1] <= second
    metrics = calls.metrics()
    assert (metrics["calls"], metrics["attempts"], metrics["retries"]) == (1, 3, 2)
    assert metrics["failures"] == 0 and metrics["breakers"] == {"service.example": "closed"}


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_an_answer_that_retrying_cannot_change_fails_at_once(context, slept, status):
    calls = bot.Calls(context)

    with pytest.raises(bot.CallFailed, match=rf"failed \(not retried\): HTTP {status}") as failed:
        calls.call("fetch", SERVICE_URL, Flaky(http_error(status)))

    assert failed.value.status == status and slept == []
    assert calls.metrics()["failures"] == 1


def test_retries_stop_after_the_last_attempt_with_a_clear_error(context, slept):
    calls = bot.Calls(context)
    request = Flaky(*[urllib.error.URLError("no route to host")] * 5)

    with pytest.raises(bot.CallFailed, match="failed after 3 attempts: no route to host"):
        calls.call("fetch the data", SERVICE_URL, request)

    assert request.calls == 3 and len(slept) == 2


def test_an_error_of_the_bot_itself_is_not_retried(context):
    def broken() -> str:
        raise ValueError("the answer is too large")

    with pytest.raises(ValueError, match="too large"):
        bot.Calls(context).call("fetch", SERVICE_URL, broken)


def test_the_breaker_opens_after_failures_in_a_row_then_lets_a_trial_through(context, clock):
    calls = bot.Calls(context)
    down = urllib.error.URLError("refused")
    for _ in range(bot.Calls.BREAKER_FAILURES):
        with pytest.raises(bot.CallFailed):
            calls.call("fetch", SERVICE_URL, Flaky(*[down] * bot.Calls.RETRY_ATTEMPTS))
    request = Flaky()

    with pytest.raises(bot.CallFailed, match=r"not tried, the circuit breaker of service\.example"):
        calls.call("fetch", SERVICE_URL, request)

    assert request.calls == 0
    assert calls.metrics()["breakers"] == {"service.example": "open"}
    assert calls.metrics()["short_circuits"] == 1
    clock.now += bot.Calls.BREAKER_COOLDOWN_SECONDS
    assert calls.metrics()["breakers"] == {"service.example": "half-open"}
    with pytest.raises(bot.CallFailed):  # a failed trial opens it again at once
        calls.call("fetch", SERVICE_URL, Flaky(*[down] * bot.Calls.RETRY_ATTEMPTS))
    assert calls.metrics()["breakers"] == {"service.example": "open"}
    clock.now += bot.Calls.BREAKER_COOLDOWN_SECONDS
    assert calls.call("fetch", SERVICE_URL, request) == "answer"
    assert calls.metrics()["breakers"] == {"service.example": "closed"}


def test_a_repeated_read_comes_from_the_cache_until_it_expires(context, clock):
    calls = bot.Calls(context)
    request = Flaky()

    assert calls.call("fetch", SERVICE_URL, request, cache=True) == "answer"
    assert calls.call("fetch", SERVICE_URL, request, cache=True) == "answer"
    assert (request.calls, calls.metrics()["cache_hits"]) == (1, 1)
    clock.now += bot.Calls.CACHE_SECONDS
    calls.call("fetch", SERVICE_URL, request, cache=True)
    assert request.calls == 2


def test_metrics_time_the_calls_and_the_run(context, clock):
    calls = bot.Calls(context)

    def slow() -> str:
        clock.now += 0.25
        return "answer"

    calls.call("fetch", SERVICE_URL, slow)
    clock.now += 1

    metrics = calls.metrics()
    assert metrics["call_ms"] == 250.0 and metrics["run_ms"] == 1250.0
