import type { LyricAttention } from './capture';
import { headMap, readCharacters } from './capture';
import { lyricWords } from './words';

/** How alignment-like one head's stitched attention is (each measure in [0, 1]). */
export interface HeadScore {
  layer: number;
  head: number;
  /** monotonicity × concentration × coverage. */
  score: number;
  /**
   * Spearman rank correlation of token time with the attended character (the row's argmax) over
   * the focused rows (largest share at least twice uniform over the lyric window), floored at 0.
   */
  monotonicity: number;
  /** Mean over tokens of 1 − entropy / log(keys): 1 is all attention on one character, 0 uniform over the lyric window. */
  concentration: number;
  /** Share of the lyrics' words (those some window read) that some focused token attends to most (its argmax lies in the word). */
  coverage: number;
}

/** A row is focused when its largest share is at least this many times uniform over the keys. */
const FOCUSED = 2;

/** Ranks in [0, n) of values, ties given their mean rank (for Spearman's correlation). */
function ranks(values: Float64Array): Float64Array {
  const order = Array.from(values.keys()).sort((a, b) => values[a] - values[b]);
  const r = new Float64Array(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    for (let k = i; k <= j; k++) r[order[k]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/**
 * The three measures and their product for one `[tokens, characters]` map. `read` marks the
 * characters some window read (default: those with attention in this map).
 */
export function scoreHead(map: Float32Array, tokens: number, characters: string, lyricWindow: number, read?: Uint8Array): Omit<HeadScore, 'layer' | 'head'> {
  const nChars = characters.length;
  const keys = Math.max(2, Math.min(lyricWindow, nChars));
  const logKeys = Math.log(keys);
  const times: number[] = [];
  const argmaxes: number[] = [];
  let concentration = 0;
  let rows = 0;
  for (let t = 0; t < tokens; t++) {
    const row = t * nChars;
    let sum = 0;
    let best = -1;
    let bestV = 0;
    for (let c = 0; c < nChars; c++) {
      const v = map[row + c];
      sum += v;
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    if (!(sum > 0)) continue;
    let h = 0;
    for (let c = 0; c < nChars; c++) {
      const p = map[row + c] / sum;
      if (p > 0) h -= p * Math.log(p);
    }
    concentration += 1 - Math.min(1, h / logKeys);
    rows++;
    // Only rows that single a character out say where the head is in the lyrics.
    if (bestV / sum >= FOCUSED / keys) {
      times.push(t);
      argmaxes.push(best);
    }
  }
  if (rows === 0) return { score: 0, monotonicity: 0, concentration: 0, coverage: 0 };
  concentration /= rows;
  const monotonicity = times.length < 2 ? 0 : Math.max(0, pearson(ranks(Float64Array.from(times)), ranks(Float64Array.from(argmaxes))));
  // Coverage counts the words some window read (an excerpt's codes reach only part of the lyrics).
  const readChar = read ?? readCharacters([map], nChars);
  const words = lyricWords(characters).filter((w) => readChar.subarray(w.from, w.to).some((r) => r === 1));
  const wordOf = new Int32Array(nChars).fill(-1);
  words.forEach((w, k) => wordOf.fill(k, w.from, w.to));
  const hit = new Set<number>();
  for (const a of argmaxes) if (wordOf[a] >= 0) hit.add(wordOf[a]);
  const coverage = words.length === 0 ? 0 : hit.size / words.length;
  return { score: monotonicity * concentration * coverage, monotonicity, concentration, coverage };
}

/**
 * Scores every captured head for how alignment-like its attention is and ranks them, best first.
 * The score is the product monotonicity × concentration × coverage, so a head must do all three
 * to rank high: attend to one character at a time (concentration), move through the lyrics as the
 * song goes on (monotonicity: Spearman's correlation is indifferent to the singing rate and robust
 * to a few stray tokens), and reach all of them (coverage: a head that stays on the first line, or
 * jumps to the end, covers few words). Rows with no attention on any character (all on padding)
 * are left out; rows spread near uniformly (where nothing is sung) count towards concentration
 * only, since their argmax is noise.
 */
export function rankHeads(attn: LyricAttention): HeadScore[] {
  const out: HeadScore[] = [];
  const read = readCharacters(attn.maps.values(), attn.characters.length);
  for (const layer of attn.layers) {
    for (let head = 0; head < attn.heads; head++) {
      const s = scoreHead(headMap(attn, layer, head), attn.tokens, attn.characters, attn.lyricWindow, read);
      out.push({ layer, head, ...s });
    }
  }
  return out.sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head);
}
