import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { JukeboxError } from '../../src/errors';
import { SongMetadata } from '../../src/labels';
import { PriorConfig, validatePriorConfig } from '../../src/prior/config';
import { Prior } from '../../src/prior/prior';

/** The published VQ-VAE's hops (8/32/128) with a 64-code book, as in the parity fixtures. */
const GEOMETRY = { sr: 44100, levels: 3, downs_t: [3, 2, 2], strides_t: [2, 2, 2], l_bins: 64 };

/**
 * Tiny priors of the three structures the parity fixtures cover (same hyperparameters as
 * test/fixtures/prior/make_prior_fixtures.py), for tests that need no reference values.
 */
export const TINY: Record<'top1b' | 'top5b' | 'upsampler', PriorConfig> = {
  /** 1b_lyrics-like: single encoder-decoder, v3 labels, attn_order 12. */
  top1b: validatePriorConfig({
    ...GEOMETRY, level: 2, n_ctx: 64, prior_width: 32, prior_depth: 16, heads: 2, attn_order: 12, blocks: 8, m_attn: 0.5,
    init_scale: 0.2, labels: true, labels_v3: true, min_duration: 1, max_duration: 20, use_tokens: true, n_tokens: 32,
    prime_loss_fraction: 0.4, single_enc_dec: true, alignment_layer: 15, alignment_head: 0, y_bins: [6, 6], t_bins: 16,
    max_bow_genre_size: 1, n_vocab: 79,
  }),
  /** 5b_lyrics-like: separate lyrics encoder, encoder-decoder layers, v2 labels, attn_order 10. */
  top5b: validatePriorConfig({
    ...GEOMETRY, level: 2, n_ctx: 64, prior_width: 32, prior_depth: 19, heads: 2, attn_order: 10, blocks: 8,
    init_scale: 0.1, prime_width: 24, prime_depth: 3, prime_heads: 2, prime_attn_order: 2, prime_blocks: 4,
    prime_init_scale: 0.7, min_duration: 1, max_duration: 20, use_tokens: true, n_tokens: 32, prime_loss_fraction: 0.4,
    merged_decoder: true, alignment_layer: 18, alignment_head: 1, labels: true, y_bins: [10, 6], t_bins: 16,
    max_bow_genre_size: 5, n_vocab: 80,
  }),
  /** Level-1 upsampler conditioned on level-2 codes, attn_order 2. */
  upsampler: validatePriorConfig({
    ...GEOMETRY, level: 1, n_ctx: 64, prior_width: 32, prior_depth: 3, heads: 1, attn_order: 2, blocks: 8,
    init_scale: 0.4, cond_width: 16, cond_depth: 4, cond_dilation_growth_rate: 3, cond_dilation_cycle: 2, cond_c_res: 1,
    cond_res_scale: true, use_tokens: false, prime_loss_fraction: 0, labels: true, y_bins: [10, 6], t_bins: 16,
    max_bow_genre_size: 5, n_vocab: 80,
  }),
};

/** Two songs with numeric ids (no id tables needed), lyrics long enough to fill a window. */
export const METAS: SongMetadata[] = [
  { artistId: 1, genreId: 1, lyrics: 'the night is long and the river keeps the time, we sing it slowly then faster', totalSeconds: 5, offsetSeconds: 1 },
  { artistId: 2, genreId: 3, lyrics: 'la la, oh', totalSeconds: 3, offsetSeconds: 0 },
];

/** A deterministic batch of codes in [0, bins). */
export function codes(n: number, len: number, bins: number, seed: number): tf.Tensor2D {
  const data = new Int32Array(n * len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s % bins;
  }
  return tf.tensor2d(data, [n, len], 'int32');
}

/** Labels, level-above codes and codes for one window of `prior`. Caller disposes. */
export function windowInputs(prior: Prior, seed = 7): { z: tf.Tensor2D; y: tf.Tensor2D | null; zConds: tf.Tensor2D[] | null } {
  const n = METAS.length;
  const labels = prior.labeller?.getBatchLabels(METAS) ?? null;
  const y = labels === null ? null : prior.getY(labels, 0)!.y;
  const zConds = prior.condDownsample === null ? null : [codes(n, prior.nCtx / prior.condDownsample, prior.lBins, seed + 1)];
  return { z: codes(n, prior.nCtx, prior.lBins, seed), y, zConds };
}

/** Runs `fn` and returns the JukeboxError it throws. */
export function jukeboxErrorOf(fn: () => unknown): JukeboxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(JukeboxError);
    return err as JukeboxError;
  }
  throw new Error('expected a JukeboxError');
}

/** Max |a − b| / max |b|. */
export function maxRelativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}
