import * as tf from '@tensorflow/tfjs';
import { Prior } from '../prior/prior';
import { AlignLossSettings, AlignTargets, alignmentTerm } from './align-loss';
import { installTrainingGradients } from './gradients';
import { DEFAULT_OPTIMIZER, FusedAdam, learningRate, OptimizerConfig } from './optimizer';

/**
 * Training a prior as the reference's `train.py` does with `SimplePrior.z_forward`: the loss is
 * bits per music token plus prime_loss_fraction × bits per lyric token, weighted by their
 * lengths; gradients clipped by their global norm; apex-style Adam with linear warm-up. With
 * `alignLoss` (not the reference's), the guided alignment term of align-loss.ts is added.
 */

/** One training batch as host arrays (row-major), ready to split into micro-batches. */
export interface PriorBatch {
  /** Rows. */
  items: number;
  /** Music tokens of each window, `[items × n_ctx]`. */
  z: Int32Array;
  /** The level above's tokens for each window, `[items × n_ctx / cond_downsample]` (upsamplers). */
  zCond: Int32Array | null;
  /** Label rows (`Prior.getY`), `[items × label columns]`, or null for a prior without labels. */
  y: Int32Array | null;
  /** Guided alignment targets of the rows (see align-loss.ts); absent or null: none. */
  align?: AlignTargets | null;
}

/** One step's numbers. `bpd` is the reference's name for bits per music token. */
export type PriorStepMetrics = {
  step: number; loss: number; bpd: number; prime_loss: number; gn: number; lr: number;
  /** The guided alignment term (unweighted) when `--align-loss` is on and the batch had targets. */
  align_loss?: number;
};

/** A micro-batch's loss terms and gradients as host arrays (what a worker thread sends back). */
export interface PriorMicroBatchResult {
  loss: number;
  genLoss: number;
  primeLoss: number;
  /** The guided alignment term's share of the batch mean (null: not computed). */
  alignLoss: number | null;
  grads: Record<string, Float32Array>;
}

/**
 * The reference's training loss of `prior` on `z` and its gradient with respect to every
 * parameter (keyed by state-dict name). With `align` (settings and targets), the loss also holds
 * weight × the guided alignment term of the alignment head's attention, recorded in the same
 * pass and so inside the tape (the recorded probabilities are the softmax's own output, not a
 * copy). The caller disposes the gradients.
 */
export function priorLossAndGrads(
  prior: Prior,
  z: tf.Tensor2D,
  cond: { y?: tf.Tensor2D | null; zConds?: tf.Tensor2D[] | null },
  align?: { settings: AlignLossSettings; targets: AlignTargets },
): { loss: number; genLoss: number; primeLoss: number; alignLoss: number | null; grads: Map<string, tf.Tensor> } {
  installTrainingGradients();
  const names = [...prior.spec.keys()];
  let terms: { genLoss: tf.Scalar; primeLoss: tf.Scalar; alignLoss: tf.Scalar | null } | undefined;
  let attention: Map<number, tf.Tensor> | undefined;
  try {
    const { value, grads } = tf.valueAndGrads(() => {
      const recordAttention = align === undefined ? undefined : new Set([align.settings.layer]);
      const t = prior.lossTerms(z, { y: cond.y, zConds: cond.zConds, differentiable: true, recordAttention });
      attention = t.attention;
      let alignLoss: tf.Scalar | null = null;
      let loss = t.loss;
      if (align !== undefined) {
        const w = attention?.get(align.settings.layer);
        if (w === undefined) throw new Error(`align loss: layer ${align.settings.layer} recorded no attention`);
        alignLoss = alignmentTerm(w, align.settings.head, align.targets);
        loss = tf.add(loss, tf.mul(alignLoss, align.settings.weight));
      }
      terms = { genLoss: tf.keep(t.genLoss), primeLoss: tf.keep(t.primeLoss), alignLoss: alignLoss === null ? null : tf.keep(alignLoss) };
      return loss;
    })(names.map((name) => prior.weights.get(name)));
    const out = {
      loss: value.dataSync()[0],
      genLoss: terms!.genLoss.dataSync()[0],
      primeLoss: terms!.primeLoss.dataSync()[0],
      alignLoss: terms!.alignLoss === null ? null : terms!.alignLoss.dataSync()[0],
      grads: new Map(names.map((name, i) => [name, grads[i]])),
    };
    tf.dispose(value);
    return out;
  } finally {
    // Kept by the recording pass (and by the tape's backward pass): freed only now.
    if (terms) tf.dispose([terms.genLoss, terms.primeLoss, ...(terms.alignLoss === null ? [] : [terms.alignLoss])]);
    if (attention) tf.dispose([...attention.values()]);
  }
}

