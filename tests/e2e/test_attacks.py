"""Security, round two: each weakness found against a running ``python -m app``, mounted
again the same way over real sockets, and the defence asserted. Numbers follow the
issue's points (see the README's Security section)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
import websockets

from app.errors import TokenRejected
from app.rotation import Rotating
from app.server.softphone_access import COOKIE, SoftphoneAccess
from app.telephony.captures import ACCOUNT, TWILIO_SILENCE, build_capture
from app.telephony.emulator import TwilioEmulator
from app.telephony.stream_tokens import StreamTokens
from tests.support.attacks import (
    CALL,
    LOG_LINE,
    OTHER_CALL,
    STREAM,
    TOKEN,
    close_code,
    development,
    echo_call,
    production,
    raw_stream,
    server,
    start_frame,
)
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port

# 1 (high): recordings written outside RECORDINGS_DIR


async def test_1_no_start_can_write_a_recording_outside_its_folder(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    port = free_port()
    async with server(development(tmp_path, port, RECORDINGS_DIR=str(recordings)), tmp_path) as app:
        hostile = [
            ("../../x", STREAM),
            (CALL, "../../y"),
            ("/tmp/evil", "/tmp/evil"),
            ("", "../../z"),  # the old `call_sid or stream_sid` fallback
            (CALL + "/../../w", STREAM),
        ]
        for call_sid, stream_sid in hostile:
            ws = await raw_stream(app.base)
            await ws.send(json.dumps(start_frame(call_sid, stream_sid)))
            await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))
            assert (await close_code(ws))[0] == 1008  # never started
        twilio = TwilioEmulator(app.base, f"http://127.0.0.1:{port}", None)
        await echo_call(twilio, CALL)
        log = app.log
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.wav"))
    assert made == [Path("recordings") / f"{CALL}.wav"]
    assert not Path("/tmp/evil.wav").exists()
    assert log.count("ignored malformed Twilio frame #1:") == len(hostile)
    assert "'callSid' must be CA followed by 32 hex digits" in log
    assert "'streamSid' must be MZ followed by 32 hex digits" in log


# 2 (medium): an unauthenticated request could make the server hold about 1 GB


async def test_2_large_bodies_are_refused_before_they_are_read(tmp_path: Path) -> None:
    port = free_port()
    async with server(production(tmp_path, port), tmp_path) as app:

        async def answer_to(head: bytes, body: list[bytes]) -> bytes:
            """The status line the server answers with, reading it before sending more
            of the body than it could have needed."""
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(head)
                for piece in body:
                    writer.write(piece)
                    await writer.drain()
                async with asyncio.timeout(5):
                    return await reader.readline()
            finally:
                writer.close()

        form = b"POST /incoming-call HTTP/1.1\r\nHost: bot.example.com\r\n"
        form += b"Content-Type: application/x-www-form-urlencoded\r\n"
        # A declared gigabyte (or a megabyte of fields), nothing sent: answered at once.
        for length in (b"1000000000", b"1000000"):
            head = form + b"Content-Length: " + length + b"\r\n\r\n"
            assert (await answer_to(head, [])).startswith(b"HTTP/1.1 413")
        # A streamed body: refused once it passes the limit, the rest never sent.
        chunked = form + b"Transfer-Encoding: chunked\r\n\r\n"
        chunks = [b"400\r\n" + b"x" * 1024 + b"\r\n"] * 40  # 40 KiB of 1 KiB chunks
        assert (await answer_to(chunked, chunks)).startswith(b"HTTP/1.1 413")
        async with httpx.AsyncClient(base_url=app.base) as http:
            say = await http.post(
                f"/calls/{CALL}/say",
                json={"text": "x" * 40_000},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert say.status_code == 413 and "over 32768 bytes" in say.json()["error"]
            assert (await http.get("/healthz")).status_code == 200


# 3 (medium): a replayed signed webhook minted a fresh stream token each time


async def test_3_replayed_webhooks_hold_one_line_and_one_token(tmp_path: Path) -> None:
    port = free_port()
    env = production(tmp_path, port, MAX_CONCURRENT_CALLS="2")
    async with server(env, tmp_path) as app:
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        replays = [await twilio.incoming_call(CALL) for _ in range(20)]
        tokens = {r.parameters["streamToken"] for r in replays}
        assert len(tokens) == 20
        # Twenty replays hold one line: another caller still gets the second.
        assert (await twilio.incoming_call(OTHER_CALL)).parameters["streamToken"]
        busy = await twilio.post(
            "/incoming-call", {"CallSid": "CA" + "9" * 32, "AccountSid": ACCOUNT}
        )
        assert "<Say>" in busy.text and "<Stream" not in busy.text
        # Only the latest token of the replays works.
        old = await twilio.open_stream(replays[0])
        await old.replay(build_capture(b"", {"callSid": CALL}, stop=False)[:2])
        await old.wait_closed()
        assert old.closed_code == 1008 and "superseded" in old.closed_reason
        latest = await twilio.open_stream(replays[-1])
        await latest.replay(build_capture(b"", {"callSid": CALL}, stop=False)[:2])
        # While that call is in progress, a replay of its webhook connects nothing.
        again = await twilio.post(
            "/incoming-call", {"CallSid": CALL, "AccountSid": ACCOUNT, "From": "+15550100001"}
        )
        assert "<Stream" not in again.text
        # The started stream never sends audio: the server ends it.
        await latest.wait_closed(timeout=20)
        assert latest.closed_code == 1008 and "no audio within 10 s" in latest.closed_reason
        log = app.log
    assert "already in progress (a replayed webhook?)" in log


# 4 (medium): signed fields could be re-partitioned


async def test_4_a_signed_form_must_still_have_twilios_shapes(tmp_path: Path) -> None:
    port = free_port()
    env = production(
        tmp_path,
        port,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{free_port()}",  # never reached here
    )
    async with server(env, tmp_path) as app:
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        cases = [
            # One field whose value holds the next: validates as url + k1v1k2v2...
            ({"AccountSid": f"{ACCOUNT}CallSid{CALL}"}, "CallSid is missing"),
            ({"CallSid": "", "AccountSid": ACCOUNT}, "CallSid must be CA"),
            ({"CallSid": CALL, "AccountSid": "AC" + "9" * 32}, "not this server's Twilio account"),
            ({"CallSid": CALL}, "not this server's Twilio account"),
            ({"CallSid": CALL, "AccountSid": ACCOUNT, "From": "+1555\n[call x]"}, "From must be"),
            ({"CallSid": CALL + "|99", "AccountSid": ACCOUNT}, "CallSid must be CA"),
        ]
        for form, problem in cases:
            answer = await twilio.post("/incoming-call", form)  # correctly signed
            assert answer.status_code == 400 and problem in answer.text, (form, answer.text)
        assert (await twilio.incoming_call(CALL)).parameters["callSid"] == CALL


# 5 and 6 (medium): secrets in the logs at LOG_LEVEL=debug; the token in the access log


async def test_5_6_no_signature_cookie_or_token_reaches_a_debug_log(tmp_path: Path) -> None:
    port = free_port()
    env = production(tmp_path, port, LOG_LEVEL="debug", ENABLE_SOFTPHONE="true")
    async with server(env, tmp_path) as app:
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        instruction = await twilio.incoming_call(CALL)
        stream_signature = twilio.sign(instruction.url, {})["X-Twilio-Signature"]
        stream = await twilio.open_stream(instruction)
        await stream.replay(build_capture(b"", {"callSid": CALL}, stop=False)[:2])
        await stream.send_audio(TWILIO_SILENCE * 25, realtime=0)
        await stream.stop(CALL)
        await stream.wait_closed()
        form = {"CallSid": CALL, "AccountSid": ACCOUNT}
        webhook_signature = twilio.sign(PUBLIC_URL + "/call-ended", form)["X-Twilio-Signature"]
        await twilio.post("/call-ended", form)
        async with httpx.AsyncClient(base_url=app.base) as http:
            in_address = await http.get("/softphone", params={"token": TOKEN})
            assert in_address.status_code == 401
            signed_in = await http.post("/softphone", data={"token": TOKEN})
            cookie = signed_in.cookies[COOKIE]
            page = await http.get("/softphone")
            assert page.status_code == 200
            await http.get("/calls", headers={"Authorization": f"Bearer {TOKEN}"})
        log = app.log
    assert "> GET /media-stream" not in log  # no handshake dump at all
    assert "GET /softphone?token=[redacted]" in log
    for secret in (
        stream_signature,
        webhook_signature,
        cookie,
        TOKEN,
        quote(TOKEN, safe=""),
        quote_plus(TOKEN),
        AUTH_TOKEN,
        instruction.parameters["streamToken"],
    ):
        assert secret not in log, secret


# 7 (medium): DNS rebinding defeated the softphone's Origin check


async def test_7_pages_of_other_hosts_start_no_calls_and_development_binds_loopback(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with server(development(tmp_path, port, ENABLE_SOFTPHONE="true"), tmp_path) as app:
        async with httpx.AsyncClient(base_url=app.base) as http:
            rebound = {"Host": f"rebind.example:{port}", "Origin": f"http://rebind.example:{port}"}
            assert (await http.post("/softphone/session", headers=rebound)).status_code == 403
            assert (await http.get("/softphone", headers=rebound)).status_code == 403
            foreign = {"Origin": "https://evil.example"}
            assert (await http.post("/softphone/session", headers=foreign)).status_code == 403
            own = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
            assert (await http.post("/softphone/session", headers=own)).status_code == 200
        with pytest.raises(websockets.InvalidStatus) as refused:  # Host: rebind.example
            await websockets.connect(
                f"ws://rebind.example:{port}/softphone/stream", host="127.0.0.1", port=port
            )
        assert refused.value.response.status_code == 403
        log = app.log
    assert f"listening on http://127.0.0.1:{port}" in log
    for address in other_addresses():
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()


def other_addresses() -> list[str]:
    """This machine's addresses that are not loopback (where development must not listen):
    its name's, and the one its default route leaves from (no packet is sent)."""
    found = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))  # TEST-NET-3: only picks the route
            found.add(probe.getsockname()[0])
        except OSError:
            pass  # no route off this machine
    return sorted(a for a in found if not a.startswith("127.") and a != "::1")


