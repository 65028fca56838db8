import { describe, expect, it } from 'vitest';
import { Resampler, resample } from '../../src/audio';

function tone(freq: number, rate: number, n: number, start = 0, amp = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freq * (start + i)) / rate);
  return x;
}

/** Largest |a[i] - b[i]| over i in [from, to). */
function maxError(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let e = 0;
  for (let i = from; i < to; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e;
}

function rms(x: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / (to - from));
}

/** Bitwise equality of two Float32Arrays. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Output samples this close to either end feel the zero padding (the filter spans ±64 input frames). */
const edge = (inRate: number, outRate: number) => Math.ceil(70 * Math.max(1, outRate / inRate));

describe('Resampler lengths and spans', () => {
  it('outputLength is ceil(inFrames · outRate / inRate)', () => {
    const pairs = [[48000, 44100], [44100, 48000], [22050, 44100], [44100, 22050], [8000, 44100], [44101, 44100], [96000, 44100]];
    for (const [a, b] of pairs) {
      const rs = new Resampler(a, b);
      for (const n of [0, 1, 2, 146, 147, 159, 160, 161, 44099, 44100, 44101, 48000, 1_234_567, 10_000_019, 2 ** 40 + 3]) {
        const exact = (BigInt(n) * BigInt(b) + BigInt(a) - 1n) / BigInt(a);
        expect(rs.outputLength(n)).toBe(Number(exact));
      }
    }
    expect(resample(new Float32Array(48000), 48000, 44100).length).toBe(44100);
    expect(resample(new Float32Array(1), 8000, 44100).length).toBe(6);
  });

  it('inputSpan covers the ±64-frame window and nothing else matters', () => {
    const rs = new Resampler(48000, 44100);
    const span = rs.inputSpan(1000, 1100);
    // Output 1000 is at input 1000 · 160/147 ≈ 1088.4; the window is ±64 · 48/44.1 ≈ ±69.7 frames.
    expect(span.start).toBe(Math.floor(1000 * 160 / 147 - 64 * 160 / 147) + 1);
    expect(span.end).toBe(Math.ceil(1099 * 160 / 147 + 64 * 160 / 147));
    expect(rs.inputSpan(5, 5)).toEqual({ start: rs.inputSpan(5, 6).start, end: rs.inputSpan(5, 6).start });
    expect(() => rs.inputSpan(10, 5)).toThrow(RangeError);

    const x = tone(440, 48000, 3000);
    const whole = resample(x, 48000, 44100);
    // A block exactly covering the span, and one with garbage around it, give the same bits.
    const exact = rs.resampleRange(x.slice(span.start, span.end), span.start, 1000, 1100, x.length);
    expect(sameBits(exact, whole.subarray(1000, 1100))).toBe(true);
    const padded = new Float32Array(span.end - span.start + 20).fill(123);
    padded.set(x.subarray(span.start, span.end), 10);
    expect(sameBits(rs.resampleRange(padded, span.start - 10, 1000, 1100, x.length), exact)).toBe(true);
    // A block missing a needed frame is refused.
    expect(() => rs.resampleRange(x.slice(span.start + 1, span.end), span.start + 1, 1000, 1100, x.length)).toThrow(
      /need input frames/,
    );
    expect(() => rs.resampleRange(x.slice(span.start, span.end - 1), span.start, 1000, 1100, x.length)).toThrow(
      RangeError,
    );
  });

  it('frames outside [0, inFrames) count as zero whatever the block holds there', () => {
    const rs = new Resampler(22050, 44100);
    const x = tone(1000, 22050, 500);
    const whole = resample(x, 22050, 44100);
    const n = whole.length;
    const span = rs.inputSpan(n - 50, n + 30);
    const block = new Float32Array(span.end - span.start).fill(-7); // garbage past the end
    block.set(x.subarray(span.start), 0);
    const tail = rs.resampleRange(block, span.start, n - 50, n + 30, x.length);
    expect(sameBits(tail.subarray(0, 50), whole.subarray(n - 50))).toBe(true);
    // Past the end (the filter's tail) it is what a zero-padded block gives, never the garbage.
    const zeroPadded = new Float32Array(span.end - span.start);
    zeroPadded.set(x.subarray(span.start), 0);
    expect(sameBits(tail, rs.resampleRange(zeroPadded, span.start, n - 50, n + 30))).toBe(true);
    expect(maxError(tail, new Float32Array(80), 50, 80)).toBeGreaterThan(0); // the tail is not silent
    expect(maxError(tail, new Float32Array(80), 50, 80)).toBeLessThan(0.5); // ringing of the cut-off sine only
  });

  it('rejects bad rates', () => {
    expect(() => new Resampler(0, 44100)).toThrow(RangeError);
    expect(() => new Resampler(44100.5, 44100)).toThrow(RangeError);
    expect(() => resample(new Float32Array(4), 44100, -1)).toThrow(RangeError);
  });
});

