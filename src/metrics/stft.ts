import * as tf from '@tensorflow/tfjs';
import { frameFFT } from '../train/fast/fft-kernels';
import { isPowerOfTwo, RealFFT, realFFT } from './fft';

/** One STFT configuration, named as the reference's `STFTValues`. */
export interface STFTSettings {
  /** FFT size; `n_fft / 2 + 1` frequency bins. */
  nFft: number;
  /** Samples between frames. */
  hopLength: number;
  /** Length of the periodic Hann window, centred in the FFT frame. */
  windowSize: number;
}

/** The reference's `DefaultSTFTValues`: spectral loss and spectral convergence. */
export const DEFAULT_STFT: Readonly<STFTSettings> = { nFft: 2048, hopLength: 256, windowSize: 1536 };

/** The reference's multi-scale spectral loss settings (`multispec_loss_n_fft`, `_hop_length`, `_window_size`). */
export const MULTISPECTRAL_STFTS: readonly Readonly<STFTSettings>[] = [
  { nFft: 2048, hopLength: 240, windowSize: 1200 },
  { nFft: 1024, hopLength: 120, windowSize: 600 },
  { nFft: 512, hopLength: 50, windowSize: 240 },
];

const bases = new Map<string, { basis: tf.Tensor2D; transposed: tf.Tensor2D }>();

/**
 * `[windowSize, 2 · bins]`: the Hann-windowed cosine and negative-sine DFT rows for the samples
 * under the window. The window sits at offset (n_fft − window)/2 of the FFT frame, as torch.stft
 * pads it, and the phase is measured from the frame start so real and imaginary parts match torch.
 * Kept for the life of the process (a few MB for n_fft 2048).
 */
function dftBasis(s: STFTSettings): { basis: tf.Tensor2D; transposed: tf.Tensor2D } {
  const key = `${s.nFft}/${s.windowSize}`;
  let cached = bases.get(key);
  if (cached === undefined) {
    const bins = s.nFft / 2 + 1;
    const offset = Math.floor((s.nFft - s.windowSize) / 2);
    const data = new Float32Array(s.windowSize * 2 * bins);
    const window = hann(s.windowSize);
    for (let n = 0; n < s.windowSize; n++) {
      const w = window[n];
      const m = n + offset;
      for (let k = 0; k < bins; k++) {
        // (k·m) mod n_fft keeps the angle small, so the float64 trig stays exact for large n_fft.
        const angle = (2 * Math.PI * ((k * m) % s.nFft)) / s.nFft;
        data[n * 2 * bins + k] = w * Math.cos(angle);
        data[n * 2 * bins + bins + k] = -w * Math.sin(angle);
      }
    }
    const basis = tf.keep(tf.tensor2d(data, [s.windowSize, 2 * bins]));
    cached = { basis, transposed: tf.keep(basis.transpose()) };
    bases.set(key, cached);
  }
  return cached;
}

/**
 * frames [N, window] × basis [window, 2·bins], with the input gradient dy × basisᵀ taken from a
 * kept transposed copy: tfjs-wasm's matmul is several times slower with transposeB.
 */
function project(frames: tf.Tensor2D, s: STFTSettings): tf.Tensor2D {
  const { basis, transposed } = dftBasis(s);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [f] = args as [tf.Tensor2D];
    return { value: tf.matMul(f, basis), gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, transposed)] };
  });
  return op(frames) as tf.Tensor2D;
}

/**
 * |re + i·im| whose gradient is 0 where the magnitude is 0 (as torch.norm's), instead of NaN.
 */
const magnitude = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [re, im, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const mag = tf.sqrt(tf.add(tf.square(re), tf.square(im)));
  save([re, im, mag]);
  return {
    value: mag,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [r, i, m] = saved;
      const scale = tf.where(tf.greater(m, 0), tf.div(dy, tf.maximum(m, 1e-30)), tf.zerosLike(m));
      return [tf.mul(scale, r), tf.mul(scale, i)];
    },
  };
});

/**
 * Reflect padding of the last axis (x[p], …, x[1], x[0], …, x[T−1], x[T−2], …). Built from slices
 * and reversals because tfjs's MirrorPad gradient drops what flows into the reflected samples.
 */
function reflectPad(x: tf.Tensor2D, pad: number): tf.Tensor2D {
  const [batch, length] = x.shape;
  const left = tf.reverse(x.slice([0, 1], [batch, pad]), 1);
  const right = tf.reverse(x.slice([0, length - pad - 1], [batch, pad]), 1);
  return tf.concat([left, x, right], 1);
}