# 8 (medium): log injection


async def test_8_request_values_cannot_forge_log_lines(tmp_path: Path) -> None:
    port = free_port()
    async with server(development(tmp_path, port, ENABLE_SOFTPHONE="true"), tmp_path) as app:
        base = app.base
        forged = "\n2026-01-01 00:00:00,000 ERROR app: forged\x1b[2J"
        async with httpx.AsyncClient(base_url=base) as http:
            bad_sid = await http.post("/incoming-call", data={"CallSid": CALL + forged})
            assert bad_sid.status_code == 400
            status = {"CallSid": CALL, "StreamSid": STREAM, "StreamEvent": "stream-error"}
            answer = await http.post("/stream-status", data={**status, "StreamError": forged})
            assert answer.status_code == 204
            session = (await http.post("/softphone/session")).json()
        # A caller name and a media format from the stream itself.
        ws = await raw_stream(base, "/softphone/stream")
        params = {**session["parameters"], "from": "Eve" + forged}
        await ws.send(json.dumps(start_frame(session["callSid"], STREAM, **params)))
        bad_format = start_frame(session["callSid"], STREAM)
        bad_format["start"]["mediaFormat"]["encoding"] = "audio/x-mulaw" + forged
        await ws.send(json.dumps(bad_format))
        await ws.close()
        await app.wait_log("call ended")
        log = app.log
    assert "\x1b" not in log
    assert "Eve\\n2026-01-01" in log and "forged\\x1b[2J" in log
    lines = log.splitlines()
    assert all(LOG_LINE.match(line) for line in lines), [
        line for line in lines if not LOG_LINE.match(line)
    ]


