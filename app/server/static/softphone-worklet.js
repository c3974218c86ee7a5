// The softphone's audio thread: 'capture' turns the microphone into 20 ms frames of
// 8 kHz µ-law, as Twilio sends them; 'playback' plays the agent's 8 kHz µ-law at the
// sound card's rate and reports each mark once the audio queued before it has been
// played, as Twilio does. `clear` empties the queue and reports every pending mark.
import {
  FRAME_SAMPLES,
  PHONE_RATE,
  Resampler,
  decodeUlaw,
  linearToUlaw,
  toInt16,
} from "./softphone-audio.js";

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(sampleRate, PHONE_RATE);
    this.frame = new Uint8Array(FRAME_SAMPLES);
    this.filled = 0;
    this.mono = new Float32Array(128);
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no microphone (yet)
    const size = channels[0].length;
    if (this.mono.length !== size) this.mono = new Float32Array(size);
    this.mono.fill(0);
    for (const channel of channels) {
      for (let i = 0; i < size; i++) this.mono[i] += channel[i] / channels.length;
    }
    for (const sample of this.resampler.push(this.mono)) {
      this.frame[this.filled++] = linearToUlaw(toInt16(sample));
      if (this.filled === FRAME_SAMPLES) {
        const frame = this.frame;
        this.port.postMessage(frame, [frame.buffer]);
        this.frame = new Uint8Array(FRAME_SAMPLES);
        this.filled = 0;
      }
    }
    return true;
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(PHONE_RATE, sampleRate);
    this.queue = []; // {samples} at the output rate, or {mark}
    this.offset = 0; // samples of queue[0] already played
    this.tap = false; // post a copy of every played block (diagnostics and tests)
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "audio") {
      this.queue.push({ samples: this.resampler.push(decodeUlaw(message.ulaw)) });
    } else if (message.type === "mark") {
      this.queue.push({ mark: message.name });
    } else if (message.type === "clear") {
      const marks = this.queue.filter((item) => item.mark !== undefined).map((m) => m.mark);
      let dropped = -this.offset;
      for (const item of this.queue) if (item.samples) dropped += item.samples.length;
      this.queue = [];
      this.offset = 0;
      this.resampler.reset();
      this.port.postMessage({ type: "cleared", marks, droppedSeconds: dropped / sampleRate });
    } else if (message.type === "tap") {
      this.tap = message.on;
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let written = 0;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.mark !== undefined) {
        this.port.postMessage({ type: "mark", name: head.mark });
        this.queue.shift();
        continue;
      }
      if (written === out.length) break;
      const count = Math.min(out.length - written, head.samples.length - this.offset);
      out.set(head.samples.subarray(this.offset, this.offset + count), written);
      written += count;
      this.offset += count;
      if (this.offset === head.samples.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (written > 0) {
      this.port.postMessage({
        type: "played",
        seconds: written / sampleRate,
        samples: this.tap ? out.slice(0, written) : null,
      });
    }
    return true;
  }
}

registerProcessor("softphone-capture", CaptureProcessor);
registerProcessor("softphone-playback", PlaybackProcessor);
