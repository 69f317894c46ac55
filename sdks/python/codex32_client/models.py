"""The models the SDK returns: v2's generated models (bots, versions, executions, …) and the
v1 models of sign-in and the LLM gateway."""

from codex32_client.api_v1.models import ChatAnswer, Me, Message, TokenPair
from codex32_client.api_v2.models import *  # noqa: F403
from codex32_client.api_v2.models import __all__ as _v2_models

__all__ = [*_v2_models, "ChatAnswer", "Me", "Message", "TokenPair"]