# 9 (low): the softphone cookie was a constant, valid forever


async def test_9_cookies_differ_per_sign_in_and_expire(tmp_path: Path) -> None:
    port = free_port()
    async with server(production(tmp_path, port, ENABLE_SOFTPHONE="true"), tmp_path) as app:
        cookies = []
        for _ in range(2):
            async with httpx.AsyncClient(base_url=app.base) as http:
                signed_in = await http.post("/softphone", data={"token": TOKEN})
                cookies.append(signed_in.cookies[COOKIE])
                assert (await http.post("/softphone/session")).status_code == 200
        assert cookies[0] != cookies[1]
        access = SoftphoneAccess(Rotating(TOKEN))
        expired = access.new_cookie(time.time() - 13 * 3600)
        expiry, nonce, mac = cookies[0].split(".")
        stretched = f"{int(expiry) + 10**6}.{nonce}.{mac}"
        another = SoftphoneAccess(Rotating(TOKEN + "-rotated")).new_cookie(time.time())
        for value in (expired, stretched, another, "1" * 70, f"{expiry}.{nonce}.{'0' * 64}"):
            async with httpx.AsyncClient(base_url=app.base, cookies={COOKIE: value}) as http:
                assert (await http.post("/softphone/session")).status_code == 401, value


# 10 (low): hostile tokens and bodies raised unhandled exceptions


