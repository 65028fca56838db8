import { initBackend } from '../backend';
import { readVQVAEStateDict } from '../checkpoint/load';
import { hpsFromConfig } from '../checkpoint/hps';
import { VQVAE_PRESETS } from '../checkpoint/presets';
import { hopLengths, VQVAEConfig } from '../vqvae/config';
import { levelDownsamples, PriorConfig, rawToTokens } from '../prior/config';
import { hpsFromPriorConfig } from '../prior/hps';
import { describePrior, isPriorCheckpoint, WASM_MAX_MODEL_BYTES } from '../prior/load';
import { PRIOR_PRESET_NAMES, priorPreset } from '../prior/presets';
import { parseCommandArgs } from './args';
import type { Command } from './main';

const USAGE = 'jukebox info <ckpt> [--label-ids DIR] [--json]';

/** The preset a config equals, if any. */
function presetName(config: VQVAEConfig): string | undefined {
  return Object.entries(VQVAE_PRESETS).find(([, p]) => JSON.stringify(hpsFromConfig(p as VQVAEConfig)) === JSON.stringify(hpsFromConfig(config)))?.[0];
}

/** The prior preset a config equals, if any. */
function priorPresetName(config: PriorConfig): string | undefined {
  const hps = JSON.stringify(hpsFromPriorConfig(config));
  return PRIOR_PRESET_NAMES.find((name) => JSON.stringify(hpsFromPriorConfig(priorPreset(name))) === hps);
}

/** Names of a label table in id order (id 0, "unknown", first). */
function namesById(table: Map<string, number>): string[] {
  return [...table].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([name]) => name);
}

/** Prints what a prior checkpoint is: its level and role, context, conditioning, and the artists and genres it knows. */
async function describePriorCommand(file: string, labelIds: string | undefined, json: boolean): Promise<void> {
  const d = describePrior(file, { labelIds });
  const backend = await initBackend();
  const c = d.config;
  const top = c.level === c.levels - 1;
  const hop = rawToTokens(c, c.level);
  const lyrics = c.n_tokens > 0 ? (c.single_enc_dec ? 'lyrics in the same sequence (1b_lyrics design)' : 'separate lyrics encoder (5b_lyrics design)') : 'none';
  const summary = {
    file,
    kind: top ? 'top-level prior' : `upsampler (level ${c.level}, conditioned on level ${c.level + 1})`,
    format: d.format,
    config_source: d.configSource,
    preset: priorPresetName(c) ?? null,
    level: c.level,
    sample_rate: c.sr,
    hop_lengths: levelDownsamples(c).map((_, l) => rawToTokens(c, l)),
    n_ctx: c.n_ctx,
    context_seconds: (c.n_ctx * hop) / c.sr,
    transformer: { width: c.prior_width, depth: c.prior_depth, heads: c.heads, attn_order: c.attn_order, blocks: c.blocks },
    vocabulary: c.l_bins,
    lyrics,
    lyric_tokens: c.n_tokens,
    // The head `jukebox align` reads by default and how it decodes the words (null: the head finder picks).
    alignment: c.n_tokens > 0 && c.alignment_layer !== null && c.alignment_head !== null
      ? { layer: c.alignment_layer, head: c.alignment_head, decoding: c.alignment_decoding } : null,
    labels: c.labels ? (c.labels_v3 ? 'v3' : 'v2') : null,
    duration_range_seconds: c.min_duration === null || c.max_duration === null ? null : [c.min_duration, c.max_duration],
    artists: d.labelTables === null ? null : namesById(d.labelTables.artists),
    genres: d.labelTables === null ? null : namesById(d.labelTables.genres),
    parameters: d.parameters,
    float32_bytes: d.parameters * 4,
    fits_wasm: d.parameters * 4 <= WASM_MAX_MODEL_BYTES,
    backend: backend.choice,
  };
  if (json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return;
  }
  const list = (names: string[] | null) =>
    names === null ? (c.labels ? 'no id tables (give --label-ids DIR or set JUKEBOX_LABEL_IDS; ids work without them)' : 'no labels') : `${names.length}: ${names.join(', ')}`;
  const lines = [
    `file:         ${file}`,
    `kind:         ${summary.kind}`,
    `format:       ${d.format} (config from ${d.configSource})`,
    `preset:       ${summary.preset ?? 'none (custom hparams)'}`,
    `sample rate:  ${c.sr} Hz; this level's hop ${hop} samples (${(c.sr / hop).toFixed(1)} tokens/s)`,
    `context:      ${c.n_ctx} tokens = ${summary.context_seconds.toFixed(2)} s`,
    `transformer:  width ${c.prior_width}, depth ${c.prior_depth}, ${c.heads} head${c.heads === 1 ? '' : 's'}, attn_order ${c.attn_order}, ${c.l_bins} codes`,
    `lyrics:       ${lyrics}${c.n_tokens > 0 ? `, ${c.n_tokens} characters per window` : ''}`,
    ...(c.n_tokens > 0 ? [`alignment:    ${summary.alignment === null ? 'no head named (jukebox align ranks them)' : `layer ${summary.alignment.layer}, head ${summary.alignment.head} (decoding: ${summary.alignment.decoding})`}`] : []),
    `labels:       ${summary.labels ?? 'none'}${summary.duration_range_seconds ? `, songs of ${c.min_duration}–${c.max_duration} s` : ''}`,
    `artists:      ${list(summary.artists)}`,
    `genres:       ${list(summary.genres)}`,
    `parameters:   ${d.parameters.toLocaleString('en-US')} (${(summary.float32_bytes / 1e6).toFixed(1)} MB as float32${summary.fits_wasm ? '' : '; too large for wasm: install tfjs-node or tfjs-node-gpu'})`,
    `backend:      ${backend.choice} (${backend.reason})`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export const infoCommand: Command = {
  summary: 'Describe a checkpoint. A VQ-VAE: preset or hparams, levels, hop lengths, codebooks. A prior: level, context, conditioning, its artists and genres.',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('info', USAGE, argv, { json: { type: 'boolean' }, 'label-ids': { type: 'string' } }, 1);
    const [file] = args.positionals;
    if (isPriorCheckpoint(file)) {
      const labelIds = args.values['label-ids'];
      await describePriorCommand(file, typeof labelIds === 'string' ? labelIds : undefined, args.values.json === true);
      return;
    }
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
