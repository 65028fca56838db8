import * as tf from '@tensorflow/tfjs';
import { UMAP } from 'umap-js';
import { Rng } from '../rng';
import { encodeChunked, SampleSource } from './streaming';
import { VQVAE } from './vqvae';

/**
 * Codebook inspection: which codes a level really uses, how its code vectors are laid out, and
 * what a single code sounds like. Functions return plain data (typed arrays and records); the
 * `*Table` functions wrap records in danfojs DataFrames for notebooks.
 */

/** How a level's codebook is used over a set of clips. */
export interface CodebookUsage {
  level: number;
  /** Codebook size. */
  bins: number;
  /** Tokens per code. */
  counts: Int32Array;
  /** Tokens counted. */
  tokens: number;
  /** Entropy of the code distribution in bits (at most log2(bins): 11 for 2048 codes). */
  entropyBits: number;
  /** 2^entropy: the number of equally likely codes with the same entropy. */
  perplexity: number;
  /** Codes never used. */
  deadCodes: number;
  /** Share of the codebook used at least once. */
  usedFraction: number;
}

/** Usage statistics of one level from its code sequences (one Int32Array per clip). */
export function codebookUsage(codes: Int32Array[], bins: number, level = 0): CodebookUsage {
  const counts = new Int32Array(bins);
  let tokens = 0;
  for (const clip of codes) {
    for (const c of clip) counts[c]++;
    tokens += clip.length;
  }
  let entropy = 0;
  let dead = 0;
  for (const n of counts) {
    if (n === 0) dead++;
    else entropy -= (n / tokens) * Math.log2(n / tokens);
  }
  return { level, bins, counts, tokens, entropyBits: entropy, perplexity: 2 ** entropy, deadCodes: dead, usedFraction: (bins - dead) / bins };
}

/** Encodes every clip at every level and returns each level's usage. */
export async function codebookUsageOverClips(model: VQVAE, clips: SampleSource[]): Promise<CodebookUsage[]> {
  const perLevel: Int32Array[][] = model.allLevels().map(() => []);
  for (const clip of clips) {
    const codes = await encodeChunked(model, clip);
    codes.forEach((c, level) => perLevel[level].push(c));
  }
  return perLevel.map((codes, level) => codebookUsage(codes, model.config.l_bins, level));
}

/** A level's code vectors, `[bins × emb_width]` row-major. */
export function codeVectors(model: VQVAE, level: number): Float32Array {
  return model.weights.get(model.bottleneck[level].codebook).dataSync().slice() as Float32Array;
}

/** The Euclidean norm of each code vector. */
export function codeNorms(model: VQVAE, level: number): Float32Array {
  const v = codeVectors(model, level);
  const width = model.config.emb_width;
  return Float32Array.from({ length: v.length / width }, (_, j) => Math.hypot(...v.subarray(j * width, (j + 1) * width)));
}

/** Eigenvalues and eigenvectors (columns) of a symmetric matrix, by cyclic Jacobi rotations. */
function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]), vectors: v };
}

/** A 2-D projection of code vectors, one point per code. */
export interface Projection {
  x: Float32Array;
  y: Float32Array;
  /** PCA only: the share of the total variance each axis explains. */
  explainedVariance?: [number, number];
}

/**
 * PCA of the rows of `vectors` [n × width] onto the two directions of largest variance (signs
 * fixed so the largest-magnitude loading of each axis is positive, so results are stable).
 */
export function pcaProjection(vectors: Float32Array, width: number): Projection {
  const n = vectors.length / width;
  const mean = new Float64Array(width);
  for (let i = 0; i < n; i++) for (let c = 0; c < width; c++) mean[c] += vectors[i * width + c] / n;
  const cov = new Float64Array(width * width);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < width; a++) {
      const da = vectors[i * width + a] - mean[a];
      for (let b = a; b < width; b++) cov[a * width + b] += (da * (vectors[i * width + b] - mean[b])) / n;
    }
  }
  for (let a = 0; a < width; a++) for (let b = 0; b < a; b++) cov[a * width + b] = cov[b * width + a];
  const { values, vectors: eig } = symmetricEigen(cov, width);
  const order = Array.from({ length: width }, (_, i) => i).sort((p, q) => values[q] - values[p]);
  const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
  const axes = order.slice(0, 2).map((col) => {
    const axis = Float64Array.from({ length: width }, (_, r) => eig[r * width + col]);
    let big = 0;
    for (let r = 0; r < width; r++) if (Math.abs(axis[r]) > Math.abs(axis[big])) big = r;
    if (axis[big] < 0) axis.forEach((val, r) => (axis[r] = -val));
    return axis;
  });
  const project = (axis: Float64Array) =>
    Float32Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let c = 0; c < width; c++) s += (vectors[i * width + c] - mean[c]) * axis[c];
      return s;
    });
  return {
    x: project(axes[0]),
    y: project(axes[1]),
    explainedVariance: [values[order[0]] / total, values[order[1]] / total],
  };
}