async def test_10_hostile_tokens_and_bodies_get_clean_refusals(tmp_path: Path) -> None:
    port = free_port()
    async with server(production(tmp_path, port), tmp_path) as app:
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        genuine = (await twilio.incoming_call(CALL)).parameters["streamToken"]
        _, nonce, mac = genuine.split(".")
        hostile_tokens = [
            f"１２３４５６７８９０.{nonce}.{mac}",  # Unicode digits pass isdigit()
            f"1234567890.{nonce}.{'é' * 43}",  # a non-ASCII MAC
            f"1234567890.{nonce}\x00.{mac}",
            "9" * 5000,
            "",
        ]
        for token in hostile_tokens:
            instruction = await twilio.incoming_call(CALL)
            stream = await twilio.open_stream(instruction)
            stream.parameters = {**instruction.parameters, "streamToken": token}
            await stream.replay(build_capture(b"", {"callSid": CALL}, stop=False)[:2])
            await stream.wait_closed()
            assert stream.closed_code == 1008, token
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=app.base, headers=auth) as http:
            deep = "[" * 15_000 + "]" * 15_000  # under the body limit, deeper than json parses
            for path in (f"/calls/{CALL}/say", "/calls"):
                answer = await http.post(path, content=deep)
                assert answer.status_code in (400, 404) and "error" in answer.json(), path
            deeper = "[" * 100_000 + "]" * 100_000
            assert (await http.post(f"/calls/{CALL}/say", content=deeper)).status_code == 413
    dev_port = free_port()
    async with (
        server(development(tmp_path, dev_port), tmp_path) as dev,
        httpx.AsyncClient(base_url=dev.base) as http,
    ):
        for sid in ("CA" + "\x00" * 32, "CA" + "a" * 300, "CA\u0661" + "1" * 31):
            assert (await http.post("/incoming-call", data={"CallSid": sid})).status_code == 400


# 11 (low): the stream-token MAC input was ambiguous


def test_11_a_token_cannot_be_reread_as_another_call_with_another_expiry() -> None:
    tokens = StreamTokens(secret=b"k" * 32, ttl_s=60)
    # Under the old MAC over f"{sid}|{expiry}|{nonce}", the token of CallSid "X|9999999999"
    # (expiry E, nonce N) checked as CallSid "X", expiry 9999999999, nonce "E|N".
    issued = tokens.issue("X|9999999999", now=1000)
    expiry, nonce, mac = issued.split(".")
    reread = f"9999999999.{expiry}|{nonce}.{mac}"
    with pytest.raises(TokenRejected):
        tokens.redeem(reread, "X", now=1001)
    tokens.redeem(issued, "X|9999999999", now=1001)  # the genuine one still works


