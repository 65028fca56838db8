import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { listAudioFiles } from '../audio/dataset';
import { openAudioAsync } from '../audio/source';
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import { LabelIdTables, normaliseLabelName } from '../labels/index';
import { isTopLevel } from '../prior/config';
import { Prior } from '../prior/prior';
import { Rng } from '../rng';
import { encodeChunked } from '../vqvae/streaming';
import { VQVAE } from '../vqvae/vqvae';
import { characterWords } from '../align/accuracy';
import { AlignTargets, SeparatorTargets, windowTargets } from './align-loss';
import type { PriorBatch } from './prior-trainer';

/**
 * A prior's training data: audio files with JSON sidecars, encoded once by the VQ-VAE into codes
 * cached beside the run, and random windows of them with their labels.
 */

/** A song's sidecar (`song.wav` + `song.json`). */
export interface SongSidecar {
  artist: string;
  genre: string;
  lyrics: string;
  /** Word timings in seconds: alignment studies, and the targets of `--align-loss` (see align-loss.ts). */
  words?: { word: string; start: number; end: number }[];
}

/** One song, encoded: `codes[i]` are the codes of `levels[i]`. */
export interface PriorSong {
  file: string;
  /** sha256 of the file's bytes (first 16 hex digits): the cache key beside the VQ-VAE's. */
  hash: string;
  meta: SongSidecar;
  seconds: number;
  codes: Int32Array[];
}

/** sha256 of a file's bytes, first 16 hex digits (64 bits: ample to tell files apart). */
export function fileHash(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
}

function readSidecar(file: string): SongSidecar {
  let o: unknown;
  try {
    o = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new JukeboxError(`is not valid JSON (${(err as Error).message.split('\n')[0]})`, file);
  }
  const m = o as Partial<SongSidecar> | null;
  if (m === null || typeof m !== 'object') throw new JukeboxError('must be a JSON object with artist, genre and lyrics', file);
  for (const key of ['artist', 'genre', 'lyrics'] as const) {
    if (typeof m[key] !== 'string') throw new JukeboxError(`needs "${key}" as a string (a sidecar holds artist, genre, lyrics and optionally words)`, file);
  }
  if (m.words !== undefined && !(Array.isArray(m.words) && m.words.every((w) => typeof w?.word === 'string' && Number.isFinite(w.start) && Number.isFinite(w.end)))) {
    throw new JukeboxError('"words" must be a list of {word, start, end} (seconds)', file);
  }
  return m as SongSidecar;
}

/**
 * The audio files of `dir` and their sidecars (`song.wav` → `song.json`), checked against what
 * `prior` reads: every file needs a sidecar, and a top-level prior without lyrics refuses
 * sidecars with lyrics (it would silently learn without them). Upsamplers never read lyrics.
 */
export function listSongs(dir: string, prior: Prior, preset: string): { file: string; meta: SongSidecar }[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new JukeboxError('--data: not a folder', dir);
  const files = listAudioFiles(dir);
  if (files.length === 0) throw new JukeboxError('--data: no audio files (wav, flac, mp3, ogg) here', dir);
  return files.map((file) => {
    const sidecar = file.slice(0, file.length - path.extname(file).length) + '.json';
    if (!fs.existsSync(sidecar)) {
      throw new JukeboxError(`has no sidecar ${path.basename(sidecar)} (JSON with artist, genre, lyrics): every training song needs one`, file);
    }
    const meta = readSidecar(sidecar);
    if (meta.lyrics.trim() !== '' && !prior.hasLyrics && isTopLevel(prior.config)) {
      throw new JukeboxError(`has lyrics, but preset '${preset}' is a prior without lyrics; use a preset with lyrics, or empty the sidecars' "lyrics"`, sidecar);
    }
    return { file, meta };
  });
}

/**
 * Label id tables of the data's own artists and genres, id 0 kept for unknown names as in the
 * reference: names (v2: genre words) in sorted order get ids 1, 2, ... They must fit the
 * preset's embeddings (`y_bins`).
 */
