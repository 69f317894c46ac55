from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ...client import AuthenticatedClient, Client
from ...models.execution_list import ExecutionList
from ...models.list_executions_expand_item import ListExecutionsExpandItem
from ...models.list_executions_status import ListExecutionsStatus
from ...models.list_executions_trigger import ListExecutionsTrigger
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListExecutionsStatus | Unset = UNSET,
    trigger: ListExecutionsTrigger | Unset = UNSET,
    bot_id: UUID | Unset = UNSET,
    expand: list[ListExecutionsExpandItem] | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["cursor"] = cursor

    params["limit"] = limit

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    json_trigger: str | Unset = UNSET
    if not isinstance(trigger, Unset):
        json_trigger = trigger.value

    params["trigger"] = json_trigger

    json_bot_id: str | Unset = UNSET
    if not isinstance(bot_id, Unset):
        json_bot_id = str(bot_id)
    params["bot_id"] = json_bot_id

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
        "url": "/api/v2/executions",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ExecutionList | Problem:
    if response.status_code == 200:
        response_200 = ExecutionList.from_dict(response.json())

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
) -> Response[ExecutionList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListExecutionsStatus | Unset = UNSET,
    trigger: ListExecutionsTrigger | Unset = UNSET,
    bot_id: UUID | Unset = UNSET,
    expand: list[ListExecutionsExpandItem] | Unset = UNSET,
) -> Response[ExecutionList | Problem]:
    """Runs of every bot in the workspace, newest first; filter by status, trigger or bot.

    Args:
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListExecutionsStatus | Unset):
        trigger (ListExecutionsTrigger | Unset):
        bot_id (UUID | Unset):
        expand (list[ListExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ExecutionList | Problem]
    """

    kwargs = _get_kwargs(
        cursor=cursor,
        limit=limit,
        status=status,
        trigger=trigger,
        bot_id=bot_id,
        expand=expand,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListExecutionsStatus | Unset = UNSET,
    trigger: ListExecutionsTrigger | Unset = UNSET,
    bot_id: UUID | Unset = UNSET,
    expand: list[ListExecutionsExpandItem] | Unset = UNSET,
) -> ExecutionList | Problem | None:
    """Runs of every bot in the workspace, newest first; filter by status, trigger or bot.

    Args:
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListExecutionsStatus | Unset):
        trigger (ListExecutionsTrigger | Unset):
        bot_id (UUID | Unset):
        expand (list[ListExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ExecutionList | Problem
    """

    return sync_detailed(
        client=client,
        cursor=cursor,
        limit=limit,
        status=status,
        trigger=trigger,
        bot_id=bot_id,
        expand=expand,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListExecutionsStatus | Unset = UNSET,
    trigger: ListExecutionsTrigger | Unset = UNSET,
    bot_id: UUID | Unset = UNSET,
    expand: list[ListExecutionsExpandItem] | Unset = UNSET,
) -> Response[ExecutionList | Problem]:
    """Runs of every bot in the workspace, newest first; filter by status, trigger or bot.

    Args:
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListExecutionsStatus | Unset):
        trigger (ListExecutionsTrigger | Unset):
        bot_id (UUID | Unset):
        expand (list[ListExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ExecutionList | Problem]
    """

    kwargs = _get_kwargs(
        cursor=cursor,
        limit=limit,
        status=status,
        trigger=trigger,
        bot_id=bot_id,
        expand=expand,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 20,
    status: ListExecutionsStatus | Unset = UNSET,
    trigger: ListExecutionsTrigger | Unset = UNSET,
    bot_id: UUID | Unset = UNSET,
    expand: list[ListExecutionsExpandItem] | Unset = UNSET,
) -> ExecutionList | Problem | None:
    """Runs of every bot in the workspace, newest first; filter by status, trigger or bot.

    Args:
        cursor (str | Unset):
        limit (int | Unset):  Default: 20.
        status (ListExecutionsStatus | Unset):
        trigger (ListExecutionsTrigger | Unset):
        bot_id (UUID | Unset):
        expand (list[ListExecutionsExpandItem] | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ExecutionList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            cursor=cursor,
            limit=limit,
            status=status,
            trigger=trigger,
            bot_id=bot_id,
            expand=expand,
        )
    ).parsed
