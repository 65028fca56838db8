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
 * How `alignWords` reads a head's attention (a prior's `alignment_decoding`):
 * - `words`: Viterbi over the words and the gaps between them (`wordPath`), for a head that
 *   follows the sung word;
 * - `lines`: Viterbi over the lines and the gaps between them (`linePath`), then the words within
 *   each line (`lineWords`), for a head that knows which line is sung but not which word of it,
 *   such as the default top prior's (README, "Lyric alignment").
 */
export type AlignmentDecoding = 'words' | 'lines';

/** What each decoding is called in alignment.json's "method". */
export const ALIGNMENT_METHODS: Record<AlignmentDecoding, string> = {
  words: 'viterbi-words-gaps',
  lines: 'viterbi-lines-gaps-then-words',
};

/** Whether `value` names a decoding (an own key of `ALIGNMENT_METHODS`, not an inherited one such as "constructor"). */
export function isAlignmentDecoding(value: unknown): value is AlignmentDecoding {
  return typeof value === 'string' && Object.hasOwn(ALIGNMENT_METHODS, value);
}

/** Each character's line: how many line breaks precede it in the cleaned lyrics. */
export function characterLines(characters: string): Int32Array {
  const lineOf = new Int32Array(characters.length);
  for (let c = 1; c < characters.length; c++) lineOf[c] = lineOf[c - 1] + (characters[c - 1] === '\n' ? 1 : 0);
  return lineOf;
}

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
  /** Gap level of the `words` decoding, in multiples of uniform attention over the lyric window (default `DEFAULT_GAP_LEVEL`). */
  gapLevel?: number;
  /** How the attention is read (default `words`); `alignLyrics` passes the prior's `alignment_decoding`. */
  decoding?: AlignmentDecoding;
}

/**
 * Word timings from one head's stitched `[tokens, characters]` attention, in seconds. With
 * `decoding: 'lines'`, the lines first and then the words within them (`lineWords`); by default
 * (`words`) Viterbi decoding of a left-to-right chain `gap₀, word₀, gap₁, word₁, …, word_{n−1}, gap_n`: every token belongs to one
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
  const decoding = opts.decoding ?? 'words';
  if (!isAlignmentDecoding(decoding)) throw new JukeboxError(`align: decoding must be ${Object.keys(ALIGNMENT_METHODS).join(' or ')}, got '${decoding}'`);
  const readChars = read ?? readCharacters(attn.maps.values(), attn.characters.length);
  const timed: WordTiming[] = [];
  if (decoding === 'lines') {
    const words = lyricWords(attn.characters);
    const times = lineWords(map, attn.tokens, attn.characters, readChars);
    times.forEach((t, k) => {
      if (t.start >= 0) timed.push({ word: words[k].word, start: t.start * attn.secondsPerToken, end: t.end * attn.secondsPerToken });
    });
    return timed;
  }
  const gapLevel = opts.gapLevel ?? DEFAULT_GAP_LEVEL;
  if (!(gapLevel > 0)) throw new JukeboxError(`align: gap level must be > 0, got ${gapLevel}`);
  const background = Math.min(1, gapLevel / Math.max(1, attn.lyricWindow));
  const path = wordPath(map, attn.tokens, attn.characters, background, readChars);
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
  const chain = readWords(all, read ?? readCharacters([map], nChars));
  const n = chain.length;
  if (n === 0) return span;
  if (tokens < n) throw new JukeboxError(`align: the song has ${tokens} tokens, fewer than the ${n} words its windows read`);
  const eps = 1e-12;
  const floor = columnFloors(map, tokens, nChars);
  const logBackground = Math.log(background + eps);
  // States: 2k = gap before word k (k = 0..n), 2k + 1 = word k (of the chain).
  const S = 2 * n + 1;
  const emit = new Float64Array(S);
  const emission = (t: number): Float64Array => {
    const row = t * nChars;
    for (let k = 0; k <= n; k++) {
      const from = k === 0 ? 0 : chain[k - 1].to;
      const to = k === n ? nChars : chain[k].from;
      let best = k === 0 ? Math.max(background, padding(map, row, nChars)) : background;
      for (let c = from; c < to; c++) best = Math.max(best, map[row + c] - floor[c]);
      emit[2 * k] = best === background ? logBackground : Math.log(best + eps);
      if (k < n) {
        let m = 0;
        for (let c = chain[k].from; c < chain[k].to; c++) m = Math.max(m, map[row + c] - floor[c]);
        emit[2 * k + 1] = Math.log(m + eps);
      }
    }
    return emit;
  };
  itemSpans(gapChainViterbi(tokens, n, emission), n).forEach((times, i) => {
    span[chain[i].k] = times;
  });
  return span;
}

/** Each item's first and last token on a `gapChainViterbi` path (every item has at least one). */
function itemSpans(states: Int32Array, n: number): { first: number; last: number }[] {
  const spans = Array.from({ length: n }, () => ({ first: -1, last: -1 }));
  states.forEach((s, t) => {
    if (s % 2 === 0) return;
    const item = spans[(s - 1) / 2];
    if (item.first < 0) item.first = t;
    item.last = t;
  });
  return spans;
}

