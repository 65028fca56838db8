import * as tf from '@tensorflow/tfjs';
import { convergence, spectrogramDistance } from '../metrics/spectral';
import { DEFAULT_STFT, MULTISPECTRAL_STFTS, stftMagnitude } from '../metrics/stft';
import { Rng } from '../rng';
import { CodebookEMA, CodebookMetrics } from './codebook-ema';
import { Bandwidth, JUKEBOX_LMIX, l1Loss, l2Loss, linfLoss, lmixLoss, LmixWeights } from './losses';
import { DEFAULT_OPTIMIZER, FusedAdam, learningRate, OptimizerConfig } from './optimizer';
import { VQVAE } from './vqvae';

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
}

export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = {
  ...DEFAULT_OPTIMIZER,
  spectral: 0,
  multispectral: 1,
  lmix: JUKEBOX_LMIX,
  restarts: true,
  revival_threshold: 1.0,
};

/** One step's numbers, keyed as the reference logs them (level L is suffix `_l{L+1}`). */
export type StepMetrics = Record<string, number>;

/** What the training forward pass leaves for the codebook update, per level. */
interface LevelOutputs {
  latents: tf.Tensor2D; // [B·T_L, emb_width]
  codes: tf.Tensor1D; // [B·T_L]
  decoded: tf.Tensor2D; // [B, T]
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

