from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attempt import Attempt
    from ..models.called import Called
    from ..models.token_usage import TokenUsage


T = TypeVar("T", bound="ChatAnswer")


@_attrs_define
class ChatAnswer:
    """
    Attributes:
        attempts (list[Attempt]):
        cache_hit (bool):
        latency_ms (int):
        model (str):
        provider (str):
        text (str):
        tool_calls (list[Called]): the calls the model made (finish_reason then says so)
        usage (TokenUsage):
        cost_usd (None | str | Unset): exact decimal; null when unknown
        finish_reason (None | str | Unset):
        usage_id (None | str | Unset):
    """

    attempts: list[Attempt]
    cache_hit: bool
    latency_ms: int
    model: str
    provider: str
    text: str
    tool_calls: list[Called]
    usage: TokenUsage
    cost_usd: None | str | Unset = UNSET
    finish_reason: None | str | Unset = UNSET
    usage_id: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        attempts = []
        for attempts_item_data in self.attempts:
            attempts_item = attempts_item_data.to_dict()
            attempts.append(attempts_item)

        cache_hit = self.cache_hit

        latency_ms = self.latency_ms

        model = self.model

        provider = self.provider

        text = self.text

        tool_calls = []
        for tool_calls_item_data in self.tool_calls:
            tool_calls_item = tool_calls_item_data.to_dict()
            tool_calls.append(tool_calls_item)

        usage = self.usage.to_dict()

        cost_usd: None | str | Unset
        if isinstance(self.cost_usd, Unset):
            cost_usd = UNSET
        else:
            cost_usd = self.cost_usd

        finish_reason: None | str | Unset
        if isinstance(self.finish_reason, Unset):
            finish_reason = UNSET
        else:
            finish_reason = self.finish_reason

        usage_id: None | str | Unset
        if isinstance(self.usage_id, Unset):
            usage_id = UNSET
        else:
            usage_id = self.usage_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "attempts": attempts,
                "cache_hit": cache_hit,
                "latency_ms": latency_ms,
                "model": model,
                "provider": provider,
                "text": text,
                "tool_calls": tool_calls,
                "usage": usage,
            }
        )
        if cost_usd is not UNSET:
            field_dict["cost_usd"] = cost_usd
        if finish_reason is not UNSET:
            field_dict["finish_reason"] = finish_reason
        if usage_id is not UNSET:
            field_dict["usage_id"] = usage_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.attempt import Attempt
        from ..models.called import Called
        from ..models.token_usage import TokenUsage

        d = dict(src_dict)
        attempts = []
        _attempts = d.pop("attempts")
        for attempts_item_data in _attempts:
            attempts_item = Attempt.from_dict(attempts_item_data)

            attempts.append(attempts_item)

        cache_hit = d.pop("cache_hit")

        latency_ms = d.pop("latency_ms")

        model = d.pop("model")

        provider = d.pop("provider")

        text = d.pop("text")

        tool_calls = []
        _tool_calls = d.pop("tool_calls")
        for tool_calls_item_data in _tool_calls:
            tool_calls_item = Called.from_dict(tool_calls_item_data)

            tool_calls.append(tool_calls_item)

        usage = TokenUsage.from_dict(d.pop("usage"))

        def _parse_cost_usd(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cost_usd = _parse_cost_usd(d.pop("cost_usd", UNSET))

        def _parse_finish_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        finish_reason = _parse_finish_reason(d.pop("finish_reason", UNSET))

        def _parse_usage_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        usage_id = _parse_usage_id(d.pop("usage_id", UNSET))

        chat_answer = cls(
            attempts=attempts,
            cache_hit=cache_hit,
            latency_ms=latency_ms,
            model=model,
            provider=provider,
            text=text,
            tool_calls=tool_calls,
            usage=usage,
            cost_usd=cost_usd,
            finish_reason=finish_reason,
            usage_id=usage_id,
        )

        return chat_answer
