/**
 * Deterministic stand-ins for what the toolkit's other modules produce: a music-like waveform,
 * its log-mel spectrogram (a small FFT and mel filterbank of its own, independent of
 * src/metrics), three degraded "level reconstructions", codebook usage counts, 2-D projections
 * and code timelines.
 */
import { musicLike } from '../helpers';

export function lcg(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** In-place radix-2 FFT of (re, im). */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k);
        const wi = Math.sin(ang * k);
        const ar = re[i + k + len / 2] * wr - im[i + k + len / 2] * wi;
        const ai = re[i + k + len / 2] * wi + im[i + k + len / 2] * wr;
        re[i + k + len / 2] = re[i + k] - ar;
        im[i + k + len / 2] = im[i + k] - ai;
        re[i + k] += ar;
        im[i + k] += ai;
      }
    }
  }
}

const hzToMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const melToHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);

/** A log-mel spectrogram [frames][nMels] in dB (ref 1, floor 1e-10) and the band centres in Hz. */
export function logMel(x: Float32Array, sampleRate: number, nFft = 1024, hop = 256, nMels = 80): { db: Float32Array[]; melFrequencies: Float64Array; hopSeconds: number } {
  const bins = nFft / 2 + 1;
  const edges = Array.from({ length: nMels + 2 }, (_, i) => melToHz((i * hzToMel(sampleRate / 2)) / (nMels + 1)));
  const binHz = sampleRate / nFft;
  const window = Float64Array.from({ length: nFft }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft));
  const frames = Math.floor((x.length - nFft) / hop) + 1;
  const db: Float32Array[] = [];
  for (let f = 0; f < frames; f++) {
    const re = new Float64Array(nFft);
    const im = new Float64Array(nFft);
    for (let i = 0; i < nFft; i++) re[i] = x[f * hop + i] * window[i];
    fft(re, im);
    const row = new Float32Array(nMels);
    for (let m = 0; m < nMels; m++) {
      const [lo, mid, hi] = [edges[m], edges[m + 1], edges[m + 2]];
      let e = 0;
      for (let b = Math.floor(lo / binHz); b <= Math.min(bins - 1, Math.ceil(hi / binHz)); b++) {
        const hz = b * binHz;
        const w = hz <= lo || hz >= hi ? 0 : hz <= mid ? (hz - lo) / (mid - lo) : (hi - hz) / (hi - mid);
        e += w * (re[b] * re[b] + im[b] * im[b]);
      }
      row[m] = 10 * Math.log10(Math.max(1e-10, e));
    }
    db.push(row);
  }
  return { db, melFrequencies: Float64Array.from({ length: nMels }, (_, m) => edges[m + 1]), hopSeconds: hop / sampleRate };
}

/** A cruder copy: moving-average low-pass of `width` samples plus a little noise. */
export function degrade(x: Float32Array, width: number, noise: number, seed: number): Float32Array {
  const rand = lcg(seed);
  const out = new Float32Array(x.length);
  let acc = 0;
  for (let i = 0; i < x.length; i++) {
    acc += x[i] - (i >= width ? x[i - width] : 0);
    out[i] = acc / width + noise * (rand() - 0.5);
  }
  return out;
}

/** Zipf-like usage counts with a share of dead codes. */
export function usageCounts(bins: number, tokens: number, deadShare: number, seed: number): Int32Array {
  const rand = lcg(seed);
  const weights = Float64Array.from({ length: bins }, (_, i) => (rand() < deadShare ? 0 : 1 / (1 + i) ** 0.9 * (0.5 + rand())));
  // Scramble which ids are popular.
  for (let i = bins - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [weights[i], weights[j]] = [weights[j], weights[i]];
  }
  const total = weights.reduce((a, b) => a + b, 0);
  return Int32Array.from(weights, (w) => Math.round((w / total) * tokens));
}

/** Gaussian blobs: a 2-D projection of `n` code vectors. */
export function projection(n: number, seed: number): { x: Float32Array; y: Float32Array } {
  const rand = lcg(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: 6 }, () => [gauss() * 3, gauss() * 3]);
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = centres[i % centres.length];
    x[i] = c[0] + gauss() * 0.8;
    y[i] = c[1] + gauss() * 0.8;
  }
  return { x, y };
}

/** A sticky random walk over code ids: `tokens` codes of a `bins`-code book. */
export function codeSequence(tokens: number, bins: number, seed: number): Int32Array {
  const rand = lcg(seed);
  const out = new Int32Array(tokens);
  let c = Math.floor(rand() * bins);
  for (let i = 0; i < tokens; i++) {
    if (rand() < 0.3) c = rand() < 0.7 ? (c + Math.floor((rand() - 0.5) * 200) + bins) % bins : Math.floor(rand() * bins);
    out[i] = c;
  }
  return out;
}

export const HOPS = [8, 32, 128];

/** Everything a report shows, for `seconds` of audio at `sampleRate`. */
export function demoData(seconds = 4, sampleRate = 22050) {
  const audio = musicLike(Math.round(seconds * sampleRate), sampleRate, 3);
  const recon = [degrade(audio, 2, 0.004, 11), degrade(audio, 5, 0.01, 12), degrade(audio, 11, 0.02, 13)];
  const bins = 2048;
  const counts = [usageCounts(bins, 40000, 0.05, 21), usageCounts(bins, 10000, 0.2, 22), usageCounts(bins, 2500, 0.45, 23)];
  const projections = counts.map((c, i) => ({ ...projection(bins, 31 + i), usage: c }));
  const codes = HOPS.map((hop, i) => codeSequence(Math.floor(audio.length / hop), bins, 41 + i));
  return { sampleRate, audio, recon, bins, counts, projections, codes };
}