/** UMAP (McInnes et al. 2018, via umap-js) of the rows of `vectors`, reproducible from `seed`. */
export function umapProjection(vectors: Float32Array, width: number, options: { seed?: number; nNeighbors?: number; minDist?: number } = {}): Projection {
  const n = vectors.length / width;
  const rng = new Rng(options.seed ?? 0);
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(options.nNeighbors ?? 15, n - 1), minDist: options.minDist ?? 0.1, random: () => rng.uniform() });
  const rows = Array.from({ length: n }, (_, i) => Array.from(vectors.subarray(i * width, (i + 1) * width)));
  const embedding = umap.fit(rows);
  return { x: Float32Array.from(embedding, (p) => p[0]), y: Float32Array.from(embedding, (p) => p[1]) };
}

/** Each code's `k` nearest other codes by Euclidean distance. */
export function nearestCodes(model: VQVAE, level: number, k = 5): { code: number; neighbours: { code: number; distance: number }[] }[] {
  const bins = model.config.l_bins;
  const kk = Math.min(k, bins - 1);
  const [values, indices] = tf.tidy(() => {
    const codebook = model.weights.get(model.bottleneck[level].codebook) as tf.Tensor2D;
    const sq = tf.sum(tf.square(codebook), 1);
    // |a − b|² = |a|² − 2a·b + |b|²; a code's own distance is pushed out of the top k.
    const d2 = tf.add(tf.sub(sq.expandDims(1), tf.mul(2, tf.matMul(codebook, codebook.transpose()))), sq.expandDims(0));
    const masked = tf.add(d2, tf.mul(tf.eye(bins), 1e30));
    const { values: v, indices: i } = tf.topk(tf.neg(masked), kk);
    return [tf.sqrt(tf.relu(tf.neg(v))), i];
  });
  const dist = values.dataSync();
  const idx = indices.dataSync();
  tf.dispose([values, indices]);
  return Array.from({ length: bins }, (_, code) => ({
    code,
    neighbours: Array.from({ length: kk }, (_, j) => ({ code: idx[code * kk + j], distance: dist[code * kk + j] })),
  }));
}

/**
 * A "code atom": the audio a run of `tokens` copies of one code decodes to, so a code can be
 * heard and seen on its own. Returns `tokens × hop` samples.
 */
export function codeAtom(model: VQVAE, level: number, code: number, tokens = 64): Float32Array {
  if (!Number.isInteger(code) || code < 0 || code >= model.config.l_bins) {
    throw new RangeError(`code ${code} is outside the codebook (0..${model.config.l_bins - 1})`);
  }
  const audio = tf.tidy(() => model.decode(tf.fill([1, tokens], code, 'int32') as tf.Tensor2D, level));
  const samples = audio.dataSync() as Float32Array;
  audio.dispose();
  return samples;
}

/** A level's codes against time: token start times in seconds. */
export function tokenTimeline(codes: Int32Array, hopLength: number, sampleRate: number): { time: Float32Array; code: Int32Array } {
  return { time: Float32Array.from(codes, (_, i) => (i * hopLength) / sampleRate), code: codes };
}

/** One row per level: the usage summary as a danfojs DataFrame. */
export function usageTable(usages: CodebookUsage[]): import('danfojs-node').DataFrame {
  const dfd: typeof import('danfojs-node') = require('danfojs-node'); // loaded on demand: ~0.5 s
  return new dfd.DataFrame(usages.map((u) => ({
    level: u.level,
    codes: u.bins,
    used: u.bins - u.deadCodes,
    dead: u.deadCodes,
    entropy_bits: +u.entropyBits.toFixed(3),
    max_bits: +Math.log2(u.bins).toFixed(3),
    perplexity: +u.perplexity.toFixed(1),
    tokens: u.tokens,
  })));
}

/** The most used codes of a level, with their counts and share, as a DataFrame. */
export function topCodesTable(usage: CodebookUsage, n = 10): import('danfojs-node').DataFrame {
  const dfd: typeof import('danfojs-node') = require('danfojs-node');
  const order = Array.from(usage.counts.keys()).sort((a, b) => usage.counts[b] - usage.counts[a]).slice(0, n);
  return new dfd.DataFrame(order.map((code) => ({ code, count: usage.counts[code], share: +(usage.counts[code] / usage.tokens).toFixed(4) })));
}
