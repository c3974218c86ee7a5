// The softphone's audio core: pure functions and one streaming resampler, shared by the
// page and its AudioWorklet. No I/O here, so the tests can drive it directly.

export const PHONE_RATE = 8000;
export const FRAME_SAMPLES = 160; // 20 ms at 8 kHz, the frame size Twilio sends

// G.711 µ-law, bit-exact with Python's audioop (the server's codec): 14-bit magnitude,
// segment search, inverted bits.
const SEGMENT_ENDS = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

export function linearToUlaw(sample) {
  let value = sample >> 2;
  let mask = 0xff;
  if (value < 0) {
    value = -value;
    mask = 0x7f;
  }
  if (value > 8159) value = 8159;
  value += 33;
  let segment = 0;
  while (segment < 8 && value > SEGMENT_ENDS[segment]) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  return ((segment << 4) | ((value >> (segment + 1)) & 0x0f)) ^ mask;
}

export function ulawToLinear(byte) {
  const u = ~byte & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

const DECODE_TABLE = new Float32Array(256).map((_, i) => ulawToLinear(i) / 32768);

// µ-law bytes → samples in [-1, 1).
export function decodeUlaw(bytes) {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = DECODE_TABLE[bytes[i]];
  return out;
}

// A sample in [-1, 1] → 16-bit integer (clipped, rounded).
export function toInt16(x) {
  const scaled = Math.round(x * 32768);
  return scaled > 32767 ? 32767 : scaled < -32768 ? -32768 : scaled;
}

export function bytesToBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return btoa(text);
}

export function base64ToBytes(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

// Streaming windowed-sinc resampler for any pair of rates (the browser's rate is 44.1 or
// 48 kHz, or whatever the sound card says). The low-pass sits at 45% of the lower rate,
// so nothing above 3.6 kHz folds into the phone band; a Blackman window over `zeros`
// zero crossings each side. History is kept between calls: feeding audio in chunks gives
// the same output as feeding it at once. Delay: `zeros` periods of the lower rate's
// cut-off, about 1.4 ms here.
const TABLE_STEPS = 4096;

export class Resampler {
  constructor(inRate, outRate, zeros = 10) {
    this.step = inRate / outRate; // input samples per output sample
    const cutoff = (0.45 * Math.min(inRate, outRate)) / inRate; // cycles per input sample
    this.halfWidth = zeros / (2 * cutoff); // input samples each side of the centre
    this.table = new Float32Array(TABLE_STEPS + 2);
    for (let i = 0; i <= TABLE_STEPS; i++) {
      const d = (i / TABLE_STEPS) * this.halfWidth;
      const x = 2 * cutoff * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const u = d / this.halfWidth;
      const window = 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      this.table[i] = 2 * cutoff * sinc * window;
    }
    this.reset();
  }

  reset() {
    this.buffer = new Float32Array(1024);
    this.length = 0; // samples held in buffer
    this.base = 0; // input index of buffer[0]
    this.time = 0; // input time of the next output sample
  }

  kernel(distance) {
    const position = (Math.abs(distance) / this.halfWidth) * TABLE_STEPS;
    const index = Math.floor(position);
    if (index >= TABLE_STEPS) return 0;
    const fraction = position - index;
    return this.table[index] + (this.table[index + 1] - this.table[index]) * fraction;
  }

  // Feed input samples; returns the output samples they complete.
  push(input) {
    if (this.length + input.length > this.buffer.length) {
      const grown = new Float32Array(Math.max(2 * this.buffer.length, this.length + input.length));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(input, this.length);
    this.length += input.length;
    const out = [];
    const end = this.base + this.length; // first input index not yet received
    while (this.time + this.halfWidth < end) {
      const first = Math.max(Math.ceil(this.time - this.halfWidth), this.base);
      const last = Math.floor(this.time + this.halfWidth);
      let sum = 0;
      for (let n = first; n <= last; n++) {
        sum += this.buffer[n - this.base] * this.kernel(n - this.time);
      }
      out.push(sum);
      this.time += this.step;
    }
    const drop = Math.floor(this.time - this.halfWidth) - this.base;
    if (drop > 0) {
      this.buffer.copyWithin(0, drop, this.length);
      this.length -= drop;
      this.base += drop;
    }
    return Float32Array.from(out);
  }
}
