from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ...client import AuthenticatedClient, Client
from ...models.bot_execution_list import BotExecutionList
from ...models.list_bot_executions_expand_item import ListBotExecutionsExpandItem
from ...models.list_bot_executions_status import ListBotExecutionsStatus
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    bot_id: UUID,
    *,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListBotExecutionsStatus | Unset = UNSET,
    expand: list[ListBotExecutionsExpandItem] | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["cursor"] = cursor

    params["limit"] = limit

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

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
        "url": "/api/v2/bots/{bot_id}/executions".format(
            bot_id=quote(str(bot_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BotExecutionList | Problem:
    if response.status_code == 200:
        response_200 = BotExecutionList.from_dict(response.json())

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
) -> Response[BotExecutionList | Problem]:
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
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListBotExecutionsStatus | Unset = UNSET,
    expand: list[ListBotExecutionsExpandItem] | Unset = UNSET,
) -> Response[BotExecutionList | Problem]:
    """Runs of one bot, newest first (without logs, input and result).

    Args:
        bot_id (UUID):
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListBotExecutionsStatus | Unset):
        expand (list[ListBotExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BotExecutionList | Problem]
    """

    kwargs = _get_kwargs(
        bot_id=bot_id,
        cursor=cursor,
        limit=limit,
        status=status,
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
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListBotExecutionsStatus | Unset = UNSET,
    expand: list[ListBotExecutionsExpandItem] | Unset = UNSET,
) -> BotExecutionList | Problem | None:
    """Runs of one bot, newest first (without logs, input and result).

    Args:
        bot_id (UUID):
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListBotExecutionsStatus | Unset):
        expand (list[ListBotExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BotExecutionList | Problem
    """

    return sync_detailed(
        bot_id=bot_id,
        client=client,
        cursor=cursor,
        limit=limit,
        status=status,
        expand=expand,
    ).parsed


async def asyncio_detailed(
    bot_id: UUID,
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListBotExecutionsStatus | Unset = UNSET,
    expand: list[ListBotExecutionsExpandItem] | Unset = UNSET,
) -> Response[BotExecutionList | Problem]:
    """Runs of one bot, newest first (without logs, input and result).

    Args:
        bot_id (UUID):
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListBotExecutionsStatus | Unset):
        expand (list[ListBotExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BotExecutionList | Problem]
    """

    kwargs = _get_kwargs(
        bot_id=bot_id,
        cursor=cursor,
        limit=limit,
        status=status,
        expand=expand,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    bot_id: UUID,
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListBotExecutionsStatus | Unset = UNSET,
    expand: list[ListBotExecutionsExpandItem] | Unset = UNSET,
) -> BotExecutionList | Problem | None:
    """Runs of one bot, newest first (without logs, input and result).

    Args:
        bot_id (UUID):
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListBotExecutionsStatus | Unset):
        expand (list[ListBotExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BotExecutionList | Problem
    """

    return (
        await asyncio_detailed(
            bot_id=bot_id,
            client=client,
            cursor=cursor,
            limit=limit,
            status=status,
            expand=expand,
        )
    ).parsed
