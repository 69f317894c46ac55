"""A run's requirements: the pins of its version's ``requirements.txt``, checked against the
allowlists of the moment, and the cached environment (:mod:`.environments`) the sandbox
imports them from.

Called by the run job (:mod:`.worker`): :func:`pins_of_version` inside its first transaction,
:func:`with_environment` after it, with no session open (an install can take minutes).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from codex32.db.models import Workspace
from codex32.execution import environments
from codex32.plugins.interfaces import ExecutionRequest
from codex32.runtime import Runtime
from codex32.services.builder.validation import requirements


class Unavailable(Exception):
    """The requirements could not be installed; the message says why (pip's words)."""


def pins_of_version(rt: Runtime, session: Session, files: dict[str, str] | None
                    ) -> tuple[tuple[str, ...], str | None]:
    """The pins of the version's requirements.txt, or why they may not be installed (the
    builder's rules: pinned, on the platform's and the workspace's allowlists)."""
    text = (files or {}).get(requirements.FILE)
    if not text:
        return (), None
    pins, findings = requirements.pins_of(text)
    if pins and not findings:
        own = requirements.own_allowlist(session.execute(select(Workspace.settings)).scalar()
                                         or {})
        findings = requirements.refusals(pins, rt.settings.builder_allowed_requirements, own)
    return tuple(pins), "; ".join(finding.message for finding in findings)[:1000] or None


def with_environment(rt: Runtime, request: ExecutionRequest, pins: tuple[str, ...]
                     ) -> ExecutionRequest:
    """``request`` with the environment of ``pins`` (installed now unless cached); raises
    :class:`Unavailable` when they cannot be installed."""
    if not pins:
        return request
    try:
        environment = environments.ensure(environments.Installer.from_settings(rt.settings),
                                          list(pins))
    except environments.InstallFailed as exc:
        raise Unavailable(f"the bot's requirements could not be installed: {exc}"[:1000]
                          ) from exc
    return dataclasses.replace(request, environments=(str(environment.site),))
