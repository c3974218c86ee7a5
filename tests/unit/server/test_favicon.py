"""The icon, decoded back: an ICO directory pointing at a valid 32×32 RGBA PNG whose
pixels are the drawing, and an SVG of the same design."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib

from app.server.favicon import BARS, CLEAR, GREEN, ICO, SIZE, SVG, WHITE, pixel, png


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        found.append((kind, body))
        at += 12 + length
    return found


def test_the_ico_holds_one_32_pixel_png() -> None:
    reserved, kind, count = struct.unpack("<HHH", ICO[:6])
    assert (reserved, kind, count) == (0, 1, 1)
    width, height, colours, _, planes, bits, size, offset = struct.unpack("<BBBBHHII", ICO[6:22])
    assert (width, height, colours, planes, bits, offset) == (32, 32, 0, 1, 32, 22)
    assert ICO[offset : offset + size] == png() and len(ICO) == offset + size < 1024


def test_the_png_is_the_drawing() -> None:
    (ihdr, header), (idat, data), (iend, end) = chunks(png())
    assert (ihdr, idat, iend, end) == (b"IHDR", b"IDAT", b"IEND", b"")
    assert struct.unpack(">IIBBBBB", header) == (SIZE, SIZE, 8, 6, 0, 0, 0)
    raw = zlib.decompress(data)
    rows = [raw[y * (1 + 4 * SIZE) : (y + 1) * (1 + 4 * SIZE)] for y in range(SIZE)]
    assert all(row[0] == 0 for row in rows)  # no filter
    decoded = [[tuple(row[1 + 4 * x : 5 + 4 * x]) for x in range(SIZE)] for row in rows]
    assert decoded == [[pixel(x, y) for x in range(SIZE)] for y in range(SIZE)]


def test_a_green_disc_with_three_white_bars() -> None:
    assert pixel(0, 0) == pixel(31, 31) == CLEAR  # the corners are outside the disc
    assert pixel(16, 2) == pixel(2, 16) == GREEN
    for x, top, bottom in BARS:
        assert pixel(x + 1, (top + bottom) // 2) == WHITE
        assert pixel(x + 1, top - 1) == GREEN and pixel(x + 1, bottom) == GREEN
    assert sum(pixel(x, 16) == WHITE for x in range(SIZE)) == 9


def test_the_svg_draws_the_same() -> None:
    svg = ET.fromstring(SVG)
    assert svg.attrib["viewBox"] == "0 0 32 32"
    rects = svg.findall(".//{http://www.w3.org/2000/svg}rect")
    assert [(int(r.attrib["x"]), int(r.attrib["y"])) for r in rects] == [(x, t) for x, t, _ in BARS]
