import { JukeboxError } from '../errors';
import { validateVQVAEConfig, VQVAEConfig } from '../vqvae/config';

/**
 * The reference's defaults for the VQ-VAE fields (`hparams.py`: DEFAULTS "vqvae",
 * "vqvae_conv_block" and "audio"). A checkpoint's `hps` was built on top of these, so a field it
 * lacks takes the value the reference would have used.
 */
const REFERENCE_DEFAULTS = {
  sr: 44100,
  levels: 2,
  downs_t: [1, 1],
  strides_t: [2, 2],
  hvqvae_multipliers: null,
  emb_width: 64,
  l_bins: 512,
  l_mu: 0.99,
  commit: 1.0,
  depth: 3,
  width: 128,
  m_conv: 1.0,
  dilation_growth_rate: 1,
  dilation_cycle: null,
  vqvae_reverse_decoder_dilation: true,
  sample_length: 0,
} as const;

function toNumber(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

function toNumberList(v: unknown): unknown {
  return Array.isArray(v) ? v.map(toNumber) : v;
}

/** Reads a value of a Python dict as the unpickler returned it (a Map or a plain object). */
function lookup(hps: unknown, key: string): unknown {
  if (hps instanceof Map) return hps.get(key);
  if (hps !== null && typeof hps === 'object') return (hps as Record<string, unknown>)[key];
  return undefined;
}

/**
 * Turns a reference checkpoint's `hps` dict into a VQVAEConfig, field by field, with the
 * reference's defaults for missing fields. Numpy scalars and Python ints arrive as numbers or
 * bigints; tuples as arrays.
 */
export function configFromHps(hps: unknown, file: string): VQVAEConfig {
  if (hps === null || typeof hps !== 'object') {
    throw new JukeboxError(`the checkpoint's 'hps' entry is not a dict`, file);
  }
  const get = (key: keyof typeof REFERENCE_DEFAULTS): unknown => {
    const v = lookup(hps, key);
    return v === undefined ? REFERENCE_DEFAULTS[key] : v;
  };
  const levels = toNumber(get('levels')) as number;
  const multipliers = toNumberList(get('hvqvae_multipliers'));
  const cycle = toNumber(get('dilation_cycle'));
  const config: VQVAEConfig = {
    sr: toNumber(get('sr')) as number,
    levels,
    downs_t: toNumberList(get('downs_t')) as number[],
    strides_t: toNumberList(get('strides_t')) as number[],
    emb_width: toNumber(get('emb_width')) as number,
    l_bins: toNumber(get('l_bins')) as number,
    width: toNumber(get('width')) as number,
    depth: toNumber(get('depth')) as number,
    m_conv: toNumber(get('m_conv')) as number,
    dilation_growth_rate: toNumber(get('dilation_growth_rate')) as number,
    dilation_cycle: cycle === null || cycle === undefined ? null : (cycle as number),
    multipliers: multipliers === null ? Array<number>(levels).fill(1) : (multipliers as number[]),
    reverse_decoder_dilation: Boolean(get('vqvae_reverse_decoder_dilation')),
    l_mu: toNumber(get('l_mu')) as number,
    commit: toNumber(get('commit')) as number,
    sample_length: (toNumber(get('sample_length')) as number) ?? 0,
  };
  return validateVQVAEConfig(config, file);
}

/** The config as a reference `hps` dict (for safetensors metadata readers on the Python side). */
export function hpsFromConfig(config: VQVAEConfig): Record<string, unknown> {
  return {
    sr: config.sr,
    levels: config.levels,
    downs_t: config.downs_t,
    strides_t: config.strides_t,
    emb_width: config.emb_width,
    l_bins: config.l_bins,
    l_mu: config.l_mu,
    commit: config.commit,
    width: config.width,
    depth: config.depth,
    m_conv: config.m_conv,
    dilation_growth_rate: config.dilation_growth_rate,
    dilation_cycle: config.dilation_cycle,
    hvqvae_multipliers: config.multipliers,
    vqvae_reverse_decoder_dilation: config.reverse_decoder_dilation,
    sample_length: config.sample_length,
  };
}
