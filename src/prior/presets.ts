import { JukeboxError } from '../errors';
import { PriorConfig, validatePriorConfig } from './config';

/**
 * The published priors' hyperparameters (reference `hparams.py`), each as the full set the
 * reference builds with `setup_hparams("vqvae,<prior>")`: the VQ-VAE's geometry, then the prior's
 * own fields, over the DEFAULTS. Only fields that shape the model are kept (no dropout, learning
 * rates or restore paths).
 */

/** The published VQ-VAE's geometry (hparams `vqvae`), shared by every published prior. */
const VQVAE_5B = { sr: 44100, levels: 3, downs_t: [3, 2, 2], strides_t: [2, 2, 2], l_bins: 2048 };

/** hparams `labels`: the v2 label set of 5b and 5b_lyrics (and of the upsamplers). */
const LABELS_V2 = { y_bins: [120, 4111] as [number, number], t_bins: 128, max_bow_genre_size: 5, n_vocab: 80 };

/** hparams `labels_v3`: 1b_lyrics' label set. */
const LABELS_V3 = { y_bins: [604, 7898] as [number, number], t_bins: 64, max_bow_genre_size: 1, n_vocab: 79 };

/** hparams `upsamplers`, shared by both published upsamplers. */
const UPSAMPLERS: Partial<PriorConfig> = {
  ...VQVAE_5B,
  n_ctx: 8192,
  prior_width: 1920,
  prior_depth: 72,
  heads: 1,
  attn_order: 2,
  blocks: 128,
  init_scale: 0.4,
  cond_width: 1024,
  cond_depth: 16,
  cond_dilation_growth_rate: 3,
  cond_dilation_cycle: 8,
  cond_c_res: 1,
  use_tokens: false,
  prime_loss_fraction: 0,
  ...LABELS_V2,
};

/** hparams `small_vqvae`: the reference's small two-level VQ-VAE (hops 32 and 256 at 22.05 kHz). */
const SMALL_VQVAE = { sr: 22050, levels: 2, downs_t: [5, 3], strides_t: [2, 2], l_bins: 1024 };

/** hparams `small_prior` (the README trains it with `--labels=False --level=1`). */
const SMALL_PRIOR: Partial<PriorConfig> = {
  ...SMALL_VQVAE,
  level: 1,
  labels: false,
  n_ctx: 8192,
  prior_width: 1024,
  prior_depth: 48,
  heads: 1,
  attn_order: 2,
  blocks: 64,
  init_scale: 0.7,
};

/** The labelled small priors' shared label fields (`y_bins` is "(genres, artists) for your dataset"). */
const SMALL_LABELS: Partial<PriorConfig> = {
  labels: true,
  labels_v3: true,
  y_bins: [10, 100],
  max_bow_genre_size: 1,
  min_duration: 60,
  max_duration: 600,
  t_bins: 64,
};

/**
 * The `tiny` VQ-VAE's geometry (hops 4/8/16 at 22.05 kHz, 64 codes) and v2 labels for a handful of
 * artists and genres: what the tiny test priors train on in seconds.
 */
const TINY_GEOMETRY = { sr: 22050, levels: 3, downs_t: [2, 1, 1], strides_t: [2, 2, 2], l_bins: 64 };
const TINY_LABELS: Partial<PriorConfig> = { labels: true, labels_v3: false, y_bins: [10, 10], t_bins: 16, max_bow_genre_size: 2, n_vocab: 80 };

/** Test-sized top prior with the 5b_lyrics design: a lyrics encoder read by every fourth layer (attn_order 6). */
const TINY_TOP: Partial<PriorConfig> = {
  ...TINY_GEOMETRY,
  ...TINY_LABELS,
  level: 2,
  n_ctx: 64,
  prior_width: 32,
  prior_depth: 4,
  heads: 2,
  attn_order: 6,
  blocks: 8,
  min_duration: 1,
  max_duration: 600,
  use_tokens: true,
  n_tokens: 32,
  prime_loss_fraction: 0.4,
  merged_decoder: true,
  prime_width: 32,
  prime_depth: 2,
  prime_heads: 2,
  prime_attn_order: 2,
  prime_blocks: 4,
  // No published alignment head: a random or briefly trained tiny prior has none, so alignment
  // ranks the heads of layer 3 (its encoder-decoder layer) and takes the first (src/align).
  alignment_layer: null,
  alignment_head: null,
};

/**
 * The default models' geometry: the VQ-VAE preset `default` (hops 8/32/128 at 16 kHz, 2048 codes),
 * and v2 labels sized for the generated corpus (8 artists, 6 one-word genres, plus `unknown`) with
 * room for a few more names when fine-tuning on one's own songs.
 */
const DEFAULT_GEOMETRY = { sr: 16000, levels: 3, downs_t: [3, 2, 2], strides_t: [2, 2, 2], l_bins: 2048 };
const DEFAULT_LABELS: Partial<PriorConfig> = { labels: true, labels_v3: false, y_bins: [16, 32], t_bins: 64, max_bow_genre_size: 1, n_vocab: 80 };

