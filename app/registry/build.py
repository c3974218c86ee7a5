# edge: connects to Redis to check REDIS_URL at startup
"""The registry a deployment runs: in this process's memory (no ``REDIS_URL``), or
shared in Redis. Built once by the services, with what it needs from the settings."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from app.errors import ConfigError
from app.registry.base import CallRegistry, SharedThrottle
from app.registry.memory import MemoryRegistry, MemoryThrottle
from app.registry.sealed import Seal
from app.settings import Settings
from app.settings.fleet import shown_url
from app.telephony.stream_tokens import StreamTokens

CONNECT_TIMEOUT_S = 2.0  # a webhook must not wait long on an unreachable Redis
OPERATION_TIMEOUT_S = 2.0


STREAM_TOKENS = b"stream-token-v1"  # what each key derived from the auth token is for
FLEET_MESSAGES = b"fleet-messages-v1"


def derived_key(auth_token: str, purpose: bytes) -> bytes:
    """A key every process of the deployment derives alike from TWILIO_AUTH_TOKEN, one
    per ``purpose``."""
    return hmac.new(auth_token.encode(), purpose, hashlib.sha256).digest()


def fleet_seal(settings: Settings) -> Seal:
    """What seals the messages the processes leave each other in Redis, keyed from the
    auth token (and, while it is rotated, the previous one is accepted beside it)."""
    auth = settings.auth_token
    assert auth is not None  # REDIS_URL without TWILIO_AUTH_TOKEN is refused at startup
    previous = derived_key(auth.previous, FLEET_MESSAGES) if auth.previous else None
    return Seal(derived_key(auth.current, FLEET_MESSAGES), previous, auth.previous_until)


def redis_options(settings: Settings) -> dict[str, Any]:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": OPERATION_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 1),  # one quick retry: the caller's webhook is waiting
        "health_check_interval": 5,
    }


def check_redis(settings: Settings) -> None:
    """Refuse to start, with one sentence, if REDIS_URL does not answer a PING."""
    import redis
    from redis.exceptions import RedisError

    assert settings.redis_url is not None
    url = settings.redis_url.get_secret_value()
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=OPERATION_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
    except (RedisError, OSError, ValueError) as error:
        raise ConfigError(
            f"REDIS_URL={shown_url(url)} cannot be used ({error}): start Redis there, or fix"
            " the address, password or TLS settings (rediss://…?ssl_ca_certs=/path/ca.pem)."
        ) from None


def build_registry(
    settings: Settings,
    tokens: StreamTokens,
    process: str,
    *,
    on_orphan: Callable[[str, str], Awaitable[None]] | None = None,
    on_down: Callable[[], None] | None = None,
) -> tuple[CallRegistry, SharedThrottle]:
    if settings.redis_url is None:
        registry = MemoryRegistry(
            tokens, settings.max_concurrent_calls, settings.max_softphone_calls, process=process
        )
        return registry, MemoryThrottle()
    check_redis(settings)
    from redis.asyncio import Redis

    from app.registry.redis import RedisRegistry, RedisThrottle

    url = settings.redis_url.get_secret_value()
    options = redis_options(settings)
    fleet = RedisRegistry(
        Redis.from_url(url, **options),
        tokens,
        fleet_seal(settings),
        settings.max_concurrent_calls,
        settings.max_softphone_calls,
        process,
        prefix=settings.redis_key_prefix,
        lease_s=settings.fleet_lease_seconds,
        on_orphan=on_orphan,
        on_down=on_down,
    )
    return fleet, RedisThrottle(fleet.client, settings.redis_key_prefix)