/**
 * The Viterbi path through a left-to-right chain `gap₀, item₀, gap₁, item₁, …, item_{n−1}, gap_n`
 * (state 2k is the gap before item k, 2k + 1 item k): every token belongs to one state, states
 * are visited in order, each item takes at least one token, and a gap may be skipped (items back
 * to back). `emission(t)` gives token t's log score of each of the 2n + 1 states (it may reuse
 * one array). Returns each token's state.
 */
function gapChainViterbi(tokens: number, n: number, emission: (t: number) => Float64Array): Int32Array {
  const S = 2 * n + 1;
  // back[t·S + s]: how many states the path moved to reach s at t (0, 1 or 2).
  const back = new Uint8Array(tokens * S);
  let prev = new Float64Array(S).fill(-Infinity);
  let cur = new Float64Array(S);
  let emit = emission(0);
  prev[0] = emit[0];
  prev[1] = emit[1];
  for (let t = 1; t < tokens; t++) {
    emit = emission(t);
    for (let s = 0; s < S; s++) {
      let best = prev[s];
      let step = 0;
      if (s >= 1 && prev[s - 1] > best) {
        best = prev[s - 1];
        step = 1;
      }
      // Skip a gap: item k−1 straight to item k.
      if (s % 2 === 1 && s >= 3 && prev[s - 2] > best) {
        best = prev[s - 2];
        step = 2;
      }
      cur[s] = best + emit[s];
      back[t * S + s] = step;
    }
    [prev, cur] = [cur, prev];
  }
  const states = new Int32Array(tokens);
  let s = prev[S - 1] >= prev[S - 2] ? S - 1 : S - 2;
  for (let t = tokens - 1; t >= 0; t--) {
    states[t] = s;
    if (t > 0) s -= back[t * S + s];
  }
  return states;
}

/**
 * The words some window read, with their index in `all`: only characters a window read have
 * attention, so the decodings run over the words they hold (`read`: see `readCharacters`).
 */
function readWords(all: LyricWord[], read: Uint8Array): (LyricWord & { k: number })[] {
  return all.map((w, k) => ({ ...w, k })).filter((w) => read.subarray(w.from, w.to).some((r) => r === 1));
}

/**
 * The attention the row starting at `row` gives the padding keys before the lyrics, which the
 * stitched matrix drops as the reference does: 1 minus the row's sum (0 for a row no window wrote).
 */
function padding(map: Float32Array, row: number, nChars: number): number {
  let sum = 0;
  for (let c = 0; c < nChars; c++) sum += map[row + c];
  return sum > 0 ? Math.max(0, 1 - sum) : 0;
}

/**
 * Added to each attention mass before its log in `linePath` (a probability): a token where the head
 * gives a line nothing costs log(0.02) ≈ −3.9, not −∞, so one stray row cannot break a line.
 */
