import { JukeboxError } from '../errors';
import { ArtistGenreProcessor, checkLabelId } from './artist-genre';
import { LABEL_IDS_ENV, type LabelIdTables } from './id-tables';
import { TextProcessor, type LabelVersion } from './text-processor';

/** What a song is, for conditioning. Durations are in seconds, converted to samples with `sr`. */
export interface SongMetadata {
  /** Artist name (looked up in the id tables); `artistId` wins when both are given. */
  artist?: string;
  artistId?: number;
  /** Genre name (v2: words of a bag, "blues rock"); `genreId` wins when both are given. */
  genre?: string;
  /** One genre id, or for v2 up to `maxBowGenreSize` word ids. */
  genreId?: number | readonly number[];
  /** Lyrics, UTF-8 text; ignored by priors without lyrics (nTokens 0). */
  lyrics: string;
  /** Length of the whole song in seconds (the reference's `total_length`, there in samples). */
  totalSeconds: number;
  /** Where the sampled or scored audio starts in the song, in seconds (reference `offset`). */
  offsetSeconds: number;
}

/** Per-item facts behind a label row (reference `info`). */
export interface LabelInfo {
  artist: string | null;
  genre: string | null;
  artistId: number;
  genreIds: number[];
  /** Lyrics after cleaning, and all their tokens; windows take `nTokens` of them. */
  lyrics: string;
  fullTokens: number[];
}

/**
 * Label rows of a batch, in samples: `[total_length, offset, sample_length, artist,
 * genre ids (padded with -1)…, lyric tokens…]`, length 4 + maxBowGenreSize + nTokens.
 */
export interface BatchLabels {
  y: Int32Array[];
  info: LabelInfo[];
}

export interface LabellerOptions {
  /** Genre slots of the label row (5 for v2 priors, 1 for v3). Reference `max_bow_genre_size`. */
  maxBowGenreSize: number;
  /** Lyric tokens per window (0: a prior without lyrics). Reference `n_tokens`. */
  nTokens: number;
  /** The prior's window in samples, n_ctx × raw_to_tokens. Reference `sample_length`. */
  sampleLength: number;
  /** v3 labels (1b_lyrics) rather than v2 (5b, 5b_lyrics). Reference `labels_v3`. */
  v3: boolean;
  /** Sample rate, to turn seconds into samples. */
  sr: number;
  /** Name → id tables; without them only numeric ids work. */
  tables?: LabelIdTables | null;
  /**
   * The range of song lengths the prior's time embeddings cover, in seconds (reference
   * `min_duration`, `max_duration`); give them for priors that embed timing
   * (`include_time_signal`), so that a timing outside is an error here rather than an assert.
   */
  minDuration?: number | null;
  maxDuration?: number | null;
  /** Where warnings go (dropped lyric characters, unknown names). Default console.warn. */
  warn?: (msg: string) => void;
}

/**
 * The lyric window of the reference's linear heuristic (`get_relevant_lyric_tokens`): the
 * `nTokens` characters around the point that sits as far through the lyrics as the window's
 * midpoint sits through the song, clamped to the lyrics. Shorter lyrics are left-padded with
 * token 0 and index -1. Indices point into `fullTokens`.
 *
 * `float32`: the reference computes the midpoint in float64 when it builds a song's labels
 * (`get_label`, Python numbers) but in float32 for each window (`set_y_lyric_tokens` reads the
 * values back from the int64 label tensor, and `duration / 2.0` makes a float32 tensor); late in
 * long songs the two can pick windows one character apart, so each caller says which it mirrors.
 */
export function relevantLyricTokens(
  fullTokens: readonly number[],
  nTokens: number,
  totalLength: number,
  offset: number,
  duration: number,
  float32 = false,
): { tokens: number[]; indices: number[] } {
  if (fullTokens.length < nTokens) {
    const pad = nTokens - fullTokens.length;
    return {
      tokens: [...new Array<number>(pad).fill(0), ...fullTokens],
      indices: [...new Array<number>(pad).fill(-1), ...fullTokens.map((_, i) => i)],
    };
  }
  const half = Math.floor(nTokens / 2);
  // Python int() truncates toward zero; the value is ≥ 0 here (offset ≥ 0 is checked).
  const f = float32 ? Math.fround : (v: number): number => v;
  const position = f(f(fullTokens.length) * f(f(offset) + f(f(duration) / 2)));
  let midpoint = Math.trunc(f(position / f(totalLength)));
  midpoint = Math.min(Math.max(midpoint, half), fullTokens.length - half);
  const indices = Array.from({ length: 2 * half }, (_, i) => midpoint - half + i);
  return { tokens: indices.map((i) => fullTokens[i]), indices };
}

