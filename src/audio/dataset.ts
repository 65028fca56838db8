import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { JukeboxError } from '../errors';
import { Rng } from '../rng';
import { AUDIO_EXTENSIONS, FORMAT_NAMES, decodeAudioFile, detectAudioFormat, isDecodedFormat } from './decoders';
import { Resampler } from './resample';
import { MultiChannelSource, openAudioChannels } from './source';
import { openWav } from './wav';
import { writeWav } from './wav-write';

/**
 * Training windows from a folder of audio files, as the reference's `FilesAudioDataset` with
 * `audio_preprocess`: windows of `windowLength` samples at the model's rate, each drawn from a
 * file chosen in proportion to its length, downmixed to mono with a random channel blend, and
 * (an addition) scaled by a random gain.
 *
 * Files are read lazily: opening reads headers only, and each window reads just the span it
 * needs (per channel, resampled with the band-limited {@link Resampler}, then mixed: resampling
 * is linear, so mixing after it is the same as before). At most {@link MAX_OPEN_FILES} files are
 * held open at once (least recently used are closed), so memory and file handles stay bounded
 * however large the folder.
 *
 * Formats: {@link AudioFolderDataset.open} is synchronous and reads WAV; FLAC, MP3, Ogg Vorbis and
 * Ogg Opus files in the folder are skipped with a warning pointing to
 * {@link AudioFolderDataset.openAsync}, which reads them all: it decodes each compressed file
 * once, at opening, into a WAV file in a private temporary folder (16-bit when the FLAC source
 * is 16-bit or less, so losslessly; 32-bit float otherwise), and reads those lazily like any WAV; `close()` deletes them. Decoding holds one
 * file at a time in memory. The temporary copies take 2 (16-bit) or 4 bytes per sample per
 * channel of disk, about 42 or 85 MB for four minutes of 44.1 kHz stereo. A process killed
 * before `close()` leaves them behind in the system's temporary folder (jukebox-dataset-*).
 *
 * Speed: resampling dominates when the files' rate differs from the model's (one core, Node 20:
 * about 200 ms for 8 stereo windows of 65536 samples, 48 kHz → 44.1 kHz, against 9 ms at the
 * same rate), so data stored at the model's rate samples fastest.
 */

export interface AudioDatasetOptions {
  /** Model sample rate: windows are resampled to it (band-limited, via Resampler/resampleSource). */
  sampleRate: number;
  /** Samples per training window at sampleRate. */
  windowLength: number;
  /**
   * Random per-window channel downmix (reference `aug_blend`: mix·left + (1−mix)·right, mix ~
   * U(0,1); for >2 channels random convex weights, uniform on the simplex). Default true. When
   * false: plain average.
   */
  blend?: boolean;
  /**
   * Random gain in dB, uniform in [min, max] per window (an addition to the reference, which has
   * none). Default [-6, 0]. [0, 0] disables.
   */
  gainDb?: [number, number];
}

/** One usable file of the dataset. */
export interface AudioDatasetFile {
  /** The file as found in the folder. */
  path: string;
  /** Samples at the dataset's sampleRate. */
  length: number;
  channels: number;
}

/** Files held open at once by a dataset; others are reopened on demand. */
export const MAX_OPEN_FILES = 32;

interface Entry extends AudioDatasetFile {
  /** What is read: the file itself (WAV) or its decoded temporary copy. */
  readPath: string;
}

/** Lengths after resampling to `sampleRate`, with one Resampler per source rate (they tabulate filters). */
class LengthAtRate {
  private readonly resamplers = new Map<number, Resampler>();
  constructor(private readonly sampleRate: number) {}

  of(frames: number, rate: number): number {
    if (rate === this.sampleRate) return frames;
    let rs = this.resamplers.get(rate);
    if (!rs) this.resamplers.set(rate, (rs = new Resampler(rate, this.sampleRate)));
    return rs.outputLength(frames);
  }
}

