"""TwiML documents: every inserted value escaped; the server's answers parse."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.telephony import twiml
from app.telephony.emulator import parse_connect_twiml

NASTY = "\"><Hangup/><Say>pwned</Say>&amp; ' <!--"


def test_connect_stream_escapes_every_value() -> None:
    body = twiml.connect_stream(
        stream_url="wss://bot.example.com/media-stream",
        action_url="https://bot.example.com/call-ended",
        call_sid=NASTY,
        caller=NASTY + "+1555",
        called="+1555<0100>",
        status_url="https://bot.example.com/stream-status",
        stream_token="123.abc.def",
        seal=NASTY,
    )
    instruction = parse_connect_twiml(body)
    assert instruction.url == "wss://bot.example.com/media-stream"
    assert instruction.parameters == {
        "callSid": NASTY,
        "from": NASTY + "+1555",
        "to": "+1555<0100>",
        "streamToken": "123.abc.def",
        "direction": "inbound",
        "seal": NASTY,
    }
    assert instruction.action == "https://bot.example.com/call-ended"
    root = ET.fromstring(body)
    assert [el.tag for el in root] == ["Connect"]


def test_apology_says_the_message_then_hangs_up() -> None:
    root = ET.fromstring(twiml.say_and_hang_up("Sorry <b>& goodbye"))
    assert [el.tag for el in root] == ["Say", "Hangup"]
    assert root[0].text == "Sorry <b>& goodbye"


def test_hangup() -> None:
    assert [el.tag for el in ET.fromstring(twiml.hangup())] == ["Hangup"]


def test_transfer_dials_the_number_escaped() -> None:
    assert twiml.transfer_twiml("+15550100003") == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Response>\n"
        "  <Dial>+15550100003</Dial>\n"
        "</Response>\n"
    )
    root = ET.fromstring(twiml.transfer_twiml(NASTY))
    assert [el.tag for el in root] == ["Dial"]
    assert root[0].text == NASTY
    assert len(root[0]) == 0  # the number cannot smuggle in a verb
