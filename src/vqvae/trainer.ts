import * as tf from '@tensorflow/tfjs';
import { convergence, spectrogramDistance } from '../metrics/spectral';
import { DEFAULT_STFT, MULTISPECTRAL_STFTS, stftMagnitude } from '../metrics/stft';
import { Rng } from '../rng';
import { CodebookEMA, CodebookMetrics } from './codebook-ema';
import { Bandwidth, JUKEBOX_LMIX, l1Loss, l2Loss, linfLoss, lmixLoss, LmixWeights } from './losses';
import { installTrainingGradients } from '../train/gradients';
import { DEFAULT_OPTIMIZER, FusedAdam, learningRate, OptimizerConfig } from '../train/optimizer';
import { VQVAE } from './vqvae';
import type { VQVAEWorkerPool } from './worker-pool';

/** Loss weights and codebook options of a training run, named as the reference's hps. */
export interface TrainConfig extends OptimizerConfig {
  /** Weight of the single-resolution spectral loss. Reference `spectral`; default 0. */
  spectral: number;
  /** Weight of the multi-scale spectral loss. Reference `multispectral`; default 1. */
  multispectral: number;
  /** Reconstruction loss weights. Reference `lmix_*`, `linf_k`; default L2 + 0.02 × top-2048 L-inf. */
  lmix: LmixWeights;
  /** Restart codes whose EMA usage falls below `revival_threshold`. Default true. */
  restarts: boolean;
  /** Reference `revival_threshold`; default 1.0. */
  revival_threshold: number;
  /**
   * Quantise the latents (default true). False trains plain autoencoders, the paper's "no
   * quantisation" row of Table 2: the decoder reads the encoder's latents and the commit loss is
   * left out; the codebooks still follow the latents by EMA, so their metrics stay comparable.
   */
  quantise: boolean;
}

export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = {
  ...DEFAULT_OPTIMIZER,
  spectral: 0,
  multispectral: 1,
  lmix: JUKEBOX_LMIX,
  restarts: true,
  revival_threshold: 1.0,
  quantise: true,
};

/** One step's numbers, keyed as the reference logs them (level L is suffix `_l{L+1}`). */
export type StepMetrics = Record<string, number>;

/** What the training forward pass leaves for the codebook update and metrics, per level. */
export interface LevelOutputs {
  /** Pre-quantisation latents, row-major [B·T_L × emb_width]. */
  latents: Float32Array;
  /** The code of each latent, [B·T_L]. */
  codes: Int32Array;
  /** The level's reconstruction, row-major [B × T]. */
  decoded: Float32Array;
}

/** One micro-batch's share of a training step, per level, as host arrays. */
export interface MicroBatchResult {
  levels: (LevelOutputs & { loss: number; grads: Record<string, Float32Array>; scalars: Record<string, number> })[];
}

/**
 * The straight-through estimator (van den Oord et al. 2017): forwards the quantised vector, and
 * passes the gradient on to the encoder output as if quantisation were the identity. The
 * reference writes it `x + (x_q − x).detach()`; tfjs has no detach, so the gradient is stated.
 */
const straightThrough = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [, quantised] = args as [tf.Tensor, tf.Tensor];
  return { value: tf.clone(quantised), gradFunc: (dy: tf.Tensor) => [dy, tf.zerosLike(dy)] };
});

/**
 * Trains a VQ-VAE as the reference's `VQVAE.forward` + `train.py` do: all levels at once,
 * loss = Σ_L lmix + spectral·Σ spectral + multispectral·Σ multi-scale spectral + commit·Σ commit,
 * each normalised by the data's bandwidth; Adam with the reference's schedule and clipping;
 * codebooks by EMA with random restarts. The model's weights are replaced in its WeightMap after
 * every step, so `model.encode` and friends always see the current weights.
 */
export class VQVAETrainer {
  readonly config: TrainConfig;
  readonly codebooks: CodebookEMA[];
  readonly optimizer: FusedAdam;
  /** Steps taken (the next step's 0-based index). */
  step = 0;
  /** Names of the parameters gradients update: every conv weight and bias (not the codebooks). */
  readonly trainable: string[];
  /**
   * Batch items per gradient tape. The gradients are the same for any value; smaller values use
   * less memory. Default 1.
   */
  microBatch = 1;
  /** Worker threads to compute micro-batches on (see `VQVAEWorkerPool.startTraining`). */
  pool?: VQVAEWorkerPool;

