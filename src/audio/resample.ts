/**
 * Band-limited resampling by windowed-sinc interpolation, in the manner of resampy and
 * libsamplerate: a Kaiser-windowed sinc is tabulated once at high oversampling and evaluated at
 * arbitrary fractional positions by linear interpolation between table entries.
 *
 * Filter (defaults, see {@link DEFAULT_RESAMPLER_OPTIONS}):
 *  - cutoff `rolloff` × the lower of the two Nyquist frequencies fN, rolloff 0.945;
 *  - 64 zero crossings of the sinc on each side of the centre (counted on the sinc before the
 *    rolloff, as in resampy, i.e. the window spans ±64 input frames), so 128 input taps per output
 *    sample when upsampling and 128 × inRate/outRate when downsampling (139 for 48k → 44.1k);
 *  - Kaiser window, beta 11;
 *  - 512 table points per zero crossing, linearly interpolated.
 *
 * Measured with these defaults:
 *  - kernel response (continuous): passband flat within 3e-5 dB up to 0.88 fN, −0.1 dB at 0.91 fN,
 *    −3 dB at 0.936 fN; stopband attenuation ≥ 108 dB everywhere at and above fN.
 *  - end to end, on pure tones swept over the whole band (96k → 44.1k, 48k → 44.1k, 44.1k → 22.05k):
 *    anything at or above the output's Nyquist comes out ≥ 108.5 dB down (worst case just above
 *    fN); tones up to 0.9 fN match the analytic sine within −103 dB peak (44.1k ↔ 48k, 22.05k ↔
 *    44.1k, 8k → 44.1k, 44101 → 44100), i.e. about 1e-5 of full scale once clear of the edges.
 *  - speed (one core, Node 20, x86-64): about 6 M output samples/s for 48k → 44.1k and 44.1k → 48k.
 *
 * Positions are exact: with the rate ratio reduced to `up / down` (gcd), output sample n sits at
 * input position n·down/up, kept as an integer part plus an integer remainder (no floating-point
 * drift, however long the signal). Each output sample is a fixed-order sum over a fixed set of
 * taps, so output computed in chunks is bit-identical to output computed in one go.
 */

/** Filter design parameters. */
export interface ResamplerOptions {
  /** Zero crossings of the sinc on each side of its centre (filter half-length). Default 64. */
  zeroCrossings?: number;
  /** Table points per zero crossing. Default 512. */
  oversample?: number;
  /** Cutoff as a fraction of the lower Nyquist frequency. Default 0.945. */
  rolloff?: number;
  /** Kaiser window shape parameter. Default 11. */
  beta?: number;
}

export const DEFAULT_RESAMPLER_OPTIONS: Readonly<Required<ResamplerOptions>> = Object.freeze({
  zeroCrossings: 64,
  oversample: 512,
  rolloff: 0.945,
  beta: 11,
});

/** A half-open range of frames `[start, end)`. */
export interface FrameSpan {
  start: number;
  end: number;
}

interface FilterTable {
  /** h(m / oversample) for m = 0 … zeroCrossings·oversample. */
  win: Float64Array;
  /** win[m + 1] − win[m] (0 for the last entry). */
  delta: Float64Array;
}

const tableCache = new Map<string, FilterTable>();

/** Per-phase filter weights: phase r's left wing starts at weights[left[r]], its right wing at weights[right[r]]. */
interface PolyphaseBank {
  weights: Float64Array;
  left: Int32Array;
  right: Int32Array;
}

