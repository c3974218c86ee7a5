# edge: Twilio's side over real sockets (replay, tests)
"""Twilio's side of a call, played against a server: ``python -m app replay`` and the
tests both use it.

:class:`TwilioEmulator` posts the voice webhook (signed as Twilio signs it), reads the
TwiML's ``<Stream>``, and opens the media stream with a signed handshake.
:class:`MediaStream` then behaves as Twilio's end of the socket: one
``sequenceNumber`` counter for every message it sends, a playback buffer consumed in
real time, each ``mark`` echoed once the audio before it has played, ``clear``
emptying the buffer and echoing every pending mark at once. What the server sends
that Twilio would reject (a binary frame, an unknown event, an extra field, another
``streamSid``) is recorded in :attr:`MediaStream.problems`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect

from app.errors import TwimlError, WebhookRefused
from app.telephony.captures import ACCOUNT
from app.telephony.media_stream import CallListener, MediaStream

STREAM_STATUS = "/stream-status"
CALL_STATUS = "/call-status"


@dataclass(frozen=True)
class StreamInstruction:
    url: str
    parameters: dict[str, str]
    action: str | None
    after_connect: list[str]


def parse_connect_twiml(body: str) -> StreamInstruction:
    """The ``<Connect><Stream>`` of a TwiML answer, or :class:`TwimlError`."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise TwimlError(f"the answer is not XML ({error}): {body[:200]!r}") from None
    connect_el = root.find("Connect") if root.tag == "Response" else None
    stream = connect_el.find("Stream") if connect_el is not None else None
    if connect_el is None or stream is None or "url" not in stream.attrib:
        said = " ".join(el.text or "" for el in root.iter("Say")).strip()
        raise TwimlError(
            "the webhook did not connect a stream"
            + (f"; it said {said!r}" if said else f": {body[:200]!r}")
        )
    params = {
        p.attrib.get("name", ""): p.attrib.get("value", "") for p in stream.findall("Parameter")
    }
    after = [child.tag for child in root][list(root).index(connect_el) + 1 :]
    return StreamInstruction(stream.attrib["url"], params, connect_el.attrib.get("action"), after)


class TwilioEmulator:
    """Plays Twilio against a server at ``local_base`` (http://127.0.0.1:port) that is
    known to Twilio as ``public_url`` (what signatures are computed over)."""

    def __init__(self, local_base: str, public_url: str, auth_token: str | None) -> None:
        self.local_base = local_base.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(auth_token) if auth_token else None

    def sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if self.validator is None:
            return {}
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    async def post(
        self, path: str, form: dict[str, str], *, sign: bool = True, signature: str | None = None
    ) -> httpx.Response:
        headers = self.sign(self.public_url + path, form) if sign else {}
        if signature is not None:
            headers = {"X-Twilio-Signature": signature}
        async with httpx.AsyncClient() as http:
            return await http.post(self.local_base + path, data=form, headers=headers)

    async def call_ended(self, call_sid: str, path: str = "/call-ended") -> httpx.Response:
        """What Twilio posts to the <Connect action> once the stream has closed."""
        form = {"CallSid": call_sid, "AccountSid": ACCOUNT, "CallStatus": "in-progress"}
        return await self.post(path, form)

    async def stream_status(
        self, call_sid: str, stream_sid: str, event: str, error: str = "", *, sign: bool = True
    ) -> httpx.Response:
        """A <Stream statusCallback> request."""
        form = {
            "AccountSid": ACCOUNT,
            "CallSid": call_sid,
            "StreamSid": stream_sid,
            "StreamEvent": event,
            "StreamError": error,
            "Timestamp": "2026-12-01T12:00:00Z",
        }
        return await self.post(STREAM_STATUS, {k: v for k, v in form.items() if v}, sign=sign)

    async def call_status(self, call_sid: str, status: str, duration: int = 0) -> httpx.Response:
        """A call status callback (the status_callback of an outbound call)."""
        form = {
            "AccountSid": ACCOUNT,
            "CallSid": call_sid,
            "CallStatus": status,
            "CallDuration": str(duration),
        }
        return await self.post(CALL_STATUS, form)

    async def incoming_call(
        self,
        call_sid: str,
        caller: str = "+15550100001",
        called: str = "+15550100002",
        *,
        account_sid: str = ACCOUNT,
        direction: str = "inbound",
    ) -> StreamInstruction:
        form = {
            "CallSid": call_sid,
            "From": caller,
            "To": called,
            "AccountSid": account_sid,
            "Direction": direction,
        }
        form = {key: value for key, value in form.items() if value}  # as Twilio leaves them out
        response = await self.post("/incoming-call", form)
        if response.status_code != 200:
            raise WebhookRefused(response.status_code, response.text)
        return parse_connect_twiml(response.text)

    async def open_stream(
        self,
        target: StreamInstruction | str,
        *,
        sign: bool = True,
        listener: CallListener | None = None,
    ) -> MediaStream:
        """Connect as Twilio does for a <Stream>; with the TwiML's instruction, the
        stream's `start` carries its <Parameter>s, as Twilio's does."""
        public_stream_url = target if isinstance(target, str) else target.url
        # The public URL may carry a prefix a proxy strips (https://example.com/voice).
        prefix = urlsplit(self.public_url).path.rstrip("/")
        path = urlsplit(public_stream_url).path.removeprefix(prefix)
        local = "ws://" + self.local_base.split("://", 1)[-1] + path
        headers = self.sign(public_stream_url, {}) if sign else {}
        ws = await connect(local, additional_headers=headers, compression=None)
        parameters = None if isinstance(target, str) else dict(target.parameters)
        return MediaStream(ws, parameters=parameters, listener=listener)
