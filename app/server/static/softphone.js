// The softphone page: asks the server for a call, then speaks Twilio's Media Streams
// protocol over the WebSocket it names (connected, start, media, mark, stop), so the
// server runs exactly the code path a phone call runs. Agent audio plays through the
// AudioWorklet; marks go back once played; `clear` stops playback at once.
import { base64ToBytes, bytesToBase64 } from "./softphone-audio.js";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
// ?processing=off turns off the browser's echo cancellation, noise suppression and gain
// control (for headsets, or to hear exactly what the microphone gives).
const processing = query.get("processing") !== "off";

const stats = { sentSeconds: 0, playedSeconds: 0, marksReturned: 0, clears: 0, framesSent: 0 };
const tap = []; // played blocks when ?tap=1 (diagnostics; the tests compare them)
let call = null;
// Outcomes after which a phone caller hears the apology (app/call/outcome.py's
// APOLOGY_OUTCOMES; tests/unit/server/test_softphone_page.py keeps the two equal).
const APOLOGY_OUTCOMES = new Set(["agent_failed", "agent_silent", "internal_error"]);

function setStatus(text, state = "info") {
  $("status").textContent = text;
  $("status").dataset.state = state;
}

function showStats() {
  $("stats").textContent =
    `sent ${stats.sentSeconds.toFixed(1)} s · played ${stats.playedSeconds.toFixed(1)} s` +
    ` · marks returned ${stats.marksReturned} · interruptions ${stats.clears}`;
}

function addLine(speaker, text) {
  const list = $("transcript");
  let last = list.lastElementChild;
  if (!last || last.dataset.speaker !== speaker || last.dataset.closed) {
    last = document.createElement("li");
    last.className = speaker;
    last.dataset.speaker = speaker;
    list.append(last);
  }
  last.textContent += text;
  last.scrollIntoView({ block: "end" });
}

// The agent's reply ended: the next words start a new line. Transcription of the
// caller may already have arrived after it, so look back for the reply's line. An
// interrupted reply shows what was heard, in proportion to the audio played (as the
// call record cuts it), and strikes out the rest.
function closeAgentLine(interrupted, heardFraction = 1) {
  const open = [...$("transcript").querySelectorAll("li.agent:not([data-closed])")].pop();
  if (!open) return;
  open.dataset.closed = "1";
  if (!interrupted) return;
  open.classList.add("interrupted");
  const text = open.textContent;
  const heard = heardPart(text, heardFraction);
  const unheard = document.createElement("span");
  unheard.className = "unheard";
  unheard.textContent = text.slice(heard.length);
  open.replaceChildren(heard, unheard);
}

// The words of `text` a listener heard if `fraction` of its audio played: cut at the
// last whole word.
function heardPart(text, fraction) {
  if (fraction >= 1) return text;
  const cut = text.slice(0, Math.floor(text.length * Math.max(0, fraction)));
  const space = cut.lastIndexOf(" ");
  return cut.length < text.length && space >= 0 ? cut.slice(0, space) : cut;
}

function note(text) {
  const item = document.createElement("li");
  item.className = "note";
  item.dataset.speaker = "note";
  item.textContent = text;
  $("transcript").append(item);
}

class Call {
  constructor(session, context) {
    this.session = session;
    this.context = context;
    this.streamSid = "MZ" + crypto.randomUUID().replaceAll("-", "");
    this.sequence = 0;
    this.chunk = 0;
    this.began = performance.now();
    this.muted = false;
    this.replies = []; // per agent reply: seconds received and played, oldest first
    this.reply = null; // the reply now arriving
  }

  send(event, body) {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.sequence += 1;
    const message = { event, sequenceNumber: String(this.sequence), ...body };
    this.ws.send(JSON.stringify(message));
  }

  async open() {
    await this.context.audioWorklet.addModule(new URL("softphone-worklet.js", import.meta.url));
    this.microphone = await navigator.mediaDevices.getUserMedia({
      audio: {
        channelCount: 1,
        echoCancellation: processing,
        noiseSuppression: processing,
        autoGainControl: processing,
      },
    });
    this.capture = new AudioWorkletNode(this.context, "softphone-capture");
    this.playback = new AudioWorkletNode(this.context, "softphone-playback", {
      outputChannelCount: [1],
    });
    this.analyser = this.context.createAnalyser();
    const source = this.context.createMediaStreamSource(this.microphone);
    source.connect(this.capture);
    source.connect(this.analyser);
    this.capture.connect(this.context.destination); // silent; keeps the node running
    this.playback.connect(this.context.destination);
    this.playback.port.postMessage({ type: "tap", on: query.get("tap") === "1" });
    this.playback.port.onmessage = (event) => this.fromPlayback(event.data);
    this.capture.port.onmessage = (event) => this.sendFrame(event.data);
    await this.context.resume();
    this.meter = setInterval(() => this.showLevel(), 100);

    const stream = new URL("stream", import.meta.url); // same origin: the cookie goes along
    stream.protocol = stream.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new WebSocket(stream);
    this.ws.onopen = () => this.start();
    this.ws.onmessage = (event) => this.fromServer(JSON.parse(event.data));
    this.ws.onclose = (event) => this.closed(event);
  }

