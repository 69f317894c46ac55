"""Password hashing (Argon2id) and the password policy. No database access here."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from codex32 import runtime
from codex32.errors import Invalid

MIN_LENGTH = 10
MAX_LENGTH = 1024
COMMON = frozenset({
    "password", "password1", "password123", "1234567890", "qwertyuiop", "letmein123",
    "iloveyou12", "administrator", "welcome123", "passw0rd123", "changeme123", "codex32codex32",
})


class Passwords:
    """Argon2id hashing at one cost (tests lower it; production keeps the library's defaults).

    Each runtime holds its own (:attr:`codex32.runtime.Runtime.passwords`); the functions
    below use the current runtime's.
    """

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        """An Argon2id hash of ``password`` with a fresh salt."""
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; never raises for a wrong password or a bad hash. A
        hash that is not Argon2's (an account without a password) costs a verification too,
        so the time never tells which accounts have no password."""
        try:
            return self.hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            self.burn_verify(password)
            return False

    def burn_verify(self, password: str) -> None:
        """Spend the time of one verification, so unknown emails answer as slowly as known
        ones."""
        if self._dummy_hash is None:  # a race computes it twice, harmlessly
            self._dummy_hash = self.hasher.hash("codex32-not-a-password")
        self.verify(self._dummy_hash, password)


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with a fresh salt, at the current runtime's cost."""
    return runtime.current().passwords.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong password or a bad hash."""
    return runtime.current().passwords.verify(password_hash, password)


def burn_verify(password: str) -> None:
    """Spend the time of one verification, so unknown emails answer as slowly as known ones."""
    runtime.current().passwords.burn_verify(password)


def check_policy(password: str, email: str = "") -> None:
    """Raise ``Invalid`` unless ``password`` meets the policy documented in docs/security.md.

    At least 10 and at most 1024 characters, not the email or its local part, not one repeated
    character, not a well-known password.
    """
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    local = email.lower().split("@", 1)[0]
    if email and (lowered == email.lower() or (len(local) >= 4 and local in lowered)):
        problems.append("must not contain the email address")
    if password and len(set(password)) == 1:
        problems.append("must not repeat one character")
    if lowered in COMMON:
        problems.append("is too common")
    if problems:
        raise Invalid("the password does not meet the policy",
                      errors={"json": {"password": problems}})
