"""Checks of the fleet's settings (WORKERS, REDIS_URL, DATABASE_URL), each problem one
sentence naming the variable and the fix. Pure: values only; whether the servers answer
is asked when the services are built (app/registry/build.py, app/sinks/postgres.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from app.settings.model import Settings


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def fleet_problems(settings: Settings) -> list[str]:
    problems = []
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else ""
    database_url = settings.database_url.get_secret_value() if settings.database_url else ""
    if settings.workers > 1 and not redis_url:
        problems.append(
            f"WORKERS={settings.workers} (or WEB_CONCURRENCY) needs REDIS_URL: the workers"
            " must share who holds which call, capacity and stream tokens; set"
            " REDIS_URL=redis://host:6379/0, or WORKERS=1."
        )
    if redis_url:
        parts = urlsplit(redis_url)
        if parts.scheme not in ("redis", "rediss", "unix") or not (
            parts.hostname or parts.scheme == "unix"
        ):
            problems.append(
                f"REDIS_URL={shown_url(redis_url)!r} is not a Redis address: use"
                " redis://[:password@]host:6379/0, or rediss:// for TLS."
            )
        if settings.twilio_auth_token is None:
            problems.append(
                "REDIS_URL needs TWILIO_AUTH_TOKEN: the processes sign the stream tokens"
                " and controls they share with keys derived from it."
            )
    if database_url:
        parts = urlsplit(database_url)
        if parts.scheme not in ("postgresql", "postgres"):
            problems.append(
                f"DATABASE_URL={shown_url(database_url)!r} is not a PostgreSQL address: use"
                " postgresql://user:password@host:5432/dbname, or unset it for SQLite"
                " (CALL_RECORDS_PATH)."
            )
    return problems


def fleet_summary(settings: Settings) -> str:
    """What ``python -m app check`` says of the fleet (passwords hidden)."""
    if settings.redis_url is None:
        return f"one process, calls in its memory (WORKERS={settings.workers}, no REDIS_URL)"
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    return f"{workers}, calls shared in Redis at {shown_url(settings.redis_url.get_secret_value())}"