  constructor(
    readonly model: VQVAE,
    readonly bandwidth: Bandwidth,
    readonly rng: Rng,
    config: Partial<TrainConfig> = {},
  ) {
    // The training kernels (heap matrix products and 1-D convs, conv filter gradients, host
    // copies; src/train/gradients.ts) for this process, as prior training installs them: the
    // step's CPU time falls by a fifth. Pool workers construct a trainer too, so they get them.
    installTrainingGradients();
    this.config = { ...DEFAULT_TRAIN_CONFIG, ...config };
    const c = model.config;
    this.codebooks = Array.from({ length: c.levels }, () => new CodebookEMA(c.l_bins, c.emb_width, c.l_mu, this.config.revival_threshold, this.config.restarts));
    const codebookNames = new Set(model.bottleneck.map((b) => b.codebook));
    this.trainable = [...model.spec.keys()].filter((name) => !codebookNames.has(name));
    this.optimizer = new FusedAdam(this.config);
  }

  /**
   * The reference's `restore_k` for every level: continue EMA training from the model's current
   * codebooks, as when training resumes from a published checkpoint.
   */
  restoreCodebooks(numTokens?: number[]): void {
    this.model.bottleneck.forEach((b, level) =>
      this.codebooks[level].restore(this.model.weights.get(b.codebook).dataSync() as Float32Array, numTokens?.[level]),
    );
  }

  /** `init_k` for levels whose codebook has no EMA state yet: random latents of this batch. */
  private initialiseCodebooks(x: tf.Tensor2D): void {
    const [batch, length] = x.shape;
    this.model.bottleneck.forEach((b, level) => {
      if (this.codebooks[level].initialised) return;
      const latents = tf.tidy(() => this.model.encodeLatents(x.reshape([batch, length, 1]) as tf.Tensor3D, level).reshape([-1, this.model.config.emb_width]));
      const k = this.codebooks[level].initialise(latents.dataSync() as Float32Array, this.rng);
      latents.dispose();
      this.model.weights.set(b.codebook, tf.tensor2d(k, [this.model.config.l_bins, this.model.config.emb_width]));
    });
  }

  /**
   * One level's training forward pass on a micro-batch `x` [b, T], on the gradient tape: the
   * level's loss (lmix + multispectral·multi-scale spectral + spectral·spectral + commit·commit),
   * its per-level metrics, and what the codebook update needs. `targets` are the input's
   * spectrograms, the same for every level.
   */
  private levelForward(x: tf.Tensor2D, level: number, targets: { spectrum: tf.Tensor3D; multi: tf.Tensor3D[] }) {
    const { model, bandwidth: bw, config } = this;
    const [batch, length] = x.shape;
    const w = model.weights;
    const width = model.config.emb_width;
    const latents = model.encoders[level].apply(w, x.reshape([batch, length, 1]) as tf.Tensor3D).reshape([-1, width]) as tf.Tensor2D;
    const k = w.get(model.bottleneck[level].codebook) as tf.Tensor2D;
    const score = tf.sub(tf.matMul(latents, k.transpose()), tf.mul(0.5, tf.sum(tf.square(k), 1))); // x·k − |k|²/2
    // The codes are rebuilt from their values so the tape stops here: the code choice has no
    // gradient, and tfjs cannot differentiate gather with respect to its indices.
    const codes = tf.tensor1d(tf.argMax(score, 1).dataSync() as Int32Array, 'int32');
    const quantised = tf.gather(k, codes);
    const decoded = model.decoders[level]
      .apply(w, (config.quantise ? (straightThrough(latents, quantised) as tf.Tensor2D) : latents).reshape([batch, -1, width]) as tf.Tensor3D)
      .reshape([batch, length]) as tf.Tensor2D;
    const spectrum = stftMagnitude(decoded, DEFAULT_STFT);
    const multi = tf.addN(MULTISPECTRAL_STFTS.map((s, i) => spectrogramDistance(targets.multi[i], stftMagnitude(decoded, s))));
    const scalars = {
      recons_loss: lmixLoss(x, decoded, bw, config.lmix),
      multispectral_loss: tf.div(tf.mean(multi), MULTISPECTRAL_STFTS.length * bw.spec) as tf.Scalar,
      spectral_loss: tf.div(tf.mean(spectrogramDistance(targets.spectrum, spectrum)), bw.spec) as tf.Scalar,
      spectral_convergence: tf.mean(convergence(targets.spectrum, spectrum)) as tf.Scalar,
      commit_loss: tf.div(tf.sum(tf.square(tf.sub(quantised, latents))), latents.size) as tf.Scalar,
      // Mean squared distance of each latent to its code.
      fit: tf.mean(tf.sub(tf.sum(tf.square(latents), 1), tf.mul(2, tf.max(score, 1)))) as tf.Scalar,
    };
    let loss = tf.add(scalars.recons_loss, tf.mul(config.multispectral, scalars.multispectral_loss));
    if (config.spectral !== 0) loss = tf.add(loss, tf.mul(config.spectral, scalars.spectral_loss));
    if (config.quantise) loss = tf.add(loss, tf.mul(model.config.commit, scalars.commit_loss)) as tf.Scalar;
    return { loss: loss as tf.Scalar, output: { latents, codes, decoded }, scalars };
  }

