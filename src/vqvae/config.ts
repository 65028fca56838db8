import { JukeboxError } from '../errors';

/**
 * Hyperparameters of a hierarchical VQ-VAE, named after the reference's `hps` fields
 * (openai/jukebox `hparams.py`) so a checkpoint's `hps` maps onto it field for field.
 */
export interface VQVAEConfig {
  /** Audio sample rate in Hz. Reference `sr`; default 44100. */
  sr: number;
  /** Number of independent levels. Reference `levels`; default 3. */
  levels: number;
  /** Downsampling convs per level (each level adds its own on top of the ones below). Reference `downs_t`; default [3, 2, 2]. */
  downs_t: number[];
  /** Stride of each downsampling conv, per level. Reference `strides_t`; default [2, 2, 2]. */
  strides_t: number[];
  /** Width of the latent vectors and codebook entries. Reference `emb_width`; default 64. */
  emb_width: number;
  /** Codebook size per level. Reference `l_bins`; default 2048. */
  l_bins: number;
  /** Channels of the encoder/decoder convs, before the per-level multiplier. Reference `width`; default 32. */
  width: number;
  /** Residual blocks per Resnet1D, before the per-level multiplier. Reference `depth`; default 4. */
  depth: number;
  /** Hidden-channel multiplier inside each residual block. Reference `m_conv`; default 1. */
  m_conv: number;
  /** Dilation of residual block i is `dilation_growth_rate ** i`. Reference `dilation_growth_rate`; default 3. */
  dilation_growth_rate: number;
  /** If set, dilation exponents wrap around modulo this. Reference `dilation_cycle`; default null. */
  dilation_cycle: number | null;
  /** Per-level multiplier of `width` and `depth`. Reference `hvqvae_multipliers`; default [2, 1, 1]. */
  multipliers: number[];
  /** Decoder residual stacks run their dilations largest first. Reference `vqvae_reverse_decoder_dilation`; default true. */
  reverse_decoder_dilation: boolean;
  /** EMA decay of the codebook. Reference `l_mu`; default 0.99. */
  l_mu: number;
  /** Commit-loss weight. Reference `commit`; default 0.02. */
  commit: number;
  /** Clip length used in training, in samples (multiple of the top hop). Reference `sample_length`; default 0 (unset). */
  sample_length: number;
}

/** Hop length (samples per token) of each level: the cumulative product of `strides_t ** downs_t`. */
export function hopLengths(cfg: Pick<VQVAEConfig, 'downs_t' | 'strides_t' | 'levels'>): number[] {
  const hops: number[] = [];
  let hop = 1;
  for (let level = 0; level < cfg.levels; level++) {
    hop *= cfg.strides_t[level] ** cfg.downs_t[level];
    hops.push(hop);
  }
  return hops;
}

/** Width and depth of one level's encoder and decoder after the level's multiplier. */
export function levelBlockSize(cfg: VQVAEConfig, level: number): { width: number; depth: number } {
  return { width: cfg.width * cfg.multipliers[level], depth: cfg.depth * cfg.multipliers[level] };
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/**
 * Checks a complete config and throws a JukeboxError naming every bad field, in the manner of
 * tfjs-models' `validateModelConfig`. `source` names where the config came from (a file or preset).
 */
export function validateVQVAEConfig(cfg: VQVAEConfig, source = 'config'): VQVAEConfig {
  const problems: string[] = [];
  for (const key of ['sr', 'levels', 'emb_width', 'l_bins', 'width', 'depth', 'dilation_growth_rate'] as const) {
    if (!isPositiveInt(cfg[key])) problems.push(`${key} must be a positive integer, got ${JSON.stringify(cfg[key])}`);
  }
  for (const key of ['downs_t', 'strides_t', 'multipliers'] as const) {
    const v = cfg[key];
    if (!Array.isArray(v) || v.length !== cfg.levels || !v.every((x) => Number.isInteger(x) && x >= 0)) {
      problems.push(`${key} must list ${cfg.levels} non-negative integers (one per level), got ${JSON.stringify(v)}`);
    }
  }
  if (Array.isArray(cfg.downs_t) && cfg.downs_t.some((d) => d === 0)) {
    problems.push(`downs_t entries must be at least 1, got ${JSON.stringify(cfg.downs_t)}`);
  }
  if (Array.isArray(cfg.strides_t) && cfg.strides_t.some((s) => s < 1)) {
    problems.push(`strides_t entries must be positive, got ${JSON.stringify(cfg.strides_t)}`);
  }
  if (!(typeof cfg.m_conv === 'number' && cfg.m_conv > 0)) problems.push(`m_conv must be positive, got ${cfg.m_conv}`);
  if (cfg.dilation_cycle !== null && !isPositiveInt(cfg.dilation_cycle)) {
    problems.push(`dilation_cycle must be null or a positive integer, got ${cfg.dilation_cycle}`);
  }
  if (problems.length > 0) {
    throw new JukeboxError(`invalid VQ-VAE config: ${problems.join('; ')}`, source);
  }
  return cfg;
}
