import { JukeboxError } from '../errors';
import { headMap, readCharacters, type LyricAttention } from './capture';

/** One word of the lyrics and when it is sung, in seconds from the first token of the codes. */
export interface WordTiming {
  word: string;
  start: number;
  end: number;
}

/** A word of the cleaned lyrics: its text and its character columns [from, to). */
export interface LyricWord {
  word: string;
  from: number;
  to: number;
}

/**
 * What `alignWords` does, as written to alignment.json's "method": Viterbi decoding of a
 * left-to-right model of words and the gaps between them (see `alignWords`).
 */
export const ALIGNMENT_METHOD = 'viterbi-words-gaps';

/**
 * Default background level of a gap, in multiples of uniform attention over the lyric window
 * (1 / n_tokens, the keys every row attends to, padding included when the lyrics are shorter):
 * a gap wins a token unless some character of the current word draws more than this. Three times uniform: a head that spreads over the whole window (what alignment heads do
 * where nothing is sung, and what every head does before it specialises) stays below it, while
 * attention that picks out a word's characters is many times above it.
 */
export const DEFAULT_GAP_LEVEL = 3;

const isWordChar = (c: string): boolean => /[A-Za-z0-9]/.test(c);

/**
 * The words of cleaned lyrics: runs of characters between whitespace, trimmed of punctuation at
 * either end ("night," → "night"; an apostrophe inside stays: "don't"). Runs with no letter or
 * digit are not words. Columns index the characters (the alignment matrix's columns).
 */
export function lyricWords(characters: string): LyricWord[] {
  const words: LyricWord[] = [];
  const re = /\S+/g;
  for (let m = re.exec(characters); m !== null; m = re.exec(characters)) {
    let from = m.index;
    let to = m.index + m[0].length;
    while (from < to && !isWordChar(characters[from])) from++;
    while (to > from && !isWordChar(characters[to - 1])) to--;
    if (from < to) words.push({ word: characters.slice(from, to), from, to });
  }
  return words;
}

export interface AlignWordsOptions {
  /** Gap level in multiples of uniform attention over the lyric window (default `DEFAULT_GAP_LEVEL`). */
  gapLevel?: number;
}

/**
 * Word timings from one head's stitched `[tokens, characters]` attention, by Viterbi decoding of a
 * left-to-right chain `gap₀, word₀, gap₁, word₁, …, word_{n−1}, gap_n`: every token belongs to one
 * state, states are visited in order, each word takes at least one token, and a gap may be skipped
 * (words sung back to back). A word's score at a token is the log of the largest attention any of
 * its characters gets there; a gap's is the log of the larger of the attention on its own
 * characters (spaces, line breaks, punctuation) and a background level (`gapLevel` × uniform over
 * the lyric window). The gap before the first word also counts the attention on the padding keys
 * that precede lyrics shorter than the lyric window (the part of the row missing from the matrix):
 * a head trained with break targets (`train-prior --align-breaks`) looks there until singing
 * starts. The best path maximises the summed scores; a word's start and end are its
 * first token and one past its last, in seconds. Attention is scored above each character's floor
 * (`columnFloors`, its median over the song), which discounts heads' attention sinks. The chain holds the words whose characters some
 * window read (columns with any attention): when the codes are an excerpt of a longer song, the
 * lyrics no window reached get no timing and are left out, rather than squeezed into the excerpt.
 *
 * Why Viterbi over words and gaps rather than DTW over characters: DTW assigns every token to some
 * character, so a stretch where nothing is sung (an instrumental break, where the attention
 * spreads out) is stretched over the neighbouring words and moves their onsets. Here such a stretch
 * scores better as a gap, so words are not stretched over low attention and an instrumental passage
 * gets no words. Scoring a word by its best character (not the sum over them) keeps long words from
 * winning diffuse rows by their length alone. The decode is exact, O(tokens × words).
 * `read`: `readCharacters` of all of `attn`'s maps, when the caller aligns several heads (default:
 * computed here, a pass over every captured map).
 */
export function alignWords(attn: LyricAttention, layer: number, head: number, opts: AlignWordsOptions = {}, read?: Uint8Array): WordTiming[] {
  const map = headMap(attn, layer, head);
  const gapLevel = opts.gapLevel ?? DEFAULT_GAP_LEVEL;
  if (!(gapLevel > 0)) throw new JukeboxError(`align: gap level must be > 0, got ${gapLevel}`);
  const background = Math.min(1, gapLevel / Math.max(1, attn.lyricWindow));
  const path = wordPath(map, attn.tokens, attn.characters, background, read ?? readCharacters(attn.maps.values(), attn.characters.length));
  const timed: WordTiming[] = [];
  lyricWords(attn.characters).forEach((w, k) => {
    if (path[k].first >= 0) timed.push({ word: w.word, start: path[k].first * attn.secondsPerToken, end: (path[k].last + 1) * attn.secondsPerToken });
  });
  return timed;
}

/** Share of the rows reading a character below which its floor lies (see `columnFloors`): the median. */
export const FLOOR_QUANTILE = 0.5;

