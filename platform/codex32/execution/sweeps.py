"""Sweeps of the worker's maintenance loop that own their transactions: rows that expire and
that nobody else deletes, in every workspace, each swept under its own binding."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from codex32.db import tenancy
from codex32.services.oidc import sign_ins


def expired_oidc_sign_ins(sessions: Callable[[], Session]) -> int:
    """Delete expired OIDC sign-ins in every workspace that holds some; how many went (a new
    sign-in clears only its own workspace's)."""
    with sessions() as session:
        workspaces = sign_ins.workspaces_with_expired(session)
    swept = 0
    for workspace_id in workspaces:
        with sessions() as session, tenancy.bound(session, workspace_id):
            swept += sign_ins.delete_expired(session)
            session.commit()
    return swept
