"""Who a request comes from: the client address behind trusted proxies, and the key that
throttles and per-client caps count it under. Pure.

``X-Forwarded-For`` is a list each proxy appends its peer to, so only its right end is
written by proxies we trust; the left is whatever the client sent. The client is the
rightmost entry that is not itself one of our trusted proxies. With ``*`` (every
address is a proxy: a platform router whose addresses cannot be known) no entry can
be skipped that way, so the client is the entry ``hops`` from the right (1: the one
the router itself appended). uvicorn's own rule takes the LEFTMOST entry for ``*``,
which the client writes: that let a client choose its address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_PREFIX = 64  # one IPv6 client usually holds a whole /64


def client_key(address: str) -> str:
    """What per-client limits count by: an IPv4 address, or an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_interface(f"{ip}/{IPV6_PREFIX}").network)
    return str(ip)


@dataclass(frozen=True)
class TrustedProxies:
    """The addresses whose ``X-Forwarded-For`` and ``-Proto`` are believed."""

    networks: tuple[Network, ...] = ()
    everyone: bool = False  # "*"
    hops: int = 1  # with "*": how many proxies in front of us append an entry

    @classmethod
    def parse(cls, value: str, hops: int = 1) -> TrustedProxies:
        """``TRUSTED_PROXIES``: a comma-separated list of addresses and networks, or ``*``
        (checked at startup by the settings)."""
        entries = [e.strip() for e in value.split(",") if e.strip()]
        networks = tuple(ipaddress.ip_interface(e).network for e in entries if e != "*")
        return cls(networks, "*" in entries, hops)

    def trusts(self, address: str) -> bool:
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, peer: str, forwarded_for: list[str]) -> str:
        """The client's address: the peer's own, unless the peer is a trusted proxy that
        says whom it forwards (``forwarded_for``: every X-Forwarded-For header, in order)."""
        if not self.trusts(peer):
            return peer
        entries = [e.strip() for header in forwarded_for for e in header.split(",")]
        entries = [e for e in entries if e]
        if not entries:
            return peer
        if self.everyone:  # the hops-th from the right, or the leftmost there is
            chosen = entries[max(0, len(entries) - self.hops)]
        else:
            chosen = next((e for e in reversed(entries) if not self.trusts(e)), entries[0])
        return chosen if _is_address(chosen) else peer

    def scheme(self, peer: str, forwarded_proto: list[str], default: str) -> str:
        """``X-Forwarded-Proto`` from a trusted proxy (its last entry), else ``default``."""
        if not self.trusts(peer):
            return default
        entries = [e.strip().lower() for header in forwarded_proto for e in header.split(",")]
        last = entries[-1] if entries else ""
        return last if last in ("http", "https", "ws", "wss") else default


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
