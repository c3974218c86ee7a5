"""The fleet's settings: each problem one sentence naming the variable and the fix,
passwords never shown."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import SecretStr

from app.settings.fleet import fleet_problems, fleet_summary, shown_url
from app.settings.model import Settings

TOKEN = "t" * 32


def _secret(value: str) -> SecretStr:
    return SecretStr(value)


def settings(**values: Any) -> Settings:
    """Only what the fleet's checks read (the settings object runs them all at once)."""
    base: dict[str, Any] = {
        "workers": 1,
        "redis_url": None,
        "database_url": None,
        "twilio_auth_token": _secret(TOKEN),
        "operator_token": None,
    }
    return cast(Settings, SimpleNamespace(**{**base, **values}))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:pw@h/0?ssl_ca_certs=/ca.pem", "rediss://user:***@h/0?ssl_ca_certs=/ca.pem"),
        ("postgresql://bot:s3cret@db:5432/calls", "postgresql://bot:***@db:5432/calls"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://:p@ss@h:6379/0", "redis://:***@h:6379/0"),  # an "@" left unescaped
        ("postgresql://bot@db/calls", "postgresql://bot@db/calls"),
    ],
)
def test_passwords_are_never_shown(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_good_fleet_settings_have_no_problem() -> None:
    good = settings(
        workers=4,
        redis_url=_secret("rediss://:pw@redis.internal:6380/0"),
        database_url=_secret("postgres://bot:pw@db/calls"),
    )
    assert fleet_problems(good) == []
    assert fleet_problems(settings()) == []
    assert fleet_problems(settings(database_url=_secret("postgresql://bot@db/calls"))) == []
    assert fleet_problems(settings(redis_url=_secret("unix:///run/redis.sock"))) == []


def test_each_problem_is_one_sentence() -> None:
    assert fleet_problems(settings(workers=2)) == [
        "WORKERS=2 (or WEB_CONCURRENCY) needs REDIS_URL: the workers must share who holds"
        " which call, capacity and stream tokens; set REDIS_URL=redis://host:6379/0, or"
        " WORKERS=1."
    ]
    assert fleet_problems(settings(redis_url=_secret("http://:pw@h/0"))) == [
        "REDIS_URL='http://:***@h/0' is not a Redis address: use"
        " redis://[:password@]host:6379/0, or rediss:// for TLS."
    ]
    assert fleet_problems(settings(redis_url=_secret("redis:///0"))) == [
        "REDIS_URL='redis:///0' is not a Redis address: use"
        " redis://[:password@]host:6379/0, or rediss:// for TLS."
    ]
    unsigned = settings(
        redis_url=_secret("redis://h/0"), twilio_auth_token=None, operator_token=_secret(TOKEN)
    )
    assert fleet_problems(unsigned) == [
        "REDIS_URL needs TWILIO_AUTH_TOKEN: the processes sign the stream tokens and"
        " controls they share with keys derived from it."
    ]
    assert fleet_problems(settings(database_url=_secret("mysql://bot:pw@db/calls"))) == [
        "DATABASE_URL='mysql://bot:***@db/calls' is not a PostgreSQL address: use"
        " postgresql://user:password@host:5432/dbname, or unset it for SQLite"
        " (CALL_RECORDS_PATH)."
    ]


def test_what_check_says_of_the_fleet() -> None:
    assert fleet_summary(settings()) == "one process, calls in its memory (WORKERS=1, no REDIS_URL)"
    fleet = settings(workers=4, redis_url=_secret("rediss://:pw@r:6380/0"))
    assert fleet_summary(fleet) == "4 workers, calls shared in Redis at rediss://:***@r:6380/0"
    two = settings(workers=2, redis_url=_secret("redis://r/0"))
    assert fleet_summary(two) == "2 workers, calls shared in Redis at redis://r/0"
    one = settings(redis_url=_secret("redis://r/0"))
    assert fleet_summary(one) == "1 worker, calls shared in Redis at redis://r/0"