const fmtSeconds = (samples: number, sr: number): string => `${+(samples / sr).toFixed(3)} s`;

/**
 * Builds label rows for a prior (reference `Labeller`), and the rows of each window
 * (reference `SimplePrior.get_y` with `set_y_lyric_tokens`). Every item keeps its own lyrics.
 */
export class Labeller {
  readonly maxBowGenreSize: number;
  readonly nTokens: number;
  readonly sampleLength: number;
  readonly version: LabelVersion;
  readonly sr: number;
  readonly minDuration: number | null;
  readonly maxDuration: number | null;
  /** Length of a label row: 4 + maxBowGenreSize + nTokens. */
  readonly labelLength: number;
  readonly textProcessor: TextProcessor;
  readonly tables: LabelIdTables | null;
  private readonly warn: (msg: string) => void;

  constructor(opts: LabellerOptions) {
    this.maxBowGenreSize = opts.maxBowGenreSize;
    this.nTokens = opts.nTokens;
    this.sampleLength = opts.sampleLength;
    this.version = opts.v3 ? 'v3' : 'v2';
    this.sr = opts.sr;
    this.minDuration = opts.minDuration ?? null;
    this.maxDuration = opts.maxDuration ?? null;
    this.labelLength = 4 + this.maxBowGenreSize + this.nTokens;
    // The lyric window is n_tokens // 2 either side of its midpoint: an odd count cannot be filled.
    if (this.nTokens % 2 !== 0) throw new JukeboxError(`the prior's n_tokens must be even, got ${this.nTokens}`);
    this.textProcessor = new TextProcessor(this.version);
    this.tables = opts.tables ?? null;
    this.warn = opts.warn ?? ((msg: string) => console.warn(`warning: ${msg}`));
  }

  /** Label rows for a batch of songs (reference `get_batch_labels`), for window start 0. */
  getBatchLabels(metas: readonly SongMetadata[]): BatchLabels {
    // The same song N times (N samples) warns once.
    const seen = new Set<string>();
    const warn = (msg: string): void => {
      if (!seen.has(msg)) this.warn(msg);
      seen.add(msg);
    };
    const y: Int32Array[] = [];
    const info: LabelInfo[] = [];
    for (const meta of metas) {
      const totalLength = this.toSamples(meta.totalSeconds, 'total length');
      const offset = this.toSamples(meta.offsetSeconds, 'offset');
      this.checkTiming(totalLength, offset);
      const artistId = this.artistIdOf(meta, warn);
      const genreIds = this.genreIdsOf(meta, warn);
      let lyrics = '';
      let fullTokens: number[] = [];
      let tokens: number[] = [];
      if (this.nTokens > 0) {
        lyrics = this.textProcessor.clean(meta.lyrics, warn);
        fullTokens = this.textProcessor.tokenise(lyrics);
        tokens = relevantLyricTokens(fullTokens, this.nTokens, totalLength, offset, this.sampleLength).tokens;
      }
      const row = new Int32Array(this.labelLength);
      row.set([totalLength, offset, this.sampleLength, artistId]);
      row.fill(-1, 4, 4 + this.maxBowGenreSize);
      row.set(genreIds, 4);
      row.set(tokens, 4 + this.maxBowGenreSize);
      y.push(row);
      info.push({ artist: meta.artist ?? null, genre: meta.genre ?? null, artistId, genreIds, lyrics, fullTokens });
    }
    return { y, info };
  }

  /**
   * The rows of the window that starts `start` tokens into the sampled audio at a level with
   * `rawToTokens` samples per token (reference `get_y(labels, start, get_indices=True)`):
   * offset moved by start × rawToTokens, sample_length set to this prior's, and the lyric
   * tokens of that window. Indices are per item, -1 for padding; null rows of a prior without
   * lyrics give empty index lists.
   */
  yForWindow(labels: BatchLabels, start: number, rawToTokens: number): { y: Int32Array[]; indices: number[][] } {
    if (labels.y.length !== labels.info.length) throw new JukeboxError(`labels: ${labels.y.length} rows but ${labels.info.length} infos`);
    const y: Int32Array[] = [];
    const indices: number[][] = [];
    labels.y.forEach((row0, i) => {
      if (row0.length !== this.labelLength) {
        throw new JukeboxError(`labels: row ${i} has ${row0.length} values, this prior's rows have ${this.labelLength}`);
      }
      const offset = row0[1] + Math.trunc(start * rawToTokens);
      if (!(start >= 0) || offset >= 2 ** 31) throw new JukeboxError(`window start ${start} tokens is out of range`);
      this.checkTiming(row0[0], offset);
      const row = Int32Array.from(row0);
      row[1] = offset;
      row[2] = this.sampleLength;
      if (this.nTokens > 0) {
        const w = relevantLyricTokens(labels.info[i].fullTokens, this.nTokens, row[0], row[1], row[2], true);
        row.set(w.tokens, 4 + this.maxBowGenreSize);
        indices.push(w.indices);
      } else {
        indices.push([]);
      }
      y.push(row);
    });
    return { y, indices };
  }

