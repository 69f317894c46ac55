import datetime
from http import HTTPStatus
from typing import Any, cast

import httpx

from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
    group_by: str | Unset = "",
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_from_: None | str | Unset
    if isinstance(from_, Unset):
        json_from_ = UNSET
    elif isinstance(from_, datetime.datetime):
        json_from_ = from_.isoformat()
    else:
        json_from_ = from_
    params["from"] = json_from_

    json_to: None | str | Unset
    if isinstance(to, Unset):
        json_to = UNSET
    elif isinstance(to, datetime.datetime):
        json_to = to.isoformat()
    else:
        json_to = to
    params["to"] = json_to

    params["group_by"] = group_by

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/usage",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | Error:
    if response.status_code == 200:
        response_200 = cast(Any, None)
        return response_200

    if response.status_code == 422:
        response_422 = Error.from_dict(response.json())

        return response_422

    response_default = Error.from_dict(response.json())

    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | Error]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
    group_by: str | Unset = "",
) -> Response[Any | Error]:
    """The workspace's LLM usage and cost between ``from`` and ``to``, grouped by any of
    day, model, provider, purpose, user, bot, api_key (comma-separated ``group_by``).

     Each group counts ``requests``, tokens, ``cost_usd`` (known costs, exact decimal),
    ``cache_hits``, ``unpriced_requests`` (cost unknown), ``failed_requests`` (error,
    timeout, cancelled), ``pending_requests`` (still being answered or recorded) and
    ``unsettled_requests`` (answer never recorded, charged at the reserved maximum; not
    failed).

    Args:
        from_ (datetime.datetime | None | Unset):
        to (datetime.datetime | None | Unset):
        group_by (str | Unset):  Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error]
    """

    kwargs = _get_kwargs(
        from_=from_,
        to=to,
        group_by=group_by,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
    group_by: str | Unset = "",
) -> Any | Error | None:
    """The workspace's LLM usage and cost between ``from`` and ``to``, grouped by any of
    day, model, provider, purpose, user, bot, api_key (comma-separated ``group_by``).

     Each group counts ``requests``, tokens, ``cost_usd`` (known costs, exact decimal),
    ``cache_hits``, ``unpriced_requests`` (cost unknown), ``failed_requests`` (error,
    timeout, cancelled), ``pending_requests`` (still being answered or recorded) and
    ``unsettled_requests`` (answer never recorded, charged at the reserved maximum; not
    failed).

    Args:
        from_ (datetime.datetime | None | Unset):
        to (datetime.datetime | None | Unset):
        group_by (str | Unset):  Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error
    """

    return sync_detailed(
        client=client,
        from_=from_,
        to=to,
        group_by=group_by,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
    group_by: str | Unset = "",
) -> Response[Any | Error]:
    """The workspace's LLM usage and cost between ``from`` and ``to``, grouped by any of
    day, model, provider, purpose, user, bot, api_key (comma-separated ``group_by``).

     Each group counts ``requests``, tokens, ``cost_usd`` (known costs, exact decimal),
    ``cache_hits``, ``unpriced_requests`` (cost unknown), ``failed_requests`` (error,
    timeout, cancelled), ``pending_requests`` (still being answered or recorded) and
    ``unsettled_requests`` (answer never recorded, charged at the reserved maximum; not
    failed).

    Args:
        from_ (datetime.datetime | None | Unset):
        to (datetime.datetime | None | Unset):
        group_by (str | Unset):  Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error]
    """

    kwargs = _get_kwargs(
        from_=from_,
        to=to,
        group_by=group_by,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
    group_by: str | Unset = "",
) -> Any | Error | None:
    """The workspace's LLM usage and cost between ``from`` and ``to``, grouped by any of
    day, model, provider, purpose, user, bot, api_key (comma-separated ``group_by``).

     Each group counts ``requests``, tokens, ``cost_usd`` (known costs, exact decimal),
    ``cache_hits``, ``unpriced_requests`` (cost unknown), ``failed_requests`` (error,
    timeout, cancelled), ``pending_requests`` (still being answered or recorded) and
    ``unsettled_requests`` (answer never recorded, charged at the reserved maximum; not
    failed).

    Args:
        from_ (datetime.datetime | None | Unset):
        to (datetime.datetime | None | Unset):
        group_by (str | Unset):  Default: ''.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error
    """

    return (
        await asyncio_detailed(
            client=client,
            from_=from_,
            to=to,
            group_by=group_by,
        )
    ).parsed
