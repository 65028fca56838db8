import { JukeboxError } from '../errors';
import { characterLines, lyricWords, type WordTiming } from './words';

/** Word-onset accuracy of predicted timings against the truth. */
export interface OnsetAccuracy {
  /** Truth words matched to a predicted word (the errors below are over these). */
  words: number;
  /** Median |predicted start − true start| in seconds over the matched words (NaN if none). */
  median_abs_error: number;
  /** Share of the truth's words whose matched onset is within 0.2 s (unmatched words count as misses). */
  within_0_2: number;
  /** The same within 0.5 s. */
  within_0_5: number;
}

/** A word as compared: lower case, letters and digits only ("Night," and "night" match). */
function normalised(word: string): string {
  return word.normalize('NFKD').toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
}

/**
 * Pairs predicted with true words in order: by index when both lists have the same normalised
 * words (the usual case: the same lyrics), else along a longest common subsequence of the
 * normalised words, so a word the lyrics cleaner dropped or split does not shift every later pair.
 */
export function matchWords(predicted: WordTiming[], truth: WordTiming[]): [number, number][] {
  const p = predicted.map((w) => normalised(w.word));
  const t = truth.map((w) => normalised(w.word));
  if (p.length === t.length && p.every((w, i) => w === t[i])) return p.map((_, i) => [i, i]);
  const n = p.length;
  const m = t.length;
  const lcs = new Int32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = p[i] === t[j] ? lcs[(i + 1) * (m + 1) + j + 1] + 1 : Math.max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1]);
    }
  }
  const pairs: [number, number][] = [];
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (p[i] === t[j]) {
      pairs.push([i, j]);
      i++;
      j++;
    } else if (lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
      i++;
    } else {
      j++;
    }
  }
  return pairs;
}

/**
 * For each character of the cleaned lyrics (the text the model reads, `LabelInfo.lyrics`), the
 * index of the sidecar word it belongs to, or -1 (spaces, punctuation, words of the cleaned text
 * not paired with a timed word). The cleaned words (`lyricWords`, as alignment splits them) are
 * paired with the timed ones in order, along their longest common subsequence (`matchWords`), so a
 * word the cleaner dropped or split does not shift the later pairs. `words`: the sidecar's
 * timings, seconds from the start of the song.
 */
export function characterWords(characters: string, words: readonly WordTiming[]): Int32Array {
  const cleaned = lyricWords(characters);
  const owner = new Int32Array(characters.length).fill(-1);
  const asTimings = cleaned.map((w) => ({ word: w.word, start: 0, end: 0 }));
  for (const [i, j] of matchWords(asTimings, [...words])) owner.fill(j, cleaned[i].from, cleaned[i].to);
  return owner;
}

/** Each timed word's first and one-past-last character, from `characterWords`' `owner` (-1: a word not paired). */
export function wordSpans(owner: Int32Array, words: number): { from: Int32Array; to: Int32Array } {
  const from = new Int32Array(words).fill(-1);
  const to = new Int32Array(words).fill(-1);
  owner.forEach((w, c) => {
    if (w < 0) return;
    if (from[w] < 0) from[w] = c;
    to[w] = c + 1;
  });
  return { from, to };
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Onset accuracy of `predicted` against `truth` (word starts): the median absolute error over the
 * matched words (see `matchWords`), and the share of the truth's words within 0.2 s and 0.5 s.
 */
export function onsetAccuracy(predicted: WordTiming[], truth: WordTiming[]): OnsetAccuracy {
  const errors = matchWords(predicted, truth).map(([i, j]) => Math.abs(predicted[i].start - truth[j].start));
  const share = (limit: number): number => (truth.length === 0 ? 0 : errors.filter((e) => e <= limit).length / truth.length);
  return { words: errors.length, median_abs_error: median(errors), within_0_2: share(0.2), within_0_5: share(0.5) };
}

/**
 * The baseline a timing must beat: the truth's words laid end to end over its sung span (first
 * word's start to last word's end), each taking a share proportional to its length in characters,
 * with one character's share between words (the space). Proportional to characters rather than equal shares, because
 * that is what one knows without listening (long words take longer to sing) and it makes the
 * stronger baseline; it still knows the span, which a real alignment must find by itself.
 */
export function evenSpreadBaseline(truth: WordTiming[]): WordTiming[] {
  if (truth.length === 0) return [];
  const from = Math.min(...truth.map((w) => w.start));
  const to = Math.max(...truth.map((w) => w.end));
  const chars = truth.map((w) => [...w.word].length);
  const total = chars.reduce((a, b) => a + b, 0) + truth.length - 1;
  const perChar = (to - from) / total;
  let at = from;
  return truth.map((w, i) => {
    const out = { word: w.word, start: at, end: at + chars[i] * perChar };
    at = out.end + perChar;
    return out;
  });
}

/**
 * Where a head looks while a word is sung, token by token: a diagnosis beside the onset error,
 * which only says how far off the words land. Over the tokens whose centre lies inside a true word
 * (paired with a word of the cleaned lyrics by `characterWords`), the share whose
 * most-attended character belongs to that word, and the share whose most-attended character is on
 * that word's line (lines as the lyrics break them). A head that knows which line is sung but not
 * which word of it scores high on the second and low on the first, and its onsets land anywhere
 * in the line.
 */
export interface HeadTracking {
  /** Tokens sung inside a paired word (the shares below are over these). */
  tokens: number;
  /** Share of those tokens whose argmax character is in the sung word. */
  word: number;
  /** Share whose argmax character is on the sung word's line. */
  line: number;
}

/**
 * `HeadTracking` of one head's stitched `[tokens, characters]` map (`headMap`) of the cleaned lyrics
 * `characters`, against the true word timings; token t is at `(t + 0.5) × secondsPerToken`.
 */
export function headTracking(map: Float32Array, tokens: number, characters: string, secondsPerToken: number, truth: WordTiming[]): HeadTracking {
  const nChars = characters.length;
  if (map.length !== tokens * nChars) throw new JukeboxError(`align: attention map holds ${map.length} values, expected ${tokens} × ${nChars}`);
  const owner = characterWords(characters, truth);
  const lineOf = characterLines(characters);
  // Each true word's first character in the lyrics (-1: not paired), for its line.
  const firstChar = wordSpans(owner, truth.length).from;
  let counted = 0;
  let onWord = 0;
  let onLine = 0;
  truth.forEach((w, j) => {
    if (firstChar[j] < 0) return;
    for (let t = Math.max(0, Math.ceil(w.start / secondsPerToken - 0.5)); t < tokens && (t + 0.5) * secondsPerToken < w.end; t++) {
      let best = 0;
      for (let c = 1; c < nChars; c++) if (map[t * nChars + c] > map[t * nChars + best]) best = c;
      counted++;
      if (owner[best] === j) onWord++;
      if (lineOf[best] === lineOf[firstChar[j]]) onLine++;
    }
  });
  return { tokens: counted, word: counted === 0 ? 0 : onWord / counted, line: counted === 0 ? 0 : onLine / counted };
}

/** `HeadTracking` over several songs' sung tokens, each token counting once. */
export function pooledTracking(parts: readonly HeadTracking[]): HeadTracking {
  const tokens = parts.reduce((n, p) => n + p.tokens, 0);
  const share = (k: 'word' | 'line') => (tokens === 0 ? 0 : parts.reduce((n, p) => n + p[k] * p.tokens, 0) / tokens);
  return { tokens, word: share('word'), line: share('line') };
}