  /**
   * One micro-batch's share of a step (`x`: `items` clips of `length` samples, row-major): for
   * each level, on its own gradient tape, the loss, the gradient of every level parameter, the
   * per-level metrics and what the codebook update needs, all as host arrays so the work can run
   * on a worker thread. tfjs keeps every tensor of a tape until its backward pass ends; one tape
   * per level of a micro-batch bounds that memory.
   */
  microBatchGradients(x: Float32Array, items: number, length: number): MicroBatchResult {
    const { model } = this;
    const xb = tf.tensor2d(x, [items, length]);
    const targets = tf.tidy(() => ({ spectrum: stftMagnitude(xb, DEFAULT_STFT), multi: MULTISPECTRAL_STFTS.map((s) => stftMagnitude(xb, s)) }));
    const levels = model.allLevels().map((level) => {
      const names = this.trainable.filter((name) => name.startsWith(`encoders.${level}.`) || name.startsWith(`decoders.${level}.`));
      let kept: ReturnType<VQVAETrainer['levelForward']> | undefined;
      const result = tf.valueAndGrads(() => {
        kept = this.levelForward(xb, level, targets);
        tf.keep(kept.output.latents), tf.keep(kept.output.codes), tf.keep(kept.output.decoded);
        for (const t of Object.values(kept.scalars)) tf.keep(t);
        return kept.loss;
      })(names.map((name) => model.weights.get(name)));
      const { output, scalars } = kept!;
      const out = {
        loss: result.value.dataSync()[0],
        grads: Object.fromEntries(names.map((name, i) => [name, result.grads[i].dataSync() as Float32Array])),
        scalars: Object.fromEntries(Object.entries(scalars).map(([key, t]) => [key, t.dataSync()[0]])),
        latents: output.latents.dataSync() as Float32Array,
        codes: output.codes.dataSync() as Int32Array,
        decoded: output.decoded.dataSync() as Float32Array,
      };
      tf.dispose([result.value, ...result.grads, output.latents, output.codes, output.decoded, ...Object.values(scalars)]);
      return out;
    });
    tf.dispose([xb, targets.spectrum, ...targets.multi]);
    return { levels };
  }