/**
 * A default upsampler: the published upsamplers' design (row, column and previous-row attention;
 * a dilated conditioner on the level above) at a width a CPU trains in minutes. 512 tokens of
 * context: 1.02 s at level 1, 0.26 s at level 0.
 */
const DEFAULT_UPSAMPLER: Partial<PriorConfig> = {
  ...DEFAULT_GEOMETRY,
  ...DEFAULT_LABELS,
  n_ctx: 512,
  prior_width: 128,
  prior_depth: 4,
  heads: 2,
  attn_order: 2,
  blocks: 16,
  cond_width: 128,
  cond_depth: 4,
  cond_dilation_growth_rate: 3,
  cond_dilation_cycle: 8,
  use_tokens: false,
  prime_loss_fraction: 0,
};

const PRESETS: Record<string, Partial<PriorConfig>> = {
  /** hparams `prior_5b`: the top-level prior without lyrics. */
  '5b': {
    ...VQVAE_5B,
    level: 2,
    n_ctx: 8192,
    prior_width: 4800,
    prior_depth: 72,
    heads: 8,
    attn_order: 2,
    blocks: 128,
    init_scale: 0.1,
    min_duration: 60,
    max_duration: 600,
    use_tokens: false,
    n_tokens: 0,
    prime_loss_fraction: 0,
    merged_decoder: true,
    ...LABELS_V2,
  },
  /** hparams `prior_5b_lyrics`: top level, separate lyrics encoder feeding encoder-decoder layers. */
  '5b_lyrics': {
    ...VQVAE_5B,
    level: 2,
    n_ctx: 8192,
    prior_width: 4800,
    prior_depth: 79,
    heads: 8,
    attn_order: 10,
    blocks: 128,
    init_scale: 0.1,
    prime_width: 1280,
    prime_depth: 18,
    prime_heads: 4,
    prime_attn_order: 2,
    prime_blocks: 32,
    prime_init_scale: 0.7,
    min_duration: 23.8,
    max_duration: 600,
    use_tokens: true,
    n_tokens: 512,
    prime_loss_fraction: 0.4,
    merged_decoder: true,
    alignment_layer: 68,
    alignment_head: 2,
    ...LABELS_V2,
  },
  /** hparams `prior_1b_lyrics`: top level, lyrics and music in one sequence. */
  '1b_lyrics': {
    ...VQVAE_5B,
    level: 2,
    n_ctx: 6144,
    prior_width: 2048,
    prior_depth: 72,
    heads: 2,
    attn_order: 12,
    blocks: 64,
    init_scale: 0.2,
    labels_v3: true,
    min_duration: 17.84,
    max_duration: 600,
    use_tokens: true,
    n_tokens: 384,
    prime_loss_fraction: 0.4,
    single_enc_dec: true,
    alignment_layer: 63,
    alignment_head: 0,
    ...LABELS_V3,
  },
  /** hparams `upsampler_level_0`. */
  upsampler_level_0: { ...UPSAMPLERS, level: 0 },
  /** hparams `upsampler_level_1` (the only one with `cond_res_scale`). */
  upsampler_level_1: { ...UPSAMPLERS, level: 1, cond_res_scale: true },
  /** hparams `small_vqvae,small_prior`, top level of the small VQ-VAE, no labels. */
  small_prior: SMALL_PRIOR,
  /** hparams `small_vqvae,small_labelled_prior`. */
  small_labelled_prior: { ...SMALL_PRIOR, ...SMALL_LABELS },
  /** hparams `small_vqvae,small_single_enc_dec_prior`. */
  small_single_enc_dec_prior: {
    ...SMALL_PRIOR,
    ...SMALL_LABELS,
    n_ctx: 6144,
    prior_width: 1024,
    prior_depth: 48,
    heads: 2,
    attn_order: 12,
    blocks: 64,
    init_scale: 0.7,
    prime_loss_fraction: 0.4,
    single_enc_dec: true,
    use_tokens: true,
    n_tokens: 384,
    n_vocab: 79,
  },
  /** hparams `small_vqvae,small_sep_enc_dec_prior`. */
  small_sep_enc_dec_prior: {
    ...SMALL_PRIOR,
    ...SMALL_LABELS,
    n_ctx: 6144,
    prior_width: 1024,
    prior_depth: 50,
    heads: 2,
    attn_order: 8,
    blocks: 64,
    init_scale: 0.7,
    prime_width: 256,
    prime_depth: 9,
    prime_heads: 2,
    prime_attn_order: 2,
    prime_blocks: 32,
    prime_init_scale: 0.7,
    prime_loss_fraction: 0.4,
    use_tokens: true,
    n_tokens: 384,
    n_vocab: 79,
  },
  /** hparams `small_vqvae,small_upsampler` (the README trains it with `--labels=False --level=0`). */
  small_upsampler: {
    ...SMALL_VQVAE,
    level: 0,
    labels: false,
    n_ctx: 8192,
    prior_width: 1024,
    prior_depth: 48,
    heads: 1,
    attn_order: 2,
    blocks: 64,
    init_scale: 0.7,
    cond_width: 512,
    cond_depth: 16,
    cond_dilation_growth_rate: 3,
    cond_dilation_cycle: 8,
    cond_c_res: 1,
  },
  /**
   * The shipped top prior (weights/default/prior_level_2): the 5b_lyrics design, a separate lyrics
   * encoder read by encoder-decoder layers (every fourth layer, attn_order 6), because there every
   * head of those layers attends only from music to lyrics, so one specialises into an alignment
   * head directly, where in the 1b_lyrics design the lyric heads share their keys with the music
   * history and the reference saw alignment appear late; it also keeps the lyrics out of the
   * music sequence, so the 768 music tokens (6.14 s at 125 tokens/s) cost no extra context.
   * n_tokens 128: the generated corpus sings at most 69 characters in any 6.14 s, and a 128-wide
   * lyric window placed by the Labeller's linear guess holds every word sung in every window of
   * it (measured over 24k window-word pairs; 96 characters missed 0.06%).
   */
  default_top: {
    ...DEFAULT_GEOMETRY,
    ...DEFAULT_LABELS,
    level: 2,
    n_ctx: 768,
    prior_width: 128,
    prior_depth: 8,
    heads: 4,
    m_attn: 0.5,
    attn_order: 6,
    blocks: 16,
    min_duration: 1,
    max_duration: 120,
    use_tokens: true,
    n_tokens: 128,
    prime_loss_fraction: 0.4,
    merged_decoder: true,
    prime_width: 128,
    prime_depth: 2,
    prime_heads: 2,
    prime_attn_order: 2,
    prime_blocks: 8,
    // Layer 7 (the last encoder-decoder layer) head 0: the head `train-prior --align-loss`
    // supervises with the corpus's word timings (src/train/align-loss.ts), so that alignment reads
    // the head trained to align. A choice of this project, not a published head: a model trained
    // without the alignment loss need not align with it (`jukebox align --find-head` ranks all eight).
    alignment_layer: 7,
    alignment_head: 0,
    // Head 7/0 learns which line is sung but hardly which word of it (README, "Lyric alignment"):
    // lines first, then the words within them, times it better than words alone.
    alignment_decoding: 'lines',
  },
  /** The shipped level-1 upsampler (weights/default/prior_level_1), conditioned on level 2. */
  default_upsampler_level_1: { ...DEFAULT_UPSAMPLER, level: 1 },
  /** The shipped level-0 upsampler (weights/default/prior_level_0), conditioned on level 1. */
  default_upsampler_level_0: { ...DEFAULT_UPSAMPLER, level: 0 },
  /** `tiny_top` for tests and quick experiments (the tiny VQ-VAE's top level, lyrics through a separate encoder). */
  tiny_top: TINY_TOP,
  /** `tiny_top` without lyrics (artist, genre and timing only). */
  tiny_top_no_lyrics: { ...TINY_TOP, use_tokens: false, n_tokens: 0, prime_loss_fraction: 0, attn_order: 2, merged_decoder: false },
  /** Test-sized upsampler for level 1 of the tiny VQ-VAE, conditioned on level 2 (artist and genre, no timing). */
  tiny_upsampler: {
    ...TINY_GEOMETRY,
    ...TINY_LABELS,
    level: 1,
    n_ctx: 64,
    prior_width: 32,
    prior_depth: 3,
    heads: 1,
    attn_order: 2,
    blocks: 8,
    cond_width: 16,
    cond_depth: 2,
    cond_dilation_growth_rate: 3,
    cond_dilation_cycle: 8,
    use_tokens: false,
    prime_loss_fraction: 0,
  },
  /** `tiny_upsampler` at level 0, conditioned on level 1: with it the tiny models cover all three levels. */
  tiny_upsampler_level_0: {
    ...TINY_GEOMETRY,
    ...TINY_LABELS,
    level: 0,
    n_ctx: 64,
    prior_width: 32,
    prior_depth: 3,
    heads: 1,
    attn_order: 2,
    blocks: 8,
    cond_width: 16,
    cond_depth: 2,
    cond_dilation_growth_rate: 3,
    cond_dilation_cycle: 8,
    use_tokens: false,
    prime_loss_fraction: 0,
  },
};

/** Names of the prior presets, in the order above. */
export const PRIOR_PRESET_NAMES: readonly string[] = Object.freeze(Object.keys(PRESETS));

/** The full, validated config of a preset, or a JukeboxError naming the presets that exist. */
export function priorPreset(name: string): PriorConfig {
  const preset = Object.prototype.hasOwnProperty.call(PRESETS, name) ? PRESETS[name] : undefined;
  if (preset === undefined) {
    throw new JukeboxError(`unknown prior preset '${name}' (known: ${PRIOR_PRESET_NAMES.join(', ')})`);
  }
  return validatePriorConfig(preset, `preset '${name}'`);
}
