"""Codex-32's Python SDK: ``Codex32`` (``AsyncCodex32`` for asyncio) and its typed errors.

The generated low-level clients are ``codex32_client.api_v2`` and ``codex32_client.api_v1``
(``make sdk-python`` rewrites them from ``sdks/openapi/``); their models are the models this
package returns (``codex32_client.models`` re-exports v2's).
"""

from codex32_client.aio import AsyncCodex32
from codex32_client.auth import Tokens
from codex32_client.client import Codex32
from codex32_client.errors import (
    APIError,
    BadRequest,
    Codex32Error,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    Unauthenticated,
)
from codex32_client.llm import AsyncChatStream, ChatStream
from codex32_client.pagination import AsyncPaginator, Page, Paginator
from codex32_client.transport import RetryPolicy

# major.minor: the API version the SDK speaks (2.0 = API v2); patch: the SDK's own releases.
__version__ = "2.0.0"
API_VERSION = "2"

__all__ = [
    "API_VERSION", "APIError", "AsyncChatStream", "AsyncCodex32", "AsyncPaginator", "BadRequest",
    "ChatStream", "Codex32", "Codex32Error", "Conflict",
    "Forbidden", "InvalidInput", "NotFound", "Page", "Paginator", "RateLimited", "RetryPolicy",
    "ServerError", "Timeout", "Tokens", "TransportError", "Unauthenticated", "__version__",
]
