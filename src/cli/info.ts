import { initBackend } from '../backend';
import { readVQVAEStateDict } from '../checkpoint/load';
import { hpsFromConfig } from '../checkpoint/hps';
import { VQVAE_PRESETS } from '../checkpoint/presets';
import { hopLengths, VQVAEConfig } from '../vqvae/config';
import { parseCommandArgs } from './args';
import type { Command } from './main';

const USAGE = 'jukebox info <ckpt> [--json]';

/** The preset a config equals, if any. */
function presetName(config: VQVAEConfig): string | undefined {
  return Object.entries(VQVAE_PRESETS).find(([, p]) => JSON.stringify(hpsFromConfig(p as VQVAEConfig)) === JSON.stringify(hpsFromConfig(config)))?.[0];
}

export const infoCommand: Command = {
  summary: 'Describe a VQ-VAE checkpoint: preset or hparams, levels, hop lengths, codebooks, parameters, backend.',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('info', USAGE, argv, { json: { type: 'boolean' } }, 1);
    const [file] = args.positionals;
    const state = readVQVAEStateDict(file);
    const backend = await initBackend();
    const { config } = state;
    const hops = hopLengths(config);
    let parameters = 0;
    for (const t of state.tensors.values()) parameters += t.data.length;
    const codebookParameters = config.levels * config.l_bins * config.emb_width;
    const summary = {
      file,
      format: state.format,
      config_source: state.configSource,
      preset: presetName(config) ?? null,
      hps: hpsFromConfig(config),
      levels: config.levels,
      sample_rate: config.sr,
      hop_lengths: hops,
      tokens_per_second: hops.map((h) => config.sr / h),
      codebook: { levels: config.levels, size: config.l_bins, width: config.emb_width },
      parameters,
      conv_parameters: parameters - codebookParameters,
      backend: backend.choice,
    };
    if (args.values.json === true) {
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      return;
    }
    const lines = [
      `file:         ${file}`,
      `format:       ${state.format} (config from ${state.configSource})`,
      `preset:       ${summary.preset ?? 'none (custom hparams)'}`,
      `hparams:      ${Object.entries(summary.hps).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`,
      `levels:       ${config.levels}`,
      `sample rate:  ${config.sr} Hz`,
      `hop lengths:  ${hops.join(', ')} samples (${summary.tokens_per_second.map((t) => t.toFixed(1)).join(', ')} tokens/s)`,
      `codebooks:    ${config.levels} x ${config.l_bins} codes x ${config.emb_width} dims`,
      `parameters:   ${parameters.toLocaleString('en-US')} (${summary.conv_parameters.toLocaleString('en-US')} conv, ${codebookParameters.toLocaleString('en-US')} codebook)`,
      `backend:      ${backend.choice} (${backend.reason})`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  },
};
