from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ...client import AuthenticatedClient, Client
from ...models.bot_detail import BotDetail
from ...models.get_bot_expand_item import GetBotExpandItem
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    bot_id: UUID,
    *,
    expand: list[GetBotExpandItem] | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_expand: list[str] | Unset = UNSET
    if not isinstance(expand, Unset):
        json_expand = []
        for expand_item_data in expand:
            expand_item = expand_item_data.value
            json_expand.append(expand_item)

    params["expand"] = json_expand

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v2/bots/{bot_id}".format(
            bot_id=quote(str(bot_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BotDetail | Problem:
    if response.status_code == 200:
        response_200 = BotDetail.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    response_default = Problem.from_dict(response.json())

    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[BotDetail | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    bot_id: UUID,
    *,
    client: AuthenticatedClient,
    expand: list[GetBotExpandItem] | Unset = UNSET,
) -> Response[BotDetail | Problem]:
    """One bot.

    Args:
        bot_id (UUID):
        expand (list[GetBotExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BotDetail | Problem]
    """

    kwargs = _get_kwargs(
        bot_id=bot_id,
        expand=expand,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    bot_id: UUID,
    *,
    client: AuthenticatedClient,
    expand: list[GetBotExpandItem] | Unset = UNSET,
) -> BotDetail | Problem | None:
    """One bot.

    Args:
        bot_id (UUID):
        expand (list[GetBotExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BotDetail | Problem
    """

    return sync_detailed(
        bot_id=bot_id,
        client=client,
        expand=expand,
    ).parsed


async def asyncio_detailed(
    bot_id: UUID,
    *,
    client: AuthenticatedClient,
    expand: list[GetBotExpandItem] | Unset = UNSET,
) -> Response[BotDetail | Problem]:
    """One bot.

    Args:
        bot_id (UUID):
        expand (list[GetBotExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BotDetail | Problem]
    """

    kwargs = _get_kwargs(
        bot_id=bot_id,
        expand=expand,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    bot_id: UUID,
    *,
    client: AuthenticatedClient,
    expand: list[GetBotExpandItem] | Unset = UNSET,
) -> BotDetail | Problem | None:
    """One bot.

    Args:
        bot_id (UUID):
        expand (list[GetBotExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BotDetail | Problem
    """

    return (
        await asyncio_detailed(
            bot_id=bot_id,
            client=client,
            expand=expand,
        )
    ).parsed
