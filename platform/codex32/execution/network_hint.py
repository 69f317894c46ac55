"""The hint a failed run gets when it ran without network access and failed reaching a host:
which setting to change (the bot's, or the platform's when it allows no bot on the network)."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from codex32.plugins.interfaces import ExecutionOutcome

if TYPE_CHECKING:
    from codex32.execution.worker import Started
    from codex32.runtime import Runtime

_NO_NETWORK = re.compile(
    r"Network is unreachable|No route to host|Connection refused|\[Errno (?:101|111|113)\]|"
    r"Name or service not known|Temporary failure in name resolution|"
    r"No address associated with hostname|\[Errno -(?:2|3|5)\]")


def with_network_hint(rt: Runtime, started: Started,
                      outcome: ExecutionOutcome) -> ExecutionOutcome:
    """A run without network access that failed reaching a host: say which setting to change."""
    error = outcome.error
    if (started.run.network or outcome.status != "failed" or not isinstance(error, dict)
            or not _NO_NETWORK.search(f"{error.get('message')}\n{error.get('traceback')}")):
        return outcome
    if not rt.settings.allow_bot_network:
        hint = ("this bot ran without network access: this platform does not allow bots on "
                "the network (CODEX32_ALLOW_BOT_NETWORK)")
    else:
        hint = ("this bot ran without network access: if it needs the network, turn on its "
                f"`network` setting (PATCH /api/v1/bots/{started.request.bot_id} with "
                '{"settings": {"network": true}}; the workspace\'s '
                "settings.execution.allow_network must not forbid it)")
    return dataclasses.replace(outcome, error={**error, "hint": hint})
