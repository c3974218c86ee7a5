"""Bad input to the operator API, route by route: each gets its own 4xx and a sentence
saying what to change (the fuzz test tries generated input; this pins the answers)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.server import serve_app, settings_for_echo

TOKEN = "bad-input-token-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALL = "CA" + "0" * 32
TOO_DEEP = b"[" * 100_000 + b"]" * 100_000

# (method, path, body) -> (status, a phrase of the error sentence)
CASES: dict[str, tuple[str, str, bytes | None, int, str]] = {
    "last not a number": ("GET", "/calls?last=abc", None, 400, "last must be a whole number"),
    "last zero": ("GET", "/calls?last=0", None, 400, "from 1 to 1000 (got '0')"),
    "last too many": ("GET", "/calls?last=1001", None, 400, "from 1 to 1000"),
    "last in arabic digits": ("GET", "/calls?last=%D9%A3", None, 400, "whole number"),
    "last negative": ("GET", "/calls?last=-1", None, 400, "whole number"),
    "a mistyped parameter": ("GET", "/calls?lst=5", None, 400, "unknown query parameter 'lst'"),
    "a sid too short": ("GET", "/calls/CA0", None, 400, "CA (or SP) followed by 32 hex"),
    "a sid of dots": ("GET", "/calls/..etc", None, 400, "CA (or SP)"),
    "no such call": ("GET", f"/calls/{CALL}", None, 404, f"no record of call {CALL}"),
    "say to no call": ("POST", f"/calls/{CALL}/say", b"{}", 404, "in progress"),
    "hangup a bad sid": ("POST", "/calls/x/hangup", b"", 400, "CA (or SP)"),
    "body not json": ("POST", "/calls", b"to=+1555", 400, "send JSON like"),
    "body a list": ("POST", "/calls", b'["+15551234567"]', 400, "send JSON like"),
    "body too deep": ("POST", "/calls", TOO_DEEP, 413, ""),
    "body deep but small": ("POST", "/calls", b"[" * 5000 + b"]" * 5000, 400, "send JSON"),
    "to missing": ("POST", "/calls", b"{}", 400, "'to' must be a non-empty string"),
    "to a number": ("POST", "/calls", b'{"to": 15551234567}', 400, "'to' must be"),
    "to too long": ("POST", "/calls", b'{"to": "' + b"1" * 40 + b'"}', 400, "longer than 32"),
    "calls off": ("POST", "/calls", b'{"to": "+15551234567"}', 503, "outbound calls are off"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_gets_its_own_answer(case: str, tmp_path: Path) -> None:
    method, path, body, status, phrase = CASES[case]
    records = str(tmp_path / "calls.sqlite3")
    settings = settings_for_echo(operator_token=TOKEN, call_records_path=records)
    async with serve_app(settings) as server, httpx.AsyncClient(base_url=server.base) as http:
        answer = await http.request(method, path, content=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    if phrase:
        assert phrase in answer.json()["error"], answer.text