export const LINE_MASS_FLOOR = 0.02;

/**
 * The share of a word's onset that `lineWords` takes from spreading the line's words evenly over
 * its span; the rest comes from the head's own word boundaries within the line. Chosen on 24
 * held-out songs of seed 1003, which serve only to choose settings (median onset error, songs
 * beating the even-spread baseline): with the default top prior and the last word's hold
 * (`LINE_END_HOLD`), 0.7 gave 0.280 s and 22 songs, 0.85 0.272 s and 23. On the same songs with
 * the third fine-tune's 1000-step weights (a one-off script): 1 (the even spread alone) 0.292 s,
 * 0.85 0.286 s, 0.7 0.304 s. Earlier measurements, with the second fine-tune and no hold, on 24
 * held-out songs (seed 1001), 24 more (seed 1002) and 24 training songs (seed 1):
 * - 0 (the head's boundaries alone): 0.63 s, 19 / 0.63 s, 15 / 0.52 s, 21;
 * - 0.5: 0.47 s, 19 / 0.49 s, 17 / 0.43 s, 22;
 * - 0.7: 0.44 s, 20 / 0.44 s, 18 / 0.39 s, 21;
 * - 1: 0.44 s, 21 / 0.44 s, 18 / 0.38 s, 22.
 * The head's boundaries carry little beyond the line on these priors; 0.85 keeps a little of them
 * for a head that tracks words better.
 */
export const LINE_EVEN_SHARE = 0.85;

/**
 * How much longer than its characters the last word of a line lasts, in mean words of the line,
 * when `lineWords` spreads the line's words over its span: a line's last note is held, so spread
 * by characters alone its words came late. Measured on the generated corpus's own word times, the
 * words spread over their lines' true spans: median onset error 0.161 s without a hold, 0.143 s
 * at 0.5, 0.164 s at 1 (the first 200 training songs, 4756 words). Through the decoding, on the 24
 * held-out songs of seed 1003 that choose settings (the third fine-tune's 1000-step weights, the
 * even share 0.7, a one-off script): 0.315 s without, 0.304 s with.
 */
export const LINE_END_HOLD = 0.5;

/** One line of the lyrics as `linePath` times it: its words (indices into `lyricWords`) and its first and last token. */
export interface TimedLine {
  words: number[];
  first: number;
  last: number;
}

/**
 * The lines of the `lines` decoding: Viterbi over a left-to-right chain `gap₀, line₀, gap₁, …,
 * line_{L−1}, gap_L` (every line takes at least one token, a gap may be empty). At each token the
 * head's attention says two things, both scored: whether anything is sung, and which line. A gap
 * scores log(b + ε), where b is the attention on the characters between words (spaces, line breaks,
 * punctuation) plus the padding before short lyrics: where a head trained with break targets
 * (`train-prior --align-breaks`) looks while nothing is sung. Line k scores log(1 − b + ε) +
 * log(m_k + ε), where m_k is the attention on the line's characters (its first word's first to its
 * last word's last). Summing over the line, not taking one character's best as `wordPath` does,
 * fits a head that spreads over the sung line. ε is `LINE_MASS_FLOOR`. Lines are the lyrics' own
 * (split at line breaks), over the words some window read (`read`, as in `wordPath`). It needs a
 * head that marks breaks: attention spread over a line's letters while nothing is sung (what an
 * untrained head does) reads as singing, where the `words` decoding's gap level would call it a gap.
 */
