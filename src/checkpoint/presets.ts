import { JukeboxError } from '../errors';
import { VQVAEConfig, validateVQVAEConfig } from '../vqvae/config';

/** The published VQ-VAE shared by the 5b, 5b_lyrics and 1b_lyrics models (reference `hparams.py`, `vqvae`). */
const PRESET_5B: VQVAEConfig = {
  sr: 44100,
  levels: 3,
  downs_t: [3, 2, 2],
  strides_t: [2, 2, 2],
  emb_width: 64,
  l_bins: 2048,
  width: 32,
  depth: 4,
  m_conv: 1,
  dilation_growth_rate: 3,
  dilation_cycle: null,
  multipliers: [2, 1, 1],
  reverse_decoder_dilation: true,
  l_mu: 0.99,
  commit: 0.02,
  sample_length: 1048576,
};

/**
 * Named configurations. `small` and `tiny` keep the published structure (three levels, multipliers,
 * dilated residual stacks, reversed decoder dilation) at a size a CPU trains and tests in seconds.
 */
export const VQVAE_PRESETS: Readonly<Record<string, Readonly<VQVAEConfig>>> = {
  '5b': PRESET_5B,
  /** Hops 8/32/128 like 5b, a quarter of the width: for CPU experiments at 22.05 kHz. */
  small: {
    ...PRESET_5B,
    sr: 22050,
    emb_width: 32,
    l_bins: 512,
    width: 16,
    depth: 3,
    sample_length: 32768,
  },
  /**
   * The shipped default VQ-VAE (weights/default/, `npm run train-default`): hops 8/32/128 like 5b at
   * 16 kHz, which costs a CPU 27% less per second of audio than 22.05 kHz at every level and every
   * prior. 2048 codes per level like 5b: against 256, the bottom two levels' training spectral
   * convergence was 0.8 dB better at equal steps (0.31 / 0.46 against 0.34 / 0.50 linear at step
   * 500) and the top level's the same. A batch of 4 × 16384 samples gives the top level only 512
   * tokens for 2048 codes, so train-default lowers the restart threshold to 0.1 (the reference's 1
   * would restart live codes every step); after 6000 steps every code is in use on held-out songs.
   * Multipliers 1,1,2 (5b has 2,1,1): the top level, which has to rebuild 128 samples from each
   * code, gets twice the width and depth, and the bottom level half. At the same cost per step,
   * paired over the first 700 steps, the top level's training spectral convergence fell to 0.62
   * against 0.68 with 2,1,1, and the bottom level's was no worse (0.26 against 0.28).
   */
  default: {
    ...PRESET_5B,
    sr: 16000,
    emb_width: 32,
    l_bins: 2048,
    multipliers: [1, 1, 2],
    width: 16,
    depth: 3,
    sample_length: 16384,
  },
  /** Hops 8/32/128 like 5b at width 8: the notebooks' demo model, small enough to ship in data/. */
  mini: {
    ...PRESET_5B,
    sr: 22050,
    emb_width: 16,
    l_bins: 128,
    width: 8,
    depth: 2,
    sample_length: 8192,
  },
  /** Hops 4/8/16, width 8: for tests and the parity fixtures. */
  tiny: {
    ...PRESET_5B,
    sr: 22050,
    downs_t: [2, 1, 1],
    emb_width: 16,
    l_bins: 64,
    width: 8,
    depth: 2,
    sample_length: 4096,
  },
};

/** Returns a copy of a preset's config, or throws naming the presets that exist. */
export function vqvaePreset(name: string): VQVAEConfig {
  const preset = VQVAE_PRESETS[name];
  if (preset === undefined) {
    throw new JukeboxError(`unknown VQ-VAE preset '${name}' (known: ${Object.keys(VQVAE_PRESETS).join(', ')})`);
  }
  return validateVQVAEConfig(structuredClone(preset) as VQVAEConfig, `preset '${name}'`);
}