  start() {
    const { callSid, parameters } = this.session;
    this.send("connected", { protocol: "Call", version: "1.0.0" });
    this.send("start", {
      streamSid: this.streamSid,
      start: {
        streamSid: this.streamSid,
        accountSid: "",
        callSid,
        tracks: ["inbound"],
        customParameters: parameters,
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
    this.started = true;
    setStatus("Connected: say something", "connected");
  }

  sendFrame(ulaw) {
    if (!this.started) return;
    // Muted, a phone keeps sending frames, of silence (0xff is µ-law zero).
    if (this.muted) ulaw.fill(0xff);
    this.chunk += 1;
    this.send("media", {
      streamSid: this.streamSid,
      media: {
        track: "inbound",
        chunk: String(this.chunk),
        timestamp: String(Math.round(performance.now() - this.began)),
        payload: bytesToBase64(ulaw),
      },
    });
    stats.framesSent += 1;
    stats.sentSeconds += ulaw.length / 8000;
  }

  fromServer(message) {
    if (message.event === "media") {
      const ulaw = base64ToBytes(message.media.payload);
      if (!this.reply) this.replies.push((this.reply = { received: 0, played: 0 }));
      this.reply.received += ulaw.length / 8000;
      this.playback.port.postMessage({ type: "audio", ulaw }, [ulaw.buffer]);
    } else if (message.event === "mark") {
      this.playback.port.postMessage({ type: "mark", name: message.mark.name });
    } else if (message.event === "clear") {
      this.playback.port.postMessage({ type: "clear" });
      const cut = this.reply ?? this.replies.at(-1);
      closeAgentLine(true, cut && cut.received > 0 ? cut.played / cut.received : 1);
      this.replies = [];
      this.reply = null;
    } else if (message.event === "transcript") {
      addLine(message.transcript.speaker, message.transcript.text);
    } else if (message.event === "turnComplete") {
      closeAgentLine(false);
      this.reply = null;
    }
  }

  fromPlayback(message) {
    if (message.type === "mark") {
      this.returnMark(message.name);
    } else if (message.type === "cleared") {
      stats.clears += 1;
      message.marks.forEach((name) => this.returnMark(name));
    } else if (message.type === "played") {
      stats.playedSeconds += message.seconds;
      this.countPlayed(message.seconds);
      if (message.samples) tap.push(...message.samples);
    }
    // The figures are redrawn with the level meter, ten times a second, not per block.
  }

  // A key on the keypad: the dtmf event Twilio sends when a caller presses a phone key.
  pressKey(digit) {
    this.send("dtmf", {
      streamSid: this.streamSid,
      dtmf: { track: "inbound_track", digit },
    });
    note(`You pressed ${digit}`);
  }

  // Played audio belongs to the oldest reply not yet fully played.
  countPlayed(seconds) {
    for (const reply of this.replies) {
      const take = Math.min(seconds, reply.received - reply.played);
      reply.played += take;
      seconds -= take;
      if (seconds <= 1e-9) break;
    }
    while (this.replies.length > 1 && this.replies[0].played >= this.replies[0].received) {
      this.replies.shift();
    }
  }

  returnMark(name) {
    stats.marksReturned += 1;
    this.send("mark", { streamSid: this.streamSid, mark: { name } });
  }

  showLevel() {
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
    $("level").value = Math.min(1, rms * 4);
    showStats();
  }

  hangUp() {
    this.send("stop", {
      streamSid: this.streamSid,
      stop: { accountSid: "", callSid: this.session.callSid },
    });
    this.ws.close(1000, "caller hung up");
  }

  closed(event) {
    // The server's reason reads "outcome: why", e.g. "agent_failed: Gemini closed the
    // session (code 1008): API key not valid".
    const [outcome, ...why] = (event.reason || "").split(": ");
    const detail = why.join(": ");
    if (APOLOGY_OUTCOMES.has(outcome)) {
      note(`The bot failed (${outcome}): ${detail || "the live session ended"}`);
      setStatus("Call ended: the bot failed (see below; on a phone the caller hears an apology)", "error");
    } else if (event.code === 1000) {
      note(`Call ended${detail ? ` (${detail})` : ""}`);
      setStatus("Call ended", "ended");
    } else {
      note(`Call ended: ${event.reason || `connection closed (code ${event.code})`}`);
      setStatus(`Call ended: ${outcome || `code ${event.code}`}`, "error");
    }
    this.release();
  }

  release() {
    clearInterval(this.meter);
    this.microphone?.getTracks().forEach((track) => track.stop());
    this.context?.close();
    call = null;
    $("call").disabled = false;
    $("hangup").disabled = true;
    $("mute").disabled = true;
    setMuted(false);
  }
}

function setMuted(muted) {
  if (call) call.muted = muted;
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
}

async function startCall() {
  $("call").disabled = true;
  setStatus("Calling…", "calling");
  // Made now, while the click still counts as the user's gesture: browsers keep an
  // AudioContext made later (after the awaits below) suspended, and the bot silent.
  const context = new AudioContext({ latencyHint: "interactive" });
  try {
    const answer = await fetch(new URL("session", import.meta.url), { method: "POST" });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || `the server answered ${answer.status}`);
    call = new Call(body, context);
    window.softphone.call = call;
    await call.open();
    $("hangup").disabled = false;
    $("mute").disabled = false;
  } catch (error) {
    setStatus(`Could not call: ${error.message}`, "error");
    if (call) call.release();
    else context.close();
    $("call").disabled = false;
  }
}

const KEYS = "123456789*0#";
for (const digit of KEYS) {
  const key = document.createElement("button");
  key.type = "button";
  key.textContent = digit;
  key.dataset.digit = digit;
  key.addEventListener("click", () => call?.started && call.pressKey(digit));
  $("keypad").append(key);
}
document.addEventListener("keydown", (event) => {
  if (call?.started && KEYS.includes(event.key) && !event.repeat) call.pressKey(event.key);
});

$("call").addEventListener("click", startCall);
$("hangup").addEventListener("click", () => call?.hangUp());
$("mute").addEventListener("click", () => setMuted(!call?.muted));
showStats();

// For diagnostics and the browser tests.
window.softphone = { stats, tap, call: null };
