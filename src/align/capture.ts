import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import type { Labeller, SongMetadata } from '../labels/index';
import type { Prior } from '../prior/prior';
import { isLyricLayer } from '../prior/transformer';
import { windowStarts } from '../sample/windows';

/**
 * Lyric attention over a whole song: the prior's teacher-forced passes over windows of the song's
 * codes, the attention probabilities of its lyric layers recorded in each, and the windows stitched
 * into one `[tokens, characters]` matrix per head as the reference's `get_alignment`
 * (`jukebox/align.py`) does. This lives in `src/align/` (not `src/prior/`) because, like
 * `src/sample/`, it drives a prior over a song (windows, labels, stitching); recording the
 * probabilities stays in the model (`Prior.forward`'s `recordAttention`).
 */

/**
 * The top level's hop between windows, as a fraction of n_ctx. The reference's `get_alignment`
 * uses the top level's sampling hop (`hop_fraction[level]`, 0.125 in its published sampling
 * commands, and `DEFAULT_HOP_FRACTIONS[2]` here); alignment defaults to 0.5, a quarter of the
 * windows, because the finer hop did not align better: on the 24 held-out songs of the default
 * model, median onset error 1.50 s at 0.5 against 1.56 s at 0.125 (same head, same songs).
 * `hopFraction` sets it (the parity fixtures were made by `get_alignment` with a top-level hop of 0.5).
 */
export const DEFAULT_ALIGN_HOP_FRACTION = 0.5;

/**
 * The prior's lyric layers: its encoder-decoder layers (5b_lyrics design: music queries against
 * the lyrics encoder's keys) or its prime layers (1b_lyrics design: recorded as the reference
 * slices them, music queries against the lyric positions). Empty for a prior without lyrics.
 */
export function lyricLayers(prior: Prior): number[] {
  if (!prior.hasLyrics) return [];
  const out: number[] = [];
  prior.prior.transformer.attnMods.forEach((layer, i) => {
    if (isLyricLayer(layer)) out.push(i);
  });
  return out;
}

/**
 * The lyric layers to capture, sorted and without repeats (`asked`, or every lyric layer of the
 * prior), and the prior's labeller, which a prior with lyrics has. Refuses, in one line starting
 * `command:`, a prior without lyrics, a layer that is not a lyric layer, and an empty choice
 * (`empty` says so).
 */
export function chosenLyricLayers(prior: Prior, asked: readonly number[] | undefined, command: string, empty: string): { layers: number[]; labeller: Labeller } {
  const available = lyricLayers(prior);
  if (available.length === 0 || prior.labeller === null) throw new JukeboxError(`${command}: this prior does not read lyrics (no encoder-decoder or prime layers)`);
  const layers = [...new Set(asked ?? available)].sort((a, b) => a - b);
  for (const l of layers) {
    if (!available.includes(l)) throw new JukeboxError(`${command}: layer ${l} is not a lyric layer of this prior (lyric layers: ${available.join(', ')})`);
  }
  if (layers.length === 0) throw new JukeboxError(`${command}: ${empty}`);
  return { layers, labeller: prior.labeller };
}

/** Key of one head's map in `LyricAttention.maps`. */
export function headKey(layer: number, head: number): string {
  return `${layer}/${head}`;
}

export interface LyricAttention {
  /** Cleaned lyrics the model saw (the Labeller's full tokens as text), one character per column. */
  characters: string;
  /** Top-level tokens of the song (rows). */
  tokens: number;
  /** Seconds per token: hopLength / sampleRate. */
  secondsPerToken: number;
  /** Audio samples per top-level token. */
  hopLength: number;
  sampleRate: number;
  /** Lyric characters the prior reads per window (n_tokens): a row's attention is spread over at most this many columns. */
  lyricWindow: number;
  /** Heads per layer. */
  heads: number;
  /** The captured layers, ascending. */
  layers: number[];
  /** First token of each window, in the order of `get_starts`. */
  windowStarts: number[];
  /** `${layer}/${head}` (see `headKey`) → stitched `[tokens, characters]` row-major (reference `get_alignment`). */
  maps: Map<string, Float32Array>;
}

