"""Budgets: reserved before the call and settled after, a hard limit refused with 429 naming
the budget and its reset, a soft limit notified once per period, the admin API audited, and
50 concurrent requests in 5 processes overshooting a nearly spent budget by at most one
request's maximum."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from codex32.errors import Invalid, RateLimited
from codex32.testing.receivers import serve
from tests.gateway.conftest import ask, chat, configure

ROOT = Path(__file__).resolve().parents[2]


def put_budgets(tenant, *budgets: dict):
    return tenant.call("PUT", "/api/v1/budgets", json={"budgets": list(budgets)})


def spend(database, workspace_id: str, amount: str) -> None:
    """Mark ``amount`` as already spent in the current period of every budget."""
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute(
            "UPDATE llm_budgets SET spent_usd = %s, reserved_usd = 0, period_start = "
            "date_trunc(period, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
            "WHERE workspace_id = %s", (amount, workspace_id))


def test_budgets_are_admin_only_validated_and_audited(chained, client):
    from tests.conftest import sign_up  # noqa: F401  (the factory lives there)
    response = put_budgets(chained, {"scope": "workspace", "period": "day",
                                     "soft_limit_usd": "1.5", "hard_limit_usd": "2"})
    assert response.status_code == 200, response.json
    assert response.json[0]["hard_limit_usd"] == "2" and response.json[0]["spent_usd"] == "0"
    assert put_budgets(chained, {"scope": "bot", "period": "day",
                                 "hard_limit_usd": "1"}).status_code == 422
    assert put_budgets(chained, {"scope": "workspace", "period": "week",
                                 "hard_limit_usd": "1"}).status_code == 422
    assert put_budgets(chained, {"scope": "workspace", "period": "day"}).status_code == 422
    audit = chained.call("GET", "/api/v1/audit-logs").json
    items = audit["items"] if isinstance(audit, dict) else audit
    assert any(item["action"] == "llm_budgets.replace" for item in items)


def test_a_limit_beyond_the_stored_precision_is_refused_not_a_500_nor_rounded(tenant):
    for limit in ("1e-999999", "0.00000000001", "1.123456789012345", "1E-11"):
        response = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                        "hard_limit_usd": limit})
        assert response.status_code == 422, (limit, response.json)
        assert response.json["errors"]["json"]["budgets"]["0"]["hard_limit_usd"] == [
            "at most 10 decimal places"]
    assert tenant.call("GET", "/api/v1/budgets").json == []
    response = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                    "soft_limit_usd": "0.0000000001",
                                    "hard_limit_usd": "1.50000000000000"})
    assert response.status_code == 200, response.json
    shown = tenant.call("GET", "/api/v1/budgets").json[0]
    assert (shown["soft_limit_usd"], shown["hard_limit_usd"]) == ("0.0000000001", "1.5")


@pytest.mark.parametrize("limit", ["1e1000000", "0e-999999", "-0E-999999",
                                   "1.00000000000000000000000000001"])
def test_a_limit_whose_exponent_is_extreme_is_refused_or_stored_exactly_never_a_500(tenant,
                                                                                     limit):
    # An exponent the decimal context cannot normalize, a zero written with an exponent the
    # database cannot hold, and more digits than the context's precision (which normalize()
    # would round away) must each get a clear answer, never a 500 nor a rounded limit.
    response = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                    "hard_limit_usd": limit})
    if Decimal(limit) == 0:
        assert response.status_code == 200, (limit, response.json)
        assert response.json[0]["hard_limit_usd"] == "0"
    else:
        assert response.status_code == 422, (limit, response.json)
        assert tenant.call("GET", "/api/v1/budgets").json == []


@pytest.mark.parametrize("limit", ["\u0661\u0662", "1_000", " 1", "1 ", "NaN", "Infinity",
                                   "0x10", "+1", "1.", True, [], {}])
def test_a_limit_is_a_json_number_or_a_plain_ascii_decimal_string(tenant, limit):
    """Python's Decimal reads Arabic-Indic digits, underscores, spaces and NaN: a limit
    must be what a JSON number or its ASCII text says, nothing else read as one."""
    response = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                    "hard_limit_usd": limit})
    assert response.status_code == 422, (limit, response.json)
    assert "hard_limit_usd" in response.json["errors"]["json"]["budgets"]["0"]
    assert tenant.call("GET", "/api/v1/budgets").json == []


@pytest.mark.parametrize("limit, shown", [(12.5, "12.5"), ("12.5", "12.5"), (7, "7"),
                                          ("1e3", "1000"), ("-0", "0"), (".5", "0.5")])
def test_numbers_and_their_ascii_text_are_limits(tenant, limit, shown):
    response = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                    "hard_limit_usd": limit})
    assert response.status_code == 200, (limit, response.json)
    assert response.json[0]["hard_limit_usd"] == shown


def test_a_negotiated_price_is_written_in_ascii_digits(tenant):
    response = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "prices": {"openai/gpt-4o": {"input": "\u0661", "output": "2"}}}}})
    assert response.status_code == 422, response.json


def test_concurrent_replacements_of_new_budgets_each_apply_whole_never_a_500(app, tenant):
    # No row exists yet for the row locks to serialize on: two replacements adding the
    # same budget both insert it, and the loser must not fail on the unique constraint.
    import threading

    import httpx

    from tests.conftest import serving
    answers: list[int] = []
    with serving(app) as port:
        start = threading.Barrier(8)

        def replace(limit: int) -> None:
            start.wait()
            answers.append(httpx.put(
                f"http://127.0.0.1:{port}/api/v1/budgets", headers=tenant.headers, timeout=30,
                json={"budgets": [{"scope": "workspace", "period": period,
                                   "hard_limit_usd": str(limit)}
                                  for period in ("day", "month")]}).status_code)

        for _ in range(5):  # a race: lost in some rounds only
            assert put_budgets(tenant).status_code == 200  # none: the next ones are new
            threads = [threading.Thread(target=replace, args=(n,)) for n in range(1, 9)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            shown = tenant.call("GET", "/api/v1/budgets").json
            assert sorted(b["period"] for b in shown) == ["day", "month"]
            assert len({b["hard_limit_usd"] for b in shown}) == 1  # one replacement's, whole
    assert answers == [200] * 40


def test_a_budget_names_an_api_key_or_a_bot_of_its_own_workspace(tenant, other_tenant):
    def minted(owner) -> str:
        response = owner.call("POST", "/api/v1/api-keys", json={"name": "k", "role": "api_user"})
        assert response.status_code == 201, response.json
        return response.json["id"]

    theirs = {"api_key": minted(other_tenant), "bot": other_tenant.create_bot()["id"]}
    mine = {"api_key": minted(tenant), "bot": tenant.create_bot()["id"]}
    refusals = []
    for scope, scope_id in (("api_key", theirs["api_key"]), ("bot", theirs["bot"]),
                            ("api_key", mine["bot"]), ("bot", mine["api_key"]),
                            ("bot", str(uuid.uuid4()))):
        response = put_budgets(tenant, {"scope": "workspace", "period": "month",
                                        "hard_limit_usd": "9"},
                               {"scope": scope, "scope_id": scope_id, "period": "day",
                                "hard_limit_usd": "1"})
        assert response.status_code == 422, (scope, response.json)
        refusals.append(response.json["message"].replace(scope_id, "<id>"))
    # Another workspace's key or bot is refused exactly like one that does not exist.
    assert refusals[0] == refusals[2] and refusals[1] == refusals[3] == refusals[4]
    assert tenant.call("GET", "/api/v1/budgets").json == []  # nothing saved
    saved = put_budgets(tenant, *({"scope": scope, "scope_id": scope_id, "period": "day",
                                   "hard_limit_usd": "1"} for scope, scope_id in mine.items()))
    assert saved.status_code == 200, saved.json
    assert {(b["scope"], b["scope_id"]) for b in saved.json} == set(mine.items())


def test_a_hard_limit_refuses_with_429_naming_the_budget_and_its_reset(app, chained,
                                                                        database):
    put_budgets(chained, {"scope": "workspace", "period": "day", "hard_limit_usd": "0.001"})
    spend(database, chained.workspace_id, "0.001")
    with pytest.raises(RateLimited, match=r"budget workspace/day .* resets at") as caught:
        chat(app, chained, ask(model="fast"))
    assert int(caught.value.headers["Retry-After"]) > 0
    shown = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(shown["reserved_usd"]) == 0  # a refusal reserves nothing


def test_a_refusal_names_the_hard_limit_as_written_not_in_exponent_form(chained, database):
    for limit in ("0", "1.5"):
        put_budgets(chained, {"scope": "workspace", "period": "day", "hard_limit_usd": limit})
        spend(database, chained.workspace_id, limit)
        response = chained.call("POST", "/api/v1/llm/chat", json={
            "messages": [{"role": "user", "content": "x"}], "model": "fast"})
        assert response.status_code == 429, response.json
        assert f"(hard limit {limit} USD)" in response.json["message"], response.json


def test_spend_is_settled_to_the_real_cost(app, chained):
    put_budgets(chained, {"scope": "workspace", "period": "month", "hard_limit_usd": "5"})
    result = chat(app, chained, ask(model="fast", max_tokens=500))
    shown = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(shown["spent_usd"]) == result.cost_usd > 0
    assert Decimal(shown["reserved_usd"]) == 0


def test_an_answer_naming_a_model_of_unknown_price_spends_its_reservation_not_zero(
        app, chained, servers):
    # The price was known when the call was reserved; the upstream (a proxy the workspace's
    # base_url names, say) then answers under a name no price table knows. Its cost is
    # unknown (the ledger says so), but the budget must not count the call as free: else
    # every such call passes a hard limit.
    put_budgets(chained, {"scope": "workspace", "period": "month", "hard_limit_usd": "5"})
    servers[0].enqueue(json={
        "id": "c", "object": "chat.completion", "created": 1, "model": "renamed-by-a-proxy",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100_000, "completion_tokens": 400, "total_tokens": 100_400}})
    result = chat(app, chained, ask(model="openai/gpt-4o-mini", max_tokens=500))
    assert result.model == "renamed-by-a-proxy" and result.cost_usd is None
    shown = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(shown["spent_usd"]) > 0 and Decimal(shown["reserved_usd"]) == 0


def test_an_unknown_price_under_a_hard_limit_is_refused(app, chained):
    put_budgets(chained, {"scope": "workspace", "period": "day", "hard_limit_usd": "5"})
    with pytest.raises(Invalid, match="price of openai/my-finetune is unknown"):
        chat(app, chained, ask(model="openai/my-finetune"))


def test_a_soft_limit_notifies_the_workspace_notifiers_once_per_period(app, chained, database):
    with serve() as receiver:
        response = chained.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": receiver.url, "max_attempts": 1, "timeout_seconds": 2},
            "secrets": {"signing_secret": "s" * 32}})
        assert response.status_code in (200, 201), response.json
        put_budgets(chained, {"scope": "workspace", "period": "day", "soft_limit_usd": "0.0001"})
        spend(database, chained.workspace_id, "0.0001")
        for _ in range(3):
            chat(app, chained, ask(model="fast"))
        bodies = [json.loads(r.body) for r in receiver.requests]
    budget_notices = [b for b in bodies if "budget" in json.dumps(b)]
    assert len(budget_notices) == 1, bodies
    assert "workspace/day" in json.dumps(budget_notices[0])


def test_fifty_concurrent_requests_in_two_processes_overshoot_by_at_most_one_maximum(
        app, tenant, servers, database, data_dir):
    configure(tenant, servers, timeout=60)  # a loaded machine must not turn this into timeouts
    chained = tenant
    max_tokens = 1000
    servers[0].reply = "spend " * 2000  # every answer uses all of max_tokens: cost ≈ maximum
    put_budgets(chained, {"scope": "workspace", "period": "day", "hard_limit_usd": "0.01"})
    spend(database, chained.workspace_id, "0.0095")
    args = {"data_dir": str(data_dir), "runtime": database.urls.runtime,
            "owner": database.urls.owner, "workspace_id": chained.workspace_id,
            "threads": int(os.environ.get("BUDGET_THREADS", 25)),
            "max_tokens": max_tokens, "timing": bool(os.environ.get("BUDGET_TIMING"))}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-m", "tests.gateway.budget_load",
                                   json.dumps(args)], cwd=ROOT, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(int(os.environ.get("BUDGET_PROCESSES", 2)))]
    for process in processes:  # each has built its app and bound every thread's session
        assert process.stdout.readline() == "ready\n", process.communicate(timeout=60)
    start_at = time.time() + 0.2  # one moment for all: the calls of every process overlap
    for process in processes:
        process.stdin.write(f"{start_at}\n")
        process.stdin.flush()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        if os.environ.get("BUDGET_TIMING"):
            print(out, err[-2000:])
        assert process.returncode == 0, err[-3000:]
        outcomes += json.loads(out.strip().splitlines()[-1])
    assert len(outcomes) == 50
    assert set(outcomes) <= {"ok", "refused"}, collections.Counter(outcomes)
    assert outcomes.count("ok") >= 1 and outcomes.count("refused") >= 45
    with psycopg.connect(database.superuser_dsn) as connection:
        spent, reserved = connection.execute(
            "SELECT spent_usd, reserved_usd FROM llm_budgets WHERE workspace_id = %s",
            (chained.workspace_id,)).fetchone()
        recorded = connection.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM llm_usage WHERE workspace_id = %s",
            (chained.workspace_id,)).fetchone()[0]
    # The most one request can cost: its whole prompt and max_tokens at the listed price.
    import genai_prices
    one_maximum = genai_prices.calc_price(genai_prices.Usage(
        input_tokens=200, output_tokens=max_tokens), model_ref="gpt-4o-mini",
        provider_id="openai").total_price
    assert reserved == 0 and spent == Decimal("0.0095") + recorded
    assert spent <= Decimal("0.01") + one_maximum


def test_an_embedding_crossing_a_soft_limit_notifies_the_workspace_notifiers_once(
        app, tenant, servers, database):
    # An embedding's settlement marked the budget notified and dropped the notice: no
    # notifier ever heard of a soft limit an embedding crossed, nor of it later that period.
    from tests.gateway.test_embeddings import configure_embedders, embed

    configure_embedders(tenant, servers)
    with serve() as receiver:
        response = tenant.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": receiver.url, "max_attempts": 1, "timeout_seconds": 2},
            "secrets": {"signing_secret": "s" * 32}})
        assert response.status_code in (200, 201), response.json
        put_budgets(tenant, {"scope": "workspace", "period": "day", "soft_limit_usd": "0.0001"})
        spend(database, tenant.workspace_id, "0.0001")
        for text in ("alpha", "beta"):
            assert embed(app, tenant, [text]).cost_usd > 0
        bodies = [json.loads(r.body) for r in receiver.requests]
    budget_notices = [b for b in bodies if "budget" in json.dumps(b)]
    assert len(budget_notices) == 1, bodies
    assert "workspace/day" in json.dumps(budget_notices[0])


def test_a_hard_limit_of_zero_refuses_paid_calls_not_free_ones(app, tenant, servers):
    """An admin who sets a hard limit of 0 forbids spending, not the platform's free built-in
    provider (the offline builder and search answers): a call that cannot cost anything
    reserves nothing a limit could refuse. A paid call is still refused."""
    assert put_budgets(tenant, {"scope": "workspace", "period": "month",
                                "hard_limit_usd": "0"}).status_code == 200
    free = chat(app, tenant, ask(model=None))  # no provider configured: the built-in one
    assert free.cost_usd == 0 and free.text
    configure(tenant, servers)
    with pytest.raises(RateLimited, match="hard limit 0 USD"):
        chat(app, tenant, ask(model="openai/gpt-4o-mini"))


def test_a_soft_limit_above_its_hard_limit_is_refused(tenant):
    # The hard limit refuses every call before spend reaches such a soft limit: it would
    # never notify, and the admin would believe it watches.
    response = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                    "soft_limit_usd": "5", "hard_limit_usd": "1"})
    assert response.status_code == 422, response.json
    assert response.json["errors"]["json"]["0"]["soft_limit_usd"] == [
        "above the hard limit (1): it would never be reached"]
    assert tenant.call("GET", "/api/v1/budgets").json == []
    equal = put_budgets(tenant, {"scope": "workspace", "period": "day",
                                 "soft_limit_usd": "1", "hard_limit_usd": "1"})
    assert equal.status_code == 200, equal.json
