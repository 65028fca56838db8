import type { AlignmentDecoding } from '../align/words';
import { JukeboxError } from '../errors';

/**
 * Hyperparameters of one prior (reference `SimplePrior` as `make_models.make_prior` builds it),
 * named after the reference's `hps` fields so a checkpoint's `hps` maps onto it field for field.
 *
 * A prior needs the VQ-VAE's geometry (`levels`, `downs_t`, `strides_t`, `l_bins`, `sr`) because
 * its context, its conditioning on the level above and its timing labels are all in tokens of
 * that VQ-VAE. Every default below is the reference's (`hparams.py` DEFAULTS), so a checkpoint's
 * `hps` that lacks a field gets the value the reference would have used.
 */
export interface PriorConfig {
  // --- audio and VQ-VAE geometry ---
  /** Sample rate in Hz (timing labels are in samples at this rate). Reference `sr`; default 44100. */
  sr: number;
  /** VQ-VAE levels. Reference `levels`; default 2. */
  levels: number;
  /** Downsampling convs per VQ-VAE level. Reference `downs_t`; default [1, 1]. */
  downs_t: number[];
  /** Stride of those convs per level. Reference `strides_t`; default [2, 2]. */
  strides_t: number[];
  /** Codebook size: the music vocabulary. Reference `l_bins`; default 512. */
  l_bins: number;
  /** The VQ-VAE level this prior models (the top level has no upper-level conditioning). Reference `level`; default 0. */
  level: number;

  // --- the autoregressive transformer ---
  /** Music tokens per window. Reference `n_ctx`; default 1024. */
  n_ctx: number;
  /** Transformer width. Reference `prior_width`; default 128. */
  prior_width: number;
  /** Transformer layers. Reference `prior_depth`; default 3. */
  prior_depth: number;
  /** Attention heads. Reference `heads`; default 1. */
  heads: number;
  /** Which attention each layer does (reference table in transformer.py, 0..12). Reference `attn_order`; default 0. */
  attn_order: number;
  /** Blocks of block-sparse attention (n_ctx must divide). Reference `blocks`; default null. */
  blocks: number | null;
  /** Summary spread of attention functions 4/5. Reference `spread`; default null. */
  spread: number | null;
  /** Reference `zero_out`: zero-initialised output projections. Fresh init only, which randomPrior does its own way; kept for the hps round trip. Default false. */
  zero_out: boolean;
  /** Scale residual branches by 1/depth. Reference `res_scale`; default false. */
  res_scale: boolean;
  /** Position embedding as a sum of per-axis embeddings instead of one matrix. Reference `pos_init`; default false. */
  pos_init: boolean;
  /** Reference `init_scale`: scale of the reference's fresh init. Kept for the hps round trip (randomPrior uses an init that makes random models respond). Default 1.0. */
  init_scale: number;
  /** Attention width as a fraction of `prior_width`. Reference `m_attn`; default 0.25. */
  m_attn: number;
  /** MLP width as a multiple of `prior_width`. Reference `m_mlp`; default 1.0. */
  m_mlp: number;

  // --- conditioning on the level above (upsamplers) ---
  /** Channels of the conditioner's residual stacks. Reference `cond_width`; default 128. */
  cond_width: number;
  /** Residual blocks per stack. Reference `cond_depth`; default 3. */
  cond_depth: number;
  /** Hidden-channel multiplier in those blocks. Reference `cond_m_conv`; default 1.0. */
  cond_m_conv: number;
  /** Reference `cond_zero_out`: zero-initialised residual outputs. Fresh init only; kept for the hps round trip. Default false. */
  cond_zero_out: boolean;
  /** Scale residual branches by 1/sqrt(depth). Reference `cond_res_scale`; default false. */
  cond_res_scale: boolean;
  /** Dilation growth of the residual stacks. Reference `cond_dilation_growth_rate`; default 1. */
  cond_dilation_growth_rate: number;
  /** Dilation exponents wrap modulo this. Reference `cond_dilation_cycle`; default null. */
  cond_dilation_cycle: number | null;
  /**
   * Gradient checkpointing of the residual stacks. It changes nothing numerically but renames
   * their parameters (`blocks.{i}` instead of `model.{i}`), so it must match the checkpoint.
   * Reference `cond_c_res`; default 0.
   */
  cond_c_res: number;

