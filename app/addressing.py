"""Whether a request is addressed to this server, and sent by no other site's page. Pure.

Used where no signature or token proves who is asking: every route that starts or
steers a call when signatures are off (development), and the softphone always. A
request must name, in its ``Host``, a host this server answers as (this machine's
names, or PUBLIC_URL's host), so a page whose name an attacker points at 127.0.0.1
(DNS rebinding) is refused; and if a page sent it (it carries an ``Origin``), that page
must be this server's own: the same scheme, host and port as PUBLIC_URL, or the very
address the request went to on this machine. A page of another port of the same host
is another site.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
Origin = tuple[str, str, int]  # scheme, host, port


def host_name(netloc: str) -> str:
    """``Example.com:8000`` → ``example.com``; ``[::1]:8000`` → ``::1``."""
    try:
        return (urlsplit(f"//{netloc}").hostname or "").lower()
    except ValueError:
        return ""


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an address, default ports filled in; None if it has none."""
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class KnownHosts:
    public_url: str | None = None

    @property
    def public_origin(self) -> Origin | None:
        return origin_of(self.public_url) if self.public_url else None

    @property
    def hosts(self) -> frozenset[str]:
        public = self.public_origin
        return LOCAL_HOSTS | ({public[1]} if public else frozenset())

    def addressed_to_us(self, host_header: str) -> bool:
        return host_name(host_header) in self.hosts

    def from_our_page(self, origin: str | None, host_header: str) -> bool:
        """No ``Origin`` (curl, scripts, Twilio: not a page), or our own page's."""
        if origin is None:
            return True
        page = origin_of(origin)
        if page is None:
            return False  # "null" (a sandboxed or privacy-stripped page), or garbage
        if page == self.public_origin:
            return True
        here = origin_of(f"{page[0]}://{host_header}")
        return page[1] in LOCAL_HOSTS and page == here

    def allows(self, host_header: str, origin: str | None) -> bool:
        return self.addressed_to_us(host_header) and self.from_our_page(origin, host_header)