export function labelTablesFromSongs(metas: SongSidecar[], prior: Prior, preset: string): LabelIdTables {
  const v3 = prior.config.labels_v3;
  const key = (name: string) => (v3 ? name.toLowerCase() : normaliseLabelName(name));
  const artists = [...new Set(metas.map((m) => key(m.artist)))].filter((n) => n !== '').sort();
  const genres = [...new Set(metas.flatMap((m) => (v3 ? [key(m.genre)] : key(m.genre).split('_'))))].filter((n) => n !== '').sort();
  const [genreBins, artistBins] = prior.config.y_bins!;
  if (artists.length >= artistBins) throw new JukeboxError(`the data has ${artists.length} artists, but preset '${preset}' has room for ${artistBins - 1} (y_bins)`);
  if (genres.length >= genreBins) throw new JukeboxError(`the data has ${genres.length} genre ${v3 ? 'names' : 'words'}, but preset '${preset}' has room for ${genreBins - 1} (y_bins)`);
  const table = (names: string[]) => new Map<string, number>([['unknown', 0], ...names.map((n, i): [string, number] => [n, i + 1])]);
  return { artists: table(artists), genres: table(genres), sources: { artists: 'the training data', genres: 'the training data' } };
}

/**
 * Encodes each song at `levels` with the VQ-VAE, or reads it from the cache
 * `<cacheDir>/<vqvaeHash>/<fileHash>.safetensors` written by an earlier run or attempt.
 */
export async function encodeSongs(
  songs: { file: string; meta: SongSidecar }[],
  vqvae: VQVAE,
  vqvaeHash: string,
  levels: number[],
  cacheDir: string,
  onSong?: (done: number, total: number, cached: boolean) => void,
): Promise<PriorSong[]> {
  const dir = path.join(cacheDir, vqvaeHash);
  fs.mkdirSync(dir, { recursive: true });
  const out: PriorSong[] = [];
  for (const [i, song] of songs.entries()) {
    const hash = fileHash(song.file);
    const cache = path.join(dir, `${hash}.safetensors`);
    let codes: Int32Array[] | null = null;
    let seconds = 0;
    if (fs.existsSync(cache)) {
      const { tensors, metadata } = readSafetensors(cache);
      if (metadata.vqvae_hash === vqvaeHash && levels.every((l) => tensors.has(`level_${l}`))) {
        codes = levels.map((l) => tensors.get(`level_${l}`)!.data as Int32Array);
        seconds = Number(metadata.seconds);
      }
    }
    const cached = codes !== null;
    if (codes === null) {
      const source = await openAudioAsync(song.file, vqvae.config.sr);
      try {
        codes = await encodeChunked(vqvae, source, levels);
        seconds = source.length / vqvae.config.sr;
      } finally {
        source.close();
      }
      const tensors = new Map(levels.map((l, k) => [`level_${l}`, { dtype: 'I32' as const, shape: [codes![k].length], data: codes![k] }]));
      await writeSafetensors(cache, tensors, { format: 'jukebox-ts/prior-train-codes', vqvae_hash: vqvaeHash, file_hash: hash, source: song.file, seconds: String(seconds) });
    }
    out.push({ file: song.file, hash, meta: song.meta, seconds, codes });
    onSong?.(i + 1, songs.length, cached);
  }
  return out;
}

/** A window: song and start token at the prior's level. */
export interface PriorWindow {
  song: number;
  start: number;
}

/**
 * A number in [-1, 1) fixed by a window (its song's index and its first token): where within
 * `PriorWindows`' timing jitter the window's label row is made. A hash of the window rather than a
 * draw from the run's generator, so the window draws are those of a run without jitter, and a
 * resumed run or any number of workers makes the same rows.
 */