/** All files under `dir` with a known audio extension, recursively, sorted by path (byte order). */
export function listAudioFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          const st = fs.statSync(p);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          isFile = true; // a dangling link to an audio file: reported as unreadable below
        }
      }
      if (isDir) walk(p);
      else if (isFile && AUDIO_EXTENSIONS[path.extname(entry.name).toLowerCase()] !== undefined) found.push(p);
    }
  };
  walk(dir);
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkDir(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new JukeboxError(code === 'ENOENT' ? 'no such directory' : `cannot read the directory: ${(err as Error).message}`, dir);
  }
  if (!st.isDirectory()) throw new JukeboxError('is not a directory (the dataset wants a folder of audio files)', dir);
}

function checkOptions(options: AudioDatasetOptions): Required<AudioDatasetOptions> {
  const { sampleRate, windowLength } = options;
  if (!Number.isSafeInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`sampleRate must be a positive integer, got ${sampleRate}`);
  if (!Number.isSafeInteger(windowLength) || windowLength <= 0) {
    throw new RangeError(`windowLength must be a positive integer, got ${windowLength}`);
  }
  const gainDb = options.gainDb ?? [-6, 0];
  if (gainDb.length !== 2 || !gainDb.every(Number.isFinite) || gainDb[0] > gainDb[1]) {
    throw new RangeError(`gainDb must be [min, max] with finite min <= max, got [${gainDb.join(', ')}]`);
  }
  return { sampleRate, windowLength, blend: options.blend ?? true, gainDb: [gainDb[0], gainDb[1]] };
}

/** The problem part of an error about `file` (its message without the leading "file: "). */
function problemOf(err: unknown, file: string): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

const defaultWarn = (message: string): void => console.warn(message);

export class AudioFolderDataset {
  readonly dir: string;
  readonly sampleRate: number;
  readonly windowLength: number;
  readonly blend: boolean;
  readonly gainDb: readonly [number, number];
  readonly files: readonly AudioDatasetFile[];
  /** Total samples at sampleRate over all files. */
  readonly totalLength: number;

  private readonly entries: Entry[];
  /** cumulative[i] = total length of files 0..i-1 (cumulative[files.length] = totalLength). */
  private readonly cumulative: Float64Array;
  /** Open sources by file index, least recently used first (Map keeps insertion order). */
  private readonly open = new Map<number, MultiChannelSource>();
  private readonly tempDir: string | undefined;
  private closed = false;

  private constructor(dir: string, opts: Required<AudioDatasetOptions>, entries: Entry[], tempDir: string | undefined) {
    this.dir = dir;
    this.sampleRate = opts.sampleRate;
    this.windowLength = opts.windowLength;
    this.blend = opts.blend;
    this.gainDb = Object.freeze([opts.gainDb[0], opts.gainDb[1]]) as readonly [number, number];
    this.entries = entries;
    this.files = Object.freeze(entries.map((e) => Object.freeze({ path: e.path, length: e.length, channels: e.channels })));
    this.cumulative = new Float64Array(entries.length + 1);
    entries.forEach((e, i) => (this.cumulative[i + 1] = this.cumulative[i] + e.length));
    this.totalLength = this.cumulative[entries.length];
    this.tempDir = tempDir;
  }

  /**
   * Opens the WAV files under `dir` (recursively, in path order). Unreadable, corrupt and
   * too-short files are skipped with a `warn` naming them, and so are compressed files (use
   * {@link openAsync} for those). Throws a JukeboxError naming `dir` when no usable file remains.
   * `warn` gets one line per skipped file, "<file>: skipped: <why>"; default console.warn.
   */
  static open(dir: string, options: AudioDatasetOptions, warn: (message: string) => void = defaultWarn): AudioFolderDataset {
    const opts = checkOptions(options);
    checkDir(dir);
    const paths = listAudioFiles(dir);
    const lengths = new LengthAtRate(opts.sampleRate);
    const entries: Entry[] = [];
    for (const file of paths) {
      try {
        const format = detectAudioFormat(file);
        if (isDecodedFormat(format)) {
          warn(`${file}: skipped: ${FORMAT_NAMES[format]} files are decoded asynchronously: open the dataset with AudioFolderDataset.openAsync to use them`);
          continue;
        }
        const entry = scanWav(file, file, opts, lengths, warn);
        if (entry) entries.push(entry);
      } catch (err) {
        warn(`${file}: skipped: ${problemOf(err, file)}`);
      }
    }
    return AudioFolderDataset.create(dir, opts, paths, entries, undefined);
  }

