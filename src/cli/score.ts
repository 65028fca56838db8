import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeAll } from '../atomic-write';
import { openAudioAsync } from '../audio/index';
import { initBackend } from '../backend';
import { SafetensorsTensor, writeSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import type { Prior } from '../prior/prior';
import { scoreCodes, smoothedBits } from '../sample/score';
import type { SongCodes } from '../sample/types';
import { encodeChunked } from '../vqvae/streaming';
import type { VQVAE } from '../vqvae/vqvae';
import { scoresPage } from '../viz/sample-pages';
import { parseCommandArgs, parseTake, required } from './args';
import { LABEL_DETAILS, LABEL_OPTIONS, LABEL_USAGE, parseLabelOptions, songMetadata } from './labels';
import type { Command } from './main';
import { CODES_OR_AUDIO_OPTIONS, checkCodesGeometry, checkLabels, loadMatchingVQVAE, loadPriorAt, priorGeometry, readCodesOrAudioInput } from './priors';
import { progressLine } from './progress';

const USAGE = `jukebox score <codes.safetensors | audio> --prior <ckpt> [--vqvae <ckpt>] ${LABEL_USAGE} [--logits] [--take K] [--preset NAME] [--quiet] --out <scores.safetensors>`;

/** Metadata `format` of a scores file. */
export const SCORES_FORMAT = 'jukebox-ts/scores';

/** Tokens over which scores.html smooths the surprise: about half a second, at least 1. */
function smoothingTokens(tokensPerSecond: number, tokens: number): number {
  return Math.max(1, Math.min(tokens, Math.round(tokensPerSecond / 2)));
}

export const scoreCommand: Command = {
  summary: 'Score codes or audio under a prior: log p of every token (and the logits), bits per token, scores.html.',
  usage: USAGE,
  details: [
    'Scores the codes of the prior\'s level (an upsampler reads its conditioning from level_{L+1} of the same file);',
    'audio is encoded first with --vqvae. Writes logprob float32 [N, tokens] (natural log), with --logits also',
    'logits float32 [N, tokens, V] (the prior\'s raw outputs at the music positions; a 1b-style joint vocabulary',
    'puts music token k at column k + shift), metadata: labels, lyric indices, bits per token; and scores.html',
    'next to the output. Songs longer than n_ctx are scored window by window. --take K scores item K only.',
    '',
    LABEL_DETAILS,
  ].join('\n'),
  async run(argv) {
    const args = parseCommandArgs('score', USAGE, argv, {
      ...LABEL_OPTIONS,
      ...CODES_OR_AUDIO_OPTIONS,
      prior: { type: 'string' },
      logits: { type: 'boolean' },
    }, 1);
    const [input] = args.positionals;
    const priorFile = required(args, 'prior', 'score', USAGE);
    const out = required(args, 'out', 'score', USAGE);
    if (path.resolve(out) === path.resolve(input)) throw new JukeboxError('score: --out must differ from the input', out);
    const outParent = path.dirname(path.resolve(out));
    if (!fs.existsSync(outParent)) throw new JukeboxError(`cannot write: the directory ${outParent} does not exist`, out);
    const labels = parseLabelOptions(args, 'score');
    const take = parseTake(args.values.take, 'score');
    const vqvaeFile = typeof args.values.vqvae === 'string' ? args.values.vqvae : undefined;
    const stored = readCodesOrAudioInput('score', USAGE, input, vqvaeFile);
    await initBackend();
    let prior: Prior | undefined;
    let vqvae: VQVAE | undefined;
    try {
      prior = loadPriorAt(priorFile, { role: '--prior', preset: typeof args.values.preset === 'string' ? args.values.preset : undefined, labelIds: labels.labelIds });
      const level = prior.level;
      const geometry = priorGeometry(prior);
      if (labels.lyricsFile !== undefined && !prior.hasLyrics) {
        throw new JukeboxError(`score: --lyrics ${labels.lyricsFile}: the prior ${path.basename(priorFile)} has no lyric conditioning`);
      }
      const needed = prior.condDownsample === null ? [level] : [level, level + 1];
      let zs: SongCodes;
      if (stored !== undefined) {
        checkCodesGeometry(input, stored, geometry, priorFile);
        for (const l of needed) {
          if (!stored.levels.has(l)) {
            const what = l === level ? `the level the prior ${path.basename(priorFile)} models` : `the level above, which the level ${level} upsampler is conditioned on`;
            throw new JukeboxError(`holds no level_${l} codes, ${what} (it holds ${[...stored.levels.keys()].map((k) => `level_${k}`).join(', ')})`, input);
          }
        }
        if (take !== undefined && take >= stored.items) throw new JukeboxError(`has no item ${take} (it holds ${stored.items}: --take 0..${stored.items - 1})`, input);
        zs = new Map(needed.map((l) => [l, take === undefined ? stored.levels.get(l)! : [stored.levels.get(l)![take]]]));
      } else {
        if (take !== undefined) throw new JukeboxError('score: --take picks an item of a codes file; audio has one');
        vqvae = loadMatchingVQVAE(vqvaeFile!, geometry, priorFile);
        const source = await openAudioAsync(input, geometry.sampleRate);
        try {
          const codes = await encodeChunked(vqvae, source, needed);
          zs = new Map(needed.map((l, i) => [l, [codes[i]]]));
        } finally {
          source.close();
        }
      }
      const rows = zs.get(level)!;
      const tokens = rows[0].length;
      const hop = geometry.hopLengths[level];
      const metas = rows.map(() => songMetadata(labels, (tokens * hop) / geometry.sampleRate));
      checkLabels([prior], metas);
      const progress = progressLine('scoring', (n) => `window ${n}`, args.values.quiet === true);
      const result = await scoreCodes(prior, zs, { metas, logits: args.values.logits === true, onProgress: progress.update });
      progress.finish();
      const perItem = Array.from({ length: result.items }, (_, i) => {
        let s = 0;
        for (let t = 0; t < tokens; t++) s -= result.logprob[i * tokens + t];
        return s / tokens / Math.LN2;
      });
      const smooth = smoothingTokens(geometry.sampleRate / hop, tokens);
      const html = scoresPage({
        source: path.basename(input),
        prior: path.basename(priorFile),
        level,
        sampleRate: geometry.sampleRate,
        hopLength: hop,
        smoothed: smoothedBits(result.logprob, result.items, tokens, smooth),
        smoothTokens: smooth,
        meanBits: perItem,
        bitsPerToken: result.bitsPerToken,
      });
      const tensors = new Map<string, SafetensorsTensor>([['logprob', { dtype: 'F32', shape: [result.items, tokens], data: result.logprob }]]);
      if (result.logits) tensors.set('logits', { dtype: 'F32', shape: [result.items, tokens, result.vocab], data: result.logits });
      await writeSafetensors(out, tensors, {
        format: SCORES_FORMAT,
        source: path.basename(input),
        prior: path.basename(priorFile),
        level: String(level),
        sample_rate: String(geometry.sampleRate),
        hop_lengths: JSON.stringify(geometry.hopLengths),
        ...(take !== undefined ? { take: String(take) } : {}),
        bits_per_token: String(result.bitsPerToken),
        bits_per_token_items: JSON.stringify(perItem),
        labels: JSON.stringify(result.labelRows?.[0] ?? null),
        label_windows: JSON.stringify(result.labelRows),
        lyric_indices: JSON.stringify(result.lyricIndices),
        metas: JSON.stringify(metas),
        windows: JSON.stringify(result.windows),
        vocab: String(result.vocab),
        music_shift: String(result.shift),
      });
      await writeFileAtomic(path.join(path.dirname(out), 'scores.html'), (fd) => writeAll(fd, Buffer.from(html)));
      if (args.values.quiet !== true) process.stderr.write(`${path.basename(input)}: ${result.bitsPerToken.toFixed(4)} bits per token (level ${level}, ${result.items} item${result.items === 1 ? '' : 's'} x ${tokens} tokens)\n`);
    } finally {
      prior?.dispose();
      vqvae?.dispose();
    }
  },
};