  constructor(
    readonly model: VQVAE,
    readonly bandwidth: Bandwidth,
    readonly rng: Rng,
    config: Partial<TrainConfig> = {},
  ) {
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
   * The training forward pass on `x` [B, T]: returns the loss (a scalar on the gradient tape),
   * the kept per-level outputs and the metrics that are cheap to have as tensors.
   */
  private forward(x: tf.Tensor2D): { loss: tf.Scalar; levels: LevelOutputs[]; scalars: Record<string, tf.Scalar> } {
    const { model, bandwidth: bw, config } = this;
    const [batch, length] = x.shape;
    const w = model.weights;
    const width = model.config.emb_width;
    const x3 = x.reshape([batch, length, 1]) as tf.Tensor3D;
    const levels: LevelOutputs[] = [];
    const scalars: Record<string, tf.Scalar> = {};
    const recons: tf.Scalar[] = [];
    const multispec: tf.Scalar[] = [];
    const spec: tf.Scalar[] = [];
    const commits: tf.Scalar[] = [];
    const fits: tf.Scalar[] = [];
    const prenorms: tf.Scalar[] = [];
    // The input's spectrograms are the same for every level: computed once per step.
    const targetSpectrum = stftMagnitude(x, DEFAULT_STFT);
    const targetMulti = MULTISPECTRAL_STFTS.map((s) => stftMagnitude(x, s));
    for (let level = 0; level < model.config.levels; level++) {
      const latents = model.encoders[level].apply(w, x3).reshape([-1, width]) as tf.Tensor2D;
      const k = w.get(model.bottleneck[level].codebook) as tf.Tensor2D;
      const score = tf.sub(tf.matMul(latents, k.transpose()), tf.mul(0.5, tf.sum(tf.square(k), 1))); // x·k − |k|²/2
      // The codes are rebuilt from their values so the tape stops here: the code choice has no
      // gradient, and tfjs cannot differentiate gather with respect to its indices.
      const codes = tf.tensor1d(tf.argMax(score, 1).dataSync() as Int32Array, 'int32');
      const quantised = tf.gather(k, codes);
      const numel = latents.size;
      commits.push(tf.div(tf.sum(tf.square(tf.sub(quantised, latents))), numel));
      // fit: mean squared distance to the chosen code; prenorm: RMS of the centred latents.
      fits.push(tf.mean(tf.sub(tf.sum(tf.square(latents), 1), tf.mul(2, tf.max(score, 1)))));
      prenorms.push(tf.div(tf.norm(tf.sub(latents, tf.mean(latents))), Math.sqrt(numel)));
      const st = straightThrough(latents, quantised) as tf.Tensor2D;
      const decoded = model.decoders[level].apply(w, st.reshape([batch, -1, width]) as tf.Tensor3D).reshape([batch, length]) as tf.Tensor2D;
      const tag = `_l${level + 1}`;
      scalars[`recons_loss${tag}`] = lmixLoss(x, decoded, bw, config.lmix);
      const multi = tf.div(tf.addN(MULTISPECTRAL_STFTS.map((s, i) => spectrogramDistance(targetMulti[i], stftMagnitude(decoded, s)))), MULTISPECTRAL_STFTS.length);
      scalars[`multispectral_loss${tag}`] = tf.div(tf.mean(multi), bw.spec);
      const spectrum = stftMagnitude(decoded, DEFAULT_STFT);
      scalars[`spectral_loss${tag}`] = tf.div(tf.mean(spectrogramDistance(targetSpectrum, spectrum)), bw.spec);
      scalars[`spectral_convergence${tag}`] = tf.mean(convergence(targetSpectrum, spectrum));
      recons.push(scalars[`recons_loss${tag}`]);
      multispec.push(scalars[`multispectral_loss${tag}`]);
      spec.push(scalars[`spectral_loss${tag}`]);
      levels.push({ latents, codes, decoded });
    }
    const commit = tf.addN(commits) as tf.Scalar;
    const reconsSum = tf.addN(recons) as tf.Scalar;
    const multispecSum = tf.addN(multispec) as tf.Scalar;
    const specSum = tf.addN(spec) as tf.Scalar;
    let loss = tf.add(reconsSum, tf.mul(config.multispectral, multispecSum)) as tf.Scalar;
    if (config.spectral !== 0) loss = tf.add(loss, tf.mul(config.spectral, specSum));
    loss = tf.add(loss, tf.mul(model.config.commit, commit));
    Object.assign(scalars, {
      recons_loss: reconsSum,
      spectral_loss: specSum,
      multispectral_loss: multispecSum,
      commit_loss: commit,
      spectral_convergence: tf.clone(scalars.spectral_convergence_l1),
      fit: tf.div(tf.addN(fits), fits.length),
      pn: tf.div(tf.addN(prenorms), prenorms.length),
    });
    return { loss, levels, scalars };
  }

  /** Metrics that need no gradient, computed from the kept outputs (as the reference's no_grad block). */
  private evalMetrics(x: tf.Tensor2D, levels: LevelOutputs[]): Record<string, tf.Scalar> {
    const bw = this.bandwidth;
    const out: Record<string, tf.Scalar> = {};
    // The reference reports these for the level-0 reconstruction.
    const level0 = levels[0].decoded;
    out.l2_loss = l2Loss(x, level0, bw);
    out.l1_loss = l1Loss(x, level0, bw);
    out.linf_loss = linfLoss(x, level0, bw, this.config.lmix.linfK);
    return out;
  }

  /**
   * Computes the loss and gradients for a batch without changing anything: what `step` applies.
   * The caller disposes the returned tensors (`grads`, and `levels` via `disposeOutputs`).
   */
  lossAndGrads(x: tf.Tensor2D): { loss: number; grads: Map<string, tf.Tensor>; levels: LevelOutputs[]; metrics: StepMetrics } {
    this.initialiseCodebooks(x);
    const params = this.trainable.map((name) => this.model.weights.get(name));
    let kept: { levels: LevelOutputs[]; scalars: Record<string, tf.Scalar> } | undefined;
    const { value, grads } = tf.valueAndGrads(() => {
      const out = this.forward(x);
      kept = { levels: out.levels, scalars: out.scalars };
      for (const l of out.levels) tf.keep(l.latents), tf.keep(l.codes), tf.keep(l.decoded);
      for (const s of Object.values(out.scalars)) tf.keep(s);
      return out.loss;
    })(params);
    const { levels, scalars } = kept!;
    const metrics: StepMetrics = { loss: value.dataSync()[0] };
    value.dispose();
    const evalScalars = tf.tidy(() => this.evalMetrics(x, levels));
    for (const [key, t] of Object.entries({ ...scalars, ...evalScalars })) {
      metrics[key] = t.dataSync()[0];
      t.dispose();
    }
    const gradMap = new Map(this.trainable.map((name, i) => [name, grads[i]]));
    return { loss: metrics.loss, grads: gradMap, levels, metrics };
  }

  /**
   * One training step on `x` [B, T] (audio in [-1, 1] at the model's rate): forward, backward,
   * clipped Adam update, then the codebook EMA update and restarts. Returns the step's metrics.
   */
  trainStep(x: tf.Tensor2D): StepMetrics {
    const { grads, levels, metrics } = this.lossAndGrads(x);
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
      const { k, metrics: m } = this.codebooks[level].update(kOld, l.latents.dataSync() as Float32Array, l.codes.dataSync() as Int32Array, this.rng);
      this.model.weights.set(name, tf.tensor2d(k, [this.model.config.l_bins, this.model.config.emb_width]));
      return m;
    });
    disposeOutputs(levels);
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

/** Frees the tensors `lossAndGrads` kept for the codebook update. */
export function disposeOutputs(levels: LevelOutputs[]): void {
  for (const l of levels) tf.dispose([l.latents, l.codes, l.decoded]);
}