  /**
   * {@link open} for WAV, FLAC, MP3, Ogg Vorbis and Ogg Opus files alike. Compressed files are
   * decoded once here into temporary WAV copies that `close()` deletes (see the note at the top of this module).
   */
  static async openAsync(dir: string, options: AudioDatasetOptions, warn: (message: string) => void = defaultWarn): Promise<AudioFolderDataset> {
    const opts = checkOptions(options);
    checkDir(dir);
    const paths = listAudioFiles(dir);
    const lengths = new LengthAtRate(opts.sampleRate);
    const entries: Entry[] = [];
    let tempDir: string | undefined;
    try {
      for (const file of paths) {
        try {
          if (!isDecodedFormat(detectAudioFormat(file))) {
            const entry = scanWav(file, file, opts, lengths, warn);
            if (entry) entries.push(entry);
            continue;
          }
          const decoded = await decodeAudioFile(file);
          const length = lengths.of(decoded.channels[0].length, decoded.sampleRate);
          if (length < opts.windowLength) {
            warnShort(warn, file, length, opts);
            continue;
          }
          tempDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-dataset-'));
          const copy = path.join(tempDir, `${entries.length}.wav`);
          const lossless16 = decoded.format === 'flac' && (decoded.bitDepth ?? 32) <= 16;
          await writeWav(copy, decoded.channels, decoded.sampleRate, { format: lossless16 ? 'pcm16' : 'float32' });
          const entry = scanWav(file, copy, opts, lengths, warn);
          if (entry) entries.push(entry);
        } catch (err) {
          warn(`${file}: skipped: ${problemOf(err, file)}`);
        }
      }
      return AudioFolderDataset.create(dir, opts, paths, entries, tempDir);
    } catch (err) {
      if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  private static create(
    dir: string,
    opts: Required<AudioDatasetOptions>,
    paths: string[],
    entries: Entry[],
    tempDir: string | undefined,
  ): AudioFolderDataset {
    if (paths.length === 0) {
      throw new JukeboxError(`no audio files found (looked for ${Object.keys(AUDIO_EXTENSIONS).join(', ')}, in subfolders too)`, dir);
    }
    if (entries.length === 0) {
      throw new JukeboxError(
        `no usable audio files: all ${paths.length} found were skipped (unreadable, or shorter than one window of ${opts.windowLength} samples at ${opts.sampleRate} Hz; see the warnings)`,
        dir,
      );
    }
    return new AudioFolderDataset(dir, opts, entries, tempDir);
  }

  /** The file's channels at sampleRate, opened on demand; at most MAX_OPEN_FILES stay open. */
  private source(index: number): MultiChannelSource {
    if (this.closed) throw new Error('AudioFolderDataset is closed');
    const cached = this.open.get(index);
    if (cached) {
      this.open.delete(index);
      this.open.set(index, cached);
      return cached;
    }
    const entry = this.entries[index];
    const src = openAudioChannels(entry.readPath, this.sampleRate);
    if (src.length !== entry.length || src.channels !== entry.channels) {
      src.close();
      throw new JukeboxError('changed since the dataset was opened (its length or channel count differs)', entry.path);
    }
    if (this.open.size >= MAX_OPEN_FILES) {
      const [oldest, old] = this.open.entries().next().value as [number, MultiChannelSource];
      old.close();
      this.open.delete(oldest);
    }
    this.open.set(index, src);
    return src;
  }

  /** The file holding sample `pos` of the concatenation (0 <= pos < totalLength). */
  private fileAt(pos: number): number {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.cumulative[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * B random windows as one Float32Array [B × windowLength], row-major, reproducible from the rng
   * state. Per window, in this order, the rng gives: the file (probability ∝ length, so every
   * sample is equally likely) and the offset (uniform over the offsets where the window fits in
   * the file); then, when `blend` is on and the file has several channels, the mix (one uniform
   * for two channels, one per channel for more); then, when gainDb's min < max, the gain.
   */
  sample(rng: Rng, batchSize: number): Float32Array {
    if (!Number.isSafeInteger(batchSize) || batchSize <= 0) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    const W = this.windowLength;
    const out = new Float32Array(batchSize * W);
    const [gMin, gMax] = this.gainDb;
    for (let b = 0; b < batchSize; b++) {
      const index = this.fileAt(Math.min(Math.floor(rng.uniform() * this.totalLength), this.totalLength - 1));
      const entry = this.entries[index];
      const offset = rng.int(entry.length - W + 1);
      const weights = this.blend ? randomWeights(rng, entry.channels) : undefined;
      const gain = gMax > gMin ? 10 ** ((gMin + (gMax - gMin) * rng.uniform()) / 20) : 10 ** (gMin / 20);
      const channels = this.source(index).read(offset, offset + W);
      mix(channels, weights, gain, out.subarray(b * W, (b + 1) * W));
    }
    return out;
  }

  /**
   * Consecutive non-overlapping windows in file order (floor(length / windowLength) per file, no
   * augmentation, plain channel average), for statistics such as the data bandwidth. Stops after
   * maxWindows.
   */
  *windows(maxWindows = Infinity): Iterable<Float32Array> {
    const W = this.windowLength;
    let emitted = 0;
    for (let i = 0; i < this.entries.length && emitted < maxWindows; i++) {
      const count = Math.floor(this.entries[i].length / W);
      for (let k = 0; k < count && emitted < maxWindows; k++) {
        const out = new Float32Array(W);
        mix(this.source(i).read(k * W, (k + 1) * W), undefined, 1, out);
        emitted++;
        yield out;
      }
    }
  }

  /** Closes the files and deletes the decoded copies. Idempotent; sampling afterwards throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const src of this.open.values()) src.close();
    this.open.clear();
    if (this.tempDir) fs.rmSync(this.tempDir, { recursive: true, force: true });
  }
}

function warnShort(warn: (message: string) => void, file: string, length: number, opts: Required<AudioDatasetOptions>): void {
  warn(`${file}: skipped: too short: ${length} samples at ${opts.sampleRate} Hz, shorter than one window of ${opts.windowLength}`);
}

/** Reads the header of `readPath` (a WAV file) and makes the entry for `file`; undefined (with a warning) when too short. */
function scanWav(
  file: string,
  readPath: string,
  opts: Required<AudioDatasetOptions>,
  lengths: LengthAtRate,
  warn: (message: string) => void,
): Entry | undefined {
  const reader = openWav(readPath);
  const { frames, sampleRate, channels } = reader.info;
  reader.close();
  const length = lengths.of(frames, sampleRate);
  if (length < opts.windowLength) {
    warnShort(warn, file, length, opts);
    return undefined;
  }
  return { path: file, readPath, length, channels };
}

/**
 * Random convex channel weights: for two channels [mix, 1 − mix] with mix ~ U(0, 1) (the
 * reference's aug_blend); for more, uniform on the simplex (normalised exponentials, i.e.
 * Dirichlet(1, …, 1), which for two channels is the same distribution). None for one channel.
 */
function randomWeights(rng: Rng, channels: number): Float64Array | undefined {
  if (channels === 1) return undefined;
  if (channels === 2) {
    const m = rng.uniform();
    return Float64Array.from([m, 1 - m]);
  }
  const w = new Float64Array(channels);
  let sum = 0;
  for (let c = 0; c < channels; c++) {
    w[c] = -Math.log(1 - rng.uniform()); // 1 − u is in (0, 1]
    sum += w[c];
  }
  if (sum === 0) return undefined; // every draw exactly 0: fall back to the plain average
  for (let c = 0; c < channels; c++) w[c] /= sum;
  return w;
}

/** out = gain · Σ weights[c] · channels[c] (weights: the plain average when undefined). */
function mix(channels: Float32Array[], weights: Float64Array | undefined, gain: number, out: Float32Array): void {
  const n = out.length;
  const C = channels.length;
  if (C === 1) {
    const x = channels[0];
    for (let i = 0; i < n; i++) out[i] = gain * x[i];
    return;
  }
  const acc = new Float64Array(n);
  for (let c = 0; c < C; c++) {
    const w = weights ? weights[c] : 1 / C;
    const x = channels[c];
    for (let i = 0; i < n; i++) acc[i] += w * x[i];
  }
  for (let i = 0; i < n; i++) out[i] = gain * acc[i];
}