export interface CaptureOptions {
  /** Lyric layers to record (default all of `lyricLayers`); every head of each is kept. */
  layers?: number[];
  /** Hop between windows as a fraction of n_ctx (default 0.5, the reference's top level). */
  hopFraction?: number;
  /** Windows per forward pass (default 4): the same values as one at a time, fewer passes. */
  maxBatchSize?: number;
  /** Called after each window pass with windows done and the total. */
  onWindow?: (done: number, total: number) => void;
}

/**
 * Teacher-forced passes over windows of the song's top-level codes `zTop` (starts as the
 * reference's `get_starts`, hop `int(hopFraction × n_ctx)`), each with its label row (offset
 * moved to the window, the Labeller's lyric window), recording every head of `layers`; stitched
 * as `get_alignment` does: windows written in reverse start order, so where windows overlap the
 * earliest one covering a token wins; each window's `n_tokens` columns go to the lyric characters
 * its indices name, and padding (index -1) goes nowhere (the reference's dropped last column). A
 * song shorter than n_ctx is zero-padded to one window and the matrix cut back to its length.
 * `meta` describes the song as for sampling (`totalSeconds`, `offsetSeconds` of `zTop[0]`).
 * Tensors live one pass.
 */
export async function captureLyricAttention(prior: Prior, zTop: Int32Array, meta: SongMetadata, opts: CaptureOptions = {}): Promise<LyricAttention> {
  const { layers, labeller } = chosenLyricLayers(prior, opts.layers, 'align', 'no layers to capture');
  const total = zTop.length;
  if (total === 0) throw new JukeboxError('align: the song has no top-level codes');
  const hopFraction = opts.hopFraction ?? DEFAULT_ALIGN_HOP_FRACTION;
  if (!(hopFraction > 0 && hopFraction <= 1)) throw new JukeboxError(`align: hop fraction must be in (0, 1], got ${hopFraction}`);
  const maxBatch = opts.maxBatchSize ?? 4;
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new JukeboxError(`align: max batch size must be a positive integer, got ${maxBatch}`);

  const nCtx = prior.nCtx;
  const nTokens = prior.nTokens;
  const heads = prior.config.heads;
  const labels = labeller.getBatchLabels([meta]);
  const characters = labels.info[0].lyrics;
  const nChars = labels.info[0].fullTokens.length;
  // Reference: zero-pad a short song to one context; `int(hop_fraction * n_ctx)`.
  const padded = Math.max(total, nCtx);
  const hop = Math.max(1, Math.floor(hopFraction * nCtx));
  const starts = windowStarts(padded, nCtx, hop);

  const maps = new Map<string, Float32Array>();
  for (const l of layers) for (let h = 0; h < heads; h++) maps.set(headKey(l, h), new Float32Array(total * nChars));
  const recordSet = new Set(layers);

  // Reverse start order: later writes (earlier windows) win where windows overlap.
  const order = [...starts].reverse();
  let done = 0;
  for (let b = 0; b < order.length; b += maxBatch) {
    const batch = order.slice(b, b + maxBatch);
    const zData = new Int32Array(batch.length * nCtx);
    batch.forEach((start, i) => zData.set(zTop.subarray(start, Math.min(total, start + nCtx)), i * nCtx));
    const windowIndices: number[][] = [];
    const owned: tf.Tensor[] = [];
    let attention: Map<number, tf.Tensor> | undefined;
    try {
      const yRows: tf.Tensor2D[] = [];
      for (const start of batch) {
        const got = prior.getY(labels, start)!;
        owned.push(got.y);
        yRows.push(got.y);
        windowIndices.push(got.indices[0]);
      }
      const z = tf.tensor2d(zData, [batch.length, nCtx], 'int32');
      owned.push(z);
      const y = yRows.length === 1 ? yRows[0] : (tf.concat(yRows, 0) as tf.Tensor2D);
      if (yRows.length > 1) owned.push(y);
      attention = prior.forward(z, { y, recordAttention: recordSet }).attention;
      for (const l of layers) {
        const w = attention?.get(l);
        if (w === undefined) throw new Error(`align: layer ${l} recorded no attention`);
        // [B, heads, n_ctx (music queries), n_tokens (lyric keys)]
        const [bn, hn, qn, kn] = w.shape;
        if (bn !== batch.length || hn !== heads || qn !== nCtx || kn !== nTokens) {
          throw new Error(`align: layer ${l} recorded attention [${w.shape}], expected [${batch.length}, ${heads}, ${nCtx}, ${nTokens}]`);
        }
        const data = w.dataSync() as Float32Array;
        batch.forEach((start, i) => {
          for (let h = 0; h < heads; h++) {
            stitchWindow(maps.get(headKey(l, h))!, total, nChars, start, windowIndices[i], data.subarray((i * heads + h) * nCtx * nTokens, (i * heads + h + 1) * nCtx * nTokens));
          }
        });
      }
    } finally {
      tf.dispose(owned);
      if (attention) tf.dispose([...attention.values()]);
    }
    done += batch.length;
    opts.onWindow?.(done, order.length);
    // Let the event loop breathe between passes (progress output, cancellation).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  const hopLength = prior.rawToTokens;
  return {
    characters,
    tokens: total,
    secondsPerToken: hopLength / prior.sampleRate,
    hopLength,
    sampleRate: prior.sampleRate,
    lyricWindow: nTokens,
    heads,
    layers,
    windowStarts: starts,
    maps,
  };
}

/**
 * Writes one window's attention of one head, `[n_ctx, n_tokens]` row-major (music queries ×
 * the window's lyric keys), into the stitched `[total, nChars]` map `out`, as `get_alignment`'s
 * `alignment[start:end, indices] = attention`: key j goes to character `indices[j]`, padding keys
 * (index -1) are dropped, and rows past the song's end (a short song's zero padding) are cut.
 * Call it for the windows in reverse start order, so that the earliest window covering a token
 * writes last and wins, as in the reference.
 */
export function stitchWindow(out: Float32Array, total: number, nChars: number, start: number, indices: readonly number[], attention: Float32Array): void {
  const nTokens = indices.length;
  const nCtx = attention.length / nTokens;
  if (!Number.isInteger(nCtx)) throw new Error(`align: window attention of ${attention.length} values is not [n_ctx, ${nTokens}]`);
  const rows = Math.min(nCtx, total - start);
  for (let r = 0; r < rows; r++) {
    const src = r * nTokens;
    const dst = (start + r) * nChars;
    for (let j = 0; j < nTokens; j++) {
      const c = indices[j];
      if (c >= 0) out[dst + c] = attention[src + j];
    }
  }
}

/**
 * 1 for each character (column) that has attention in any of `maps`: the characters some window
 * read (every key of a window gets some attention; the lyrics no window reached get none).
 */
export function readCharacters(maps: Iterable<Float32Array>, nChars: number): Uint8Array {
  const read = new Uint8Array(nChars);
  for (const map of maps) for (let i = 0; i < map.length; i++) if (map[i] !== 0) read[i % nChars] = 1;
  return read;
}

/** One head's stitched map, or a JukeboxError naming what was captured. */
export function headMap(attn: LyricAttention, layer: number, head: number): Float32Array {
  const m = attn.maps.get(headKey(layer, head));
  if (m === undefined) {
    throw new JukeboxError(`align: layer ${layer} head ${head} was not captured (layers ${attn.layers.join(', ')}, heads 0..${attn.heads - 1})`);
  }
  return m;
}
