"""Whether a request is addressed to this server and sent by no other site's page
(app/addressing.py): exact origins, default ports, DNS rebinding, sandboxed pages."""

from __future__ import annotations

import pytest

from app.addressing import LOCAL_HOSTS, KnownHosts, host_name, origin_of

DEV = KnownHosts()
PUBLIC = KnownHosts("https://bot.example.com")
PUBLIC_PORT = KnownHosts("https://Bot.Example.com:8443/voice")


@pytest.mark.parametrize(
    ("netloc", "name"),
    [
        ("Example.com:8000", "example.com"),
        ("[::1]:8000", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("", ""),
        ("[bad", ""),
    ],
)
def test_host_name(netloc: str, name: str) -> None:
    assert host_name(netloc) == name


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://bot.example.com", ("https", "bot.example.com", 443)),
        ("https://bot.example.com:443", ("https", "bot.example.com", 443)),
        ("http://LOCALHOST:8000", ("http", "localhost", 8000)),
        ("ws://127.0.0.1", ("ws", "127.0.0.1", 80)),
        ("wss://[::1]:9", ("wss", "::1", 9)),
        ("null", None),
        ("ftp://example.com", None),
        ("https://", None),
        ("http://host:notaport", None),
        ("", None),
    ],
)
def test_origin_of(url: str, origin: tuple[str, str, int] | None) -> None:
    assert origin_of(url) == origin


def test_the_hosts_it_answers_as() -> None:
    assert DEV.hosts == LOCAL_HOSTS == {"localhost", "127.0.0.1", "::1"}
    assert PUBLIC.hosts == LOCAL_HOSTS | {"bot.example.com"}
    assert PUBLIC_PORT.hosts == LOCAL_HOSTS | {"bot.example.com"}
    assert DEV.public_origin is None
    assert PUBLIC_PORT.public_origin == ("https", "bot.example.com", 8443)


@pytest.mark.parametrize(
    ("known", "host", "origin", "allowed"),
    [
        # curl, scripts and Twilio send no Origin: only the Host decides
        (DEV, "localhost:8000", None, True),
        (DEV, "127.0.0.1:8000", None, True),
        (DEV, "[::1]:8000", None, True),
        (DEV, "rebind.example:8000", None, False),  # DNS rebinding
        (DEV, "", None, False),
        (PUBLIC, "bot.example.com", None, True),
        # a page of this very address, and no other
        (DEV, "localhost:8000", "http://localhost:8000", True),
        (DEV, "localhost:8000", "http://localhost:8001", False),  # another port: another site
        (DEV, "localhost:8000", "http://127.0.0.1:8000", False),  # another name for it
        (DEV, "localhost:8000", "https://localhost:8000", True),  # one port, one server
        (DEV, "localhost:8000", "https://evil.example", False),
        (DEV, "localhost:8000", "null", False),  # a sandboxed or stripped page
        (DEV, "rebind.example:8000", "http://rebind.example:8000", False),
        (PUBLIC, "bot.example.com", "https://bot.example.com", True),
        (PUBLIC, "bot.example.com", "https://bot.example.com:443", True),
        (PUBLIC, "bot.example.com", "https://bot.example.com:444", False),
        (PUBLIC, "bot.example.com", "http://bot.example.com", False),
        (PUBLIC, "bot.example.com", "https://evil.example", False),
        (PUBLIC_PORT, "bot.example.com:8443", "https://bot.example.com:8443", True),
        (PUBLIC_PORT, "bot.example.com:8443", "https://bot.example.com", False),
    ],
)
def test_allows(known: KnownHosts, host: str, origin: str | None, allowed: bool) -> None:
    assert known.allows(host, origin) is allowed