describe('resampling quality', () => {
  it('a 1 kHz sine at 48 kHz → 44.1 kHz matches the analytic sine', () => {
    const x = tone(1000, 48000, 12000);
    const y = resample(x, 48000, 44100);
    const ref = tone(1000, 44100, y.length);
    const e = edge(48000, 44100);
    expect(maxError(y, ref, e, y.length - e)).toBeLessThan(1e-4); // measured ~1e-5
  });

  it('other pairs match analytic sines too (up, down, odd ratios)', () => {
    for (const [a, b, f] of [[44100, 48000, 5000], [8000, 44100, 3000], [44101, 44100, 15000], [22050, 44100, 9000], [44100, 22050, 9000]]) {
      const x = tone(f, a, Math.floor(a / 8));
      const y = resample(x, a, b);
      const ref = tone(f, b, y.length);
      const e = edge(a, b);
      expect(maxError(y, ref, e, y.length - e), `${a} → ${b} at ${f} Hz`).toBeLessThan(1e-4);
    }
  });

  it('a 30 kHz tone at 96 kHz → 44.1 kHz is attenuated by more than 90 dB', () => {
    const x = tone(30000, 96000, 24000);
    const y = resample(x, 96000, 44100);
    const e = edge(96000, 44100);
    const gainDb = 20 * Math.log10((rms(y, e, y.length - e) * Math.SQRT2) / 1);
    expect(gainDb).toBeLessThan(-90); // measured about -120 dB
    // Just above the new Nyquist (22.3 kHz) too.
    const near = resample(tone(22300, 96000, 24000), 96000, 44100);
    expect(20 * Math.log10(rms(near, e, near.length - e) * Math.SQRT2)).toBeLessThan(-90);
  });

  it('22050 → 44100 → 22050 returns a band-limited signal', () => {
    const n = 11025;
    const x = new Float32Array(n);
    for (const [f, amp, ph] of [[110, 0.3, 0.1], [1234, 0.2, 1.3], [5000, 0.15, 2.2], [9000, 0.1, 0.7]]) {
      for (let i = 0; i < n; i++) x[i] += amp * Math.sin((2 * Math.PI * f * i) / 22050 + ph);
    }
    const up = resample(x, 22050, 44100);
    expect(up.length).toBe(2 * n);
    const back = resample(up, 44100, 22050);
    expect(back.length).toBe(n);
    expect(maxError(back, x, 150, n - 150)).toBeLessThan(1e-4);
  });

  it('DC passes with unit gain', () => {
    const y = resample(new Float32Array(5000).fill(0.5), 44100, 48000);
    expect(maxError(y, new Float32Array(y.length).fill(0.5), 200, y.length - 200)).toBeLessThan(1e-5);
  });

  it('is the identity (a copy) when the rates are equal', () => {
    const x = tone(100, 44100, 100);
    const y = resample(x, 44100, 44100);
    expect(y).toEqual(x);
    expect(y).not.toBe(x);
  });
});

describe('random access', () => {
  it('chunked output is bit-identical to whole-signal output', () => {
    for (const [a, b] of [[48000, 44100], [44100, 48000], [8000, 44100], [44101, 44100], [96000, 44100]]) {
      const x = tone(1234.5, a, 6000);
      for (let i = 0; i < x.length; i += 7) x[i] += 0.01 * Math.cos(i);
      const rs = new Resampler(a, b);
      const whole = resample(x, a, b);
      const chunks: Float32Array[] = [];
      let seed = 12345;
      for (let o = 0; o < whole.length; ) {
        seed = (seed * 16807) % 2147483647;
        const size = Math.min(1 + (seed % 700), whole.length - o);
        const span = rs.inputSpan(o, o + size);
        const from = Math.max(0, span.start);
        const to = Math.min(x.length, span.end);
        chunks.push(rs.resampleRange(x.slice(from, to), from, o, o + size, x.length));
        o += size;
      }
      const joined = new Float32Array(whole.length);
      let at = 0;
      for (const c of chunks) {
        joined.set(c, at);
        at += c.length;
      }
      expect(sameBits(joined, whole), `${a} → ${b}`).toBe(true);
    }
  });

  it('the tabulated polyphase weights give the same bits as per-tap interpolation', () => {
    const x = tone(3000, 48000, 5000);
    for (const [a, b] of [[48000, 44100], [44100, 48000], [8000, 44100]]) {
      const tabulated = new Resampler(a, b);
      const perTap = new Resampler(a, b);
      expect((tabulated as unknown as { bank: unknown }).bank).toBeDefined();
      (perTap as unknown as { bank: unknown }).bank = undefined; // force the path used for e.g. 44101 → 44100
      const n = tabulated.outputLength(x.length);
      expect(sameBits(tabulated.resampleRange(x, 0, 0, n, x.length), perTap.resampleRange(x, 0, 0, n, x.length))).toBe(true);
    }
    expect((new Resampler(44101, 44100) as unknown as { bank: unknown }).bank).toBeUndefined();
  });

  it('exact positions: output near sample 10^7 is still on the analytic sine (no drift)', () => {
    for (const [a, b] of [[44101, 44100], [48000, 44100], [22050, 44100]]) {
      const rs = new Resampler(a, b);
      const outStart = 10_000_000 + 17;
      const outEnd = outStart + 500;
      const span = rs.inputSpan(outStart, outEnd);
      const block = tone(440, a, span.end - span.start, span.start);
      const y = rs.resampleRange(block, span.start, outStart, outEnd);
      const ref = tone(440, b, 500, outStart);
      expect(maxError(y, ref, 0, 500), `${a} → ${b}`).toBeLessThan(1e-4);
    }
  });
});
