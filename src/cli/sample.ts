import * as fs from 'fs';
import * as path from 'path';
import { alignLyrics } from '../align/index';
import { writeFileAtomic, writeAll } from '../atomic-write';
import { openAudioAsync } from '../audio/index';
import { initBackend } from '../backend';
import { isSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import type { Prior } from '../prior/prior';
import { Rng } from '../rng';
import { checkLevelLength, codesForBatch, sampleLevels } from '../sample/sampler';
import { promptSamples } from '../sample/modes';
import type { LevelSettings, SongCodes } from '../sample/types';
import { BatchedCodesFile, readBatchedCodesFile, writeBatchedCodesFile } from '../vqvae/codes-file';
import { encodeChunked, SampleSource } from '../vqvae/streaming';
import type { VQVAE } from '../vqvae/vqvae';
import { samplePage } from '../viz/sample-pages';
import { writeAlignmentOutputs } from './align';
import { OptionSpec, ParsedArgs, parseCommandArgs, parseTake, required } from './args';
import { LABEL_DETAILS, LABEL_OPTIONS, LABEL_USAGE, LabelOptions, parseLabelOptions, songMetadata } from './labels';
import type { Command } from './main';
import {
  checkCodesGeometry, checkCodesRange, checkLabels, checkOutputDir, checkSameGeometry, decodeAll, Geometry, labelsRow, levelSettings, loadMatchingVQVAE, loadPriorAt,
  parseLevelChain, parseSamplingOptions, positiveInteger, SamplingOptions, writeOutputDir,
} from './priors';
import { sampleProgressLine } from './progress';

const SAMPLING_USAGE = '[--samples N] [--temperature T] [--top-k K] [--top-p P] [--hop-fraction a,b,c] [--seed S]';
const SAMPLE_USAGE = `jukebox sample --top <ckpt> [--upsamplers <ckpt_level1>,<ckpt_level0>] [--vqvae <ckpt>] ${LABEL_USAGE} (--seconds S | --tokens N) ${SAMPLING_USAGE} [--levels 2|2,1|2,1,0] [--prime <audio|codes> [--prime-seconds P] [--take K]] [--preset NAME] [--upsampler-presets NAME1[,NAME0]] [--codes-only] [--quiet] --out DIR`;
const UPSAMPLE_USAGE = `jukebox upsample <codes.safetensors> --upsamplers <ckpt1>[,<ckpt0>] [--take K] [--vqvae <ckpt>] ${LABEL_USAGE} ${SAMPLING_USAGE} [--levels 1|1,0] [--upsampler-presets NAME1[,NAME0]] [--codes-only] [--quiet] --out DIR`;

const OUTPUT_DETAILS = [
  'Writes DIR/codes.safetensors (int32 level_L [N, tokens] for every level sampled and the prompt levels; metadata:',
  'labels, settings, seed, sample_rate, hop_lengths) and, unless --codes-only, DIR/level_L/item_i.wav (32-bit float)',
  'and DIR/index.html (offline players per level and item). --codes-only needs no --vqvae.',
  'When the top prior reads lyrics, each item also gets DIR/item_i/ (alignment.json, attention.safetensors and',
  'index.html, as `jukebox align` writes them): its lyrics aligned to the sampled top-level codes, one extra',
  'teacher-forced pass of the top level per item, with the prior\'s alignment head (else the head finder\'s first).',
].join('\n');

const SAMPLING_DETAILS = [
  'Sampling (defaults as the reference sample.py):',
  '  --samples N            items sampled together, in batches of 3 (5b top) or 16 (1b top, upsamplers); default 1',
  '  --temperature T        default 0.99;  --top-k K  default 0 (off);  --top-p P  default 0 (off)',
  '  --hop-fraction a,b,c   window hop as a fraction of n_ctx, by level from level 0; default 0.5,0.5,0.125',
  '  --seed S               makes the run reproducible; default 0',
].join('\n');

const SAMPLING_OPTIONS: OptionSpec = {
  ...LABEL_OPTIONS,
  upsamplers: { type: 'string' },
  vqvae: { type: 'string' },
  samples: { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'hop-fraction': { type: 'string' },
  seed: { type: 'string' },
  levels: { type: 'string' },
  take: { type: 'string' },
  'upsampler-presets': { type: 'string' },
  'codes-only': { type: 'boolean' },
  quiet: { type: 'boolean' },
  out: { type: 'string' },
};

/** Everything a sampling run needs once the options are checked and the models loaded. */
interface Run {
  command: string;
  priors: { file: string; prior: Prior }[];
  geometry: Geometry;
  vqvae: VQVAE | null;
  vqvaeFile?: string;
  options: SamplingOptions;
  settings: Map<number, LevelSettings>;
  outDir: string;
  quiet: boolean;
}

/** Loads the upsamplers listed in `--upsamplers` for levels `below - 1`, `below - 2`, ... as far as `levels` need. */
function loadUpsamplers(args: ParsedArgs, command: string, usage: string, levels: number[], below: number, labelIds?: string): { file: string; prior: Prior }[] {
  const needed = levels.filter((l) => l < below);
  if (needed.length === 0) return [];
  const list = typeof args.values.upsamplers === 'string' ? args.values.upsamplers.split(',').map((s) => s.trim()).filter((s) => s !== '') : [];
  if (list.length < needed.length) {
    throw new JukeboxError(`${command}: --levels ${levels.join(',')} needs an upsampler for level ${needed[list.length]} (--upsamplers <ckpt_level${below - 1}>${below - 1 > 0 ? `,<ckpt_level${below - 2}>` : ''}; usage: ${usage})`);
  }
  const presets = typeof args.values['upsampler-presets'] === 'string' ? args.values['upsampler-presets'].split(',').map((s) => s.trim()) : [];
  const loaded: { file: string; prior: Prior }[] = [];
  try {
    for (const [i, level] of needed.entries()) {
      const file = list[i];
      loaded.push({ file, prior: loadPriorAt(file, { level, role: `--upsamplers entry ${i + 1}`, preset: presets[i] || undefined, labelIds }) });
    }
  } catch (err) {
    loaded.forEach((l) => l.prior.dispose());
    throw err;
  }
  return loaded;
}

/** Refuses lyrics no prior of the run takes (upsamplers ignore the top prior's lyrics). */
function checkLyrics(labels: LabelOptions, priors: { file: string; prior: Prior }[], command: string): void {
  if (labels.lyricsFile !== undefined && !priors.some((p) => p.prior.hasLyrics)) {
    throw new JukeboxError(`${command}: --lyrics ${labels.lyricsFile}: no prior sampled takes lyrics (${priors.map((p) => path.basename(p.file)).join(', ')} ${priors.length === 1 ? 'has' : 'have'} no lyric conditioning)`);
  }
}

/** A cut of a source to its first `length` samples. */
function firstSamples(source: SampleSource, length: number): SampleSource {
  return { sampleRate: source.sampleRate, length, read: (a, b) => source.read(a, Math.min(b, length)) };
}

/** Samples, then writes the codes file and (unless --codes-only) the WAVs and the page. */
async function sampleAndWrite(run: Run, zs: SongCodes, lengthSamples: number, metas: ReturnType<typeof songMetadata>[], extra: Record<string, string>): Promise<void> {
  const progress = sampleProgressLine(run.quiet);
  try {
    await sampleLevels(run.priors.map((p) => p.prior), zs, lengthSamples, { metas, settings: run.settings, rng: new Rng(run.options.seed), onProgress: progress.update });
  } finally {
    progress.finish();
  }
  const settingsJson = Object.fromEntries([...run.settings].map(([level, s]) => [`level_${level}`, s]));
  const metadata: Record<string, string> = {
    ...extra,
    labels: JSON.stringify(metas),
    settings: JSON.stringify(settingsJson),
    seed: String(run.options.seed),
    length_samples: String(lengthSamples),
    priors: JSON.stringify(Object.fromEntries(run.priors.map((p) => [`level_${p.prior.level}`, path.basename(p.file)]))),
    ...(run.vqvaeFile ? { vqvae: path.basename(run.vqvaeFile) } : {}),
  };
  await writeOutputDir(run.outDir, async (dir) => {
    await writeBatchedCodesFile(path.join(dir, 'codes.safetensors'), zs, run.geometry.sampleRate, run.geometry.hopLengths, metadata);
    if (run.vqvae === null) return;
    const audio = await decodeAll(run.vqvae, zs, dir, (level) => !run.quiet && process.stderr.write(`decoding level ${level}\n`));
    const alignmentPages = await writeItemAlignments(run, zs, metas, audio, dir);
    const labelsTable = metas.map((m) => ({
      ...labelsRow(m),
      lyrics: m.lyrics.length > 60 ? `${m.lyrics.slice(0, 57).replace(/\s+/g, ' ')}...` : m.lyrics.replace(/\s+/g, ' '),
    }));
    const first = run.settings.values().next().value!;
    const html = samplePage({
      title: `${run.command === 'upsample' ? 'Upsampled' : 'Sampled'}: ${metas.length} item${metas.length === 1 ? '' : 's'}, ${(lengthSamples / run.geometry.sampleRate).toFixed(2)} s`,
      subtitle: `${extra.mode} · ${run.priors.map((p) => `level ${p.prior.level}: ${path.basename(p.file)}`).join(' · ')} · seed ${run.options.seed}`,
      sampleRate: run.geometry.sampleRate,
      hopLengths: run.geometry.hopLengths,
      audio,
      codes: zs,
      codebookSize: run.priors[0].prior.lBins,
      labels: labelsTable,
      // Every item of a CLI run sings the same lyrics (one --lyrics file).
      lyrics: metas[0].lyrics,
      alignmentPages,
      settings: { mode: extra.mode, seed: run.options.seed, temperature: first.temperature, 'top-k': first.topK, 'top-p': first.topP, ...Object.fromEntries([...run.settings].map(([l, s]) => [`hop L${l}`, s.hopFraction])) },
    });
    await writeFileAtomic(path.join(dir, 'index.html'), (fd) => writeAll(fd, Buffer.from(html)));
  });
}

/**
 * Each item's lyric alignment (the reference's `save_html` per item): the item's own lyrics
 * aligned to its sampled top-level codes by the top prior, written to `dir/item_i/` with the page
 * playing the item's finest decoded level. None when the run has no top prior reading lyrics (an
 * upsample run, a prior without lyrics) or an item has no lyrics. Returns the pages, relative to `dir`.
 */
async function writeItemAlignments(run: Run, zs: SongCodes, metas: ReturnType<typeof songMetadata>[], audio: Map<number, { file: string; seconds: number }[]>, dir: string): Promise<(string | null)[]> {
  const top = run.priors.find((p) => p.prior.condDownsample === null);
  if (top === undefined || !top.prior.hasLyrics) return [];
  const codes = zs.get(top.prior.level)!;
  const finest = Math.min(...audio.keys());
  const pages: (string | null)[] = [];
  for (const [i, meta] of metas.entries()) {
    if (meta.lyrics.trim() === '') {
      pages.push(null);
      continue;
    }
    if (!run.quiet) process.stderr.write(`aligning the lyrics of item ${i}\n`);
    const result = await alignLyrics(top.prior, codes[i], meta);
    const itemDir = path.join(dir, `item_${i}`);
    fs.mkdirSync(itemDir);
    await writeAlignmentOutputs(itemDir, result, {
      title: `Item ${i}: lyric alignment`,
      subtitle: `top prior ${path.basename(top.file)} · layer ${result.layer}, head ${result.head} · ${result.words.length} words · seed ${run.options.seed}`,
      audio: { src: `../${audio.get(finest)![i].file}` },
    });
    pages.push(`item_${i}/index.html`);
  }
  return pages;
}

function disposeRun(run: Partial<Run>): void {
  run.priors?.forEach((p) => p.prior.dispose());
  run.vqvae?.dispose();
}

export const sampleCommand: Command = {
  summary: 'Sample music with a top prior and upsamplers: ancestral, primed by audio, or continuing codes (--prime).',
  usage: SAMPLE_USAGE,
  details: [OUTPUT_DETAILS, '', SAMPLING_DETAILS, '', 'Prompts: --prime <audio> (encoded with --vqvae) or <codes.safetensors> (--take K: item K for every sample);',
    '  --prime-seconds P keeps its first P seconds. --preset / --upsampler-presets configure checkpoints without hps.', '', LABEL_DETAILS].join('\n'),
  async run(argv) {
    const args = parseCommandArgs('sample', SAMPLE_USAGE, argv, {
      ...SAMPLING_OPTIONS,
      top: { type: 'string' },
      seconds: { type: 'string' },
      tokens: { type: 'string' },
      prime: { type: 'string' },
      'prime-seconds': { type: 'string' },
      preset: { type: 'string' },
    }, 0);
    const topFile = required(args, 'top', 'sample', SAMPLE_USAGE);
    const outDir = required(args, 'out', 'sample', SAMPLE_USAGE);
    checkOutputDir(outDir);
    const labels = parseLabelOptions(args, 'sample');
    const codesOnly = args.values['codes-only'] === true;
    if ((args.values.seconds === undefined) === (args.values.tokens === undefined)) throw new JukeboxError(`sample: give --seconds S or --tokens N (one of them; usage: ${SAMPLE_USAGE})`);
    const seconds = args.values.seconds === undefined ? undefined : Number(args.values.seconds);
    if (seconds !== undefined && !(seconds > 0)) throw new JukeboxError(`sample: --seconds must be a positive number, got '${args.values.seconds}'`);
    const tokens = positiveInteger(args, 'tokens', 'sample');
    const primeFile = typeof args.values.prime === 'string' ? args.values.prime : undefined;
    const take = parseTake(args.values.take, 'sample');
    const primeSeconds = args.values['prime-seconds'] === undefined ? undefined : Number(args.values['prime-seconds']);
    if (primeSeconds !== undefined && !(primeSeconds > 0)) throw new JukeboxError(`sample: --prime-seconds must be a positive number, got '${args.values['prime-seconds']}'`);
    if (primeFile === undefined && (take !== undefined || primeSeconds !== undefined)) throw new JukeboxError(`sample: --${take !== undefined ? 'take' : 'prime-seconds'} needs --prime`);
    let samples = positiveInteger(args, 'samples', 'sample');
    if (!codesOnly && typeof args.values.vqvae !== 'string') throw new JukeboxError(`sample: --vqvae is required to decode the audio (or pass --codes-only; usage: ${SAMPLE_USAGE})`);
    await initBackend();
    const run: Partial<Run> = { command: 'sample', outDir, quiet: args.values.quiet === true, vqvaeFile: typeof args.values.vqvae === 'string' ? args.values.vqvae : undefined };
    let primeSource: (SampleSource & { close?: () => void }) | undefined;
    try {
      const top = loadPriorAt(topFile, { role: '--top', preset: typeof args.values.preset === 'string' ? args.values.preset : undefined, labelIds: labels.labelIds });
      run.priors = [{ file: topFile, prior: top }];
      if (top.condDownsample !== null) throw new JukeboxError(`models level ${top.level}, an upsampler; --top takes a top-level prior (level ${top.config.levels - 1})`, topFile);
      // By default every level the given upsamplers reach.
      const upsamplerCount = typeof args.values.upsamplers === 'string' ? args.values.upsamplers.split(',').filter((f) => f.trim() !== '').length : 0;
      const levels = parseLevelChain(args.values.levels, top.level, Math.max(0, top.level - upsamplerCount), 'sample');
      run.priors.push(...loadUpsamplers(args, 'sample', SAMPLE_USAGE, levels, top.level, labels.labelIds));
      run.geometry = checkSameGeometry(run.priors);
      checkLyrics(labels, run.priors, 'sample');
      run.options = parseSamplingOptions(args, 'sample', top.config.levels);
      run.settings = levelSettings(run.priors.map((p) => p.prior), run.options);
      if (run.vqvaeFile !== undefined) run.vqvae = loadMatchingVQVAE(run.vqvaeFile, run.geometry, topFile);
      else run.vqvae = null;
      const sr = run.geometry.sampleRate;
      const lengthSamples = tokens !== undefined ? tokens * top.rawToTokens : Math.floor((seconds! * sr) / top.rawToTokens) * top.rawToTokens;
      if (lengthSamples <= 0) throw new JukeboxError(`sample: --seconds ${seconds} is shorter than one top-level token (${(top.rawToTokens / sr).toFixed(4)} s)`);
      const extra: Record<string, string> = { mode: 'ancestral' };
      let zs: SongCodes = new Map();
      if (primeFile !== undefined) {
        if (!fs.existsSync(primeFile)) throw new JukeboxError('no such file', primeFile);
        if (isSafetensors(primeFile)) {
          const stored: BatchedCodesFile = readBatchedCodesFile(primeFile);
          checkCodesGeometry(primeFile, stored, run.geometry, topFile);
          checkCodesRange(primeFile, stored.levels, top.lBins);
          if (!stored.levels.has(top.level)) throw new JukeboxError(`holds no level_${top.level} codes to continue (it holds ${[...stored.levels.keys()].map((l) => `level_${l}`).join(', ')})`, primeFile);
          samples ??= take === undefined ? stored.items : 1;
          const have = stored.levels.get(top.level)![0].length * top.rawToTokens;
          const keep = promptSamples(have, sr, top.rawToTokens, lengthSamples, primeSeconds);
          const raw = new Map(run.priors.map((p) => [p.prior.level, p.prior.rawToTokens]));
          zs = codesForBatch(stored.levels, samples, levels, take, (level) => keep / raw.get(level)!);
          Object.assign(extra, { mode: 'continue', prompt: path.basename(primeFile), prompt_seconds: String(keep / sr), ...(take !== undefined ? { take: String(take) } : {}) });
        } else {
          if (take !== undefined) throw new JukeboxError('sample: --take picks an item of a codes file; an audio prompt has one');
          if (run.vqvae === null) throw new JukeboxError(`sample: an audio prompt (--prime ${primeFile}) is encoded with --vqvae, which is missing`);
          primeSource = await openAudioAsync(primeFile, sr);
          const keep = promptSamples(primeSource.length, sr, top.rawToTokens, lengthSamples, primeSeconds);
          const codes = await encodeChunked(run.vqvae, firstSamples(primeSource, keep), levels);
          samples ??= 1;
          zs = codesForBatch(new Map(levels.map((l, i) => [l, [codes[i]]])), samples, levels);
          Object.assign(extra, { mode: 'primed', prompt: path.basename(primeFile), prompt_seconds: String(keep / sr) });
        }
      }
      const metas = Array.from({ length: samples ?? 1 }, () => songMetadata(labels, lengthSamples / sr));
      run.priors.forEach((p) => checkLevelLength(p.prior, lengthSamples / p.prior.rawToTokens));
      checkLabels(run.priors.map((p) => p.prior), metas);
      await sampleAndWrite(run as Run, zs, lengthSamples, metas, extra);
    } finally {
      primeSource?.close?.();
      disposeRun(run);
    }
  },
};

export const upsampleCommand: Command = {
  summary: 'Upsample chosen codes (e.g. the top level of a sample) with the upsamplers, to finer levels and audio.',
  usage: UPSAMPLE_USAGE,
  details: [OUTPUT_DETAILS, '', SAMPLING_DETAILS, '', '--take K upsamples item K of the codes file for every sample; without it every item is upsampled.', '', LABEL_DETAILS].join('\n'),
  async run(argv) {
    const args = parseCommandArgs('upsample', UPSAMPLE_USAGE, argv, SAMPLING_OPTIONS, 1);
    const [codesFile] = args.positionals;
    required(args, 'upsamplers', 'upsample', UPSAMPLE_USAGE);
    const outDir = required(args, 'out', 'upsample', UPSAMPLE_USAGE);
    checkOutputDir(outDir);
    const labels = parseLabelOptions(args, 'upsample');
    const codesOnly = args.values['codes-only'] === true;
    const take = parseTake(args.values.take, 'upsample');
    let samples = positiveInteger(args, 'samples', 'upsample');
    if (!codesOnly && typeof args.values.vqvae !== 'string') throw new JukeboxError(`upsample: --vqvae is required to decode the audio (or pass --codes-only; usage: ${UPSAMPLE_USAGE})`);
    const stored = readBatchedCodesFile(codesFile);
    await initBackend();
    const run: Partial<Run> = { command: 'upsample', outDir, quiet: args.values.quiet === true, vqvaeFile: typeof args.values.vqvae === 'string' ? args.values.vqvae : undefined };
    try {
      // The levels below the coarsest level of the file, from the first upsampler's level down.
      const upFiles = String(args.values.upsamplers).split(',').map((s) => s.trim());
      const presets = typeof args.values['upsampler-presets'] === 'string' ? args.values['upsampler-presets'].split(',').map((s) => s.trim()) : [];
      const first = loadPriorAt(upFiles[0], { role: '--upsamplers', preset: presets[0] || undefined, labelIds: labels.labelIds });
      run.priors = [{ file: upFiles[0], prior: first }];
      if (first.condDownsample === null) throw new JukeboxError(`models level ${first.level}, the top level; --upsamplers takes upsamplers (levels below the top)`, upFiles[0]);
      const above = first.level + 1;
      const levels = parseLevelChain(args.values.levels, first.level, first.level - (upFiles.length - 1), 'upsample');
      run.priors.push(...loadUpsamplers({ ...args, values: { ...args.values, upsamplers: upFiles.slice(1).join(','), 'upsampler-presets': presets.slice(1).join(',') } }, 'upsample', UPSAMPLE_USAGE, levels, first.level, labels.labelIds));
      run.geometry = checkSameGeometry(run.priors);
      checkCodesGeometry(codesFile, stored, run.geometry, upFiles[0]);
      checkCodesRange(codesFile, stored.levels, first.lBins);
      const top = stored.levels.get(above);
      if (top === undefined) {
        throw new JukeboxError(`holds no level_${above} codes, which the level ${first.level} upsampler ${upFiles[0]} is conditioned on (it holds ${[...stored.levels.keys()].map((l) => `level_${l}`).join(', ')})`, codesFile);
      }
      checkLyrics(labels, run.priors, 'upsample');
      run.options = parseSamplingOptions(args, 'upsample', first.config.levels);
      run.settings = levelSettings(run.priors.map((p) => p.prior), run.options);
      run.vqvae = run.vqvaeFile !== undefined ? loadMatchingVQVAE(run.vqvaeFile, run.geometry, upFiles[0]) : null;
      samples ??= take === undefined ? stored.items : 1;
      const zs = codesForBatch(stored.levels, samples, [above], take);
      const lengthSamples = top[0].length * run.geometry.hopLengths[above];
      const metas = Array.from({ length: samples }, () => songMetadata(labels, lengthSamples / run.geometry!.sampleRate));
      run.priors.forEach((p) => checkLevelLength(p.prior, lengthSamples / p.prior.rawToTokens));
      checkLabels(run.priors.map((p) => p.prior), metas);
      await sampleAndWrite(run as Run, zs, lengthSamples, metas, { mode: 'upsample', codes: path.basename(codesFile), ...(take !== undefined ? { take: String(take) } : {}) });
    } finally {
      disposeRun(run);
    }
  },
};
