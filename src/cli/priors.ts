import * as fs from 'fs';
import * as path from 'path';
import { writeWavStream } from '../audio/index';
import { loadVQVAE } from '../checkpoint/load';
import { isSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import { loadPrior } from '../prior/load';
import type { Prior } from '../prior/prior';
import type { SongMetadata } from '../labels/labeller';
import { defaultLevelSettings } from '../sample/sampler';
import type { LevelSettings, SongCodes } from '../sample/types';
import { geometryHopLengths } from '../sample/modes';
import { BatchedCodesFile, readBatchedCodesFile } from '../vqvae/codes-file';
import { decodeChunked } from '../vqvae/streaming';
import type { VQVAE } from '../vqvae/vqvae';
import type { OptionSpec, ParsedArgs } from './args';

const warned = new Set<string>();
/** Warnings held back while labels are checked: a command that then fails prints its error alone. */
let held: string[] | null = null;

/**
 * Label warnings (unknown names, dropped lyric characters) go to stderr, one line each, and each
 * only once: every item of a batch, and every prior's labeller, would otherwise repeat it.
 */
export function warn(message: string): void {
  if (warned.has(message)) return;
  if (held !== null) {
    if (!held.includes(message)) held.push(message);
    return;
  }
  warned.add(message);
  process.stderr.write(`jukebox: warning: ${message}\n`);
}

/** The audio geometry a set of priors shares: sample rate and samples per token at each level. */
export interface Geometry {
  sampleRate: number;
  hopLengths: number[];
}

export function priorGeometry(prior: Prior): Geometry {
  return { sampleRate: prior.config.sr, hopLengths: geometryHopLengths(prior.config.downs_t, prior.config.strides_t) };
}

function sameGeometry(a: Geometry, b: Geometry): boolean {
  return a.sampleRate === b.sampleRate && JSON.stringify(a.hopLengths) === JSON.stringify(b.hopLengths);
}

function describe(g: Geometry): string {
  return `${g.sampleRate} Hz with hop lengths [${g.hopLengths}]`;
}

/** Checks codes (a file's `sample_rate`, `hop_lengths`) were made by a VQ-VAE of the priors' geometry. */
export function checkCodesGeometry(file: string, codes: Geometry, priors: Geometry, priorFile: string): void {
  if (!sameGeometry(codes, priors)) {
    throw new JukeboxError(`codes were made by a VQ-VAE at ${describe(codes)}, but ${priorFile} models a VQ-VAE at ${describe(priors)}`, file);
  }
}

/** Checks every code of a file's levels is in the priors' codebook (0..bins-1). */
export function checkCodesRange(file: string, levels: Map<number, Int32Array[]>, bins: number): void {
  for (const [level, rows] of levels) {
    for (const [i, row] of rows.entries()) {
      const bad = row.findIndex((c) => !(c >= 0 && c < bins));
      if (bad >= 0) throw new JukeboxError(`code ${row[bad]} at token ${bad} of item ${i} of level_${level} is outside the priors' codebook (0..${bins - 1})`, file);
    }
  }
}

/** Loads a prior, checking it models `level` when one is expected. */
export function loadPriorAt(file: string, expected: { level?: number; role: string; preset?: string; labelIds?: string }): Prior {
  const { model } = loadPrior(file, { preset: expected.preset, labelIds: expected.labelIds, warn });
  if (expected.level !== undefined && model.level !== expected.level) {
    model.dispose();
    throw new JukeboxError(`models level ${model.level}, but ${expected.role} needs a prior of level ${expected.level}`, file);
  }
  return model;
}

/** Checks every prior after the first shares its geometry (one VQ-VAE under all of them). */
export function checkSameGeometry(priors: { file: string; prior: Prior }[]): Geometry {
  const g = priorGeometry(priors[0].prior);
  for (const { file, prior } of priors.slice(1)) {
    const h = priorGeometry(prior);
    if (!sameGeometry(g, h) || prior.config.l_bins !== priors[0].prior.config.l_bins) {
      throw new JukeboxError(`models a VQ-VAE at ${describe(h)} with ${prior.config.l_bins} codes, but ${priors[0].file} one at ${describe(g)} with ${priors[0].prior.config.l_bins} codes`, file);
    }
  }
  return g;
}

/**
 * Builds each prior's labels once before any sampling or scoring, so a bad timing or label fails
 * in seconds rather than after the levels above have been sampled; timing errors say which
 * options set the timing.
 */
export function checkLabels(priors: Prior[], metas: SongMetadata[]): void {
  held = [];
  try {
    for (const prior of priors) prior.labeller?.getBatchLabels(metas);
  } catch (err) {
    held = null;
    if (err instanceof JukeboxError && /total length|window .* ends after/.test(err.message)) {
      throw new JukeboxError(`${err.message} (set the song's length with --total-seconds and where the audio starts in it with --offset-seconds)`);
    }
    throw err;
  }
  const messages = held;
  held = null;
  messages.forEach(warn);
}

/** Loads the VQ-VAE, checking it is the one under the priors. */
export function loadMatchingVQVAE(file: string, geometry: Geometry, priorFile: string): VQVAE {
  const { model } = loadVQVAE(file);
  const g = { sampleRate: model.config.sr, hopLengths: model.hopLengths };
  if (!sameGeometry(g, geometry)) {
    model.dispose();
    throw new JukeboxError(`is a VQ-VAE at ${describe(g)}, but ${priorFile} models one at ${describe(geometry)}`, file);
  }
  return model;
}

function numberOption(args: ParsedArgs, name: string, command: string, check: (n: number) => boolean, what: string): number | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n)) throw new JukeboxError(`${command}: --${name} must be ${what}, got '${v}'`);
  return n;
}

