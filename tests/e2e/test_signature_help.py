"""A refused Twilio signature explains itself: the URL it was checked against and the
likely cause, once per cause (not per request), never the signature or the token.
Each mistake is made for real against a running server: a tunnel's new address, a
proxy that strips a path prefix, another account's token, no signature at all."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from tests.support.server import AUTH_TOKEN, serve_app, settings_for_echo

OLD = "https://old-tunnel.example.com"
NEW_HOST = "new-tunnel.example.com"
ACCOUNT = "AC" + "1" * 32
FORM = {
    "CallSid": "CA" + "e" * 32,
    "AccountSid": ACCOUNT,
    "From": "+15550100001",
    "To": "+15550100002",
    "Direction": "inbound",
}
LOGGER = "app.server.signatures"


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, form)
    return signature


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


async def post(base: str, headers: dict[str, str], form: dict[str, str] = FORM) -> int:
    async with httpx.AsyncClient() as http:
        answer = await http.post(base + "/incoming-call", data=form, headers=headers)
    return answer.status_code


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return settings_for_echo(public_url=OLD, twilio_account_sid=ACCOUNT)


async def test_a_tunnel_with_a_new_address_is_named(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    new = f"https://{NEW_HOST}/incoming-call"
    headers = {"Host": NEW_HOST, "X-Twilio-Signature": sign(new, FORM)}
    async with serve_app(settings) as server:
        statuses = [await post(server.base, headers) for _ in range(3)]
    assert statuses == [403, 403, 403]
    assert said(caplog) == [
        "refused /incoming-call: signed for another address",
        "refused /incoming-call: signed for another address: the signature is valid for"
        f" {new}, not for the address it was checked against {OLD}/incoming-call (built from"
        " PUBLIC_URL). PUBLIC_URL is out of date (a tunnel such as ngrok gets a new address at"
        f" each start) or a proxy changes the path: set PUBLIC_URL=https://{NEW_HOST}.",
        "refused /incoming-call: signed for another address",
        "refused /incoming-call: signed for another address",
    ]


async def test_a_proxy_that_strips_a_prefix_is_named(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    signed_for = f"https://{NEW_HOST}/voice/incoming-call"
    headers = {
        "Host": NEW_HOST,
        "X-Forwarded-Prefix": "/voice",
        "X-Twilio-Signature": sign(signed_for, FORM),
    }
    async with serve_app(settings) as server:
        assert await post(server.base, headers) == 403
    assert f"set PUBLIC_URL=https://{NEW_HOST}/voice." in said(caplog)[1]


async def test_another_accounts_token_and_a_plain_mismatch_list_the_causes(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other_account = {**FORM, "AccountSid": "AC" + "2" * 32}
    other_token = "another-accounts-token-0123456789"
    async with serve_app(settings) as server:
        url = OLD + "/incoming-call"
        other = {"X-Twilio-Signature": sign(url, other_account, other_token)}
        assert await post(server.base, other, other_account) == 403
        assert await post(server.base, {"X-Twilio-Signature": sign(url, FORM, other_token)}) == 403
        assert await post(server.base, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}) == 403
    lines = said(caplog)
    assert lines[0] == "refused /incoming-call: for another Twilio account"
    assert "set TWILIO_AUTH_TOKEN and TWILIO_ACCOUNT_SID to that account's" in lines[1]
    assert lines[2] == "refused /incoming-call: X-Twilio-Signature does not match"
    assert lines[3].startswith(
        "refused /incoming-call: X-Twilio-Signature does not match, checked against"
        f" {OLD}/incoming-call (built from PUBLIC_URL). The usual causes:"
    )
    assert lines[4] == lines[2]  # the same cause again: explained once
    assert len(lines) == 5
    everything = caplog.text
    assert AUTH_TOKEN not in everything and other_token not in everything
    assert "bm90IGEgc2lnbmF0dXJl" not in everything


async def test_a_missing_signature_and_a_refused_stream_are_explained(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serve_app(settings) as server:
        assert await post(server.base, {}) == 403
        # The client names the host it connects to: the server's own, here.
        host = server.base.removeprefix("http://")
        ws_url = f"ws://{host}/media-stream?x=1"
        headers = {"X-Twilio-Signature": sign(f"wss://{host}/media-stream?x=1", {})}
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws_url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    lines = said(caplog)
    assert lines[0] == "refused /incoming-call: no X-Twilio-Signature"
    assert lines[1].startswith("refused /incoming-call: no X-Twilio-Signature. Twilio signs")
    assert lines[2] == "refused /media-stream: signed for another address"
    assert lines[3].endswith(f"set PUBLIC_URL=https://{host}.")
