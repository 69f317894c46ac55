"""Rate limits: the fixed-window limiter in-process and in Redis, and the API's 429 answers.

The Redis tests use the real server on 127.0.0.1:6379 and are skipped (only they) when it is not
reachable. Windows are long (a day) where a test must not straddle two of them.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from codex32 import runtime
from codex32.ratelimit import Hit, RateLimiter
from tests.conftest import sign_up

DAY = 24 * 3600.0


def unique_key(label: str) -> str:
    return f"test:{label}:{uuid.uuid4().hex}"


# in-process


def test_hits_within_the_limit_are_allowed_with_remaining_counts():
    limiter = RateLimiter()
    key = unique_key("memory")

    decisions = [limiter.hit(key, 3, DAY) for _ in range(3)]

    assert limiter.backend == "memory"
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.headers["RateLimit-Remaining"] for d in decisions] == ["2", "1", "0"]
    assert all(d.headers["RateLimit-Limit"] == "3" for d in decisions)
    assert all("Retry-After" not in d.headers for d in decisions)


def test_the_hit_past_the_limit_is_refused_with_retry_after_and_ratelimit_headers():
    limiter = RateLimiter()
    key = unique_key("memory")
    for _ in range(3):
        limiter.hit(key, 3, DAY)

    refused = limiter.hit(key, 3, DAY)

    assert refused.allowed is False
    headers = refused.headers
    assert headers["RateLimit-Limit"] == "3"
    assert headers["RateLimit-Remaining"] == "0"
    assert headers["Retry-After"] == headers["RateLimit-Reset"]
    assert 1 <= int(headers["Retry-After"]) <= DAY


def test_limits_are_counted_per_key():
    limiter = RateLimiter()
    busy, quiet = unique_key("busy"), unique_key("quiet")
    for _ in range(2):
        limiter.hit(busy, 1, DAY)

    assert limiter.hit(busy, 1, DAY).allowed is False
    assert limiter.hit(quiet, 1, DAY).allowed is True


def test_a_new_window_starts_counting_from_zero():
    limiter = RateLimiter()
    key = unique_key("window")
    window = 0.2
    deadline = time.monotonic() + 5

    while limiter.hit(key, 1, window).allowed:  # reach the limit in some window
        assert time.monotonic() < deadline, "the limit was never reached"
    while not (decision := limiter.hit(key, 1, window)).allowed:
        assert time.monotonic() < deadline, "the next window never started"
        time.sleep(0.01)

    assert decision.remaining == 0  # the first hit of the new window


def test_the_limiters_clock_decides_the_window_a_hit_falls_in():
    limiter = RateLimiter()
    key = unique_key("clock")
    now = [1_000_000 * 60.0 + 59.5]  # half a second before a minute ends
    limiter.clock = lambda: now[0]
    assert limiter.hit(key, 1, 60).allowed is True
    refused = limiter.hit(key, 1, 60)
    assert refused.allowed is False and refused.reset_after == 0.5
    now[0] += 1  # the next minute
    assert limiter.hit(key, 1, 60).allowed is True


def test_reset_forgets_the_hits_of_a_key():
    limiter = RateLimiter()
    key = unique_key("reset")
    for _ in range(2):
        limiter.hit(key, 1, DAY)

    limiter.reset(key, DAY)

    assert limiter.hit(key, 1, DAY).allowed is True


# Redis


@pytest.fixture()
def redis_key(redis_url):
    """A key no other test uses, forgotten in Redis afterwards."""
    key = unique_key("redis")
    yield key
    RateLimiter(redis_url).reset(key, DAY)


def hit_in_another_process(redis_url: str, key: str, limit: int, window: float) -> dict:
    """Count one hit from a separate Python process, as another web worker would."""
    script = textwrap.dedent(f"""
        import json
        from codex32.ratelimit import Hit, RateLimiter
        limiter = RateLimiter({redis_url!r})
        decision = limiter.hit({key!r}, {limit}, {window})
        print(json.dumps({{"backend": limiter.backend, "allowed": decision.allowed,
                          "remaining": decision.remaining}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_limiters_sharing_redis_share_their_counts(redis_url, redis_key):
    first, second = RateLimiter(redis_url), RateLimiter(redis_url)

    assert (first.backend, second.backend) == ("redis", "redis")
    assert first.hit(redis_key, 3, DAY).remaining == 2
    assert second.hit(redis_key, 3, DAY).remaining == 1
    assert first.hit(redis_key, 3, DAY).remaining == 0
    assert second.hit(redis_key, 3, DAY).allowed is False
    assert first.hit(redis_key, 3, DAY).allowed is False


def test_a_hit_counted_in_another_process_counts_here(redis_url, redis_key):
    here = RateLimiter(redis_url)
    here.hit(redis_key, 2, DAY)

    there = hit_in_another_process(redis_url, redis_key, 2, DAY)

    assert there == {"backend": "redis", "allowed": True, "remaining": 0}
    assert here.hit(redis_key, 2, DAY).allowed is False


def test_reset_through_redis_clears_the_key_for_every_limiter(redis_url, redis_key):
    first, second = RateLimiter(redis_url), RateLimiter(redis_url)
    for _ in range(2):
        first.hit(redis_key, 1, DAY)

    second.reset(redis_key, DAY)

    assert first.hit(redis_key, 1, DAY).allowed is True


def test_a_key_with_glob_characters_resets_only_itself(redis_url, redis_key):
    limiter = RateLimiter(redis_url)
    other = f"{redis_key}-victim@example.com"
    limiter.hit(other, 1, DAY)
    limiter.hit(f"{redis_key}*", 1, DAY)  # an email's local part may hold '*'

    limiter.reset(f"{redis_key}*", DAY)

    assert limiter.hit(f"{redis_key}*", 1, DAY).allowed is True
    assert limiter.hit(other, 1, DAY).allowed is False  # its counter survived
    limiter.reset(other, DAY)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_request_one_limit_refuses_counts_against_none(backend, redis_url, redis_key):
    # Counted all or nothing: one oversized request (a chat asking more tokens than the
    # workspace's minute) must not use up the key's limit before it, nor its own limit's
    # minute for every request after it.
    limiter = RateLimiter(redis_url if backend == "redis" else None)
    assert limiter.backend == backend
    requests, tokens, third = (f"{redis_key}:{n}" for n in range(3))

    allowed = limiter.hit_in_order([Hit(requests, 5, DAY), Hit(tokens, 100, DAY, amount=60),
                                    Hit(third, 9, DAY)]).decisions
    refused = limiter.hit_in_order([Hit(requests, 5, DAY), Hit(tokens, 100, DAY, amount=500),
                                    Hit(third, 9, DAY)]).decisions
    after = limiter.hit_in_order([Hit(requests, 5, DAY), Hit(tokens, 100, DAY, amount=40),
                                  Hit(third, 9, DAY)]).decisions

    assert [(d.allowed, d.remaining) for d in allowed] == [(True, 4), (True, 40), (True, 8)]
    assert [(d.allowed, d.remaining) for d in refused] == [(True, 3), (False, -460)]
    assert refused[-1].headers["Retry-After"]
    assert [(d.allowed, d.remaining) for d in after] == [(True, 3), (True, 0), (True, 7)]
    for key in (requests, tokens, third):
        limiter.reset(key, DAY)


def test_hits_in_order_and_their_reads_take_one_round_trip_to_redis(
        redis_url, redis_key, monkeypatch):
    import redis
    import redis.connection

    limiter = RateLimiter(redis_url)
    limiter.hit_in_order([Hit(redis_key, 9, DAY)])  # the script loaded
    client = redis.Redis.from_url(redis_url)
    client.set(f"{redis_key}:set", b"rests", ex=60)
    sent = []
    original = redis.connection.Connection.send_packed_command
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command",
                        lambda self, *args, **kwargs: (sent.append(1),
                                                       original(self, *args, **kwargs))[1])

    counted = limiter.hit_in_order([Hit(f"{redis_key}:{n}", 9, DAY) for n in range(4)],
                                   read=[f"{redis_key}:unset", f"{redis_key}:set",
                                         f"{redis_key}:unset too"])

    assert len(sent) == 1
    assert len(counted.decisions) == 4 and all(d.allowed for d in counted.decisions)
    assert counted.read == [None, b"rests", None]
    assert RateLimiter().hit_in_order([Hit(redis_key, 9, DAY)], read=["x"]).read is None
    client.delete(f"{redis_key}:set")
    for n in range(4):
        limiter.reset(f"{redis_key}:{n}", DAY)
    limiter.reset(redis_key, DAY)


def test_unreachable_redis_falls_back_to_memory_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="codex32.ratelimit")

    limiter = RateLimiter("redis://127.0.0.1:1/0")

    assert limiter.backend == "memory"
    warnings = [r for r in caplog.records if r.name == "codex32.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "REDIS_URL is set but Redis is unreachable" in warnings[0].getMessage()
    key = unique_key("fallback")
    assert limiter.hit(key, 1, DAY).allowed is True
    assert limiter.hit(key, 1, DAY).allowed is False


def test_several_workers_without_redis_warn_that_limits_are_per_process(caplog):
    caplog.set_level(logging.WARNING, logger="codex32.ratelimit")

    RateLimiter(None, workers=4)

    assert any("per process with 4 workers" in r.getMessage() for r in caplog.records)


# through the API


def test_api_answers_429_after_the_per_minute_limit_while_others_are_unaffected(make_app):
    app = make_app(rate_limit_per_minute=3)
    client = app.test_client()
    throttled, other = sign_up(client), sign_up(client)

    responses = []
    while not responses or responses[-1].status_code != 429:
        assert len(responses) < 8, [r.status_code for r in responses]
        responses.append(throttled.call("GET", "/api/v1/auth/me"))

    # Three allowed requests in the refusing window (a minute boundary may restart the count).
    allowed = responses[-4:-1]
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["RateLimit-Remaining"] for r in allowed] == ["2", "1", "0"]
    refused = responses[-1]
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == "3"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json["code"] == 429
    unaffected = other.call("GET", "/api/v1/auth/me")
    assert unaffected.status_code == 200
    assert unaffected.headers["RateLimit-Remaining"] == "2"


def test_api_limit_counts_an_api_key_apart_from_its_creator(make_app):
    app = make_app(rate_limit_per_minute=3)
    client = app.test_client()
    admin = sign_up(client)
    key = admin.api_key("viewer")  # the admin's first request

    by_key = [client.get("/api/v1/bots", headers={"X-API-Key": key}) for _ in range(3)]

    assert [r.status_code for r in by_key] == [200, 200, 200]
    assert by_key[-1].headers["RateLimit-Remaining"] == "0"
    assert admin.call("GET", "/api/v1/bots").headers["RateLimit-Remaining"] == "1"


def test_login_is_throttled_per_email_and_address_after_the_allowed_failures(make_app):
    app = make_app(login_attempts_per_15_minutes=3)
    client = app.test_client()
    victim, bystander = sign_up(client), sign_up(client)

    def attempt(email: str, password: str, ip: str = "203.0.113.7"):
        return client.post("/api/v1/auth/token", json={"email": email, "password": password},
                           environ_base={"REMOTE_ADDR": ip})

    failures = [attempt(victim.email, "wrong password 1234") for _ in range(3)]
    throttled = attempt(victim.email, "wrong password 1234")

    assert [r.status_code for r in failures] == [401, 401, 401]
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60
    # The owner still signs in from another address (a stranger cannot lock it out) ...
    from_elsewhere = attempt(victim.email, "correct horse battery staple", ip="198.51.100.9")
    assert from_elsewhere.status_code == 200
    # ... and another account signs in from the throttled address.
    assert attempt(bystander.email, "correct horse battery staple").status_code == 200


def test_sign_in_throttle_is_shared_through_redis_and_spares_the_owner_elsewhere(
        make_app, client, redis_url):
    owner = sign_up(client)
    first, second = (make_app(redis_url=redis_url, login_attempts_per_15_minutes=2)
                     for _ in range(2))
    attacker = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"  # fresh across runs

    def attempt(app, password: str, ip: str):
        return app.test_client().post("/api/v1/auth/token", json={
            "email": owner.email, "password": password}, environ_base={"REMOTE_ADDR": ip})

    assert attempt(first, "wrong password 1234", attacker).status_code == 401
    assert attempt(second, "wrong password 1234", attacker).status_code == 401
    assert attempt(first, "wrong password 1234", attacker).status_code == 429
    assert attempt(second, "correct horse battery staple", attacker).status_code == 429
    elsewhere = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"
    assert attempt(second, "correct horse battery staple", elsewhere).status_code == 200


def test_a_flood_of_other_keys_does_not_clear_an_in_process_sign_in_throttle(make_app):
    """Without Redis, the limiter bounds its memory by dropping expired windows. A flood of
    distinct keys (one per guessed email) must not make a one-minute request's pruning drop
    the fifteen-minute sign-in counters still running: that reopened a throttled password
    guess."""
    app = make_app(login_attempts_per_15_minutes=2)
    client = app.test_client()
    victim, bystander = sign_up(client), sign_up(client)
    limiter = runtime.of(app).limiter
    now = [time.time() // 900 * 900 + 5]  # early in a fifteen-minute window
    limiter.clock = lambda: now[0]

    def guess():
        return client.post("/api/v1/auth/token", json={
            "email": victim.email, "password": "wrong password 1234"},
            environ_base={"REMOTE_ADDR": "203.0.113.66"})

    assert [guess().status_code for _ in range(3)] == [401, 401, 429]
    for n in range(100_001):  # what as many refused guesses at distinct emails leave behind
        limiter.hit(f"login:pair:198.51.100.{n % 250}:guess-{n}@example.com", 2, 900)
    now[0] += 61
    assert bystander.call("GET", "/api/v1/auth/me").status_code == 200  # a one-minute window

    assert guess().status_code == 429


def test_a_refused_sign_in_attempt_leaves_no_counter_behind(make_app):
    """An address over its allowance is refused before its (email, address) pair is counted,
    so guesses at ever new emails cannot grow the limiter without bound."""
    app = make_app(login_attempts_per_15_minutes=1)
    client = app.test_client()
    limiter = runtime.of(app).limiter
    ip = "203.0.113.67"

    statuses = [client.post("/api/v1/auth/token", json={
        "email": f"guess-{n}-{uuid.uuid4().hex[:6]}@example.com",
        "password": "wrong password 1234"}, environ_base={"REMOTE_ADDR": ip}).status_code
        for n in range(15)]

    assert statuses == [401] * 10 + [429] * 5
    pairs = [key for key in limiter._memory._counts if key.startswith(f"login:pair:{ip}:")]
    assert len(pairs) == 10