/**
 * Each character's floor: the median of its attention over the rows that read it (non-zero). Word
 * timing scores attention above the floor, so a character a head attends to all the time (a
 * "sink": often a line break or a first letter, holding attention the head has nowhere else to
 * put) does not pull the path to itself at every token, while a character attended only while it
 * is sung keeps its contrast (sung in fewer than half the rows that read it, its floor is the
 * head's level elsewhere). Measured on the default top prior early in alignment training (head
 * 7/0 after 200 steps of the guided loss; 12 corpus songs, 8 of them training songs; median of the
 * songs' median onset errors): no floor 7.8 s (6 of the songs), 25th percentile 3.1 s, median
 * 1.8 s, 75th/90th percentile 2.4/2.5 s (6 songs); the even-spread baseline 1.2 s.
 */
export function columnFloors(map: Float32Array, tokens: number, nChars: number): Float32Array {
  const floors = new Float32Array(nChars);
  const values = new Float32Array(tokens);
  for (let c = 0; c < nChars; c++) {
    let n = 0;
    for (let t = 0; t < tokens; t++) {
      const v = map[t * nChars + c];
      if (v !== 0) values[n++] = v;
    }
    if (n === 0) continue;
    const read = values.subarray(0, n).sort();
    floors[c] = read[Math.floor(FLOOR_QUANTILE * (n - 1))];
  }
  return floors;
}

/**
 * The Viterbi path of `alignWords` over a `[tokens, characters]` matrix: each word's first and
 * last token (-1 for words no window read). `background` is the gap level as an attention
 * probability; `read` marks the characters some window read (default: those with attention in `map`).
 */
export function wordPath(map: Float32Array, tokens: number, characters: string, background: number, read?: Uint8Array): { first: number; last: number }[] {
  const nChars = characters.length;
  if (map.length !== tokens * nChars) throw new JukeboxError(`align: attention map holds ${map.length} values, expected ${tokens} × ${nChars}`);
  const all = lyricWords(characters);
  const span = all.map(() => ({ first: -1, last: -1 }));
  // Only characters some window read have attention: the chain runs over the words they hold.
  const readChar = read ?? readCharacters([map], nChars);
  const chain = all.map((w, k) => ({ ...w, k })).filter((w) => readChar.subarray(w.from, w.to).some((r) => r === 1));
  const n = chain.length;
  if (n === 0) return span;
  if (tokens < n) throw new JukeboxError(`align: the song has ${tokens} tokens, fewer than the ${n} words its windows read`);
  const eps = 1e-12;
  const floor = columnFloors(map, tokens, nChars);
  const logBackground = Math.log(background + eps);
  // States: 2k = gap before word k (k = 0..n), 2k + 1 = word k (of the chain).
  const S = 2 * n + 1;
  const emit = new Float64Array(S);
  /**
   * The attention a row gives the padding keys before the lyrics, which the stitched matrix drops
   * as the reference does: 1 minus the row's sum (0 for a row no window wrote).
   */
  const padding = (row: number): number => {
    let sum = 0;
    for (let c = 0; c < nChars; c++) sum += map[row + c];
    return sum > 0 ? Math.max(0, 1 - sum) : 0;
  };
  const emission = (t: number): void => {
    const row = t * nChars;
    for (let k = 0; k <= n; k++) {
      const from = k === 0 ? 0 : chain[k - 1].to;
      const to = k === n ? nChars : chain[k].from;
      let best = k === 0 ? Math.max(background, padding(row)) : background;
      for (let c = from; c < to; c++) best = Math.max(best, map[row + c] - floor[c]);
      emit[2 * k] = best === background ? logBackground : Math.log(best + eps);
      if (k < n) {
        let m = 0;
        for (let c = chain[k].from; c < chain[k].to; c++) m = Math.max(m, map[row + c] - floor[c]);
        emit[2 * k + 1] = Math.log(m + eps);
      }
    }
  };
  // back[t·S + s]: how many states the path moved to reach s at t (0, 1 or 2).
  const back = new Uint8Array(tokens * S);
  let prev = new Float64Array(S).fill(-Infinity);
  let cur = new Float64Array(S);
  emission(0);
  prev[0] = emit[0];
  prev[1] = emit[1];
  for (let t = 1; t < tokens; t++) {
    emission(t);
    for (let s = 0; s < S; s++) {
      let best = prev[s];
      let step = 0;
      if (s >= 1 && prev[s - 1] > best) {
        best = prev[s - 1];
        step = 1;
      }
      // Skip a gap: word k−1 straight to word k.
      if (s % 2 === 1 && s >= 3 && prev[s - 2] > best) {
        best = prev[s - 2];
        step = 2;
      }
      cur[s] = best + emit[s];
      back[t * S + s] = step;
    }
    [prev, cur] = [cur, prev];
  }
  let s = prev[S - 1] >= prev[S - 2] ? S - 1 : S - 2;
  for (let t = tokens - 1; t >= 0; t--) {
    if (s % 2 === 1) {
      const w = span[chain[(s - 1) / 2].k];
      if (w.last < 0) w.last = t;
      w.first = t;
    }
    if (t > 0) s -= back[t * S + s];
  }
  return span;
}
