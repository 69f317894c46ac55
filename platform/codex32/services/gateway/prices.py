"""What a call cost, as an exact decimal in USD.

Prices come from ``genai-prices`` (pydantic/genai-prices, https://github.com/pydantic/
genai-prices: a maintained table bundled in the wheel, used offline here; cached input is
priced at the published cache-read rate). A workspace may override the price of a
``provider/model`` for negotiated rates (``settings.llm.prices``, USD per million tokens).
A model neither lists is priced ``None`` (unknown), never zero; a provider that is not a
language model (the built-in heuristics) costs zero.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import genai_prices

from codex32.db.gateway_models import MONEY_MAX
from codex32.plugins.interfaces import Usage
from codex32.services.gateway.calls import Deployment

log = logging.getLogger(__name__)

_table_lock = threading.Lock()
_table_ready = threading.Event()

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


def override_for(llm_settings: dict[str, Any], provider: str, model: str
                 ) -> dict[str, Decimal] | None:
    """The workspace's own price of ``provider/model`` (per million tokens), if it set one."""
    table = llm_settings.get("prices") or {}
    found = table.get(f"{provider}/{model}")
    if not isinstance(found, dict):
        return None
    try:
        price = {name: Decimal(str(found[name])) for name in ("input", "output")}
        price["cached_input"] = Decimal(str(found.get("cached_input", found["input"])))
    except (KeyError, InvalidOperation):
        return None
    if not all(value.is_finite() and value >= 0 for value in price.values()):
        return None  # stored before the API refused it: NaN would settle a budget at NaN
    return price


def cost(usage: Usage, provider: str, model: str, *, llm_settings: dict[str, Any],
         is_language_model: bool = True) -> Decimal | None:
    """USD for ``usage`` of ``provider/model``; None when its price is unknown."""
    if not is_language_model:
        return ZERO
    price = override_for(llm_settings, provider, model)
    if price is not None:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        found: Decimal | None = ((usage.input_tokens - cached) * price["input"]
                                 + cached * price["cached_input"]
                                 + usage.output_tokens * price["output"]) / MILLION
    else:
        found = listed_cost(provider, model, usage.input_tokens, usage.cached_input_tokens,
                            usage.output_tokens)
    # A workspace may price a model at up to 10 digits per million tokens: a cost beyond
    # what the ledger and the budgets hold is kept at their maximum, which every hard limit
    # is below (it refuses from there on), instead of failing a paid call's records.
    return None if found is None else min(found, MONEY_MAX)


@functools.lru_cache(maxsize=4096)
def listed_cost(provider: str, model: str, input_tokens: int, cached_input_tokens: int,
                output_tokens: int) -> Decimal | None:
    """The price genai-prices lists for these counts, or None for a model it does not know."""
    if not _table_ready.is_set():
        warm()
    try:
        found = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=input_tokens,
                               cache_read_tokens=min(cached_input_tokens, input_tokens),
                               output_tokens=output_tokens),
            model_ref=model, provider_id=provider)
    except (LookupError, ValueError):
        return None
    except Exception as exc:  # a price table problem must never fail a paid call
        log.warning("genai-prices failed for %s/%s (%s)", provider, model, type(exc).__name__)
        return None
    return Decimal(str(found.total_price))


def known(provider: str, model: str, llm_settings: dict[str, Any],
          is_language_model: bool = True) -> bool:
    """Whether a price for ``provider/model`` is known (so a budget can bound its cost)."""
    return cost(Usage(input_tokens=1, output_tokens=1), provider, model,
                llm_settings=llm_settings, is_language_model=is_language_model) is not None


def warm() -> None:
    """Load genai-prices' table once (its first use parses it; concurrent first uses would
    each parse it)."""
    with _table_lock:
        if _table_ready.is_set():
            return
        try:
            genai_prices.calc_price(genai_prices.Usage(input_tokens=1, output_tokens=1),
                                    model_ref="gpt-4o-mini", provider_id="openai")
        except Exception:
            log.warning("genai-prices could not load its price table", exc_info=True)
        _table_ready.set()


def worst_cost(usage: Usage, deployments: Iterable[Deployment], instances: Mapping[str, Any],
               llm_settings: dict[str, Any], is_language_model: Callable[[Any], bool]
               ) -> Decimal | None:
    """The most ``usage`` can cost on any of ``deployments`` (their plugin ``instances``;
    ``is_language_model`` tells of one whether model prices apply): a budget reservation's
    amount. None when a price is unknown."""
    worst = ZERO
    for deployment in deployments:
        found = cost(usage, deployment.provider, deployment.model or "",
                     llm_settings=llm_settings,
                     is_language_model=is_language_model(instances[deployment.provider]))
        if found is None:
            return None
        worst = max(worst, found)
    return worst
