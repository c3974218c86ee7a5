"""Who a request comes from behind trusted proxies, and the key per-client limits count
it under (app/clients.py): table-driven, and the spoofing cases of round three's N4."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.clients import TrustedProxies, client_key

LOOPBACK = TrustedProxies.parse("127.0.0.1,::1")
PROXY_NET = TrustedProxies.parse("10.0.0.0/8, 192.0.2.7")
EVERYONE = TrustedProxies.parse("*")
TWO_ROUTERS = TrustedProxies.parse("*", hops=2)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),  # the same /64: one client
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.9", "192.0.2.9"),  # an IPv4 client on a dual-stack socket
        ("::1", "::/64"),
        ("not-an-address", "not-an-address"),
        ("", ""),
    ],
)
def test_the_client_key(address: str, key: str) -> None:
    assert client_key(address) == key


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "client"),
    [
        # an untrusted peer is the client, whatever it claims
        (LOOPBACK, "198.51.100.4", ["6.6.6.6"], "198.51.100.4"),
        # a trusted proxy names the client it forwards (the entry it appended)
        (LOOPBACK, "127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        # the client's own claims sit to the left: the rightmost untrusted entry wins
        (LOOPBACK, "127.0.0.1", ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
        # a chain of our own proxies is skipped
        (PROXY_NET, "10.1.1.1", ["6.6.6.6, 203.0.113.7, 10.2.2.2"], "203.0.113.7"),
        (PROXY_NET, "192.0.2.7", ["203.0.113.7", "10.9.9.9"], "203.0.113.7"),  # two headers
        # every entry ours: the leftmost is the best there is
        (PROXY_NET, "10.1.1.1", ["10.3.3.3, 10.2.2.2"], "10.3.3.3"),
        # "*": the entry the router appended, never the client-written left end
        (EVERYONE, "10.0.0.5", ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
        (EVERYONE, "10.0.0.5", ["1.1.1.1, 2.2.2.2, 203.0.113.7"], "203.0.113.7"),
        (TWO_ROUTERS, "10.0.0.5", ["6.6.6.6, 203.0.113.7, 10.0.0.9"], "203.0.113.7"),
        (TWO_ROUTERS, "10.0.0.5", ["203.0.113.7"], "203.0.113.7"),  # fewer entries than hops
        # nothing forwarded, or garbage: the peer
        (LOOPBACK, "127.0.0.1", [], "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", [" , "], "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", ["unknown"], "127.0.0.1"),
        (EVERYONE, "10.0.0.5", ["6.6.6.6, not-an-ip"], "10.0.0.5"),
        (LOOPBACK, "127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_the_client_behind_proxies(
    proxies: TrustedProxies, peer: str, forwarded: list[str], client: str
) -> None:
    assert proxies.client(peer, forwarded) == client


@given(st.lists(st.ip_addresses().map(str), min_size=1, max_size=5))
def test_with_everyone_trusted_a_client_cannot_choose_its_address(claims: list[str]) -> None:
    """Whatever the client writes in front, the router's own entry decides."""
    header = ", ".join([*claims, "203.0.113.7"])
    assert EVERYONE.client("10.0.0.5", [header]) == "203.0.113.7"


@pytest.mark.parametrize(
    ("proxies", "peer", "protos", "scheme"),
    [
        (LOOPBACK, "127.0.0.1", ["https"], "https"),
        (LOOPBACK, "127.0.0.1", ["http, HTTPS"], "https"),  # the last entry, any case
        (LOOPBACK, "198.51.100.4", ["https"], "http"),  # not a proxy of ours
        (LOOPBACK, "127.0.0.1", ["gopher"], "http"),
        (LOOPBACK, "127.0.0.1", [], "http"),
        (LOOPBACK, "127.0.0.1", ["http,https"], "https"),  # commas, no spaces
        (EVERYONE, "10.0.0.5", ["wss"], "wss"),
        (EVERYONE, "10.0.0.5", ["ws"], "ws"),
    ],
)
def test_the_scheme_from_a_trusted_proxy(
    proxies: TrustedProxies, peer: str, protos: list[str], scheme: str
) -> None:
    assert proxies.scheme(peer, protos, "http") == scheme


@pytest.mark.parametrize("proto", ["http", "HTTP", "ws", "wss", "https"])
def test_each_scheme_is_taken_over_the_default(proto: str) -> None:
    assert LOOPBACK.scheme("127.0.0.1", [proto], "none") == proto.lower()


def test_parsing_and_trust() -> None:
    everyone = TrustedProxies.parse("*")  # made here, not at import
    assert everyone.everyone and everyone.hops == 1 and everyone.networks == ()
    two = TrustedProxies.parse("*", hops=2)
    assert two.hops == 2
    host_bits = TrustedProxies.parse("10.1.2.3/8, 2001:db8::5/64")  # host bits set: taken
    assert host_bits.trusts("10.200.0.1") and host_bits.trusts("2001:db8::99")
    assert not host_bits.trusts("11.0.0.1")
    assert LOOPBACK.trusts("127.0.0.1") and LOOPBACK.trusts("::1")
    assert not LOOPBACK.trusts("127.0.0.2") and not LOOPBACK.trusts("garbage")
    assert PROXY_NET.trusts("10.200.0.1") and PROXY_NET.trusts("192.0.2.7")
    assert not PROXY_NET.trusts("192.0.2.8")
    assert EVERYONE.trusts("anything") and EVERYONE.hops == 1
    assert TrustedProxies.parse("").networks == () and not TrustedProxies.parse("").everyone
    assert not TrustedProxies().trusts("127.0.0.1")
    assert TrustedProxies.parse("*, 10.0.0.0/8").everyone
