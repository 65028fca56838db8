import type * as tf from '@tensorflow/tfjs';
import type { SampleAttentionCapture } from '../prior/autoregressive';
import type { PriorSampleOptions } from '../prior/prior';
import type { SampleWindow } from './windows';

/**
 * What the sampling orchestration needs of a prior: the `Prior` of `src/prior` satisfies it
 * structurally. Kept as an interface so the window logic can be driven (and tested) by any model
 * with the reference `SimplePrior`'s sampling surface. `L` is the labeller's batch-label type.
 */
export interface SamplingPrior<M = unknown, L = unknown> {
  /** The VQ-VAE level the prior models. */
  readonly level: number;
  /** Music tokens per window (reference `n_ctx`). */
  readonly nCtx: number;
  /** Audio samples per token at this level (reference `raw_to_tokens`). */
  readonly rawToTokens: number;
  /** The audio sample rate the prior's VQ-VAE works at (reference `sr`), for durations in seconds. */
  readonly sampleRate: number;
  /** Tokens of this level per token of the level above, or null for the top prior. */
  readonly condDownsample: number | null;
  /** Music vocabulary size (reference `l_bins`). */
  readonly lBins: number;
  /** Lyric tokens per window (0 when the prior takes no lyrics). */
  readonly nTokens: number;
  /** Lyrics and music in one sequence (1b_lyrics), which changes the reference's default batch and chunk sizes. */
  readonly singleEncDec: boolean;
  /** Labels of a batch of songs, or null for a prior without labels. */
  readonly labeller: { getBatchLabels(metas: M[]): L } | null;
  /** The label rows of the window starting at `start` tokens (reference `get_y`). */
  getY(labels: L, start: number): { y: tf.Tensor2D; indices: number[][] } | null;
  /** Reference `prior.sample`: ancestral without `z`, primed with it. int32 [N, sampleTokens or n_ctx]. */
  sample(opts: SamplingPriorOptions): Promise<tf.Tensor2D>;
  /**
   * `sample`, also capturing lyric layers' attention: layer → `[N, heads, sampleTokens, n_tokens]`
   * (`Prior.sampleWithAttention`). Needed only to sample with a `lyricAttention` sink.
   */
  sampleWithAttention?(opts: SamplingPriorOptions, capture: SampleAttentionCapture): Promise<{ tokens: tf.Tensor2D; attention: Map<number, Float32Array> }>;
}

/**
 * Where the lyric attention captured while sampling goes, window by window
 * (`SampledLyricAttention` stitches it into a song's `LyricAttention`).
 */
export interface WindowAttentionSink {
  /** The level it captures: `sampleLevels` gives it to that level's prior only. */
  readonly level: number;
  /** The layers and heads to capture. */
  readonly capture: SampleAttentionCapture;
  /**
   * Item `item`'s attention in `window`: layer → `[heads, window length, n_tokens]` (heads as
   * `capture.heads` lists them), `indices` the lyric character each of the n_tokens keys reads
   * (`getY`'s, −1 for padding). Called for the windows in start order.
   */
  take(window: SampleWindow, item: number, indices: readonly number[], attention: ReadonlyMap<number, Float32Array>): void;
}

/** The arguments of `SamplingPrior.sample` (the reference's `sample` kwargs): the prior's own options type. */
export type SamplingPriorOptions = PriorSampleOptions;

/** What scoring needs beyond sampling: the teacher-forced pass (reference `z_forward`). */
export interface ScoringPrior<M = unknown, L = unknown> extends SamplingPrior<M, L> {
  forward(z: tf.Tensor2D, opts: { zConds?: tf.Tensor2D[] | null; y?: tf.Tensor2D | null; getPreds?: boolean }): { preds?: tf.Tensor3D };
}

/** Per-level sampling settings (the reference's `sampling_kwargs` plus `hop_fraction`). */
export interface LevelSettings {
  /** Softmax temperature; reference 0.99. */
  temperature: number;
  /** Keep the k most likely tokens (0: all). */
  topK: number;
  /** Keep the smallest set with this much probability (0: all). */
  topP: number;
  /** Tokens per KV-cache fill when priming. */
  chunkSize: number;
  /** Items sampled together; more are split into batches of this size. */
  maxBatchSize: number;
  /** Window hop as a fraction of n_ctx. */
  hopFraction: number;
}

/**
 * Codes of a batch of songs: level → one Int32Array per item (all items of a level equally long).
 * The orchestration keeps the song here, on the JS heap, and makes tensors only of one window.
 */
export type SongCodes = Map<number, Int32Array[]>;

/** Where sampling is, for progress displays. */
export interface SampleProgress {
  level: number;
  /** Window being sampled, from 1. */
  window: number;
  windows: number;
  /** New tokens (per item) finished at this level, of `total`. */
  done: number;
  total: number;
  /** Tokens of all items sampled per second at this level so far. */
  tokensPerSecond: number;
  /** Seconds left at this level at that rate (NaN before the first token). */
  etaSeconds: number;
}
