"""The softphone page, through a real browser: headless Chromium with a fake microphone
playing recorded speech, the real app on uvicorn, the real google-genai client, the
Gemini Live stand-in. Its access rules are checked over plain HTTP and WebSockets.

    python -m pytest tests/e2e/test_softphone.py -s    # prints the measured figures
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import scipy.signal
import websockets

from app.audio.convert import InboundConverter, ulaw_to_pcm16
from app.errors import ConfigError
from app.settings import load_settings
from app.telephony.captures import capture_ulaw, load_capture
from app.telephony.emulator import TwilioEmulator
from tests.conftest import FIXTURES
from tests.support.browser import ARTIFACTS, chromium, open_softphone, write_wav
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, serve_app, settings_for
from tests.support.signals import from_pcm16, normalised_correlation

OPERATOR = "operator-token-for-tests-0123456789abc"
QUESTION_ULAW = capture_ulaw(load_capture(FIXTURES / "caller_question.json"))
LEAD_IN_S = 2.0  # the page connects while the fake microphone is already playing


def reply_pcm24k() -> bytes:
    with wave.open(str(FIXTURES / "agent_reply_24k.wav")) as wav:
        frames: bytes = wav.readframes(wav.getnframes())
        return frames


REPLY = reply_pcm24k()
REPLY_S = len(REPLY) / 2 / 24000


def softphone_settings(standin: GeminiStandIn, **overrides: Any) -> Any:
    values: dict[str, Any] = {"enable_softphone": True, "operator_token": OPERATOR}
    values.update(overrides)
    return settings_for(standin, **values)


def contour_match(reference: np.ndarray, signal: np.ndarray) -> tuple[int, float]:
    """Where ``reference``'s loudness contour (RMS over 20 ms windows at 16 kHz) best
    matches ``signal``'s, in windows, and the Pearson correlation there."""

    def contour(x: np.ndarray) -> np.ndarray:
        frames = x[: len(x) // 320 * 320].reshape(-1, 320)
        result: np.ndarray = np.sqrt(np.mean(frames**2, axis=1))
        return result

    ref, sig = contour(reference), contour(signal)
    with np.errstate(invalid="ignore", divide="ignore"):  # all-silent windows: nan
        scores = [
            float(np.corrcoef(ref, sig[lag : lag + len(ref)])[0, 1])
            for lag in range(len(sig) - len(ref) + 1)
        ]
    best = int(np.nanargmax(scores))
    return best, scores[best]


def piecewise_correlation(
    reference: np.ndarray, signal: np.ndarray, lag: int, piece: int = 3200, slack: int = 480
) -> list[float]:
    """The correlation of each 200 ms piece of ``reference`` that holds speech with
    ``signal`` around ``lag``, each piece aligned on its own within ±30 ms. A busy
    machine can make the browser's audio thread drop a block now and then, which
    shifts everything after it; this still shows whether each piece arrived intact."""
    loud = np.sqrt(
        np.mean(reference[: len(reference) // piece * piece].reshape(-1, piece) ** 2, axis=1)
    )
    scores = []
    for index in np.flatnonzero(loud > 0.1 * loud.max()):
        part = reference[index * piece : (index + 1) * piece]
        start = max(0, lag + index * piece - slack)
        window = signal[start : lag + (index + 1) * piece + slack]
        if len(window) >= len(part):
            scores.append(locate(part, window)[1])
    return scores


def locate(reference: np.ndarray, signal: np.ndarray) -> tuple[int, float]:
    """Where ``reference`` sits in ``signal``, and their normalised correlation there."""
    scores = scipy.signal.correlate(signal, reference, mode="valid", method="fft")
    lag = int(np.argmax(scores))
    return lag, normalised_correlation(reference, signal[lag : lag + len(reference)])


# access


def test_enabling_it_outside_development_needs_the_operator_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    monkeypatch.setenv("PUBLIC_URL", "https://bot.example.com")
    monkeypatch.setenv("ENABLE_SOFTPHONE", "true")
    with pytest.raises(ConfigError, match="ENABLE_SOFTPHONE=true needs OPERATOR_TOKEN"):
        load_settings(_env_file=None)
    monkeypatch.setenv("OPERATOR_TOKEN", OPERATOR)
    assert load_settings(_env_file=None).enable_softphone


async def test_off_by_default(standin: GeminiStandIn) -> None:
    async with (
        serve_app(settings_for(standin, operator_token=OPERATOR)) as server,
        httpx.AsyncClient(base_url=server.base) as http,
    ):
        for path in ("/softphone", "/softphone/softphone.js"):
            assert (await http.get(path, params={"token": OPERATOR})).status_code == 404
        assert (await http.post("/softphone/session")).status_code == 404


async def test_the_token_opens_it_and_leaves_only_a_derived_cookie(standin: GeminiStandIn) -> None:
    async with (
        serve_app(softphone_settings(standin)) as server,
        httpx.AsyncClient(base_url=server.base) as http,
    ):
        first = await http.get("/softphone")
        assert first.status_code == 401 and "operator token" in first.text.lower()
        assert 'name="token"' in first.text  # a form to enter it
        wrong = await http.post("/softphone", data={"token": "guess"})
        assert wrong.status_code == 401 and "not the operator token" in wrong.text
        in_address = await http.get("/softphone", params={"token": OPERATOR})
        assert in_address.status_code == 401 and "not accepted there" in in_address.text
        for path in ("/softphone/softphone.js", "/softphone/softphone-worklet.js"):
            assert (await http.get(path)).status_code == 401
        assert (await http.post("/softphone/session")).status_code == 401

        opened = await http.post("/softphone", data={"token": OPERATOR})
        assert opened.status_code == 303 and opened.headers["location"] == "/softphone"
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/softphone" in cookie
        assert OPERATOR not in cookie
        page = await http.get("/softphone")  # the client now holds the cookie
        assert page.status_code == 200 and "<title>Softphone" in page.text
        # Its own scripts only, no framing (the browser tests run under this policy).
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        for name in ("softphone.js", "softphone-audio.js", "softphone-worklet.js"):
            script = await http.get(f"/softphone/{name}")
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
        assert (await http.get("/softphone/settings.py")).status_code == 404

        session = await http.post("/softphone/session")
        body = session.json()
        assert session.status_code == 200 and body["callSid"].startswith("SP")
        assert body["parameters"]["callSid"] == body["callSid"]
        assert body["parameters"]["streamToken"]
        # The operator token as a bearer works too (scripts, curl).
        bare = httpx.AsyncClient(base_url=server.base)
        async with bare:
            bearer = {"Authorization": f"Bearer {OPERATOR}"}
            assert (await bare.post("/softphone/session", headers=bearer)).status_code == 200


async def test_the_stream_refuses_strangers_before_any_gemini_session(
    standin: GeminiStandIn,
) -> None:
    async with serve_app(softphone_settings(standin)) as server:
        url = server.base.replace("http://", "ws://") + "/softphone/stream"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        assert refused.value.response.status_code == 403
        # Signed in, but with a start that carries no stream token: closed with 1008.
        headers = {"Authorization": f"Bearer {OPERATOR}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            start = {
                "streamSid": "MZ" + "1" * 32,
                "callSid": "SP" + "1" * 32,
                "tracks": ["inbound"],
                "customParameters": {},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }
            message = {"event": "start", "streamSid": start["streamSid"], "start": start}
            await ws.send(json.dumps(message))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert standin.connections == []


async def test_open_in_development_without_an_operator_token(standin: GeminiStandIn) -> None:
    settings = settings_for(
        standin,
        enable_softphone=True,
        twilio_auth_token=None,
        public_url=None,
        allow_unsigned_requests=True,
    )
    async with serve_app(settings) as server, httpx.AsyncClient(base_url=server.base) as http:
        assert (await http.get("/softphone")).status_code == 200
        assert (await http.post("/softphone/session")).status_code == 200
        # ...but only for its own page: another site's page cannot start calls here.
        own = {"Origin": server.base}
        assert (await http.post("/softphone/session", headers=own)).status_code == 200
        evil = {"Origin": "https://evil.example"}
        refused = await http.post("/softphone/session", headers=evil)
        assert refused.status_code == 403
        url = server.base.replace("http://", "ws://") + "/softphone/stream"
        with pytest.raises(websockets.InvalidStatus) as closed:
            async with websockets.connect(url, origin=evil["Origin"]):  # type: ignore[arg-type]
                pass
        assert closed.value.response.status_code == 403
    assert standin.connections == []


async def test_busy_when_the_softphone_lines_are_full(standin: GeminiStandIn) -> None:
    settings = softphone_settings(standin, max_concurrent_calls=1, max_softphone_calls=1)
    async with (
        serve_app(settings) as server,
        httpx.AsyncClient(base_url=server.base) as http,
    ):
        bearer = {"Authorization": f"Bearer {OPERATOR}"}
        assert (await http.post("/softphone/session", headers=bearer)).status_code == 200
        busy = await http.post("/softphone/session", headers=bearer)  # the first holds the line
        assert busy.status_code == 503 and "busy" in busy.json()["error"]
        # The softphone has lines of its own: the phone's one line is still free.
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        assert (await twilio.incoming_call("CA" + "5" * 32)).parameters["streamToken"]


# the page's audio code, run in the browser


def tone_fit(signal: np.ndarray, rate: float, freq: float) -> tuple[float, float]:
    """Amplitude of ``freq`` in ``signal`` and the SNR of everything else against it."""
    t = np.arange(len(signal)) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coef = np.linalg.lstsq(basis, signal, rcond=None)[0]
    residual = signal - basis @ coef
    snr = 10 * np.log10(np.sum((basis @ coef) ** 2) / max(float(np.sum(residual**2)), 1e-20))
    return float(np.hypot(*coef)), float(snr)


async def test_page_audio_code_matches_the_server(standin: GeminiStandIn) -> None:
    """µ-law bit-exact with audioop; the resamplers clean, chunk-independent, alias-free."""
    import audioop

    async with serve_app(softphone_settings(standin)) as server, chromium() as browser:
        page = await browser.new_page()
        await open_softphone(page, server.base, OPERATOR)
        result = await page.evaluate(
            """async () => {
                const audio = await import('/softphone/softphone-audio.js');
                const encoded = [];
                for (let s = -32768; s < 32768; s++) encoded.push(audio.linearToUlaw(s));
                const decoded = [];
                for (let b = 0; b < 256; b++) decoded.push(audio.ulawToLinear(b));
                const rate = 44100;
                const tone = (f) => Float32Array.from({length: rate / 2},
                    (_, i) => 0.5 * Math.sin(2 * Math.PI * f * i / rate));
                const blocks = (resampler, input, size) => {
                    const out = [];
                    for (let i = 0; i < input.length; i += size) {
                        out.push(...resampler.push(input.subarray(i, i + size)));
                    }
                    return Float32Array.from(out);
                };
                // Microphone blocks of 128 at 44.1 kHz to the phone, 20 ms frames back.
                const phone = blocks(new audio.Resampler(rate, 8000), tone(1000), 128);
                const back = blocks(new audio.Resampler(8000, rate), phone, 160);
                const once = new audio.Resampler(rate, 8000).push(tone(1000));
                const aliased = blocks(new audio.Resampler(rate, 8000), tone(6000), 128);
                return {encoded, decoded, phone: [...phone], back: [...back],
                        once: [...once], aliased: [...aliased]};
            }"""
        )
    expected_encoded = list(audioop.lin2ulaw(np.arange(-32768, 32768, dtype="<i2").tobytes(), 2))
    assert result["encoded"] == expected_encoded
    expected_decoded = list(np.frombuffer(audioop.ulaw2lin(bytes(range(256)), 2), dtype="<i2"))
    assert result["decoded"] == expected_decoded
    phone, back = np.array(result["phone"]), np.array(result["back"])
    assert np.array_equal(phone, np.array(result["once"]))  # chunked equals one-shot
    # 0.5 s at 8 kHz, less what the filter holds back: 61 samples at 44.1 kHz = 1.4 ms.
    assert 4000 - 12 <= len(phone) <= 4000
    assert 22050 - 12 * 5.5 - 62 <= len(back) <= 22050
    amplitude, snr = tone_fit(phone[400:3600], 8000, 1000)
    back_amplitude, back_snr = tone_fit(back[2000:20000], 44100, 1000)
    alias = float(np.sqrt(2 * np.mean(np.array(result["aliased"])[400:3600] ** 2)))
    alias_db = 20 * np.log10(alias / 0.5)
    print(
        f"\nbrowser resamplers: 1 kHz at 8 kHz amplitude {amplitude:.4f} of 0.5, SNR"
        f" {snr:.1f} dB; back at 44.1 kHz {back_amplitude:.4f}, SNR {back_snr:.1f} dB;"
        f" a 6 kHz tone comes out at {alias_db:.1f} dB"
    )
    assert abs(amplitude - 0.5) < 0.005 and snr > 60
    assert abs(back_amplitude - 0.5) < 0.005 and back_snr > 60
    assert alias_db < -60


# a whole call through the page


@pytest.mark.parametrize(
    ("options", "least_correlation"),
    [
        # What the fake microphone plays reaches the server unaltered: compared closely.
        ("&processing=off", 0.95),
        # The default: the browser's echo cancellation, noise suppression and gain
        # control reshape the waveform (0.52-0.78 measured, lower on a busy machine),
        # so there only the speech's loudness contour is compared (below).
        ("", None),
    ],
    ids=["processing-off", "default-processing"],
)
async def test_a_call_from_the_softphone(
    standin: GeminiStandIn, tmp_path: Path, options: str, least_correlation: float | None
) -> None:
    second_turn = asyncio.Event()
    question_ms = 1000 * (LEAD_IN_S + len(QUESTION_ULAW) / 8000)

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(question_ms + 500, timeout=30)
        await conn.transcript("caller", "What time does the store open tomorrow?")
        await conn.send_audio(REPLY, chunk_ms=40)
        await conn.transcript("agent", "Sure. The store opens at nine in the morning.")
        await conn.turn_complete()
        await second_turn.wait()
        await conn.transcript("agent", "We also have a sale on garden furniture this week")
        await conn.send_audio(REPLY * 3, chunk_ms=40)  # 9 s, sent faster than it plays
        await asyncio.sleep(1.0)
        await conn.interrupted()
        await conn.transcript("caller", "Thanks, that's all.")
        await conn.turn_complete()

    standin.scenario = scenario
    silence = b"\x00\x00" * 8000
    speech = ulaw_to_pcm16(QUESTION_ULAW)
    microphone = write_wav(
        tmp_path / "microphone.wav", silence * int(LEAD_IN_S) + speech + silence * 40, 8000
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with serve_app(softphone_settings(standin)) as server, chromium(microphone) as browser:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        await open_softphone(page, server.base, OPERATOR, "tap=1" + options)
        await page.click("#call")
        await page.wait_for_function(
            "() => document.querySelector('#status').dataset.state === 'connected'",
            timeout=10_000,
        )
        played = "window.softphone.stats.playedSeconds"
        await page.wait_for_function(f"() => {played} >= {REPLY_S - 0.01}", timeout=30_000)
        await page.wait_for_timeout(300)  # the last marks go back
        first = await page.evaluate("({...window.softphone.stats})")
        tap = np.array(await page.evaluate("window.softphone.tap"), dtype=np.float64)
        rate = await page.evaluate("window.softphone.call.context.sampleRate")
        second_turn.set()
        await page.wait_for_function("() => window.softphone.stats.clears >= 1", timeout=15_000)
        at_clear = await page.evaluate(played)
        await page.wait_for_timeout(700)
        after_clear = await page.evaluate(played)
        await page.wait_for_function(
            "() => document.querySelectorAll('#transcript li.caller').length >= 2",
            timeout=5_000,
        )
        await page.click("#keypad button[data-digit='5']")  # phone keys, sent as DTMF
        await page.keyboard.press("#")
        async with asyncio.timeout(5):
            while len(standin.connections[0].texts) < 2:
                await asyncio.sleep(0.05)
        keyed = standin.connections[0].texts[:2]
        transcript = await page.locator("#transcript li:not(.note)").all_inner_texts()
        interrupted = await page.locator("#transcript li.interrupted").all_inner_texts()
        unheard = await page.locator("#transcript li.interrupted .unheard").all_inner_texts()
        shot = ARTIFACTS / f"softphone{options.replace('&processing=', '-processing-')}.png"
        await page.screenshot(path=str(shot), full_page=True)
        await page.click("#hangup")
        await page.wait_for_function(
            "() => document.querySelector('#status').textContent.startsWith('Call ended')",
            timeout=10_000,
        )
        status = await page.locator("#status").inner_text()
        summary = await server.call_ended()

    conn = standin.connections[0]
    # The caller's speech reached Gemini: find the question in what the stand-in received.
    reference = from_pcm16(InboundConverter().convert(QUESTION_ULAW))
    received = from_pcm16(bytes(conn.audio))
    lag, caller_corr = locate(reference, received)
    envelope_lag, envelope_corr = contour_match(reference, received)
    pieces = piecewise_correlation(reference, received, lag)
    # The reply played in the page: find it in what the playback worklet put out.
    reply_at_rate = scipy.signal.resample_poly(from_pcm16(REPLY) / 32768, int(rate), 24000)
    # (Its last 1.4 ms is still in the page's resampler when the tap is read.)
    _, reply_corr = locate(reply_at_rate[: -int(rate / 10)], tap)
    turns = [t for t in summary.turns if t.speaker == "agent"]
    print(
        f"\nsoftphone call ({options or 'default'}) at {rate:.0f} Hz: caller speech at the stand-in {lag / 16:.0f} ms in,"
        f" correlation {caller_corr:.3f} (loudness contour {envelope_corr:.3f},"
        f" {envelope_lag * 20} ms in; 200 ms pieces: median {np.median(pieces):.3f} of"
        f" {len(pieces)}); reply in the page's output, correlation"
        f" {reply_corr:.3f}; first reply played {first['playedSeconds']:.2f} s, marks"
        f" returned {first['marksReturned']}; second reply cleared after"
        f" {at_clear - first['playedSeconds']:.2f} s, {after_clear - at_clear:.3f} s played"
        f" in the 0.7 s after the clear; turns {turns}; status {status!r}"
    )
    # The question arrived, where the microphone played it (after the 2 s lead-in).
    assert envelope_corr > 0.8 and abs(envelope_lag * 20 - 1000 * LEAD_IN_S) <= 200
    if least_correlation is not None:
        # ...and intact, piece by piece (whole-signal figures above, for the record).
        assert len(pieces) >= 8
        assert float(np.median(pieces)) > least_correlation, pieces
        assert np.mean(np.array(pieces) > 0.9) >= 0.8, pieces
    assert reply_corr > 0.95, reply_corr
    assert turns[0].interrupted is False
    assert turns[0].heard_ms == pytest.approx(turns[0].sent_ms)
    assert turns[1].interrupted is True
    assert 300 < turns[1].heard_ms < 3000 < turns[1].sent_ms
    assert at_clear - first["playedSeconds"] < 3.0  # nowhere near the 9 s sent
    assert after_clear - at_clear < 0.05  # silence after the clear
    assert transcript[0].startswith("What time does the store open")
    assert transcript[1] == "Sure. The store opens at nine in the morning."
    assert transcript[2].startswith("We also have a sale") and transcript[3].startswith("Thanks")
    assert interrupted == [transcript[2]]  # shown as cut off...
    # ...where it was cut: about 1 s of 9 s played, so only the first word was heard
    # (the call record cuts the same text at the same place, from the marks).
    assert transcript[2].endswith(unheard[0]) and 0 < len(unheard[0]) < len(transcript[2])
    heard = transcript[2][: -len(unheard[0])]
    print(f"page: heard {heard!r}, struck out {unheard[0]!r}")
    assert heard.strip() in ("We", "We also")
    assert keyed == [
        "The caller pressed 5 on their phone's keypad.",
        "The caller pressed # on their phone's keypad.",
    ]
    assert summary.stats.malformed_frames == 0 and summary.stats.ignored_frames == 0
    assert summary.call_sid.startswith("SP") and summary.outcome.value == "completed"
    assert status.startswith("Call ended")
    assert not [line for line in console if "error" in line.lower()], console
    assert shot.stat().st_size > 10_000


async def test_echo_mode_from_the_softphone(standin: GeminiStandIn, tmp_path: Path) -> None:
    """AGENT=echo with the softphone: an operator hears their own words back in the page,
    with no Gemini at all. The call is a call like any other: recorded, listed in the
    call records, and open to the operator controls."""
    silence = b"\x00\x00" * 8000
    microphone = write_wav(
        tmp_path / "microphone.wav",
        silence * int(LEAD_IN_S) + ulaw_to_pcm16(QUESTION_ULAW) + silence * 40,
        8000,
    )
    settings = softphone_settings(
        standin,
        agent="echo",
        gemini_api_key=None,
        call_records_path=str(tmp_path / "calls.sqlite3"),
        recordings_dir=str(tmp_path / "recordings"),
    )
    bearer = {"Authorization": f"Bearer {OPERATOR}"}
    async with (
        serve_app(settings) as server,
        chromium(microphone) as browser,
        httpx.AsyncClient(base_url=server.base, headers=bearer) as http,
    ):
        page = await browser.new_page()
        await open_softphone(page, server.base, OPERATOR, "tap=1&processing=off")
        await page.click("#call")
        await page.wait_for_function("() => window.softphone.call?.started === true")
        call_sid = await page.evaluate("window.softphone.call.session.callSid")
        said = await http.post(f"/calls/{call_sid}/say", json={"text": "Say hello."})
        # The question (3.3 s, with its pauses) comes back once the caller goes quiet.
        await page.wait_for_function(
            "() => window.softphone.stats.playedSeconds >= 2.5", timeout=30_000
        )
        await page.wait_for_timeout(1500)
        tap = np.array(await page.evaluate("window.softphone.tap"), dtype=np.float64)
        rate = await page.evaluate("window.softphone.call.context.sampleRate")
        await page.click("#hangup")
        await server.call_ended()
        record = (await http.get(f"/calls/{call_sid}")).json()
    assert said.status_code == 202
    assert record["caller"] == "softphone" and record["outcome"] == "completed"
    with wave.open(str(tmp_path / "recordings" / f"{call_sid}.wav")) as recording:
        assert recording.getnchannels() == 2 and recording.getnframes() > 8000 * 3
    spoken = from_pcm16(ulaw_to_pcm16(QUESTION_ULAW)) / 32768
    loud = np.flatnonzero(np.abs(spoken) > 0.02)
    speech = scipy.signal.resample_poly(spoken[loud[0] : loud[-1]], int(rate), 8000)
    _, correlation = locate(speech, np.concatenate((tap, np.zeros(len(speech)))))
    print(
        f"\necho through the softphone: {len(tap) / rate:.2f} s played, correlation {correlation:.3f}"
    )
    assert correlation > 0.9
    assert standin.connections == []  # no Gemini involved


async def test_a_failing_bot_is_explained_on_the_page(standin: GeminiStandIn) -> None:
    """The most common first-run mistake, a wrong Gemini key: the page says so (on a
    phone the caller would hear the apology)."""
    settings = softphone_settings(standin, gemini_api_key="not-the-right-key")
    async with serve_app(settings) as server, chromium() as browser:
        page = await browser.new_page()
        await open_softphone(page, server.base, OPERATOR)
        await page.click("#call")
        await page.wait_for_function(
            "() => document.querySelector('#status').dataset.state === 'error'", timeout=15_000
        )
        status = await page.locator("#status").inner_text()
        notes = await page.locator("#transcript li.note").all_inner_texts()
    print(f"\npage after a refused key: {status!r} / {notes!r}")
    assert status.startswith("Call ended: the bot failed")
    assert notes[-1].startswith(
        "The bot failed (agent_failed): Gemini closed the session (code 1008)"
    )
    assert "not-the-right-key" not in " ".join(notes)


def test_close_reasons_fit_a_close_frame() -> None:
    from app.call.outcome import Outcome, close_reason

    assert close_reason(Outcome.COMPLETED, "") == "completed"
    assert close_reason(Outcome.AGENT_FAILED, "boom") == "agent_failed: boom"
    long = close_reason(Outcome.AGENT_FAILED, "é" * 200)
    assert len(long.encode()) <= 123 and long.endswith("…")


async def test_mute_sends_silence_like_a_phone(standin: GeminiStandIn, tmp_path: Path) -> None:
    """Muted, the page keeps the stream going with frames of silence; unmuted, the
    microphone is back."""
    t = np.arange(8000 * 60) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    microphone = write_wav(tmp_path / "tone.wav", tone, 8000)
    async with (
        serve_app(softphone_settings(standin)) as server,
        chromium(microphone) as browser,
    ):
        page = await browser.new_page()
        await open_softphone(page, server.base, OPERATOR, "processing=off")
        await page.click("#call")
        await page.wait_for_function(
            "() => document.querySelector('#status').dataset.state === 'connected'"
        )
        marks = []
        for _ in range(2):  # mute, then unmute, a second apart
            await page.wait_for_timeout(1000)
            await page.click("#mute")
            marks.append(len(standin.connections[0].audio) // 2)
        await page.wait_for_timeout(1000)
        end = len(standin.connections[0].audio) // 2
        pressed = await page.get_attribute("#mute", "aria-pressed")
        await page.click("#hangup")
    audio = from_pcm16(bytes(standin.connections[0].audio))
    margin = 3200  # 200 ms at 16 kHz: frames already on their way when the button went
    # Each mark is read after the click returns, when later frames may already be in,
    # so the margins go both ways.
    before, muted, after = (
        audio[margin : marks[0] - margin],
        audio[marks[0] + margin : marks[1] - margin],
        audio[marks[1] + margin : end - margin],
    )
    rms = [float(np.sqrt(np.mean(part**2))) for part in (before, muted, after)]
    print(f"\nmute: RMS before {rms[0]:.0f}, muted {rms[1]:.0f}, after {rms[2]:.0f}")
    assert rms[0] > 3000 and rms[2] > 3000
    assert len(muted) > 4000 and not muted.any()  # exact silence, still streaming
    assert pressed == "false"
