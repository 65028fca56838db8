import { headKey, type LyricAttention } from '../../src/align/capture';
import { lyricWords } from '../../src/align/words';

/**
 * Synthetic stitched attention for unit tests of the word timing and the head finder: a song of
 * `tokens` rows over `characters`, where word k is sung over tokens `spans[k]` (attention moving
 * through its characters, `peak` on the current one) and every other token spreads its attention
 * uniformly over a lyric window of `window` characters around the last word sung.
 */
export function syntheticMap(characters: string, tokens: number, spans: [number, number][], opts: { peak?: number; window?: number } = {}): Float32Array {
  const peak = opts.peak ?? 0.6;
  const window = Math.min(opts.window ?? 32, characters.length);
  const words = lyricWords(characters);
  const nChars = characters.length;
  const map = new Float32Array(tokens * nChars);
  const windowAround = (c: number): [number, number] => {
    const from = Math.max(0, Math.min(nChars - window, c - (window >> 1)));
    return [from, from + window];
  };
  let last = 0;
  for (let t = 0; t < tokens; t++) {
    const k = spans.findIndex(([a, b]) => t >= a && t < b);
    const row = t * nChars;
    if (k < 0) {
      const [from, to] = windowAround(words[last].from);
      for (let c = from; c < to; c++) map[row + c] = 1 / window;
      continue;
    }
    last = k;
    const [a, b] = spans[k];
    const w = words[k];
    const c = w.from + Math.min(w.to - w.from - 1, Math.floor(((t - a) / (b - a)) * (w.to - w.from)));
    const [from, to] = windowAround(c);
    for (let j = from; j < to; j++) map[row + j] = (1 - peak) / (window - 1);
    map[row + c] = peak;
  }
  return map;
}

/** A LyricAttention holding `maps` as heads 0.. of layer 0 (125 tokens per second). */
export function syntheticAttention(characters: string, tokens: number, maps: Float32Array[], window = 32): LyricAttention {
  return {
    characters,
    tokens,
    secondsPerToken: 128 / 16000,
    hopLength: 128,
    sampleRate: 16000,
    lyricWindow: window,
    heads: maps.length,
    layers: [0],
    windowStarts: [0],
    maps: new Map(maps.map((m, h) => [headKey(0, h), m])),
  };
}

/** A deterministic uniform generator in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
