from http import HTTPStatus
from typing import Any

import httpx

from ...client import AuthenticatedClient, Client
from ...models.chat import Chat
from ...models.chat_answer import ChatAnswer
from ...models.error import Error
from ...types import Response


def _get_kwargs(
    *,
    body: Chat,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/llm/chat",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ChatAnswer | Error:
    if response.status_code == 200:
        response_200 = ChatAnswer.from_dict(response.json())

        return response_200

    if response.status_code == 422:
        response_422 = Error.from_dict(response.json())

        return response_422

    response_default = Error.from_dict(response.json())

    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ChatAnswer | Error]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: Chat,
) -> Response[ChatAnswer | Error]:
    """Answer a chat through the workspace's route (aliases, fallback, budget, cache, ledger).

     ``tools`` offers functions the model may call; its calls come back in ``tool_calls``
    (send them back in an assistant message, each result in a ``tool`` message).
    With ``stream: true`` the answer is Server-Sent Events: ``chunk`` events with ``text``
    (and pieces of tool calls in ``tool_calls``: index, id and name first, then fragments of
    the arguments),
    then one ``done`` event with usage, cost and attempts (or an ``error`` event). A client
    that disconnects stops the upstream call; the tokens produced are still recorded.

    Args:
        body (Chat):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ChatAnswer | Error]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: Chat,
) -> ChatAnswer | Error | None:
    """Answer a chat through the workspace's route (aliases, fallback, budget, cache, ledger).

     ``tools`` offers functions the model may call; its calls come back in ``tool_calls``
    (send them back in an assistant message, each result in a ``tool`` message).
    With ``stream: true`` the answer is Server-Sent Events: ``chunk`` events with ``text``
    (and pieces of tool calls in ``tool_calls``: index, id and name first, then fragments of
    the arguments),
    then one ``done`` event with usage, cost and attempts (or an ``error`` event). A client
    that disconnects stops the upstream call; the tokens produced are still recorded.

    Args:
        body (Chat):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ChatAnswer | Error
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: Chat,
) -> Response[ChatAnswer | Error]:
    """Answer a chat through the workspace's route (aliases, fallback, budget, cache, ledger).

     ``tools`` offers functions the model may call; its calls come back in ``tool_calls``
    (send them back in an assistant message, each result in a ``tool`` message).
    With ``stream: true`` the answer is Server-Sent Events: ``chunk`` events with ``text``
    (and pieces of tool calls in ``tool_calls``: index, id and name first, then fragments of
    the arguments),
    then one ``done`` event with usage, cost and attempts (or an ``error`` event). A client
    that disconnects stops the upstream call; the tokens produced are still recorded.

    Args:
        body (Chat):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ChatAnswer | Error]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: Chat,
) -> ChatAnswer | Error | None:
    """Answer a chat through the workspace's route (aliases, fallback, budget, cache, ledger).

     ``tools`` offers functions the model may call; its calls come back in ``tool_calls``
    (send them back in an assistant message, each result in a ``tool`` message).
    With ``stream: true`` the answer is Server-Sent Events: ``chunk`` events with ``text``
    (and pieces of tool calls in ``tool_calls``: index, id and name first, then fragments of
    the arguments),
    then one ``done`` event with usage, cost and attempts (or an ``error`` event). A client
    that disconnects stops the upstream call; the tokens produced are still recorded.

    Args:
        body (Chat):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ChatAnswer | Error
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