/** Rows [from, from + items) of a batch. */
function rows(batch: PriorBatch, from: number, items: number): PriorBatch {
  const part = <A extends Int32Array | Uint8Array>(a: A | null): A | null => (a === null ? null : (a.slice((from * a.length) / batch.items, ((from + items) * a.length) / batch.items) as A));
  // The batch's targeted tokens per row stay the batch's: shares of the batch then sum to its mean.
  const align = batch.align ? { targets: part(batch.align.targets)!, tokensPerRow: batch.align.tokensPerRow } : null;
  return { items, z: part(batch.z)!, zCond: part(batch.zCond), y: part(batch.y), align };
}

/**
 * One micro-batch's loss and gradients, as host arrays. Every loss term is a mean over the
 * micro-batch's rows, so micro-batches combine exactly when weighted by their share of the batch.
 * `alignLoss`: add the guided alignment term where the batch has targets.
 */
export function priorMicroBatch(prior: Prior, batch: PriorBatch, alignLoss?: AlignLossSettings): PriorMicroBatchResult {
  return withBatchTensors(batch, (z, y, zConds) => {
    const align = alignLoss === undefined || !batch.align ? undefined : { settings: alignLoss, targets: batch.align };
    const r = priorLossAndGrads(prior, z, { y, zConds }, align);
    const grads: Record<string, Float32Array> = {};
    for (const [name, g] of r.grads) grads[name] = g.dataSync() as Float32Array;
    tf.dispose([...r.grads.values()]);
    return { loss: r.loss, genLoss: r.genLoss, primeLoss: r.primeLoss, alignLoss: r.alignLoss, grads };
  });
}

/** `use` of a batch's host arrays as tensors (`[items, columns]` each), disposed after it. */
function withBatchTensors<T>(batch: PriorBatch, use: (z: tf.Tensor2D, y: tf.Tensor2D | null, zConds: tf.Tensor2D[] | null) => T): T {
  const n = batch.items;
  const z = tf.tensor2d(batch.z, [n, batch.z.length / n], 'int32');
  const zConds = batch.zCond === null ? null : [tf.tensor2d(batch.zCond, [n, batch.zCond.length / n], 'int32')];
  const y = batch.y === null ? null : tf.tensor2d(batch.y, [n, batch.y.length / n], 'int32');
  try {
    return use(z, y, zConds);
  } finally {
    tf.dispose([z, y, ...(zConds ?? [])].filter((t) => t !== null) as tf.Tensor[]);
  }
}

/** A batch's held-out numbers (`priorBatchScore`). */
export interface PriorBatchScore {
  /** Bits per music token, the mean over the batch's rows. */
  genLoss: number;
  /** Bits per lyric token (0 without a lyrics encoder), the mean over the rows. */
  primeLoss: number;
  /** The guided alignment term summed over the batch's targeted tokens, and their count (0: none). */
  alignSum: number;
  alignTokens: number;
}

/**
 * The teacher-forced loss terms of a batch, without gradients: what a save scores on the held-out
 * windows. With `align`, also the guided alignment term of its head's recorded attention, where
 * the batch has targets.
 */
export function priorBatchScore(prior: Prior, batch: PriorBatch, align?: AlignLossSettings): PriorBatchScore {
  const targets = align !== undefined && batch.align ? batch.align : null;
  const r = withBatchTensors(batch, (z, y, zConds) => prior.forward(z, { y, zConds, recordAttention: targets === null ? undefined : new Set([align!.layer]) }));
  let alignSum = 0;
  let alignTokens = 0;
  if (r.attention) {
    const term = alignmentTerm(r.attention.get(align!.layer)!, align!.head, targets!);
    alignTokens = targets!.tokensPerRow * batch.items;
    alignSum = term.dataSync()[0] * alignTokens;
    tf.dispose([term, ...r.attention.values()]);
  }
  return { genLoss: r.genLoss, primeLoss: r.primeLoss, alignSum, alignTokens };
}

/**
 * Computes micro-batches (and held-out scores) somewhere else (worker threads); results must be
 * `priorMicroBatch`'s (and `priorBatchScore`'s) up to float32 rounding.
 */
export interface PriorMicroBatchRunner {
  readonly size: number;
  setWeights(prior: Prior): Promise<void>;
  microBatch(slot: number, batch: PriorBatch, alignLoss?: AlignLossSettings): Promise<PriorMicroBatchResult>;
  score(slot: number, batch: PriorBatch, align?: AlignLossSettings): Promise<PriorBatchScore>;
}

