from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.chat_response_schema_type_1_type_0 import ChatResponseSchemaType1Type0
    from ..models.message import Message
    from ..models.response_schema import ResponseSchema


T = TypeVar("T", bound="Chat")


@_attrs_define
class Chat:
    """
    Attributes:
        messages (list[Message]):
        cache (bool | None | Unset): true caches whatever the temperature, false opts out
        json_mode (bool | Unset):  Default: False.
        max_tokens (int | Unset):  Default: 1024.
        model (None | str | Unset): alias, provider/model or model
        response_schema (ChatResponseSchemaType1Type0 | None | ResponseSchema | Unset): ask for structured output
            (OpenAI's json_schema, Anthropic's forced tool); the text is the JSON object
        stream (bool | Unset):  Default: False.
        temperature (float | Unset):  Default: 0.2.
        timeout (float | Unset):  Default: 60.0.
    """

    messages: list[Message]
    cache: bool | None | Unset = UNSET
    json_mode: bool | Unset = False
    max_tokens: int | Unset = 1024
    model: None | str | Unset = UNSET
    response_schema: ChatResponseSchemaType1Type0 | None | ResponseSchema | Unset = (
        UNSET
    )
    stream: bool | Unset = False
    temperature: float | Unset = 0.2
    timeout: float | Unset = 60.0

    def to_dict(self) -> dict[str, Any]:
        from ..models.chat_response_schema_type_1_type_0 import (
            ChatResponseSchemaType1Type0,
        )
        from ..models.response_schema import ResponseSchema

        messages = []
        for messages_item_data in self.messages:
            messages_item = messages_item_data.to_dict()
            messages.append(messages_item)

        cache: bool | None | Unset
        if isinstance(self.cache, Unset):
            cache = UNSET
        else:
            cache = self.cache

        json_mode = self.json_mode

        max_tokens = self.max_tokens

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        response_schema: dict[str, Any] | None | Unset
        if isinstance(self.response_schema, Unset):
            response_schema = UNSET
        elif isinstance(self.response_schema, ResponseSchema) or isinstance(
            self.response_schema, ChatResponseSchemaType1Type0
        ):
            response_schema = self.response_schema.to_dict()
        else:
            response_schema = self.response_schema

        stream = self.stream

        temperature = self.temperature

        timeout = self.timeout

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "messages": messages,
            }
        )
        if cache is not UNSET:
            field_dict["cache"] = cache
        if json_mode is not UNSET:
            field_dict["json_mode"] = json_mode
        if max_tokens is not UNSET:
            field_dict["max_tokens"] = max_tokens
        if model is not UNSET:
            field_dict["model"] = model
        if response_schema is not UNSET:
            field_dict["response_schema"] = response_schema
        if stream is not UNSET:
            field_dict["stream"] = stream
        if temperature is not UNSET:
            field_dict["temperature"] = temperature
        if timeout is not UNSET:
            field_dict["timeout"] = timeout

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.chat_response_schema_type_1_type_0 import (
            ChatResponseSchemaType1Type0,
        )
        from ..models.message import Message
        from ..models.response_schema import ResponseSchema

        d = dict(src_dict)
        messages = []
        _messages = d.pop("messages")
        for messages_item_data in _messages:
            messages_item = Message.from_dict(messages_item_data)

            messages.append(messages_item)

        def _parse_cache(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        cache = _parse_cache(d.pop("cache", UNSET))

        json_mode = d.pop("json_mode", UNSET)

        max_tokens = d.pop("max_tokens", UNSET)

        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))

        def _parse_response_schema(
            data: object,
        ) -> ChatResponseSchemaType1Type0 | None | ResponseSchema | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_schema_type_0 = ResponseSchema.from_dict(data)

                return response_schema_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_schema_type_1_type_0 = ChatResponseSchemaType1Type0.from_dict(
                    data
                )

                return response_schema_type_1_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                ChatResponseSchemaType1Type0 | None | ResponseSchema | Unset, data
            )

        response_schema = _parse_response_schema(d.pop("response_schema", UNSET))

        stream = d.pop("stream", UNSET)

        temperature = d.pop("temperature", UNSET)

        timeout = d.pop("timeout", UNSET)

        chat = cls(
            messages=messages,
            cache=cache,
            json_mode=json_mode,
            max_tokens=max_tokens,
            model=model,
            response_schema=response_schema,
            stream=stream,
            temperature=temperature,
            timeout=timeout,
        )

        return chat