  /**
   * Computes the loss and gradients for a batch without changing anything: what `trainStep`
   * applies. The loss is a sum over levels of means over batch items, so the batch is split into
   * micro-batches of `microBatch` items whose gradients add up (weighted by their share); with a
   * `pool`, micro-batches run on its worker threads. Results are summed in micro-batch order, so
   * they do not depend on the pool. The caller disposes `grads`.
   */
  async lossAndGrads(x: tf.Tensor2D): Promise<{ loss: number; grads: Map<string, tf.Tensor>; levels: LevelOutputs[]; metrics: StepMetrics }> {
    this.initialiseCodebooks(x);
    const { model, pool } = this;
    const [batch, length] = x.shape;
    const levels = model.config.levels;
    const data = x.dataSync() as Float32Array;
    const jobs: { start: number; items: number }[] = [];
    for (let start = 0; start < batch; start += this.microBatch) jobs.push({ start, items: Math.min(this.microBatch, batch - start) });
    const slice = (j: { start: number; items: number }) => data.slice(j.start * length, (j.start + j.items) * length);
    let results: MicroBatchResult[];
    if (pool) {
      await pool.setWeights(model);
      results = await Promise.all(jobs.map((j, i) => pool.microBatch(i, slice(j), j.items, length)));
    } else {
      results = jobs.map((j) => this.microBatchGradients(slice(j), j.items, length));
    }
    const gradSums = new Map<string, Float64Array>();
    const sums: Record<string, number> = {};
    let loss = 0;
    results.forEach((r, i) => {
      const share = jobs[i].items / batch; // every item weighs the same in the batch means
      r.levels.forEach((l, level) => {
        loss += share * l.loss;
        for (const [name, g] of Object.entries(l.grads)) {
          let acc = gradSums.get(name);
          if (acc === undefined) gradSums.set(name, (acc = new Float64Array(g.length)));
          for (let k = 0; k < g.length; k++) acc[k] += share * g[k];
        }
        for (const [key, v] of Object.entries(l.scalars)) sums[`${key}_l${level + 1}`] = (sums[`${key}_l${level + 1}`] ?? 0) + share * v;
      });
    });
    const grads = new Map(this.trainable.map((name) => [name, tf.tensor(Float32Array.from(gradSums.get(name)!), model.weights.get(name).shape)]));
    const concat = <T extends Float32Array | Int32Array>(parts: T[]): T => {
      const whole = new (parts[0].constructor as { new (n: number): T })(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((offset, p) => (whole.set(p, offset), offset + p.length), 0);
      return whole;
    };
    const levelOutputs: LevelOutputs[] = model.allLevels().map((level) => ({
      latents: concat(results.map((r) => r.levels[level].latents)),
      codes: concat(results.map((r) => r.levels[level].codes)),
      decoded: concat(results.map((r) => r.levels[level].decoded)),
    }));
    const metrics: StepMetrics = { loss, ...sums };
    const total = (key: string) => Array.from({ length: levels }, (_, l) => sums[`${key}_l${l + 1}`]).reduce((a, b) => a + b, 0);
    for (const key of ['recons_loss', 'spectral_loss', 'multispectral_loss', 'commit_loss']) metrics[key] = total(key);
    metrics.fit = total('fit') / levels;
    metrics.spectral_convergence = sums.spectral_convergence_l1;
    tf.tidy(() => {
      const bw = this.bandwidth;
      // Prenorm (RMS of the centred latents) over the whole batch, and the reference's level-0
      // reconstruction errors.
      levelOutputs.forEach((o, level) => {
        const latents = tf.tensor1d(o.latents);
        metrics[`pn_l${level + 1}`] = tf.div(tf.norm(tf.sub(latents, tf.mean(latents))), Math.sqrt(latents.size)).dataSync()[0];
      });
      metrics.pn = levelOutputs.reduce((acc, _o, level) => acc + metrics[`pn_l${level + 1}`], 0) / levels;
      const level0 = tf.tensor2d(levelOutputs[0].decoded, [batch, length]);
      metrics.l2_loss = l2Loss(x, level0, bw).dataSync()[0];
      metrics.l1_loss = l1Loss(x, level0, bw).dataSync()[0];
      metrics.linf_loss = linfLoss(x, level0, bw, this.config.lmix.linfK).dataSync()[0];
    });
    return { loss, grads, levels: levelOutputs, metrics };
  }

  /**
   * One training step on `x` [B, T] (audio in [-1, 1] at the model's rate): forward, backward,
   * clipped Adam update, then the codebook EMA update and restarts. Returns the step's metrics.
   */
  async trainStep(x: tf.Tensor2D): Promise<StepMetrics> {
    const { grads, levels, metrics } = await this.lossAndGrads(x);
    // Global gradient norm and the reference's clipping scale.
    const gradNorm = Math.sqrt([...grads.values()].reduce((acc, g) => acc + tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]), 0));
    const scale = Math.max(1, gradNorm / this.config.clip);
    const lr = learningRate(this.config, this.step);
    const params = new Map(this.trainable.map((name) => [name, this.model.weights.get(name)]));
    const updated = this.optimizer.update(params, grads, lr, scale);
    for (const [name, t] of updated) this.model.weights.set(name, t);
    for (const g of grads.values()) g.dispose();
    // Codebooks: the EMA of this batch's assignments, made with the codebooks the batch saw.
    const perLevel: CodebookMetrics[] = levels.map((l, level) => {
      const name = this.model.bottleneck[level].codebook;
      const kOld = this.model.weights.get(name).dataSync() as Float32Array;
      const { k, metrics: m } = this.codebooks[level].update(kOld, l.latents, l.codes, this.rng);
      this.model.weights.set(name, tf.tensor2d(k, [this.model.config.l_bins, this.model.config.emb_width]));
      return m;
    });
    for (const key of ['entropy', 'used_curr', 'usage', 'dk'] as const) {
      perLevel.forEach((m, level) => (metrics[`${key}_l${level + 1}`] = m[key]));
      metrics[key] = perLevel.reduce((acc, m) => acc + m[key], 0) / perLevel.length;
    }
    metrics.gn = gradNorm;
    metrics.lr = lr;
    metrics.step = this.step;
    this.step += 1;
    return metrics;
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

