import * as tf from '@tensorflow/tfjs';
import { heapAdam } from './fast/heap-gemm';

/** Optimiser hyperparameters, named and defaulted as the reference's DEFAULTS["opt"]. */
export interface OptimizerConfig {
  /** Peak learning rate. Default 3e-4. */
  lr: number;
  /** Adam β1. Default 0.9. */
  beta1: number;
  /** Adam β2. Default 0.999. */
  beta2: number;
  /** Added to sqrt(v). Default 1e-8. */
  eps: number;
  /** L2 weight decay added to the update (apex FusedAdam style). Default 0. */
  weight_decay: number;
  /** Global gradient-norm clip: gradients are divided by max(1, norm / clip). Default 1.0. */
  clip: number;
  /** Linear warm-up length in steps: the step-s learning rate is scaled by min(1, s / lr_warmup). Default 100. */
  lr_warmup: number;
  /** Steps between decays by lr_gamma. Default 1e10 (never). */
  lr_decay: number;
  /** Decay factor. Default 1.0. */
  lr_gamma: number;
  /** Overall scale of the schedule. Default 1.0. */
  lr_scale: number;
}

export const DEFAULT_OPTIMIZER: Readonly<OptimizerConfig> = {
  lr: 3e-4,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weight_decay: 0,
  clip: 1.0,
  lr_warmup: 100,
  lr_decay: 1e10,
  lr_gamma: 1.0,
  lr_scale: 1.0,
};

/**
 * The learning rate of step `step` (0-based), as the reference's LambdaLR schedule gives it:
 * lr · scale · γ^⌊step/decay⌋ · min(1, step / warmup). Step 0 therefore has rate 0 (the first
 * update only primes Adam's moments), exactly as in the reference.
 */
export function learningRate(cfg: OptimizerConfig, step: number): number {
  return cfg.lr * cfg.lr_scale * cfg.lr_gamma ** Math.floor(step / cfg.lr_decay) * Math.min(1, step / cfg.lr_warmup);
}

/**
 * Adam as the reference runs it (apex `FusedAdam`, eps outside the square root, bias correction
 * folded into the step size): m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², with g the gradient
 * divided by the clipping scale, then p ← p − lr·sqrt(1−β2ᵗ)/(1−β1ᵗ) · (m / (sqrt(v) + eps) + wd·p).
 * Moments live in `m` and `v`, keyed by parameter name, so a checkpoint can save and restore them.
 */
export class FusedAdam {
  readonly m = new Map<string, tf.Tensor>();
  readonly v = new Map<string, tf.Tensor>();
  /** Updates taken so far (t in the bias corrections). */
  t = 0;

  constructor(readonly cfg: OptimizerConfig) {}

  /** Returns the updated parameters; the caller swaps them in and disposes the old ones. */
  update(params: Map<string, tf.Tensor>, grads: Map<string, tf.Tensor>, lr: number, scale: number): Map<string, tf.Tensor> {
    const { beta1, beta2, eps, weight_decay } = this.cfg;
    this.t += 1;
    const stepSize = (lr * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    const out = new Map<string, tf.Tensor>();
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (g === undefined) throw new Error(`no gradient for ${name}`);
      const [next, m, v] = tf.tidy(() => {
        const m0 = this.m.get(name) ?? tf.zerosLike(p);
        const v0 = this.v.get(name) ?? tf.zerosLike(p);
        // On wasm, one pass of the heap kernel computing the same float32 operations as below.
        const fused = heapAdam(p, g, m0, v0, { scale, beta1, beta2, eps, weightDecay: weight_decay, stepSize });
        if (fused !== null) return fused;
        const gs = scale === 1 ? g : tf.div(g, scale);
        const m1 = tf.add(tf.mul(m0, beta1), tf.mul(gs, 1 - beta1));
        const v1 = tf.add(tf.mul(v0, beta2), tf.mul(tf.square(gs), 1 - beta2));
        let update = tf.div(m1, tf.add(tf.sqrt(v1), eps));
        if (weight_decay) update = tf.add(update, tf.mul(p, weight_decay));
        return [tf.sub(p, tf.mul(update, stepSize)), m1, v1];
      });
      this.m.get(name)?.dispose();
      this.v.get(name)?.dispose();
      this.m.set(name, m);
      this.v.set(name, v);
      out.set(name, next);
    }
    return out;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