  /** Token ids back to text (for showing a window's lyrics). */
  lyricsOf(row: Int32Array): string {
    return this.textProcessor.textise(row.subarray(4 + this.maxBowGenreSize));
  }

  private toSamples(seconds: number, what: string): number {
    if (!Number.isFinite(seconds) || seconds < 0) throw new JukeboxError(`${what} must be a number of seconds ≥ 0, got ${seconds}`);
    const samples = Math.round(seconds * this.sr);
    // Label rows are int32 (the reference's are int64, but no song reaches 2^31 samples).
    if (samples >= 2 ** 31) throw new JukeboxError(`${what} ${seconds} s is too long (over 2^31 samples at ${this.sr} Hz)`);
    return samples;
  }

  /**
   * The checks behind the reference's `RangeEmbedding` and lyric-window asserts, said in seconds:
   * total length in [min, max), window start in [0, total), window end ≤ max.
   */
  private checkTiming(totalLength: number, offset: number): void {
    const s = (n: number): string => fmtSeconds(n, this.sr);
    if (this.minDuration !== null && this.maxDuration !== null) {
      const lo = this.minDuration * this.sr;
      const hi = this.maxDuration * this.sr;
      if (!(totalLength >= lo && totalLength < hi)) {
        throw new JukeboxError(
          `total length ${s(totalLength)} is outside this prior's range ${this.minDuration}–${this.maxDuration} s`,
        );
      }
      if (offset + this.sampleLength > hi) {
        throw new JukeboxError(
          `the window ${s(offset)}–${s(offset + this.sampleLength)} ends after this prior's maximum song length ${this.maxDuration} s`,
        );
      }
    }
    if ((this.minDuration !== null || this.nTokens > 0) && !(offset >= 0 && offset < totalLength)) {
      throw new JukeboxError(`window start ${s(offset)} is not inside the song (total length ${s(totalLength)}); check the offset and total seconds`);
    }
  }

  private artistIdOf(meta: SongMetadata, warn: (msg: string) => void): number {
    if (meta.artistId !== undefined) return checkLabelId(meta.artistId, 'artist id');
    if (meta.artist === undefined) {
      warn('no artist given: using artist id 0 (unknown)');
      return 0;
    }
    return this.processor(`artist "${meta.artist}"`, '--artist-id N', warn).artistId(meta.artist);
  }

  private genreIdsOf(meta: SongMetadata, warn: (msg: string) => void): number[] {
    let ids: number[];
    if (meta.genreId !== undefined) {
      ids = (typeof meta.genreId === 'number' ? [meta.genreId] : [...meta.genreId]).map((g) => checkLabelId(g, 'genre id'));
    } else if (meta.genre === undefined) {
      warn('no genre given: using genre id 0 (unknown)');
      ids = [0];
    } else {
      ids = this.processor(`genre "${meta.genre}"`, '--genre-id N', warn).genreIds(meta.genre);
    }
    if (ids.length > this.maxBowGenreSize || ids.length === 0) {
      throw new JukeboxError(
        `genre ${meta.genre !== undefined ? `"${meta.genre}" ` : ''}gives ${ids.length} genre ids; this prior takes ${this.maxBowGenreSize === 1 ? 'exactly 1' : `1 to ${this.maxBowGenreSize}`}`,
      );
    }
    return ids;
  }

  private processor(what: string, idOption: string, warn: (msg: string) => void): ArtistGenreProcessor {
    if (this.tables === null) {
      throw new JukeboxError(
        `${what} needs the ${this.version} label id tables (${this.version}_artist_ids.txt, ${this.version}_genre_ids.txt): ` +
          `pass --label-ids DIR or set ${LABEL_IDS_ENV}, or give ${idOption}`,
      );
    }
    return new ArtistGenreProcessor(this.version, this.tables, warn);
  }
}
