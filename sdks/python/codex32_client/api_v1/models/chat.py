from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.chat_response_schema_type_1_type_0 import ChatResponseSchemaType1Type0
    from ..models.message import Message
    from ..models.response_schema import ResponseSchema
    from ..models.tool import Tool


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
        parallel_tool_calls (bool | None | Unset):
        response_schema (ChatResponseSchemaType1Type0 | None | ResponseSchema | Unset): ask for structured output
            (OpenAI's json_schema, Anthropic's forced tool); the text is the JSON object
        stream (bool | Unset):  Default: False.
        temperature (float | Unset):  Default: 0.2.
        timeout (float | Unset):  Default: 60.0.
        tool_choice (None | str | Unset): auto, none, required or a tool's name
        tools (list[Tool] | Unset): functions the model may call (a route holding a provider without tools refuses them)
    """

    messages: list[Message]
    cache: bool | None | Unset = UNSET
    json_mode: bool | Unset = False
    max_tokens: int | Unset = 1024
    model: None | str | Unset = UNSET
    parallel_tool_calls: bool | None | Unset = UNSET
    response_schema: ChatResponseSchemaType1Type0 | None | ResponseSchema | Unset = (
        UNSET
    )
    stream: bool | Unset = False
    temperature: float | Unset = 0.2
    timeout: float | Unset = 60.0
    tool_choice: None | str | Unset = UNSET
    tools: list[Tool] | Unset = UNSET

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

        parallel_tool_calls: bool | None | Unset
        if isinstance(self.parallel_tool_calls, Unset):
            parallel_tool_calls = UNSET
        else:
            parallel_tool_calls = self.parallel_tool_calls

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

        tool_choice: None | str | Unset
        if isinstance(self.tool_choice, Unset):
            tool_choice = UNSET
        else:
            tool_choice = self.tool_choice

        tools: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.tools, Unset):
            tools = []
            for tools_item_data in self.tools:
                tools_item = tools_item_data.to_dict()
                tools.append(tools_item)

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
        if parallel_tool_calls is not UNSET:
            field_dict["parallel_tool_calls"] = parallel_tool_calls
        if response_schema is not UNSET:
            field_dict["response_schema"] = response_schema
        if stream is not UNSET:
            field_dict["stream"] = stream
        if temperature is not UNSET:
            field_dict["temperature"] = temperature
        if timeout is not UNSET:
            field_dict["timeout"] = timeout
        if tool_choice is not UNSET:
            field_dict["tool_choice"] = tool_choice
        if tools is not UNSET:
            field_dict["tools"] = tools

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.chat_response_schema_type_1_type_0 import (
            ChatResponseSchemaType1Type0,
        )
        from ..models.message import Message
        from ..models.response_schema import ResponseSchema
        from ..models.tool import Tool

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

        def _parse_parallel_tool_calls(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        parallel_tool_calls = _parse_parallel_tool_calls(
            d.pop("parallel_tool_calls", UNSET)
        )

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

        def _parse_tool_choice(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tool_choice = _parse_tool_choice(d.pop("tool_choice", UNSET))

        _tools = d.pop("tools", UNSET)
        tools: list[Tool] | Unset = UNSET
        if _tools is not UNSET:
            tools = []
            for tools_item_data in _tools:
                tools_item = Tool.from_dict(tools_item_data)

                tools.append(tools_item)

        chat = cls(
            messages=messages,
            cache=cache,
            json_mode=json_mode,
            max_tokens=max_tokens,
            model=model,
            parallel_tool_calls=parallel_tool_calls,
            response_schema=response_schema,
            stream=stream,
            temperature=temperature,
            timeout=timeout,
            tool_choice=tool_choice,
            tools=tools,
        )

        return chat
