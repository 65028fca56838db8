import { PRIOR_DEFAULTS, PriorConfig } from '../../src/prior/config';

/**
 * Tiny prior configs over the tiny VQ-VAE test fixture's geometry (22050 Hz, hops 4/8/16, 64
 * codes): n_ctx 32 everywhere, so a song of 40 top tokens takes 3 windows at level 2 (hop 4),
 * 4 at level 1 and 9 at level 0 (hop 16). The top prior takes v2 labels and 8 lyric tokens
 * through a separate lyrics encoder (attn_order 6: layer 3 attends to the lyrics).
 */
const GEOMETRY = { sr: 22050, levels: 3, downs_t: [2, 1, 1], strides_t: [2, 2, 2], l_bins: 64 };
const LABELS = { labels: true, labels_v3: false, y_bins: [10, 20] as [number, number], t_bins: 16, max_bow_genre_size: 5 };

export const TINY_TOP: PriorConfig = {
  ...PRIOR_DEFAULTS, ...GEOMETRY, ...LABELS,
  level: 2, n_ctx: 32, prior_width: 32, prior_depth: 4, heads: 2, attn_order: 6, blocks: 4,
  min_duration: 0.01, max_duration: 100,
  use_tokens: true, n_tokens: 8, n_vocab: 80, prime_width: 16, prime_depth: 1, prime_heads: 1, prime_loss_fraction: 0.4,
};

/** The same top prior without lyrics. */
export const TINY_TOP_NO_LYRICS: PriorConfig = { ...TINY_TOP, attn_order: 2, prior_depth: 3, use_tokens: false, n_tokens: 0, n_vocab: 0, prime_loss_fraction: 0 };

export function tinyUpsampler(level: number): PriorConfig {
  return {
    ...PRIOR_DEFAULTS, ...GEOMETRY, ...LABELS,
    level, n_ctx: 32, prior_width: 32, prior_depth: 3, heads: 1, attn_order: 2, blocks: 4,
    cond_width: 16, cond_depth: 1, cond_dilation_growth_rate: 3, use_tokens: false, prime_loss_fraction: 0,
  };
}
