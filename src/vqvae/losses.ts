import * as tf from '@tensorflow/tfjs';

/** Data statistics the reference divides its losses by (`calculate_bandwidth`). */
export interface Bandwidth {
  /** Mean absolute sample value. */
  l1: number;
  /** Sample variance. */
  l2: number;
  /** Mean Frobenius norm of a clip's default-STFT magnitude spectrogram. */
  spec: number;
}

/** Weights of the reference's `lmix` reconstruction loss (`lmix_l1`, `lmix_l2`, `lmix_linf`, `linf_k`). */
export interface LmixWeights {
  l1: number;
  l2: number;
  linf: number;
  /** How many of the largest squared errors per item L-inf averages. */
  linfK: number;
}

/** The published VQ-VAE's reconstruction loss: L2 + 0.02 × top-2048 L-inf. */
export const JUKEBOX_LMIX: Readonly<LmixWeights> = { l1: 0, l2: 1, linf: 0.02, linfK: 2048 };

/** mean |x̂ − x| / bandwidth.l1. `[B, T]` → scalar. */
export function l1Loss(target: tf.Tensor2D, pred: tf.Tensor2D, bw: Bandwidth): tf.Scalar {
  return tf.tidy(() => tf.div(tf.mean(tf.abs(tf.sub(pred, target))), bw.l1));
}

/** mean (x̂ − x)² / bandwidth.l2. */
export function l2Loss(target: tf.Tensor2D, pred: tf.Tensor2D, bw: Bandwidth): tf.Scalar {
  return tf.tidy(() => tf.div(tf.mean(tf.square(tf.sub(pred, target))), bw.l2));
}

/**
 * The mean of each item's `k` largest squared errors, / bandwidth.l2. tfjs has no TopK gradient,
 * so the k-th largest value is found without one and the top k are selected by a mask; ties at
 * the threshold are counted exactly k times, so the value equals torch.topk's.
 */
export function linfLoss(target: tf.Tensor2D, pred: tf.Tensor2D, bw: Bandwidth, k: number): tf.Scalar {
  return tf.tidy(() => {
    const residual = tf.square(tf.sub(pred, target)); // [B, T]
    const [batch, length] = residual.shape;
    const kk = Math.min(k, length);
    // A constant: read back and rebuilt, so no gradient is asked of topk.
    const threshold = tf.tensor2d(
      Float32Array.from({ length: batch }, (_, b) => tf.tidy(() => tf.topk(residual.slice([b, 0], [1, length]), kk).values.dataSync()[kk - 1])),
      [batch, 1],
    );
    const mask = tf.cast(tf.greaterEqual(residual, threshold), 'float32');
    const excess = tf.sub(tf.sum(mask, 1, true), kk); // elements tied at the threshold beyond k
    const topSum = tf.sub(tf.sum(tf.mul(residual, mask), 1, true), tf.mul(excess, threshold));
    return tf.div(tf.div(tf.sum(topSum), batch * kk), bw.l2);
  });
}

/** The reference's `lmix`: l1·L1 + l2·L2 + linf·L-inf, each over its bandwidth. */
export function lmixLoss(target: tf.Tensor2D, pred: tf.Tensor2D, bw: Bandwidth, weights: LmixWeights = JUKEBOX_LMIX): tf.Scalar {
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    if (weights.l1) terms.push(tf.mul(weights.l1, l1Loss(target, pred, bw)));
    if (weights.l2) terms.push(tf.mul(weights.l2, l2Loss(target, pred, bw)));
    if (weights.linf) terms.push(tf.mul(weights.linf, linfLoss(target, pred, bw, weights.linfK)));
    return (terms.length === 0 ? tf.scalar(0) : tf.addN(terms)) as tf.Scalar;
  });
}
