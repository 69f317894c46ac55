from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="UsageGroup")


@_attrs_define
class UsageGroup:
    """
    Attributes:
        cache_hits (int):
        cached_input_tokens (int):
        cost_usd (str): exact decimal, USD
        failed_requests (int): status error, timeout or cancelled (not pending, not unsettled)
        input_tokens (int):
        output_tokens (int):
        pending_requests (int): still being answered or recorded (their cost is not known yet)
        reasoning_tokens (int):
        requests (int):
        unpriced_requests (int): cost unknown (no price for the model), pending ones excepted; cost_usd leaves them out
        unsettled_requests (int): answer never recorded (its process ended first; the provider most likely answered):
            charged at the reserved maximum, not failed
        api_key (None | str | Unset):
        bot (None | str | Unset):
        day (str | Unset): present when grouped by day
        model (str | Unset):
        provider (str | Unset):
        purpose (str | Unset):
        user (None | str | Unset):
    """

    cache_hits: int
    cached_input_tokens: int
    cost_usd: str
    failed_requests: int
    input_tokens: int
    output_tokens: int
    pending_requests: int
    reasoning_tokens: int
    requests: int
    unpriced_requests: int
    unsettled_requests: int
    api_key: None | str | Unset = UNSET
    bot: None | str | Unset = UNSET
    day: str | Unset = UNSET
    model: str | Unset = UNSET
    provider: str | Unset = UNSET
    purpose: str | Unset = UNSET
    user: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cache_hits = self.cache_hits

        cached_input_tokens = self.cached_input_tokens

        cost_usd = self.cost_usd

        failed_requests = self.failed_requests

        input_tokens = self.input_tokens

        output_tokens = self.output_tokens

        pending_requests = self.pending_requests

        reasoning_tokens = self.reasoning_tokens

        requests = self.requests

        unpriced_requests = self.unpriced_requests

        unsettled_requests = self.unsettled_requests

        api_key: None | str | Unset
        if isinstance(self.api_key, Unset):
            api_key = UNSET
        else:
            api_key = self.api_key

        bot: None | str | Unset
        if isinstance(self.bot, Unset):
            bot = UNSET
        else:
            bot = self.bot

        day = self.day

        model = self.model

        provider = self.provider

        purpose = self.purpose

        user: None | str | Unset
        if isinstance(self.user, Unset):
            user = UNSET
        else:
            user = self.user

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cache_hits": cache_hits,
                "cached_input_tokens": cached_input_tokens,
                "cost_usd": cost_usd,
                "failed_requests": failed_requests,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "pending_requests": pending_requests,
                "reasoning_tokens": reasoning_tokens,
                "requests": requests,
                "unpriced_requests": unpriced_requests,
                "unsettled_requests": unsettled_requests,
            }
        )
        if api_key is not UNSET:
            field_dict["api_key"] = api_key
        if bot is not UNSET:
            field_dict["bot"] = bot
        if day is not UNSET:
            field_dict["day"] = day
        if model is not UNSET:
            field_dict["model"] = model
        if provider is not UNSET:
            field_dict["provider"] = provider
        if purpose is not UNSET:
            field_dict["purpose"] = purpose
        if user is not UNSET:
            field_dict["user"] = user

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cache_hits = d.pop("cache_hits")

        cached_input_tokens = d.pop("cached_input_tokens")

        cost_usd = d.pop("cost_usd")

        failed_requests = d.pop("failed_requests")

        input_tokens = d.pop("input_tokens")

        output_tokens = d.pop("output_tokens")

        pending_requests = d.pop("pending_requests")

        reasoning_tokens = d.pop("reasoning_tokens")

        requests = d.pop("requests")

        unpriced_requests = d.pop("unpriced_requests")

        unsettled_requests = d.pop("unsettled_requests")

        def _parse_api_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        api_key = _parse_api_key(d.pop("api_key", UNSET))

        def _parse_bot(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        bot = _parse_bot(d.pop("bot", UNSET))

        day = d.pop("day", UNSET)

        model = d.pop("model", UNSET)

        provider = d.pop("provider", UNSET)

        purpose = d.pop("purpose", UNSET)

        def _parse_user(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        user = _parse_user(d.pop("user", UNSET))

        usage_group = cls(
            cache_hits=cache_hits,
            cached_input_tokens=cached_input_tokens,
            cost_usd=cost_usd,
            failed_requests=failed_requests,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            pending_requests=pending_requests,
            reasoning_tokens=reasoning_tokens,
            requests=requests,
            unpriced_requests=unpriced_requests,
            unsettled_requests=unsettled_requests,
            api_key=api_key,
            bot=bot,
            day=day,
            model=model,
            provider=provider,
            purpose=purpose,
            user=user,
        )

        return usage_group
