import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { ParameterRegistry, WeightMap } from '../vqvae/weights';

/**
 * The transformer's building blocks (reference `transformer/ops.py`). Activations are
 * `[N, T, C]`; weights keep the reference layout and names.
 *
 * Fresh weights are variance-preserving with small random biases and LayerNorm gains at 1 ± 0.1.
 * The reference's own init (0.02-std weights, zero biases, zero-initialised output projections)
 * makes a random prior inert: near-uniform attention and logits that barely depend on the input,
 * so tests on such a model would prove little (see FACTS).
 */
const BIAS_INIT_STD = 0.01;
const GAIN_INIT_STD = 0.1;

/**
 * `LayerNorm(width)` of ops.py: normalises the last axis with eps 1e-5, in fp32 like the
 * reference (which casts fp16 activations up for it; here everything is fp32 already).
 */
export class LayerNorm {
  readonly weight: string;
  readonly bias: string;

  constructor(registry: ParameterRegistry, prefix: string, readonly width: number, readonly eps = 1e-5) {
    this.weight = registry.declare(`${prefix}.weight`, [width], GAIN_INIT_STD, 1);
    this.bias = registry.declare(`${prefix}.bias`, [width], BIAS_INIT_STD);
  }

  /** `[..., width]` → same shape: (x − mean) / sqrt(biased var + eps) · weight + bias. */
  apply<T extends tf.Tensor>(w: WeightMap, x: T): T {
    return tf.tidy(() => {
      const mean = tf.mean(x, -1, true);
      const centred = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centred), -1, true);
      const normed = tf.mul(centred, tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, w.get(this.weight)), w.get(this.bias)) as T;
    });
  }
}

/**
 * The transformer's `Conv1D(n_in, n_out)`: despite its name a dense layer, `x @ w + b`, with the
 * weight stored `[n_in, n_out]` (the transpose of `nn.Linear`'s layout).
 */
export class Conv1D {
  readonly w: string;
  readonly b: string;

  constructor(registry: ParameterRegistry, prefix: string, readonly nIn: number, readonly nOut: number) {
    this.w = registry.declare(`${prefix}.w`, [nIn, nOut], 1 / Math.sqrt(nIn));
    this.b = registry.declare(`${prefix}.b`, [nOut], BIAS_INIT_STD);
  }

  /**
   * `[N, T, nIn]` → `[N, T, nOut]`: the product, then the bias, as the reference's `addmm` adds
   * it. Two kernels: tfjs's fused matMul op wraps its kernel in four reshapes (a token step is
   * dominated by per-kernel overhead), and on wasm it computes wrong values when it broadcasts a
   * 2-D weight over a batch axis, which the plain product does correctly.
   *
   * With N > 1 the rows are multiplied as one `[N·T, nIn]` matrix: wasm's BatchMatMul takes a
   * batch of matrices against one weight one scalar at a time (a [4, 768, 128]·[128, 128] product:
   * 98 ms, against 8.8 ms as one [3072, 128] product through XNNPACK), and that product is most
   * of a teacher-forced forward (scoring, alignment, held-out windows). Reshapes share the data.
   */
  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, t] = x.shape;
      const weight = w.get(this.w) as tf.Tensor2D;
      const product = n === 1 ? tf.matMul(x, weight) : tf.reshape(tf.matMul(tf.reshape(x, [n * t, this.nIn]), weight), [n, t, this.nOut]);
      return tf.add(product, w.get(this.b)) as tf.Tensor3D;
    });
  }
}

/** The activations of ops.py's `ACT_FNS`, by the names the reference's `afn` uses. */
export type ActivationName = 'quick_gelu' | 'gelu' | 'relu' | 'swish';

/** ops.py `gelu`: the tanh approximation, 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/** ops.py `quick_gelu`: x·sigmoid(1.702·x), the priors' activation. */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