  // --- artist, genre and timing labels ---
  /** Condition on labels at all. Reference `labels`; default true. */
  labels: boolean;
  /** v3 label processors (1b_lyrics: lowercase names, one genre, 79 symbols) instead of v2. Reference `labels_v3`; default false. */
  labels_v3: boolean;
  /** [genre ids, artist ids] embedding sizes. Reference `y_bins`; default none (required when `labels`). */
  y_bins: [number, number] | null;
  /** Bins of each timing embedding. Reference `t_bins`; default 64. */
  t_bins: number;
  /** Genre slots of the label vector (v2 bag of words: 5; v3: 1). Reference `max_bow_genre_size`; default none (required when `labels`). */
  max_bow_genre_size: number | null;
  /** Shortest song length the timing embedding covers, in seconds. Reference `min_duration`; default none (required for a top-level prior with labels). */
  min_duration: number | null;
  /** Longest song length, in seconds. Reference `max_duration`; default none (required for a top-level prior with labels). */
  max_duration: number | null;

  // --- lyrics ---
  /** Condition on lyric tokens. Reference `use_tokens`; default false. */
  use_tokens: boolean;
  /** Lyric tokens per window. Reference `n_tokens`; default 0. */
  n_tokens: number;
  /** Lyric vocabulary size (v2: 80, v3: 79). Reference `n_vocab`; default 0. */
  n_vocab: number;
  /** Weight of the lyric (prime) loss in the training loss. Reference `prime_loss_fraction`; default 0.1. */
  prime_loss_fraction: number;
  /** Lyrics and music in one sequence with a joint vocabulary (1b_lyrics). Reference `single_enc_dec`; default false. */
  single_enc_dec: boolean;
  /** Separate output head and no conditioning added after the transformer (5b, 5b_lyrics). Reference `merged_decoder`; default false. */
  merged_decoder: boolean;

  // --- the separate lyrics encoder (5b_lyrics) ---
  /** Reference `prime_width`; default 128. */
  prime_width: number;
  /** Reference `prime_depth`; default 3. */
  prime_depth: number;
  /** Reference `prime_heads`; default 1. */
  prime_heads: number;
  /** Reference `prime_attn_order`; default 0. */
  prime_attn_order: number;
  /** Reference `prime_blocks`; default null. */
  prime_blocks: number | null;
  /** Reference `prime_spread`; default null. */
  prime_spread: number | null;
  /** Reference `prime_zero_out` (fresh init only, kept for the hps round trip); default false. */
  prime_zero_out: boolean;
  /** Reference `prime_res_scale`; default false. */
  prime_res_scale: boolean;
  /** Reference `prime_pos_init`; default false. */
  prime_pos_init: boolean;
  /** Reference `prime_init_scale` (fresh init only, kept for the hps round trip); default 1.0. */
  prime_init_scale: number;
  /** Reference `prime_m_attn`; default 0.25. */
  prime_m_attn: number;
  /** Reference `prime_m_mlp`; default 1.0. */
  prime_m_mlp: number;

  // --- lyric alignment ---
  /** Layer whose attention aligns lyrics to music (5b_lyrics 68, 1b_lyrics 63). Reference `alignment_layer`; default null. */
  alignment_layer: number | null;
  /** Head of that layer. Reference `alignment_head`; default null. */
  alignment_head: number | null;
  /**
   * How that head's attention becomes word timings (`AlignmentDecoding` in src/align/words.ts):
   * `words` for a head that follows the sung word (the published heads), `lines` for one that
   * knows the line but not the word (the default top prior's). Not in the reference; default `words`.
   */
  alignment_decoding: AlignmentDecoding;
}

/** The reference's defaults (`hparams.py` DEFAULTS) for every field. */
export const PRIOR_DEFAULTS: Readonly<PriorConfig> = Object.freeze({
  sr: 44100,
  levels: 2,
  downs_t: [1, 1],
  strides_t: [2, 2],
  l_bins: 512,
  level: 0,
  n_ctx: 1024,
  prior_width: 128,
  prior_depth: 3,
  heads: 1,
  attn_order: 0,
  blocks: null,
  spread: null,
  zero_out: false,
  res_scale: false,
  pos_init: false,
  init_scale: 1.0,
  m_attn: 0.25,
  m_mlp: 1.0,
  cond_width: 128,
  cond_depth: 3,
  cond_m_conv: 1.0,
  cond_zero_out: false,
  cond_res_scale: false,
  cond_dilation_growth_rate: 1,
  cond_dilation_cycle: null,
  cond_c_res: 0,
  labels: true,
  labels_v3: false,
  y_bins: null,
  t_bins: 64,
  max_bow_genre_size: null,
  min_duration: null,
  max_duration: null,
  use_tokens: false,
  n_tokens: 0,
  n_vocab: 0,
  prime_loss_fraction: 0.1,
  single_enc_dec: false,
  merged_decoder: false,
  prime_width: 128,
  prime_depth: 3,
  prime_heads: 1,
  prime_attn_order: 0,
  prime_blocks: null,
  prime_spread: null,
  prime_zero_out: false,
  prime_res_scale: false,
  prime_pos_init: false,
  prime_init_scale: 1.0,
  prime_m_attn: 0.25,
  prime_m_mlp: 1.0,
  alignment_layer: null,
  alignment_head: null,
  alignment_decoding: 'words',
});

