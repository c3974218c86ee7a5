"""The softphone pages' icon: a green disc with three sound bars, as SVG for browsers
that take it and as a 32×32 ICO (holding a PNG) for ``/favicon.ico``, which browsers
ask for on their own. Drawn here, a few hundred bytes, so no binary is kept in git."""

from __future__ import annotations

import struct
import zlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.server.inputs import known_query

SIZE = 32
GREEN = (0x1F, 0x9D, 0x55, 0xFF)  # the Call button's
WHITE = (0xFF, 0xFF, 0xFF, 0xFF)
CLEAR = (0, 0, 0, 0)
BARS = ((9, 12, 20), (15, 8, 24), (21, 12, 20))  # x, top, bottom: three bars, 3 wide

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<circle cx="16" cy="16" r="16" fill="#1f9d55"/><g fill="#fff">'
    + "".join(
        f'<rect x="{x}" y="{top}" width="3" height="{bottom - top}" rx="1.5"/>'
        for x, top, bottom in BARS
    )
    + "</g></svg>"
)


def pixel(x: int, y: int) -> tuple[int, int, int, int]:
    if any(left <= x < left + 3 and top <= y < bottom for left, top, bottom in BARS):
        return WHITE
    inside = (x + 0.5 - SIZE / 2) ** 2 + (y + 0.5 - SIZE / 2) ** 2 <= (SIZE / 2) ** 2
    return GREEN if inside else CLEAR


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    """The icon as an RGBA PNG (each row: filter byte 0, then its pixels)."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(SIZE) for c in pixel(x, y)) for y in range(SIZE)
    )
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def ico() -> bytes:
    """An ICO file holding the PNG (every browser takes PNG inside ICO)."""
    image = png()
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(image), 6 + 16)
    return directory + entry + image


ICO = ico()
CACHED = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


async def favicon_ico(request: Request) -> Response:
    known_query(request)
    return Response(ICO, media_type="image/x-icon", headers=CACHED)


async def favicon_svg(request: Request) -> Response:
    known_query(request)
    return Response(SVG, media_type="image/svg+xml", headers=CACHED)


ROUTES = [
    Route("/favicon.ico", favicon_ico, methods=["GET"]),
    Route("/favicon.svg", favicon_svg, methods=["GET"]),
]