/**
 * Trains one prior in place: its WeightMap holds the current weights after every step, so
 * `prior.forward` and sampling always see them.
 */
export class PriorTrainer {
  readonly config: OptimizerConfig;
  readonly optimizer: FusedAdam;
  /** Steps taken (the next step's 0-based index). */
  step = 0;
  /** Batch rows per gradient tape (memory grows with it; results do not depend on it). Default 1. */
  microBatch = 1;
  /** Where micro-batches run when set (see `PriorWorkerPool`). */
  runner?: PriorMicroBatchRunner;
  /** The guided alignment loss (align-loss.ts), off when unset: the reference's procedure. */
  alignLoss?: AlignLossSettings;
  private gradSums?: Map<string, Float64Array>;

  constructor(readonly prior: Prior, config: Partial<OptimizerConfig> = {}) {
    this.config = { ...DEFAULT_OPTIMIZER, ...config };
    this.optimizer = new FusedAdam(this.config);
  }

  /**
   * Loss terms and gradients of a batch, summed over micro-batches in order in float64, so they
   * do not depend on the micro-batch size or on the runner. The caller disposes `grads`.
   */
  async lossAndGrads(batch: PriorBatch): Promise<{ loss: number; genLoss: number; primeLoss: number; alignLoss: number | null; grads: Map<string, tf.Tensor> }> {
    const jobs: PriorBatch[] = [];
    for (let from = 0; from < batch.items; from += this.microBatch) jobs.push(rows(batch, from, Math.min(this.microBatch, batch.items - from)));
    const { runner } = this;
    // One float64 sum per parameter, kept across steps (a prior's worth of them is tens of MB).
    const sums = (this.gradSums ??= new Map([...this.prior.spec.keys()].map((name) => [name, new Float64Array(this.prior.weights.get(name).size)])));
    for (const acc of sums.values()) acc.fill(0);
    const total = { loss: 0, genLoss: 0, primeLoss: 0, alignLoss: null as number | null };
    const add = (r: PriorMicroBatchResult, job: PriorBatch) => {
      const share = job.items / batch.items;
      total.loss += share * r.loss;
      total.genLoss += share * r.genLoss;
      total.primeLoss += share * r.primeLoss;
      if (r.alignLoss !== null) total.alignLoss = (total.alignLoss ?? 0) + share * r.alignLoss;
      for (const [name, g] of Object.entries(r.grads)) {
        const acc = sums.get(name)!;
        for (let k = 0; k < g.length; k++) acc[k] += share * g[k];
      }
    };
    if (runner) {
      await runner.setWeights(this.prior);
      // Results are added in micro-batch order as soon as the ones before them are in, so the
      // main thread sums while the workers compute the later micro-batches.
      const arrived: (PriorMicroBatchResult | undefined)[] = [];
      let next = 0;
      await Promise.all(jobs.map(async (job, i) => {
        arrived[i] = await runner.microBatch(i % runner.size, job, this.alignLoss);
        for (; next < jobs.length && arrived[next] !== undefined; next++) {
          add(arrived[next]!, jobs[next]);
          arrived[next] = undefined;
        }
      }));
    } else {
      for (const job of jobs) add(priorMicroBatch(this.prior, job, this.alignLoss), job);
    }
    const grads = new Map([...this.prior.spec.keys()].map((name) => [name, tf.tensor(new Float32Array(sums.get(name)!), this.prior.weights.get(name).shape)]));
    return { ...total, grads };
  }

  /** One step: loss and gradients, the reference's clipping scale, and the Adam update. */
  async trainStep(batch: PriorBatch): Promise<PriorStepMetrics> {
    const { loss, genLoss, primeLoss, alignLoss, grads } = await this.lossAndGrads(batch);
    const gradNorm = Math.sqrt([...grads.values()].reduce((acc, g) => acc + tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]), 0));
    const scale = Math.max(1, gradNorm / this.config.clip);
    const lr = learningRate(this.config, this.step);
    const params = new Map([...this.prior.spec.keys()].map((name) => [name, this.prior.weights.get(name)]));
    const updated = this.optimizer.update(params, grads, lr, scale);
    for (const [name, t] of updated) this.prior.weights.set(name, t);
    tf.dispose([...grads.values()]);
    const metrics: PriorStepMetrics = { step: this.step, loss, bpd: genLoss, prime_loss: primeLoss, gn: gradNorm, lr };
    if (alignLoss !== null) metrics.align_loss = alignLoss;
    this.step += 1;
    return metrics;
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