/** The fields of a PriorConfig, in declaration order. */
export const PRIOR_CONFIG_KEYS = Object.keys(PRIOR_DEFAULTS) as (keyof PriorConfig)[];

/** Tokens per VQ-VAE level step: `strides_t[l] ** downs_t[l]` for each level l. */
export function levelDownsamples(cfg: Pick<PriorConfig, 'downs_t' | 'strides_t'>): number[] {
  return cfg.downs_t.map((d, l) => cfg.strides_t[l] ** d);
}

/** Audio samples per token at `level` (reference `raw_to_tokens`). */
export function rawToTokens(cfg: Pick<PriorConfig, 'downs_t' | 'strides_t'>, level: number): number {
  return levelDownsamples(cfg).slice(0, level + 1).reduce((a, b) => a * b, 1);
}

/** Whether the prior models the top level (no conditioning on codes above). */
export function isTopLevel(cfg: Pick<PriorConfig, 'level' | 'levels'>): boolean {
  return cfg.level === cfg.levels - 1;
}

/** Whether the prior conditions on lyrics (a lyric window inside the label vector). */
export function hasLyrics(cfg: Pick<PriorConfig, 'use_tokens' | 'n_tokens' | 'single_enc_dec'>): boolean {
  return cfg.single_enc_dec || (cfg.use_tokens && cfg.n_tokens > 0);
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isNonNegativeInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isPositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

const INT_FIELDS = [
  'sr', 'levels', 'l_bins', 'n_ctx', 'prior_width', 'prior_depth', 'heads', 'cond_width', 'cond_depth',
  'cond_dilation_growth_rate', 't_bins', 'prime_width', 'prime_depth', 'prime_heads',
] as const;
const POSITIVE_FIELDS = ['init_scale', 'm_attn', 'm_mlp', 'cond_m_conv', 'prime_init_scale', 'prime_m_attn', 'prime_m_mlp'] as const;
const BOOL_FIELDS = [
  'zero_out', 'res_scale', 'pos_init', 'cond_zero_out', 'cond_res_scale', 'labels', 'labels_v3', 'use_tokens',
  'single_enc_dec', 'merged_decoder', 'prime_zero_out', 'prime_res_scale', 'prime_pos_init',
] as const;
const NULLABLE_INT_FIELDS = [
  'blocks', 'spread', 'cond_dilation_cycle', 'prime_blocks', 'prime_spread', 'alignment_layer', 'alignment_head',
] as const;

/**
 * Merges `cfg` over the reference defaults and checks the result as the reference's constructors
 * would (and what they would only find out mid-run), throwing one JukeboxError that names every
 * bad field. `source` names where the config came from (a file or a preset). Unknown fields are an
 * error too: a misspelt hyperparameter must not silently become its default.
 */
export function validatePriorConfig(cfg: Partial<PriorConfig>, source = 'prior config'): PriorConfig {
  const problems: string[] = [];
  const unknown = Object.keys(cfg).filter((k) => !(PRIOR_CONFIG_KEYS as string[]).includes(k));
  if (unknown.length > 0) problems.push(`unknown field(s) ${unknown.join(', ')}`);
  const c = { ...structuredClone(PRIOR_DEFAULTS), ...structuredClone(cfg) } as PriorConfig;
  for (const key of INT_FIELDS) {
    if (!isPositiveInt(c[key])) problems.push(`${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
  }
  for (const key of POSITIVE_FIELDS) {
    if (!isPositive(c[key])) problems.push(`${key} must be a positive number, got ${JSON.stringify(c[key])}`);
  }
  for (const key of BOOL_FIELDS) {
    if (typeof c[key] !== 'boolean') problems.push(`${key} must be true or false, got ${JSON.stringify(c[key])}`);
  }
  for (const key of NULLABLE_INT_FIELDS) {
    const v = c[key];
    if (v !== null && !(key.startsWith('alignment') ? isNonNegativeInt(v) : isPositiveInt(v))) {
      problems.push(`${key} must be null or a ${key.startsWith('alignment') ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`);
    }
  }
  for (const key of ['downs_t', 'strides_t'] as const) {
    const v = c[key];
    if (!Array.isArray(v) || v.length !== c.levels || !v.every(isPositiveInt)) {
      problems.push(`${key} must list ${c.levels} positive integers (one per level), got ${JSON.stringify(v)}`);
    }
  }
  if (!isNonNegativeInt(c.level) || (isPositiveInt(c.levels) && c.level >= c.levels)) {
    problems.push(`level must be an integer in 0..${c.levels - 1}, got ${JSON.stringify(c.level)}`);
  }
  for (const key of ['attn_order', 'prime_attn_order'] as const) {
    if (!isNonNegativeInt(c[key]) || c[key] > 12) problems.push(`${key} must be an integer in 0..12, got ${JSON.stringify(c[key])}`);
  }
  if (c.alignment_decoding !== 'words' && c.alignment_decoding !== 'lines') {
    problems.push(`alignment_decoding must be 'words' or 'lines', got ${JSON.stringify(c.alignment_decoding)}`);
  }
  if (!isNonNegativeInt(c.cond_c_res)) problems.push(`cond_c_res must be a non-negative integer, got ${JSON.stringify(c.cond_c_res)}`);
  if (!isNonNegativeInt(c.n_tokens)) problems.push(`n_tokens must be a non-negative integer, got ${JSON.stringify(c.n_tokens)}`);
  if (!isNonNegativeInt(c.n_vocab)) problems.push(`n_vocab must be a non-negative integer, got ${JSON.stringify(c.n_vocab)}`);
  if (!(typeof c.prime_loss_fraction === 'number' && c.prime_loss_fraction >= 0)) {
    problems.push(`prime_loss_fraction must be a non-negative number, got ${JSON.stringify(c.prime_loss_fraction)}`);
  }
  const seqLen = c.single_enc_dec ? c.n_ctx + c.n_tokens : c.n_ctx;
  if (isPositiveInt(c.blocks) && seqLen % c.blocks !== 0) {
    problems.push(`blocks (${c.blocks}) must divide the sequence length ${seqLen}${c.single_enc_dec ? ' (n_ctx + n_tokens)' : ''}`);
  }
  if (c.use_tokens && !c.single_enc_dec && isPositiveInt(c.prime_blocks) && c.n_tokens % c.prime_blocks !== 0) {
    problems.push(`prime_blocks (${c.prime_blocks}) must divide n_tokens (${c.n_tokens})`);
  }
  if (c.labels) {
    if (!Array.isArray(c.y_bins) || c.y_bins.length !== 2 || !c.y_bins.every(isPositiveInt)) {
      problems.push(`y_bins must be [genres, artists] (two positive integers) when labels is true, got ${JSON.stringify(c.y_bins)}`);
    }
    if (!isPositiveInt(c.max_bow_genre_size)) {
      problems.push(`max_bow_genre_size must be a positive integer when labels is true, got ${JSON.stringify(c.max_bow_genre_size)}`);
    }
    if (isTopLevel(c)) {
      if (!isPositive(c.min_duration) || !isPositive(c.max_duration) || c.min_duration >= c.max_duration) {
        problems.push(
          `min_duration and max_duration must be seconds with min < max for a top-level prior with labels, got ${JSON.stringify(c.min_duration)} and ${JSON.stringify(c.max_duration)}`,
        );
      }
    }
  }
  if (c.single_enc_dec) {
    if (!c.labels) problems.push('single_enc_dec needs labels (the lyrics travel in the label vector)');
    if (!isPositiveInt(c.n_tokens) || !isPositiveInt(c.n_vocab)) {
      problems.push(`single_enc_dec needs n_tokens and n_vocab positive, got ${c.n_tokens} and ${c.n_vocab}`);
    }
  } else if (c.use_tokens && c.n_tokens > 0) {
    if (!c.labels) problems.push('use_tokens needs labels (the lyrics travel in the label vector)');
    if (!isPositiveInt(c.n_vocab)) problems.push(`use_tokens needs n_vocab positive, got ${c.n_vocab}`);
  }
  if (problems.length > 0) throw new JukeboxError(`invalid prior config: ${problems.join('; ')}`, source);
  return c;
}
