"""User accounts: the global identity table (email, password hash). Not tenant data.

Passwords are checked against the policy before they are hashed; emails are compared
case-insensitively.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codex32.auth.passwords import check_policy, hash_password
from codex32.db.models import User


def find_by_email(session: Session, email: str) -> User | None:
    """The user with this email, ignoring case."""
    return session.execute(select(User).where(func.lower(User.email) == email.lower())).scalar()


def create(session: Session, email: str, password: str) -> User:
    """A new user (flushed with the caller's transaction) after the password policy check."""
    check_policy(password, email)
    user = User(id=uuid.uuid4(), email=email, password_hash=hash_password(password))
    session.add(user)
    session.flush()  # rows added next (memberships) reference it; no relationship orders them
    return user