/** Largest polyphase bank tabulated (8 MiB); beyond it (e.g. 44101 → 44100) weights are interpolated per tap. */
const MAX_BANK_WEIGHTS = 1 << 20;

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for the betas used here). */
function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function filterTable(zeroCrossings: number, oversample: number, rolloff: number, beta: number): FilterTable {
  const key = `${zeroCrossings}/${oversample}/${rolloff}/${beta}`;
  const cached = tableCache.get(key);
  if (cached) return cached;
  const n = zeroCrossings * oversample;
  const win = new Float64Array(n + 1);
  const i0beta = besselI0(beta);
  for (let m = 0; m <= n; m++) {
    const u = m / oversample; // in zero crossings of the unrolled-off sinc
    const x = rolloff * u;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const r = m / n;
    const kaiser = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0beta;
    win[m] = rolloff * sinc * kaiser;
  }
  const delta = new Float64Array(n + 1);
  for (let m = 0; m < n; m++) delta[m] = win[m + 1] - win[m];
  const table = { win, delta };
  tableCache.set(key, table);
  return table;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function checkRate(name: string, rate: number): void {
  if (!Number.isSafeInteger(rate) || rate <= 0) {
    throw new RangeError(`${name} must be a positive integer sample rate, got ${rate}`);
  }
}

function checkFrame(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer frame index, got ${value}`);
}

/**
 * Resamples from `inRate` to `outRate` with random access: any range of output samples can be
 * computed from the input frames {@link inputSpan} names, and the result does not depend on how the
 * output was split into ranges.
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** outRate / gcd: output samples per `down` input frames. */
  readonly up: number;
  /** inRate / gcd. */
  readonly down: number;
  readonly options: Readonly<Required<ResamplerOptions>>;

  private readonly win: Float64Array;
  private readonly delta: Float64Array;
  /** Denominator of table positions: table index of distance d (in input frames) is d·up·P / den. */
  private readonly den: number;
  /** Output gain: min(1, outRate / inRate). */
  private readonly scale: number;
  /** Precomputed per-phase weights, when they fit in {@link MAX_BANK_WEIGHTS}. */
  private readonly bank: PolyphaseBank | undefined;

  constructor(inRate: number, outRate: number, options: ResamplerOptions = {}) {
    checkRate('inRate', inRate);
    checkRate('outRate', outRate);
    const opts = { ...DEFAULT_RESAMPLER_OPTIONS, ...options };
    if (!Number.isInteger(opts.zeroCrossings) || opts.zeroCrossings < 1) {
      throw new RangeError(`zeroCrossings must be a positive integer, got ${opts.zeroCrossings}`);
    }
    if (!Number.isInteger(opts.oversample) || opts.oversample < 1) {
      throw new RangeError(`oversample must be a positive integer, got ${opts.oversample}`);
    }
    if (!(opts.rolloff > 0 && opts.rolloff <= 1)) throw new RangeError(`rolloff must be in (0, 1], got ${opts.rolloff}`);
    if (!(opts.beta >= 0 && Number.isFinite(opts.beta))) throw new RangeError(`beta must be ≥ 0, got ${opts.beta}`);
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    this.options = Object.freeze(opts);
    const table = filterTable(opts.zeroCrossings, opts.oversample, opts.rolloff, opts.beta);
    this.win = table.win;
    this.delta = table.delta;
    // Upsampling: the filter is in input-frame units (den = up, so index = d·P).
    // Downsampling: it is stretched to output-frame units (den = down, so index = d·(up/down)·P).
    this.den = Math.max(this.up, this.down);
    this.scale = Math.min(1, this.up / this.down);
    // Largest numerator formed: (j·up + r)·P < zeroCrossings·den·P (+ up·P).
    if ((opts.zeroCrossings + 2) * this.den * opts.oversample > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`rate ratio ${inRate}:${outRate} is too fine for exact arithmetic`);
    }
    this.bank = this.buildBank();
  }

  /**
   * The weights depend only on the phase r (0 ≤ r < up) and the tap, so for the usual rate pairs
   * (up ≤ a few hundred) they are tabulated once. The values are exactly those the on-the-fly path
   * computes, so either path gives the same output bits.
   */
  private buildBank(): PolyphaseBank | undefined {
    const { up, den, win, delta } = this;
    const P = this.options.oversample;
    const zd = this.options.zeroCrossings * den;
    let total = 0;
    for (let r = 0; r < up; r++) {
      total += this.leftCount(r) + this.rightCount(r);
      if (total > MAX_BANK_WEIGHTS) return undefined;
    }
    const weights = new Float64Array(total);
    const left = new Int32Array(up);
    const right = new Int32Array(up);
    const invDen = 1 / den;
    const weight = (num: number): number => {
      const idx = Math.floor(num / den);
      const rem = num - idx * den;
      return win[idx] + delta[idx] * (rem * invDen);
    };
    let w = 0;
    for (let r = 0; r < up; r++) {
      left[r] = w;
      const nLeft = Math.floor((zd - r - 1) / up) + 1;
      for (let j = 0; j < nLeft; j++) weights[w++] = weight((j * up + r) * P);
      right[r] = w;
      const nRight = Math.floor((zd + r - 1) / up);
      for (let j = 0; j < nRight; j++) weights[w++] = weight(((j + 1) * up - r) * P);
    }
    return { weights, left, right };
  }

  /** Output samples for `inFrames` input frames: ceil(inFrames · outRate / inRate). */
  outputLength(inFrames: number): number {
    if (!Number.isSafeInteger(inFrames) || inFrames < 0) {
      throw new RangeError(`inFrames must be a non-negative integer, got ${inFrames}`);
    }
    const q = Math.floor(inFrames / this.down);
    const s = inFrames - q * this.down;
    return q * this.up + Math.ceil((s * this.up) / this.down);
  }

  /** Input position of output sample n as floor(n·down/up) and the remainder (n·down) mod up. */
  private position(n: number): { i: number; r: number } {
    const q = Math.floor(n / this.up);
    const s = n - q * this.up; // 0 ≤ s < up, so s·down is small and exact
    const sm = s * this.down;
    const f = Math.floor(sm / this.up);
    return { i: q * this.down + f, r: sm - f * this.up };
  }

  /** Taps on the left wing (input frames i, i−1, …) of an output at remainder r. */
  private leftCount(r: number): number {
    return Math.floor((this.options.zeroCrossings * this.den - r - 1) / this.up) + 1;
  }

  /** Taps on the right wing (input frames i+1, i+2, …) of an output at remainder r. */
  private rightCount(r: number): number {
    return Math.floor((this.options.zeroCrossings * this.den + r - 1) / this.up);
  }

  /**
   * The input frames `[start, end)` that output samples `[outStart, outEnd)` depend on (before
   * clipping to the signal: it may start below 0 or end past the last frame).
   */
  inputSpan(outStart: number, outEnd: number): FrameSpan {
    checkFrame('outStart', outStart);
    checkFrame('outEnd', outEnd);
    if (outEnd < outStart) throw new RangeError(`outEnd (${outEnd}) is before outStart (${outStart})`);
    const first = this.position(outStart);
    const start = first.i - this.leftCount(first.r) + 1;
    if (outEnd === outStart) return { start, end: start };
    const last = this.position(outEnd - 1);
    return { start, end: last.i + this.rightCount(last.r) + 1 };
  }

  /**
   * Computes output samples `[outStart, outEnd)`. `input` holds input frames
   * `[inputStart, inputStart + input.length)`. The signal is `inFrames` frames long (default
   * unbounded); frames outside `[0, inFrames)` are zero whatever the block holds there, and every
   * frame inside it that the output needs (see {@link inputSpan}) must be in the block.
   */
  resampleRange(
    input: Float32Array,
    inputStart: number,
    outStart: number,
    outEnd: number,
    inFrames: number = Number.POSITIVE_INFINITY,
  ): Float32Array {
    checkFrame('inputStart', inputStart);
    if (inFrames !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(inFrames) || inFrames < 0)) {
      throw new RangeError(`inFrames must be a non-negative integer, got ${inFrames}`);
    }
    const span = this.inputSpan(outStart, outEnd);
    const out = new Float32Array(outEnd - outStart);
    if (outEnd === outStart) return out;
    const needStart = Math.max(span.start, 0);
    const needEnd = Math.min(span.end, inFrames);
    if (needStart < needEnd && (needStart < inputStart || needEnd > inputStart + input.length)) {
      throw new RangeError(
        `resampleRange: outputs [${outStart}, ${outEnd}) need input frames [${needStart}, ${needEnd}) ` +
          `but the block holds [${inputStart}, ${inputStart + input.length})`,
      );
    }

    const { win, delta, up, down, den, scale } = this;
    const P = this.options.oversample;
    const zd = this.options.zeroCrossings * den;
    const invDen = 1 / den;
    // Per tap, the table numerator grows by up·P: the index by stepIdx, the remainder by stepRem.
    const stepIdx = Math.floor((up * P) / den);
    const stepRem = up * P - stepIdx * den;
    // Per output sample, the input position grows by down/up = adv + advRem/up.
    const adv = Math.floor(down / up);
    const advRem = down - adv * up;
    const lastFrame = Math.min(inFrames, Number.MAX_SAFE_INTEGER) - 1;

    const bank = this.bank;
    const weights = bank ? bank.weights : win;
    let { i, r } = this.position(outStart);
    for (let o = 0; o < out.length; o++) {
      let acc = 0;

      // Left wing: frames k = i − j, j = 0 … nLeft−1, at distance (j·up + r)/up.
      const nLeft = Math.floor((zd - r - 1) / up) + 1;
      let j = Math.max(0, i - lastFrame);
      let jEnd = Math.min(nLeft, i + 1);
      if (j < jEnd) {
        let p = i - j - inputStart;
        if (bank) {
          let w = bank.left[r] + j;
          for (; j < jEnd; j++) acc += weights[w++] * input[p--];
        } else {
          const num = (j * up + r) * P;
          let idx = Math.floor(num / den);
          let rem = num - idx * den;
          for (; j < jEnd; j++) {
            acc += (win[idx] + delta[idx] * (rem * invDen)) * input[p--];
            idx += stepIdx;
            rem += stepRem;
            if (rem >= den) {
              rem -= den;
              idx++;
            }
          }
        }
      }

      // Right wing: frames k = i + 1 + j, j = 0 … nRight−1, at distance ((j+1)·up − r)/up.
      const nRight = Math.floor((zd + r - 1) / up);
      j = Math.max(0, -(i + 1));
      jEnd = Math.min(nRight, lastFrame - i);
      if (j < jEnd) {
        let p = i + 1 + j - inputStart;
        if (bank) {
          let w = bank.right[r] + j;
          for (; j < jEnd; j++) acc += weights[w++] * input[p++];
        } else {
          const num = ((j + 1) * up - r) * P;
          let idx = Math.floor(num / den);
          let rem = num - idx * den;
          for (; j < jEnd; j++) {
            acc += (win[idx] + delta[idx] * (rem * invDen)) * input[p++];
            idx += stepIdx;
            rem += stepRem;
            if (rem >= den) {
              rem -= den;
              idx++;
            }
          }
        }
      }

      out[o] = acc * scale;
      i += adv;
      r += advRem;
      if (r >= up) {
        r -= up;
        i++;
      }
    }
    return out;
  }
}

/**
 * Resamples a whole signal from `inRate` to `outRate` (length ceil(n · outRate / inRate)).
 * Returns a copy when the rates are equal.
 */
export function resample(x: Float32Array, inRate: number, outRate: number, options?: ResamplerOptions): Float32Array {
  checkRate('inRate', inRate);
  checkRate('outRate', outRate);
  if (inRate === outRate) return x.slice();
  const rs = new Resampler(inRate, outRate, options);
  return rs.resampleRange(x, 0, 0, rs.outputLength(x.length), x.length);
}
