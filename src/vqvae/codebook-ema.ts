import { Rng } from '../rng';

/** Per-level codebook statistics of one training step, named as the reference logs them. */
export interface CodebookMetrics {
  /** Entropy (nats) of this batch's code histogram. */
  entropy: number;
  /** Codes used at least `threshold` times in this batch. */
  used_curr: number;
  /** Codes whose EMA usage is at least `threshold` (the rest were restarted). */
  usage: number;
  /** RMS change of the codebook in this update. */
  dk: number;
}

/** The EMA state one level's codebook carries between steps (not part of the state dict). */
export interface CodebookEMAState {
  /** EMA of the sum of latents assigned to each code, [bins × width]. */
  kSum: Float32Array;
  /** EMA of how many latents each code received, [bins]. */
  kElem: Float32Array;
}

/**
 * Training of one level's codebook, as the reference's `BottleneckBlock` does it. From
 * van den Oord et al. (2017), "Neural Discrete Representation Learning", appendix A.1, and
 * Dhariwal et al. (2020), "Jukebox", section 3.3:
 * - the codebook is not learnt by gradients: each code is the exponential moving average (decay
 *   `mu`) of the latents assigned to it (sum and count tracked separately);
 * - it starts from random latents of the first batch (tiled with small noise when the batch has
 *   fewer latents than codes);
 * - random restarts: a code whose EMA count falls below `threshold` is replaced by a random latent
 *   of the current batch, so no code stays dead (switch off with `restarts: false`);
 * - the encoder gets its gradient through the straight-through estimator and the commit loss,
 *   which the training forward pass computes (see `trainer.ts`).
 *
 * All arithmetic is in float32 on host arrays: it is a scatter-add and a few vector operations.
 */
export class CodebookEMA {
  state: CodebookEMAState | null = null;

  constructor(
    readonly bins: number,
    readonly width: number,
    readonly mu = 0.99,
    readonly threshold = 1.0,
    readonly restarts = true,
  ) {}

  get initialised(): boolean {
    return this.state !== null;
  }

  /**
   * `bins` random rows of the latents `x` [N × width]; when N < bins the latents are tiled and
   * jittered with noise of std 0.01/sqrt(width), as the reference's `_tile`.
   */
  private randomLatents(x: Float32Array, rng: Rng): Float32Array {
    const n = x.length / this.width;
    const repeats = n < this.bins ? Math.ceil(this.bins / n) : 1;
    const noiseStd = repeats > 1 ? 0.01 / Math.sqrt(this.width) : 0;
    const rows = rng.permutation(n * repeats, this.bins);
    const out = new Float32Array(this.bins * this.width);
    rows.forEach((row, i) => {
      const src = (row % n) * this.width;
      for (let c = 0; c < this.width; c++) {
        out[i * this.width + c] = x[src + c] + (noiseStd > 0 ? noiseStd * rng.normal() : 0);
      }
    });
    return out;
  }

  /** `init_k`: a codebook of random latents of the first batch; returns it. */
  initialise(x: Float32Array, rng: Rng): Float32Array {
    const k = this.randomLatents(x, rng);
    this.state = { kSum: k.slice(), kElem: new Float32Array(this.bins).fill(1) };
    return k;
  }

  /**
   * `restore_k`: continue training from an existing codebook `k`, as if each code had been used
   * `numTokens / bins` times (1 when not given).
   */
  restore(k: Float32Array, numTokens?: number): void {
    const expected = numTokens === undefined ? 1 : numTokens / this.bins;
    this.state = { kSum: k.map((v) => v * expected), kElem: new Float32Array(this.bins).fill(expected) };
  }

  /**
   * `update_k`: folds one batch's assignments (`codes` for latents `x` [N × width]) into the EMAs
   * and returns the new codebook with the step's metrics. `kOld` is the codebook the batch was
   * quantised with.
   */
  update(kOld: Float32Array, x: Float32Array, codes: Int32Array, rng: Rng): { k: Float32Array; metrics: CodebookMetrics } {
    if (this.state === null) throw new Error('CodebookEMA.update before initialise or restore');
    const { bins, width, mu } = this;
    const batchSum = new Float32Array(bins * width);
    const batchElem = new Float32Array(bins);
    codes.forEach((code, i) => {
      batchElem[code] += 1;
      for (let c = 0; c < width; c++) batchSum[code * width + c] += x[i * width + c];
    });
    const random = this.randomLatents(x, rng);
    const { kSum, kElem } = this.state;
    const k = new Float32Array(bins * width);
    let usage = 0;
    for (let j = 0; j < bins; j++) {
      kElem[j] = mu * kElem[j] + (1 - mu) * batchElem[j];
      const used = kElem[j] >= this.threshold;
      if (used) usage++;
      for (let c = 0; c < width; c++) {
        const i = j * width + c;
        kSum[i] = mu * kSum[i] + (1 - mu) * batchSum[i];
        k[i] = used || !this.restarts ? kSum[i] / kElem[j] : random[i];
      }
    }
    const total = codes.length;
    let entropy = 0;
    let usedCurr = 0;
    let change = 0;
    for (let j = 0; j < bins; j++) {
      const p = batchElem[j] / total;
      entropy -= p * Math.log(p + 1e-8);
      if (batchElem[j] >= this.threshold) usedCurr++;
    }
    for (let i = 0; i < k.length; i++) change += (k[i] - kOld[i]) ** 2;
    return { k, metrics: { entropy, used_curr: usedCurr, usage, dk: Math.sqrt(change / k.length) } };
  }
}