/** ops.py `swish`: x·sigmoid(x). */
export function swish(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

export function activation(name: ActivationName): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'quick_gelu':
      return quickGelu;
    case 'gelu':
      return gelu;
    case 'relu':
      return (x) => tf.relu(x);
    case 'swish':
      return swish;
    default:
      throw new JukeboxError(`transformer config: unknown afn '${name as string}' (quick_gelu, gelu, relu or swish)`);
  }
}

/**
 * ops.py `filter_logits` on rows of `vocab` logits held in `logits` (several rows back to back),
 * in place. Top-k first: every logit below the k-th largest becomes −∞ (ties with it all stay).
 * Then top-p over what is left: sort descending, and remove the tokens after the first one whose
 * cumulative probability exceeds `topP`, so that token itself is kept.
 *
 * The reference asserts that top-k and top-p are not both set, though its code applies them in
 * this order; here both may be set and compose in that order. Tied logits sort by token id here;
 * PyTorch leaves their order unspecified (on long rows its CPU sort is not stable), which can only
 * matter when exact ties straddle the top-p cut.
 */
export function filterLogitsRows(logits: Float32Array, vocab: number, topK = 0, topP = 0): void {
  checkFilter(topK, topP);
  if (logits.length % vocab !== 0) {
    throw new JukeboxError(`filterLogits: ${logits.length} logits are not rows of ${vocab}`);
  }
  const k = Math.min(topK, vocab);
  if (k === 0 && topP === 0) return;
  const order = topP > 0 ? new Int32Array(vocab) : null;
  const probs = topP > 0 ? new Float64Array(vocab) : null;
  for (let start = 0; start < logits.length; start += vocab) {
    const row = logits.subarray(start, start + vocab);
    if (k > 0) {
      const kth = k === 1 ? Math.max(...row) : row.slice().sort()[vocab - k];
      for (let i = 0; i < vocab; i++) if (row[i] < kth) row[i] = -Infinity;
    }
    if (order !== null && probs !== null) {
      for (let i = 0; i < vocab; i++) order[i] = i;
      // Descending, ties by lower id (a stable sort of the ids).
      order.sort((a, b) => (row[b] === row[a] ? a - b : row[b] > row[a] ? 1 : -1));
      // Softmax of the sorted row in fp32 as the reference computes it; its cumsum accumulates
      // in double and rounds each partial sum to fp32, and the threshold is compared in fp32.
      const max = row[order[0]];
      let sum = 0;
      for (let j = 0; j < vocab; j++) {
        probs[j] = Math.fround(Math.exp(row[order[j]] - max));
        sum = Math.fround(sum + probs[j]);
      }
      const threshold = Math.fround(topP);
      let cumulative = 0;
      let removeFrom = vocab;
      for (let j = 0; j < vocab - 1; j++) {
        cumulative += Math.fround(probs[j] / sum);
        if (Math.fround(cumulative) > threshold) {
          removeFrom = j + 1;
          break;
        }
      }
      for (let j = removeFrom; j < vocab; j++) row[order[j]] = -Infinity;
    }
  }
}

/** `filterLogitsRows` on a tensor whose last axis is the vocabulary; returns a new tensor. */
export function filterLogits(logits: tf.Tensor, topK = 0, topP = 0): tf.Tensor {
  const vocab = logits.shape[logits.shape.length - 1];
  const data = Float32Array.from(logits.dataSync());
  filterLogitsRows(data, vocab, topK, topP);
  return tf.tensor(data, logits.shape, 'float32');
}

function checkFilter(topK: number, topP: number): void {
  if (!Number.isInteger(topK) || topK < 0) {
    throw new JukeboxError(`filterLogits: top-k must be a whole number ≥ 0, got ${topK}`);
  }
  if (!(topP >= 0 && topP <= 1)) {
    throw new JukeboxError(`filterLogits: top-p must lie in [0, 1], got ${topP}`);
  }
}
