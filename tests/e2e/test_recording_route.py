"""GET /calls/{call_sid}/recording on a real `python -m app` process, attacked: no token,
a wrong one (throttled), a CallSid that is not one, path tricks, bad and unknown query
parameters, a call in progress, a huge and a slow request. It serves a recording
another process wrote to the shared RECORDINGS_DIR byte for byte."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import httpx

from app.telephony.emulator import TwilioEmulator
from tests.support.calls import QUESTION
from tests.support.process import app_process
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port, process_env

OPERATOR = "operator-token-0123456789abcdefghijkl"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}
SID = "CA" + "7" * 32


def write_wav(path: Path, seconds: float) -> bytes:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x01\x02" * 2 * int(8000 * seconds))
    return path.read_bytes()


async def test_the_recording_route_under_attack(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    # Written by another process of the fleet (the volume is shared): legs 1 and 2.
    first = write_wav(recordings / f"{SID}.wav", 0.5)
    second = write_wav(recordings / f"{SID}-2.wav", 0.25)
    port = free_port()
    env = process_env(
        AGENT="echo",
        HOST="127.0.0.1",
        PORT=str(port),
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        OPERATOR_TOKEN=OPERATOR,
        RECORDINGS_DIR=str(recordings),
        CALL_RECORDS_PATH="",
        HEADER_TIMEOUT_SECONDS="1",
    )
    async with app_process(env, tmp_path, port) as server, httpx.AsyncClient() as http:
        url = f"{server.base}/calls/{SID}/recording"
        latest = await http.get(url, headers=AUTH)
        assert latest.status_code == 200 and latest.content == second
        assert latest.headers["content-type"] == "audio/wav"
        assert (await http.get(url + "?leg=1", headers=AUTH)).content == first
        assert (await http.get(url + "?leg=3", headers=AUTH)).status_code == 404
        assert (await http.get(url)).status_code == 401
        wrong = await http.get(url, headers={"Authorization": "Bearer " + "x" * 40})
        assert wrong.status_code == 401
        for bad_query in ("?leg=0", "?leg=101", "?leg=abc", "?leg=-1", "?leg=1e3", "?lg=1"):
            answer = await http.get(url + bad_query, headers=AUTH)
            assert answer.status_code == 400, bad_query
            assert "error" in answer.json()
        for path in (
            "/calls/CA123/recording",
            "/calls/..%2F..%2Fetc%2Fpasswd/recording",
            f"/calls/{SID}%2F..%2F{SID}/recording",
            f"/calls/{SID[:-1]}g/recording",
            f"/calls/{SID}.wav/recording",
        ):
            answer = await http.get(server.base + path, headers=AUTH)
            assert answer.status_code in (400, 404), path
            assert answer.content[:4] != b"RIFF", path
        never = "CA" + "8" * 32
        assert (await http.get(f"{server.base}/calls/{never}/recording", headers=AUTH)).json() == {
            "error": f"no recording of call {never}"
        }
        # A call in progress: its WAV is not complete yet.
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        live = "CA" + "9" * 32
        stream = await twilio.open_stream(await twilio.incoming_call(live))
        await stream.replay(QUESTION[:10], stop=False)
        async with asyncio.timeout(10):
            while (await http.get(server.base + "/healthz")).json()["active_calls"] != 1:
                await asyncio.sleep(0.05)
        in_progress = await http.get(f"{server.base}/calls/{live}/recording", headers=AUTH)
        assert in_progress.status_code == 409
        await stream.stop(live)
        await stream.wait_closed()
        done = await http.get(f"{server.base}/calls/{live}/recording", headers=AUTH)
        assert done.status_code == 200 and done.content[:4] == b"RIFF"
        # Too much: a 64 KiB header; too slow: a request line that never ends.
        huge = await http.get(url, headers={**AUTH, "X-Pad": "a" * 65536})
        assert 400 <= huge.status_code < 500
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /calls/{SID}/recording HTTP/1.1\r\nHost: x\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # cut off after HEADER_TIMEOUT_SECONDS
        writer.close()
        assert (await http.get(url, headers=AUTH)).status_code == 200  # still serving