/**
 * Magnitude spectrogram exactly as the reference's `spec(x, hps)`:
 * `torch.stft(x, n_fft, hop, win_length=window, window=hann_window(window))` with torch's defaults
 * (centred frames, reflect padding of n_fft/2, one-sided), then the norm over real and imaginary
 * parts. `x` [B, T] (T > n_fft / 2) → `[B, frames, bins]` with frames = floor(T / hop) + 1.
 * Differentiable. A power-of-two n_fft (every setting the reference uses) runs as float64 FFTs on
 * the host (`fftMagnitude`); any other n_fft as DFT-matrix products on the backend.
 */
export function stftMagnitude(x: tf.Tensor2D, s: STFTSettings): tf.Tensor3D {
  const [, length] = x.shape;
  if (length <= s.nFft / 2) throw new Error(`stft: signal of ${length} samples is too short for n_fft ${s.nFft}`);
  return isPowerOfTwo(s.nFft) && s.nFft >= 4 ? fftMagnitude(x, s) : dftMagnitude(x, s);
}

/**
 * `stftMagnitude` by real FFTs in float64, with its gradient written out: with G = dL/d|X|
 * · X / |X| per bin (0 where |X| = 0, as torch.norm's), a frame's gradient is
 * window · Re Σ_k G[k] e^{+2πikm/n}, an inverse real FFT of G (halved between the two
 * end bins), overlap-added through the framing and folded back through the reflect padding.
 */
export function fftMagnitude(x: tf.Tensor2D, s: STFTSettings): tf.Tensor3D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input] = args as [tf.Tensor2D];
    const [batch, length] = input.shape;
    const plan = framing(length, s);
    const spectrum = spectra(input.dataSync() as Float32Array, batch, plan);
    return {
      value: tf.tensor3d(spectrum.magnitudes, [batch, plan.frames, plan.bins]),
      gradFunc: (dy: tf.Tensor) => [tf.tensor2d(spectraGradient(dy.dataSync() as Float32Array, spectrum, batch, plan), [batch, length])],
    };
  });
  return op(x) as tf.Tensor3D;
}

/** How an item of `length` samples is framed: frame f's sample n (at offset + n of the FFT frame, zero elsewhere) is padded sample f·hop + offset + n of the reflect-padded item. */
interface Framing {
  length: number;
  pad: number;
  offset: number;
  frames: number;
  bins: number;
  hop: number;
  window: Float64Array;
  fft: RealFFT;
}

function framing(length: number, s: STFTSettings): Framing {
  const pad = s.nFft / 2;
  return {
    length,
    pad,
    offset: Math.floor((s.nFft - s.windowSize) / 2),
    frames: Math.floor((length + 2 * pad - s.nFft) / s.hopLength) + 1,
    bins: pad + 1,
    hop: s.hopLength,
    window: hann(s.windowSize),
    fft: realFFT(s.nFft),
  };
}

/** Every frame's spectrum (float64) and magnitudes (float32) for `batch` items of `data`. */
function spectra(data: Float32Array, batch: number, p: Framing): { re: Float64Array; im: Float64Array; magnitudes: Float32Array } {
  const { length, pad, offset, frames, bins, hop, window, fft } = p;
  const size = batch * frames * bins;
  const out = { re: new Float64Array(size), im: new Float64Array(size), magnitudes: new Float32Array(size) };
  const signal = new Float64Array(length + 2 * pad);
  const framed = new Float32Array(frames * fft.n);
  for (let b = 0; b < batch; b++) {
    for (let q = 0; q < signal.length; q++) signal[q] = data[b * length + reflect(q - pad, length)];
    for (let f = 0; f < frames; f++) {
      const start = f * hop + offset;
      const at = f * fft.n + offset;
      for (let n = 0; n < window.length; n++) framed[at + n] = window[n] * signal[start + n];
    }
    const o = b * frames * bins;
    transformFrames(fft, framed, frames, out.re.subarray(o, o + frames * bins), out.im.subarray(o, o + frames * bins));
  }
  for (let k = 0; k < size; k++) out.magnitudes[k] = Math.sqrt(out.re[k] * out.re[k] + out.im[k] * out.im[k]);
  return out;
}

/** The items' gradient [batch × length] from the magnitudes' gradient `dMag` (see `fftMagnitude`). */
function spectraGradient(dMag: Float32Array, spectrum: { re: Float64Array; im: Float64Array }, batch: number, p: Framing): Float32Array {
  const { length, pad, offset, frames, bins, hop, window, fft } = p;
  const grad = new Float32Array(batch * length);
  const signal = new Float64Array(length + 2 * pad);
  const item = new Float64Array(length);
  const re = new Float64Array(frames * bins);
  const im = new Float64Array(frames * bins);
  const back = new Float32Array(frames * fft.n);
  const { re: sRe, im: sIm } = spectrum;
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < frames; f++) {
      for (let k = 0; k < bins; k++) {
        const o = (b * frames + f) * bins + k;
        const r = sRe[o];
        const i = sIm[o];
        const m = Math.sqrt(r * r + i * i);
        // Bins 0 and n/2 appear once in the full spectrum, the others twice.
        const share = m > 0 ? ((k === 0 || k === bins - 1 ? 1 : 0.5) * dMag[o]) / m : 0;
        re[f * bins + k] = share * r;
        im[f * bins + k] = share * i;
      }
    }
    inverseFrames(fft, re, im, frames, back);
    signal.fill(0);
    for (let f = 0; f < frames; f++) {
      const start = f * hop + offset;
      const at = f * fft.n + offset;
      for (let n = 0; n < window.length; n++) signal[start + n] += window[n] * back[at + n];
    }
    item.fill(0);
    for (let q = 0; q < signal.length; q++) item[reflect(q - pad, length)] += signal[q];
    grad.set(item, b * length);
  }
  return grad;
}