export function windowJitter(song: number, start: number): number {
  let h = Math.imul(song + 1, 0x9e3779b1) ^ Math.imul(start + 7, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  h ^= h >>> 15;
  return ((h >>> 0) / 2 ** 32) * 2 - 1;
}

/**
 * Random windows of `n_ctx` tokens at the prior's level over a set of songs, and the batches they
 * make (codes, the level above's codes for an upsampler, label rows for the window's offset).
 * `codes[0]` of each song is the prior's level, `codes[1]` the level above for an upsampler.
 */
export class PriorWindows {
  /** Windows per song (0 for a song shorter than one window), and their running total. */
  private readonly counts: number[];
  readonly total: number;
  /** Per song with words, `characterWords` of its cleaned lyrics (made on first use). */
  private readonly owners = new Map<number, Int32Array>();

  /**
   * `alignTargets`: batches carry the guided alignment loss's targets (`PriorBatch.align`) from
   * the songs' sidecar words (a top prior with lyrics only); its `breakSeconds` also targets the
   * breaks, and `separators` which breaks also target the window's separators
   * (`windowTargets`). Null: no targets.
   *
   * `timingJitter`: seconds (default 0). Each window's label row (its timing and its lyric window)
   * is made for a point up to this far before or after the window (`windowJitter`), so that the
   * prior cannot read which line is sung from the window's offset alone; the alignment targets
   * stay the window's own.
   */
  constructor(
    readonly prior: Prior,
    readonly songs: PriorSong[],
    readonly alignTargets: { breakSeconds: number | null; separators: SeparatorTargets } | null = null,
    readonly timingJitter = 0,
  ) {
    const ds = prior.condDownsample ?? 1;
    this.counts = songs.map((s) => {
      let last = s.codes[0].length - prior.nCtx;
      if (prior.condDownsample !== null) last = Math.min(last, (s.codes[1].length - prior.nCtx / ds) * ds);
      return last < 0 ? 0 : Math.floor(last / ds) + 1;
    });
    this.total = this.counts.reduce((a, b) => a + b, 0);
  }

  /** Songs shorter than one window (they give no windows). */
  get tooShort(): PriorSong[] {
    return this.songs.filter((_s, i) => this.counts[i] === 0);
  }

  /** A window drawn uniformly over every possible window (longer songs are drawn more often). */
  draw(rng: Rng): PriorWindow {
    let k = rng.int(this.total);
    let song = 0;
    while (k >= this.counts[song]) k -= this.counts[song++];
    return { song, start: k * (this.prior.condDownsample ?? 1) };
  }

  /** Up to `perSong` windows of each song, evenly spread (for held-out scores). */
  spread(perSong: number): PriorWindow[] {
    const ds = this.prior.condDownsample ?? 1;
    return this.songs.flatMap((_s, song) => {
      const n = Math.min(perSong, this.counts[song]);
      return Array.from({ length: n }, (_, i) => ({ song, start: (n === 1 ? 0 : Math.round((i * (this.counts[song] - 1)) / (n - 1))) * ds }));
    });
  }

  /**
   * The batch of `windows`: their codes, the level above's, label rows for each window's offset,
   * and with `alignTargets` the alignment targets of the windows of songs with words (null when
   * no token of the batch has one).
   */
  batch(windows: PriorWindow[]): PriorBatch {
    const { prior } = this;
    const n = prior.nCtx;
    const z = new Int32Array(windows.length * n);
    const ds = prior.condDownsample;
    const zCond = ds === null ? null : new Int32Array((windows.length * n) / ds);
    const labeller = prior.labeller;
    const cols = labeller?.labelLength ?? 0;
    const y = labeller === null ? null : new Int32Array(windows.length * cols);
    const targets = this.alignTargets !== null ? new Uint8Array(windows.length * n * prior.nTokens) : null;
    let targeted = 0;
    windows.forEach((w, i) => {
      const song = this.songs[w.song];
      z.set(song.codes[0].subarray(w.start, w.start + n), i * n);
      if (zCond !== null) zCond.set(song.codes[1].subarray(w.start / ds!, (w.start + n) / ds!), (i * n) / ds!);
      if (labeller !== null && y !== null) {
        const labels = labeller.getBatchLabels([{ artist: song.meta.artist, genre: song.meta.genre, lyrics: song.meta.lyrics, totalSeconds: song.seconds, offsetSeconds: 0 }]);
        let labelStart = w.start;
        if (this.timingJitter > 0) {
          const shift = Math.round((windowJitter(w.song, w.start) * this.timingJitter * prior.sampleRate) / prior.rawToTokens);
          labelStart = Math.min(Math.max(0, w.start + shift), song.codes[0].length - n);
        }
        const row = labeller.yForWindow(labels, labelStart, prior.rawToTokens);
        y.set(row.y[0], i * cols);
        const words = song.meta.words;
        if (targets !== null && words !== undefined && words.length > 0) {
          let owner = this.owners.get(w.song);
          if (owner === undefined) this.owners.set(w.song, (owner = characterWords(labels.info[0].lyrics, words)));
          const t = windowTargets(words, owner, row.indices[0], w.start, n, prior.rawToTokens / prior.sampleRate, this.alignTargets!.breakSeconds, this.alignTargets!.separators);
          targets.set(t.targets, i * t.targets.length);
          targeted += t.tokens;
        }
      }
    });
    const align: AlignTargets | null = targets === null || targeted === 0 ? null : { targets, tokensPerRow: targeted / windows.length };
    return { items: windows.length, z, zCond, y, align };
  }
}
