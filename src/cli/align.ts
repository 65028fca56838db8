import * as path from 'path';
import { alignLyrics, alignWords, checkHeadChoice, headKey, isAlignmentDecoding, readCharacters, type AlignmentDecoding, type AlignmentResult } from '../align/index';
import { writeFileAtomic, writeAll } from '../atomic-write';
import { openAudioAsync } from '../audio/index';
import { initBackend } from '../backend';
import { writeSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import type { Prior } from '../prior/prior';
import { parseHeadKey } from '../viz/attention';
import { karaokePage, type KaraokePageInput } from '../viz/karaoke';
import { decodeChunked, encodeChunked } from '../vqvae/streaming';
import type { VQVAE } from '../vqvae/vqvae';
import { ParsedArgs, parseCommandArgs, parseTake, required } from './args';
import { LABEL_DETAILS, LABEL_OPTIONS, LABEL_USAGE, parseLabelOptions, songMetadata } from './labels';
import type { Command } from './main';
import { CODES_OR_AUDIO_OPTIONS, checkCodesGeometry, checkCodesRange, checkLabels, checkOutputDir, labelsRow, loadMatchingVQVAE, loadPriorAt, priorGeometry, readCodesOrAudioInput, writeOutputDir } from './priors';
import { progressLine } from './progress';

const LABELS_BUT_LYRICS = LABEL_USAGE.replace('[--lyrics FILE] ', '');
const USAGE = `jukebox align <audio | codes.safetensors> --top <ckpt> [--vqvae <ckpt>] --lyrics FILE ${LABELS_BUT_LYRICS} [--layer L --head H | --find-head] [--decoding words|lines] [--take K] [--preset NAME] [--quiet] --out DIR`;

/** Metadata `format` of attention.safetensors. */
export const ALIGNMENT_FORMAT = 'jukebox-ts/alignment';

/** alignment.json: the alignment of one song, times in seconds. */
export interface AlignmentJson {
  layer: number;
  head: number;
  sample_rate: number;
  hop_length: number;
  characters: string[];
  words: { word: string; start: number; end: number }[];
  method: string;
}

/** The fields of alignment.json, in the contract's order. */
export function alignmentJson(result: AlignmentResult): AlignmentJson {
  return {
    layer: result.layer,
    head: result.head,
    sample_rate: result.sample_rate,
    hop_length: result.hop_length,
    characters: result.characters,
    words: result.words.map((w) => ({ word: w.word, start: w.start, end: w.end })),
    method: result.method,
  };
}

export interface AlignmentOutputOptions {
  /** Page title. */
  title: string;
  subtitle?: string;
  /** The song on the page: a WAV relative to the page, or samples to embed; none: a slider. */
  audio?: KaraokePageInput['audio'];
  /** Labels shown on the page. */
  labels?: Record<string, string | number>;
}

/**
 * Writes an alignment into `dir`: alignment.json, attention.safetensors (`alignment`, float32
 * [tokens, characters], the chosen head's stitched matrix), index.html (the karaoke page, every
 * captured head selectable, each with its own word timings) and, when the head finder ran,
 * heads.json (its ranking, best first). `jukebox align` writes one; `jukebox sample` one per item.
 */
export async function writeAlignmentOutputs(dir: string, result: AlignmentResult, options: AlignmentOutputOptions): Promise<void> {
  const attn = result.attention;
  const chosen = headKey(result.layer, result.head);
  // Every captured head's own word timings (decoded as the chosen head's), for the page's head
  // selector (Viterbi: cheap beside capture). The characters read are the same for every head:
  // found once, not once per head.
  const read = readCharacters(attn.maps.values(), attn.characters.length);
  const words = new Map([...attn.maps.keys()].map((key) => {
    const { layer, head } = parseHeadKey(key);
    return [key, key === chosen ? result.words : alignWords(attn, layer, head, { decoding: result.decoding }, read)];
  }));
  const json = (value: unknown) => (fd: number) => writeAll(fd, Buffer.from(`${JSON.stringify(value, null, 2)}\n`));
  await writeFileAtomic(path.join(dir, 'alignment.json'), json(alignmentJson(result)));
  await writeSafetensors(path.join(dir, 'attention.safetensors'), new Map([['alignment', { dtype: 'F32' as const, shape: [attn.tokens, result.characters.length], data: attn.maps.get(chosen)! }]]), {
    format: ALIGNMENT_FORMAT,
    layer: String(result.layer),
    head: String(result.head),
    sample_rate: String(result.sample_rate),
    hop_length: String(result.hop_length),
    characters: JSON.stringify(result.characters),
  });
  if (result.heads) await writeFileAtomic(path.join(dir, 'heads.json'), json(result.heads));
  const html = karaokePage({
    title: options.title,
    subtitle: options.subtitle,
    attention: attn,
    chosen: { layer: result.layer, head: result.head },
    words,
    audio: options.audio,
    method: result.method,
    ranking: result.heads as KaraokePageInput['ranking'],
    labels: options.labels,
  });
  await writeFileAtomic(path.join(dir, 'index.html'), (fd) => writeAll(fd, Buffer.from(html)));
}

/** `--layer L --head H` (both) or `--find-head`, and `--decoding`, checked before any model is loaded. */
function parseHeadChoice(args: ParsedArgs): { layer?: number; head?: number; findHead: boolean; decoding?: AlignmentDecoding } {
  const int = (name: string) => {
    const v = args.values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < 0) throw new JukeboxError(`align: --${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
  const layer = int('layer');
  const head = int('head');
  const findHead = args.values['find-head'] === true;
  if (findHead && (layer !== undefined || head !== undefined)) throw new JukeboxError('align: give --layer L --head H or --find-head, not both');
  if ((layer === undefined) !== (head === undefined)) throw new JukeboxError(`align: --${layer === undefined ? 'head' : 'layer'} needs --${layer === undefined ? 'layer' : 'head'} (give both, or --find-head to rank every lyric head)`);
  const decoding = args.values.decoding;
  if (decoding !== undefined && !isAlignmentDecoding(decoding)) throw new JukeboxError(`align: --decoding must be words or lines, got '${decoding}'`);
  return { layer, head, findHead, ...(decoding === undefined ? {} : { decoding }) };
}

/** The song's audio for the page, read whole (it is embedded in the page). */
async function decodeWhole(vqvae: VQVAE, codes: Int32Array, level: number): Promise<Float32Array> {
  const out = new Float32Array(codes.length * vqvae.hopLengths[level]);
  let at = 0;
  await decodeChunked(vqvae, codes, level, (chunk) => {
    out.set(chunk, at);
    at += chunk.length;
  });
  return out;
}

export const alignCommand: Command = {
  summary: 'Align lyrics to a song with a top prior\'s lyric attention: word timings, the attention matrix, a karaoke page.',
  usage: USAGE,
  details: [
    'Writes DIR/alignment.json ({ layer, head, sample_rate, hop_length, characters: the cleaned lyrics the model saw,',
    'words: [{ word, start, end }] in seconds, method }), DIR/attention.safetensors (alignment: float32 [tokens, characters],',
    'the chosen head\'s attention stitched over windows as the reference\'s get_alignment) and DIR/index.html (an offline',
    'karaoke page: the song with the word being sung highlighted, the attention with a playback cursor, a head selector).',
    'Audio is encoded with --vqvae; a codes file (from encode or sample) gives its top level (--take K: item K of several),',
    'and with --vqvae its finest level is decoded for the page (without: the page has a position slider instead of audio).',
    'The head: --layer L --head H; else the prior\'s alignment_layer/alignment_head (5b_lyrics 68/2, 1b_lyrics 63/0);',
    'else, or with --find-head, the head finder ranks every lyric head (DIR/heads.json, and a grid of all heads on the page).',
    '--decoding words|lines: how the head\'s attention becomes word timings (default: the prior\'s alignment_decoding, which',
    'jukebox info shows). words: Viterbi over words and gaps, for a head that follows the sung word (the published ones);',
    'lines: the lines first, then the words within each, for a head that knows only the line (the default top prior\'s).',
    '',
    LABEL_DETAILS,
  ].join('\n'),
  async run(argv) {
    const args = parseCommandArgs('align', USAGE, argv, {
      ...LABEL_OPTIONS,
      ...CODES_OR_AUDIO_OPTIONS,
      top: { type: 'string' },
      layer: { type: 'string' },
      head: { type: 'string' },
      'find-head': { type: 'boolean' },
      decoding: { type: 'string' },
    }, 1);
    const [input] = args.positionals;
    const topFile = required(args, 'top', 'align', USAGE);
    const outDir = required(args, 'out', 'align', USAGE);
    required(args, 'lyrics', 'align', USAGE);
    const choice = parseHeadChoice(args);
    checkOutputDir(outDir);
    const labels = parseLabelOptions(args, 'align');
    if (labels.lyrics.trim() === '') throw new JukeboxError('has no lyrics to align (the file is empty)', labels.lyricsFile);
    const take = parseTake(args.values.take, 'align');
    const vqvaeFile = typeof args.values.vqvae === 'string' ? args.values.vqvae : undefined;
    const stored = readCodesOrAudioInput('align', USAGE, input, vqvaeFile);
    if (stored === undefined && take !== undefined) throw new JukeboxError('align: --take picks an item of a codes file; audio has one');
    await initBackend();
    let prior: Prior | undefined;
    let vqvae: VQVAE | undefined;
    try {
      prior = loadPriorAt(topFile, { role: '--top', preset: typeof args.values.preset === 'string' ? args.values.preset : undefined, labelIds: labels.labelIds });
      if (prior.condDownsample !== null) throw new JukeboxError(`models level ${prior.level}, an upsampler; --top takes a top-level prior (level ${prior.config.levels - 1})`, topFile);
      if (!prior.hasLyrics) throw new JukeboxError(`align: the prior ${path.basename(topFile)} has no lyric conditioning, so it has no lyric attention to align with`);
      // The head is checked here, before the labels (whose warnings would precede the error).
      checkHeadChoice(prior, choice.layer, choice.head);
      const geometry = priorGeometry(prior);
      const level = prior.level;
      if (vqvaeFile !== undefined) vqvae = loadMatchingVQVAE(vqvaeFile, geometry, topFile);
      let zTop: Int32Array;
      let audio: KaraokePageInput['audio'];
      if (stored !== undefined) {
        checkCodesGeometry(input, stored, geometry, topFile);
        const rows = stored.levels.get(level);
        if (rows === undefined) throw new JukeboxError(`holds no level_${level} codes, the level the prior ${path.basename(topFile)} models (it holds ${[...stored.levels.keys()].map((k) => `level_${k}`).join(', ')})`, input);
        if (take === undefined && stored.items > 1) throw new JukeboxError(`holds ${stored.items} items: pick one with --take K (0..${stored.items - 1})`, input);
        if (take !== undefined && take >= stored.items) throw new JukeboxError(`has no item ${take} (it holds ${stored.items}: --take 0..${stored.items - 1})`, input);
        const item = take ?? 0;
        checkCodesRange(input, new Map([[level, [rows[item]]]]), prior.lBins);
        zTop = rows[item];
        if (vqvae !== undefined) {
          const finest = Math.min(...stored.levels.keys());
          checkCodesRange(input, new Map([[finest, [stored.levels.get(finest)![item]]]]), vqvae.config.l_bins);
          audio = { samples: await decodeWhole(vqvae, stored.levels.get(finest)![item], finest), sampleRate: geometry.sampleRate };
        }
      } else {
        const source = await openAudioAsync(input, geometry.sampleRate);
        try {
          [zTop] = await encodeChunked(vqvae!, source, [level]);
          audio = { samples: source.read(0, source.length), sampleRate: geometry.sampleRate };
        } finally {
          source.close();
        }
      }
      if (zTop.length === 0) throw new JukeboxError(`is shorter than one top-level token (${geometry.hopLengths[level]} samples)`, input);
      const meta = songMetadata(labels, (zTop.length * geometry.hopLengths[level]) / geometry.sampleRate);
      checkLabels([prior], [meta]);
      const progress = progressLine('aligning', (n) => `window ${n}`, args.values.quiet === true);
      let result: AlignmentResult;
      try {
        result = await alignLyrics(prior, zTop, meta, { ...choice, onWindow: progress.update });
      } finally {
        progress.finish();
      }
      await writeOutputDir(outDir, (dir) => writeAlignmentOutputs(dir, result, {
        title: `Lyric alignment of ${path.basename(input)}${take !== undefined ? ` (item ${take})` : ''}`,
        subtitle: `top prior ${path.basename(topFile)} · layer ${result.layer}, head ${result.head} · ${result.words.length} words over ${(zTop.length * geometry.hopLengths[level] / geometry.sampleRate).toFixed(2)} s`,
        audio,
        labels: labelsRow(meta),
      }));
      if (args.values.quiet !== true) {
        process.stderr.write(`${path.basename(input)}: ${result.words.length} words aligned with layer ${result.layer}, head ${result.head}${result.heads ? ' (head finder\'s first)' : ''}; wrote ${outDir}\n`);
      }
    } finally {
      prior?.dispose();
      vqvae?.dispose();
    }
  },
};