async def test_11_over_the_socket_no_token_for_a_piped_sid_and_no_reread_works(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with server(production(tmp_path, port), tmp_path) as app:
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        # The first step of the attack: a token for a CallSid holding "|". Refused, signed.
        piped = await twilio.post(
            "/incoming-call", {"CallSid": f"{CALL}|9999999999", "AccountSid": ACCOUNT}
        )
        assert piped.status_code == 400 and "streamToken" not in piped.text
        # A genuine token re-partitioned the old way, or with its expiry moved, is refused.
        genuine = (await twilio.incoming_call(CALL)).parameters["streamToken"]
        expiry, nonce, mac = genuine.split(".")
        rereads = [
            f"9999999999.{expiry}|{nonce}.{mac}",
            f"9999999999.{nonce}.{mac}",
            f"{expiry}|9999999999.{nonce}.{mac}",
        ]
        for token in rereads:
            instruction = await twilio.incoming_call(CALL)
            stream = await twilio.open_stream(instruction)
            stream.parameters = {**instruction.parameters, "streamToken": token}
            await stream.replay(build_capture(b"", {"callSid": CALL}, stop=False)[:2])
            await stream.wait_closed()
            assert (stream.closed_code, stream.closed_reason) in {
                (1008, "refused: malformed stream token"),
                (1008, "refused: stream token does not match this call"),
            }, token
        # The server's latest genuine token still carries a call.
        call = await echo_call(twilio, CALL)
        assert call.closed_code == 1000, (call.closed_code, call.closed_reason)


# 12 (low): a reused CallSid replaced its record and its recording


async def test_12_a_webhook_replayed_after_its_call_ended_connects_nothing(
    tmp_path: Path,
) -> None:
    """Round two kept both legs of a reused CallSid; round three (N2) refuses the replay
    itself: the call records are the memory, so a restart does not forget them."""
    recordings = tmp_path / "recordings"
    env = production(tmp_path, free_port(), RECORDINGS_DIR=str(recordings))
    form = {"CallSid": CALL, "AccountSid": ACCOUNT, "From": "+15550100001"}
    async with server(env, tmp_path) as app:
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        await echo_call(twilio, CALL, seconds=1.0)
        replays = [await twilio.post("/incoming-call", form) for _ in range(5)]
    env["PORT"] = str(free_port())
    async with server(env, tmp_path) as app:  # a new process, the same records
        twilio = TwilioEmulator(app.base, PUBLIC_URL, AUTH_TOKEN)
        replays.append(await twilio.post("/incoming-call", form))
        async with httpx.AsyncClient(base_url=app.base) as http:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            calls = (await http.get("/calls", headers=auth)).json()["calls"]
        log = app.log
    for replay in replays:  # signed and well-formed, yet no stream and no token
        assert replay.status_code == 200 and replay.text.count("<Hangup") == 1, replay.text
        assert "<Stream" not in replay.text and "streamToken" not in replay.text
    assert [(c["call_sid"], c["leg"]) for c in calls] == [(CALL, 1)]
    assert [p.name for p in recordings.glob("*.wav")] == [f"{CALL}.wav"]
    assert f"call {CALL} turned away: that call has ended (a replayed webhook?)" in log


# 13 (low): any client could choose the address shown in logs


@pytest.mark.parametrize(("trusted", "shown"), [("10.9.9.9", "127.0.0.1"), ("", "6.6.6.6")])
async def test_13_only_trusted_proxies_name_the_client(
    tmp_path: Path, trusted: str, shown: str
) -> None:
    port = free_port()
    extra = {"TRUSTED_PROXIES": trusted} if trusted else {}  # default: loopback
    async with server(production(tmp_path, port, **extra), tmp_path) as app:
        async with httpx.AsyncClient(base_url=app.base) as http:
            await http.get("/healthz", headers={"X-Forwarded-For": "6.6.6.6"})
        log = app.log
    line = [line for line in log.splitlines() if '"GET /healthz' in line][-1]
    assert f"{shown}:" in line and ("6.6.6.6" in line) == (shown == "6.6.6.6")


# 14 (low): slow, silent and huge-header connections were kept a long time


async def test_14_slow_silent_and_huge_header_connections_are_cut(tmp_path: Path) -> None:
    port = free_port()
    async with server(production(tmp_path, port, REQUEST_TIMEOUT_SECONDS="1"), tmp_path) as app:

        async def cut_within(send: bytes, seconds: float, trickle: bool = False) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            began = time.monotonic()
            try:
                async with asyncio.timeout(seconds):
                    for i in range(len(send)) if trickle else [None]:
                        writer.write(send[i : i + 1] if i is not None else send)
                        await writer.drain()
                        if trickle:
                            await asyncio.sleep(0.3)
                    return await reader.read()
            except (ConnectionResetError, BrokenPipeError):
                return b""
            finally:
                writer.close()
                assert time.monotonic() - began < seconds

        assert await cut_within(b"", 6) == b""  # silent: closed, nothing said
        slow = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 100
        assert await cut_within(slow, 6, trickle=True) == b""
        huge = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 8_000_000 + b"\r\n\r\n"
        answer = await cut_within(huge, 10)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4")
        async with httpx.AsyncClient(base_url=app.base) as http:
            assert (await http.get("/healthz")).status_code == 200


# 15 (low): no throttling and no minimum token length


async def test_15_wrong_tokens_are_throttled_per_address(tmp_path: Path) -> None:
    port = free_port()
    async with server(production(tmp_path, port, ENABLE_SOFTPHONE="true"), tmp_path) as app:
        async with httpx.AsyncClient(base_url=app.base) as http:
            wrong = {"Authorization": "Bearer " + "w" * 40}
            answers = [(await http.get("/calls", headers=wrong)).status_code for _ in range(12)]
            assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
            right = {"Authorization": f"Bearer {TOKEN}"}
            assert (await http.get("/calls", headers=right)).status_code == 429
            sign_in = await http.post("/softphone", data={"token": TOKEN})
            assert sign_in.status_code == 429
            # Another address (through the trusted loopback proxy) is not held back.
            elsewhere = {**right, "X-Forwarded-For": "10.0.0.7"}
            assert (await http.get("/calls", headers=elsewhere)).status_code == 200
        log = app.log
    assert log.count("too many wrong tokens from 127.0.0.1") == 1


# 16 (low): the open development softphone could fill capacity


async def test_16_the_open_softphone_cannot_take_the_phone_lines(tmp_path: Path) -> None:
    port = free_port()
    env = development(tmp_path, port, ENABLE_SOFTPHONE="true", MAX_CONCURRENT_CALLS="1")
    async with server(env, tmp_path) as app, httpx.AsyncClient(base_url=app.base) as http:
        answers = [(await http.post("/softphone/session")).status_code for _ in range(5)]
        assert answers == [200, 200, 200, 503, 503]  # MAX_SOFTPHONE_CALLS=3
        phone = await http.post("/incoming-call", data={"CallSid": CALL})
        assert "<Stream" in phone.text  # the one phone line is still free


def test_the_token_length_rule_is_enforced_at_startup() -> None:
    from app.errors import ConfigError
    from app.settings import load_settings

    values = {"_env_file": None, "agent": "echo", "allow_unsigned_requests": True}
    with pytest.raises(ConfigError, match="OPERATOR_TOKEN is shorter than 32 characters"):
        load_settings(**values, operator_token="a" * 31)
    assert load_settings(**values, operator_token="a" * 32).operator_token is not None
