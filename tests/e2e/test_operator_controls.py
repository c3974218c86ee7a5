"""Live operator controls on a call in progress, through real sockets.

Two server processes' worth of apps run side by side: a control sent to the one
that does not hold the call says so (404), never a silent success.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import httpx

from tests.support.calls import QUESTION, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, answer_every_text
from tests.support.server import serve_app, settings_for
from tests.support.twilio_rest_standin import ACCOUNT_SID, TwilioRestStandIn

CALL_SID = QUESTION[1]["start"]["callSid"]
TOKEN = "operator-token-123-0123456789abcdef012"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOTICE = REPLY[:48000]


async def test_say_hangup_and_the_other_process(standin: GeminiStandIn) -> None:
    standin.scenario = answer_every_text(NOTICE)
    settings = settings_for(standin, operator_token=TOKEN)
    async with (
        serve_app(settings) as holder,
        serve_app(settings) as other,
        httpx.AsyncClient() as http,
    ):
        _, stream = await start_call(holder)
        sending = asyncio.create_task(stream.replay(QUESTION, stop=False))
        while not standin.connections:
            await asyncio.sleep(0.01)
        url = f"/calls/{CALL_SID}/say"
        body = {"text": "Tell the caller their order shipped today."}
        assert (await http.post(holder.base + url, json=body)).status_code == 401
        assert (
            await http.post(holder.base + url, json=body, headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        elsewhere = await http.post(other.base + url, json=body, headers=AUTH)
        assert elsewhere.status_code == 404
        assert "not in progress on this server process" in elsewhere.json()["error"]
        unknown = await http.post(
            holder.base + "/calls/CA" + "0" * 32 + "/say", json=body, headers=AUTH
        )
        assert unknown.status_code == 404
        malformed = await http.post(holder.base + "/calls/CA0000/say", json=body, headers=AUTH)
        assert malformed.status_code == 400 and "32 hex digits" in malformed.json()["error"]
        said = await http.post(holder.base + url, json=body, headers=AUTH)
        assert said.status_code == 202
        conn = standin.connections[0]
        await conn.wait_for(lambda: conn.texts == [body["text"]])
        await stream.wait_for(lambda: len(stream.heard) >= len(NOTICE) // 6, timeout=10)

        hung = await http.post(holder.base + f"/calls/{CALL_SID}/hangup", headers=AUTH)
        assert hung.status_code == 202
        await stream.wait_closed(timeout=15)
        sending.cancel()
        # the goodbye was asked for and fully played before the hang-up
        assert len(conn.texts) == 2 and "goodbye" in conn.texts[1].lower()
        assert len(stream.heard) == len(stream.media_received) >= 2 * len(NOTICE) // 6
        after = await http.post(holder.base + url, json=body, headers=AUTH)
        assert after.status_code == 404  # finished calls cannot be steered


async def test_transfer_control(
    standin: GeminiStandIn, rest: tuple[TwilioRestStandIn, str]
) -> None:
    rest_standin, rest_base = rest
    standin.scenario = answer_every_text(NOTICE)
    settings = settings_for(
        standin,
        operator_token=TOKEN,
        transfer_targets="desk=+15551230009",
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=rest_base,
    )
    async with serve_app(settings) as server, httpx.AsyncClient() as http:
        _, stream = await start_call(server)
        sending = asyncio.create_task(stream.replay(QUESTION, stop=False))
        while not standin.connections:
            await asyncio.sleep(0.01)
        bad = await http.post(
            server.base + f"/calls/{CALL_SID}/transfer", json={"target": "ceo"}, headers=AUTH
        )
        assert bad.status_code == 400 and "desk" in bad.json()["error"]
        moved = await http.post(
            server.base + f"/calls/{CALL_SID}/transfer", json={"target": "desk"}, headers=AUTH
        )
        assert moved.status_code == 202
        await stream.wait_closed(timeout=15)
        sending.cancel()
        assert len(stream.heard) >= len(NOTICE) // 6  # the notice was heard first
    update = rest_standin.last(f"/Calls/{CALL_SID}.json")
    dial = ET.fromstring(update.form["Twiml"]).find("Dial")
    assert dial is not None and dial.text == "+15551230009"
    assert "connecting them to desk" in standin.connections[0].texts[0]