export const positiveInteger = (args: ParsedArgs, name: string, command: string) => numberOption(args, name, command, (n) => Number.isInteger(n) && n > 0, 'a positive integer');

/** The sampling options shared by `sample` and `upsample`. */
export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Hop fraction by level. */
  hopFractions?: number[];
  seed: number;
}

export function parseSamplingOptions(args: ParsedArgs, command: string, levels: number): SamplingOptions {
  const temperature = numberOption(args, 'temperature', command, (n) => n > 0, 'a positive number');
  const topK = numberOption(args, 'top-k', command, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  const topP = numberOption(args, 'top-p', command, (n) => n >= 0 && n <= 1, 'a number from 0 to 1');
  const seed = numberOption(args, 'seed', command, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer from 0 to 2^32 - 1') ?? 0;
  let hopFractions: number[] | undefined;
  const hf = args.values['hop-fraction'];
  if (typeof hf === 'string') {
    hopFractions = hf.split(',').map((p) => Number(p.trim()));
    if (hopFractions.length !== levels || hopFractions.some((f) => !(f > 0 && f <= 1))) {
      throw new JukeboxError(`${command}: --hop-fraction must be ${levels} fractions in (0, 1], one per level from level 0 (default 0.5,0.5,0.125), got '${hf}'`);
    }
  }
  return { temperature, topK, topP, hopFractions, seed };
}

/** Each prior's settings: the reference defaults with the options given on top. */
export function levelSettings(priors: Prior[], options: SamplingOptions): Map<number, LevelSettings> {
  return new Map(
    priors.map((p) => {
      const s = defaultLevelSettings(p);
      return [p.level, {
        ...s,
        ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
        ...(options.topK !== undefined ? { topK: options.topK } : {}),
        ...(options.topP !== undefined ? { topP: options.topP } : {}),
        ...(options.hopFractions !== undefined ? { hopFraction: options.hopFractions[p.level] } : {}),
      }];
    }),
  );
}

/**
 * Parses `--levels 2|2,1|2,1,0`: levels from `top` down without gaps (upsampling needs the level
 * above of every level). Default: every level from `top` down to `lowest`.
 */
export function parseLevelChain(value: string | boolean | undefined, top: number, lowest: number, command: string): number[] {
  if (value === undefined) return Array.from({ length: top - lowest + 1 }, (_, i) => top - i);
  const levels = String(value).split(',').map((p) => Number(p.trim()));
  const want = Array.from({ length: levels.length }, (_, i) => top - i);
  if (levels.some((l) => !Number.isInteger(l)) || JSON.stringify([...levels].sort((a, b) => b - a)) !== JSON.stringify(want) || want.at(-1)! < 0) {
    throw new JukeboxError(`${command}: --levels must run from level ${top} down without gaps (${Array.from({ length: top + 1 }, (_, k) => Array.from({ length: k + 1 }, (_, i) => top - i).join(',')).join(' | ')}), got '${value}'`);
  }
  return want;
}

/** Fails early (before any sampling) when `outDir` cannot become the output folder. */
export function checkOutputDir(outDir: string): void {
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new JukeboxError('is not a directory', outDir);
  const parent = path.dirname(path.resolve(outDir));
  if (!fs.existsSync(parent)) throw new JukeboxError(`cannot write: the directory ${parent} does not exist`, outDir);
}

/**
 * Writes a folder of outputs all or nothing: everything goes to a hidden staging folder beside
 * `outDir` first and is moved into it only once complete, so a failure (or Ctrl-C) midway leaves
 * no partial output.
 */
export async function writeOutputDir(outDir: string, write: (dir: string) => Promise<void>): Promise<void> {
  checkOutputDir(outDir);
  const parent = path.dirname(path.resolve(outDir));
  const staging = fs.mkdtempSync(path.join(parent, `.${path.basename(path.resolve(outDir))}.tmp-`));
  const cleanup = () => fs.rmSync(staging, { recursive: true, force: true });
  process.on('exit', cleanup);
  try {
    await write(staging);
    fs.mkdirSync(outDir, { recursive: true });
    for (const name of fs.readdirSync(staging)) {
      const target = path.join(outDir, name);
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(path.join(staging, name), target);
    }
  } finally {
    cleanup();
    process.off('exit', cleanup);
  }
}

/**
 * Decodes every item of every level to `dir/level_L/item_i.wav` (32-bit float), chunk by chunk;
 * returns the files per level, relative to `dir`.
 */
export async function decodeAll(vqvae: VQVAE, zs: SongCodes, dir: string, onLevel?: (level: number) => void): Promise<Map<number, { file: string; seconds: number }[]>> {
  const out = new Map<number, { file: string; seconds: number }[]>();
  for (const level of [...zs.keys()].sort((a, b) => b - a)) {
    onLevel?.(level);
    const hop = vqvae.hopLengths[level];
    fs.mkdirSync(path.join(dir, `level_${level}`), { recursive: true });
    const files: { file: string; seconds: number }[] = [];
    for (const [i, codes] of zs.get(level)!.entries()) {
      const file = `level_${level}/item_${i}.wav`;
      await writeWavStream(path.join(dir, file), { sampleRate: vqvae.config.sr, channels: 1, frames: codes.length * hop, format: 'float32' }, (write) =>
        decodeChunked(vqvae, codes, level, write),
      );
      files.push({ file, seconds: (codes.length * hop) / vqvae.config.sr });
    }
    out.set(level, files);
  }
  return out;
}

/** The options, beside the labels' and the prior's, of a command that reads a codes file or audio with a prior (align, score). */
export const CODES_OR_AUDIO_OPTIONS: OptionSpec = {
  vqvae: { type: 'string' },
  take: { type: 'string' },
  preset: { type: 'string' },
  quiet: { type: 'boolean' },
  out: { type: 'string' },
};

/**
 * The input of a command that takes a codes file or audio, which must exist: the codes file read,
 * or undefined for audio, which is encoded with --vqvae (`vqvaeFile`; an error without it).
 */
export function readCodesOrAudioInput(command: string, usage: string, input: string, vqvaeFile: string | undefined): BatchedCodesFile | undefined {
  if (!fs.existsSync(input)) throw new JukeboxError('no such file', input);
  const codesInput = isSafetensors(input);
  if (!codesInput && vqvaeFile === undefined) throw new JukeboxError(`${command}: audio input (${input}) is encoded with --vqvae, which is missing (usage: ${usage})`);
  return codesInput ? readBatchedCodesFile(input) : undefined;
}

/** A song's row of a page's labels table: artist and genre (the name, else `id N`), total and offset in seconds (align, sample). */
export function labelsRow(meta: SongMetadata): { artist: string; genre: string; 'total (s)': number; 'offset (s)': number } {
  return {
    artist: meta.artist ?? (meta.artistId !== undefined ? `id ${meta.artistId}` : ''),
    genre: meta.genre ?? (meta.genreId !== undefined ? `id ${meta.genreId}` : ''),
    'total (s)': meta.totalSeconds,
    'offset (s)': meta.offsetSeconds,
  };
}