/**
 * Real FFTs of `count` frames [count, n] → half spectra [count, n/2 + 1]: four frames at a time
 * in float32 SIMD (src/train/fast/fft-kernels.wat) where the engine has SIMD128, else one by one
 * in float64 (`RealFFT`).
 */
function transformFrames(fft: RealFFT, frames: Float32Array, count: number, re: Float64Array, im: Float64Array): void {
  const simd = frameFFT();
  if (simd !== null) return simd.forward(fft.n, frames, count, re, im);
  const bins = fft.n / 2 + 1;
  const frame = new Float64Array(fft.n);
  for (let f = 0; f < count; f++) {
    frame.set(frames.subarray(f * fft.n, (f + 1) * fft.n));
    fft.forward(frame, re.subarray(f * bins, (f + 1) * bins), im.subarray(f * bins, (f + 1) * bins));
  }
}

/** `RealFFT.inverse` of `count` half spectra into frames [count, n], as `transformFrames` chooses. */
function inverseFrames(fft: RealFFT, re: Float64Array, im: Float64Array, count: number, frames: Float32Array): void {
  const simd = frameFFT();
  if (simd !== null) return simd.inverse(fft.n, re, im, count, frames);
  const bins = fft.n / 2 + 1;
  const frame = new Float64Array(fft.n);
  for (let f = 0; f < count; f++) {
    fft.inverse(re.subarray(f * bins, (f + 1) * bins), im.subarray(f * bins, (f + 1) * bins), frame);
    frames.set(frame, f * fft.n);
  }
}

/** Index into a signal of `length` samples of position q of its reflection (…, x[1], x[0], x[1], …). */
function reflect(q: number, length: number): number {
  const a = Math.abs(q);
  return a < length ? a : 2 * (length - 1) - a;
}

const hannWindows = new Map<number, Float64Array>();

/** The periodic Hann window of `size` samples (torch.hann_window), cached. */
function hann(size: number): Float64Array {
  let w = hannWindows.get(size);
  if (w === undefined) hannWindows.set(size, (w = Float64Array.from({ length: size }, (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / size))));
  return w;
}

/**
 * `stftMagnitude` for an n_fft that is not a power of two: framing by slices of hop-sized blocks
 * and the DFT as a matrix product, differentiated by tfjs.
 */
export function dftMagnitude(x: tf.Tensor2D, s: STFTSettings): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, length] = x.shape;
    const pad = s.nFft / 2;
    const padded = reflectPad(x, pad);
    const frames = Math.floor((length + 2 * pad - s.nFft) / s.hopLength) + 1;
    const offset = Math.floor((s.nFft - s.windowSize) / 2);
    // Frame f covers padded samples f·hop + offset … + windowSize: gather it from `blocksPerFrame`
    // consecutive hop-sized blocks.
    const blocksPerFrame = Math.ceil(s.windowSize / s.hopLength);
    const blocks = frames - 1 + blocksPerFrame;
    const span = blocks * s.hopLength;
    const available = length + 2 * pad - offset;
    let region = padded.slice([0, offset], [batch, Math.min(span, available)]);
    if (span > available) region = tf.pad(region, [[0, 0], [0, span - available]]);
    const blocked = region.reshape([batch, blocks, s.hopLength]);
    const parts: tf.Tensor[] = [];
    for (let j = 0; j < blocksPerFrame; j++) parts.push(blocked.slice([0, j, 0], [batch, frames, s.hopLength]));
    const framed = tf.concat(parts, 2).slice([0, 0, 0], [batch, frames, s.windowSize]);
    const spectrum = project(framed.reshape([batch * frames, s.windowSize]) as tf.Tensor2D, s); // [B·F, 2·bins]
    const bins = s.nFft / 2 + 1;
    const re = spectrum.slice([0, 0], [batch * frames, bins]);
    const im = spectrum.slice([0, bins], [batch * frames, bins]);
    return (magnitude(re, im) as tf.Tensor).reshape([batch, frames, bins]) as tf.Tensor3D;
  });
}