export function linePath(map: Float32Array, tokens: number, characters: string, read?: Uint8Array): TimedLine[] {
  const nChars = characters.length;
  if (map.length !== tokens * nChars) throw new JukeboxError(`align: attention map holds ${map.length} values, expected ${tokens} × ${nChars}`);
  const chain = readWords(lyricWords(characters), read ?? readCharacters([map], nChars));
  const lineOf = characterLines(characters);
  const lines: { words: number[]; from: number; to: number }[] = [];
  let lineOfPrevious = -1;
  for (const w of chain) {
    const line = lineOf[w.from];
    if (line !== lineOfPrevious) lines.push({ words: [], from: w.from, to: w.to });
    const current = lines[lines.length - 1];
    current.words.push(w.k);
    current.to = w.to;
    lineOfPrevious = line;
  }
  const n = lines.length;
  if (n === 0) return [];
  if (tokens < n) throw new JukeboxError(`align: the song has ${tokens} tokens, fewer than the ${n} lines its windows read`);
  const between = Uint8Array.from(characters, (c) => (isWordChar(c) ? 0 : 1));
  const eps = LINE_MASS_FLOOR;
  const emit = new Float64Array(2 * n + 1);
  const states = gapChainViterbi(tokens, n, (t) => {
    const row = t * nChars;
    let b = padding(map, row, nChars);
    for (let c = 0; c < nChars; c++) if (between[c] === 1) b += map[row + c];
    b = Math.min(1, b);
    const gap = Math.log(b + eps);
    const sung = Math.log(1 - b + eps);
    for (let k = 0; k < n; k++) {
      let m = 0;
      for (let c = lines[k].from; c < lines[k].to; c++) m += map[row + c];
      emit[2 * k] = gap;
      emit[2 * k + 1] = sung + Math.log(m + eps);
    }
    emit[2 * n] = gap;
    return emit;
  });
  const spans = itemSpans(states, n);
  return lines.map(({ words }, k) => ({ words, ...spans[k] }));
}

/**
 * Word times of the `lines` decoding, in tokens (fractional; -1 for words no window read): the
 * lines of `linePath`, and within each line's span [first, last + 1) each word's onset as the mean,
 * weighted by `LINE_EVEN_SHARE`, of two guesses: the line's words spread evenly over the span in
 * proportion to their characters (a space's share between words, as the baseline does over the
 * whole song; the last word also held `LINE_END_HOLD` of a mean word), and the head's own
 * boundaries (Viterbi over the line's words back to back, each scored by its best character above
 * its floor, as in `wordPath`). A word ends where the next begins; the line's last word at the
 * line's end.
 */
export function lineWords(map: Float32Array, tokens: number, characters: string, read?: Uint8Array): { start: number; end: number }[] {
  const nChars = characters.length;
  const all = lyricWords(characters);
  const times = all.map(() => ({ start: -1, end: -1 }));
  const lines = linePath(map, tokens, characters, read);
  if (lines.length === 0) return times;
  const floor = columnFloors(map, tokens, nChars);
  for (const line of lines) {
    const from = line.first;
    const to = line.last + 1;
    const words = line.words.map((k) => all[k]);
    const n = words.length;
    const letters = words.reduce((sum, w) => sum + (w.to - w.from), 0);
    // The line's last note is held: LINE_END_HOLD of a mean word more after the last word's characters.
    const total = letters + n - 1 + (LINE_END_HOLD * letters) / n;
    const even: number[] = [];
    let at = 0;
    for (const w of words) {
      even.push(from + ((to - from) * at) / total);
      at += w.to - w.from + 1;
    }
    let own = even;
    if (to - from >= n) {
      // The chain's gaps get no score: its words follow each other with no gap between them.
      const emit = new Float64Array(2 * n + 1).fill(-Infinity);
      const states = gapChainViterbi(to - from, n, (t) => {
        const row = (from + t) * nChars;
        words.forEach((w, j) => {
          let m = 0;
          for (let c = w.from; c < w.to; c++) m = Math.max(m, map[row + c] - floor[c]);
          emit[2 * j + 1] = Math.log(m + 1e-12);
        });
        return emit;
      });
      own = words.map((_, j) => from + states.indexOf(2 * j + 1));
    }
    const onsets = even.map((e, j) => LINE_EVEN_SHARE * e + (1 - LINE_EVEN_SHARE) * own[j]);
    line.words.forEach((k, j) => {
      times[k] = { start: onsets[j], end: j + 1 < n ? onsets[j + 1] : to };
    });
  }
  return times;
}
