"""Which database URLs a process uses: given ones, or the embedded server's."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from codex32.config import Settings


@dataclass(frozen=True)
class DatabaseUrls:
    """``runtime`` serves requests and jobs; ``owner`` runs migrations (may be the same).

    The URLs carry passwords: the repr masks them, so logging the object shows none.
    """

    runtime: str
    owner: str
    embedded: bool = False

    def __repr__(self) -> str:
        return (f"DatabaseUrls(runtime={redacted(self.runtime)!r}, "
                f"owner={redacted(self.owner)!r}, embedded={self.embedded})")


def redacted(url: str) -> str:
    """``url`` with its password masked (``***``), for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show nothing of it
        return "<database url>"


def sqlalchemy_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgres://`` and ``postgresql://`` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq reads it (psycopg's own pools, pg_dump, pg_restore)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


CONNECT_TIMEOUT_SECONDS = 10


def _bounded(url: str) -> str:
    """``url`` with libpq's ``connect_timeout`` (unless it sets its own): without one, a
    server that accepts and never answers holds each new connection, a readiness probe's or a
    request's, forever."""
    parsed = make_url(url)
    if "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)}
                                    ).render_as_string(hide_password=False)


def resolve(settings: Settings) -> DatabaseUrls:
    """The URLs from the settings, starting the embedded server when none is given."""
    if settings.database_url:
        runtime = _bounded(sqlalchemy_url(settings.database_url))
        owner = _bounded(sqlalchemy_url(settings.migration_database_url or settings.database_url))
        return DatabaseUrls(runtime=runtime, owner=owner)
    # Only without DATABASE_URL: production processes never load the embedded server's code.
    from codex32.db import embedded

    database = embedded.start(settings.data_dir)
    return DatabaseUrls(runtime=database.runtime_url, owner=database.owner_url, embedded=True)
