import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { VQVAE } from './vqvae';
import { VQVAEWorkerPool } from './worker-pool';

/** Mono audio that can be read in pieces: what `openAudio` and `arraySource` return. */
export interface SampleSource {
  readonly sampleRate: number;
  /** Length in samples. */
  readonly length: number;
  /** Samples [start, end); positions outside [0, length) read as zeros. */
  read(start: number, end: number): Float32Array;
}

export interface ChunkOptions {
  /**
   * Samples of new output per chunk, rounded up to a multiple of the largest hop. Each chunk also
   * carries the model's receptive reach as context either side, so peak memory follows
   * `chunkSamples + 2 × reach`, not the song. Default 262144 (about 6 s at 44.1 kHz).
   */
  chunkSamples?: number;
  /** Called after each chunk with the samples (or tokens) finished and the total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Worker threads to compute chunks on, several at once (each worker holds its own copy of the
   * model and its own working memory, so peak memory grows with the pool). Results are the same
   * as without. Default: none, chunks are computed here one after another.
   */
  pool?: VQVAEWorkerPool;
}

export const DEFAULT_CHUNK_SAMPLES = 1 << 18;

/**
 * The default chunk: DEFAULT_CHUNK_SAMPLES, or for a pool of workers and a signal shorter than
 * one chunk per worker, an equal share per worker so none waits for another.
 */
function balancedChunk(total: number, pool: VQVAEWorkerPool | undefined): number {
  return pool === undefined ? DEFAULT_CHUNK_SAMPLES : Math.min(DEFAULT_CHUNK_SAMPLES, Math.ceil(total / pool.size));
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** The plan for covering [0, total) with chunks of `chunk` plus `margin` context either side. */
export interface ChunkWindow {
  /** New output covers [start, end). */
  start: number;
  end: number;
  /** The input actually computed, [windowStart, windowEnd) ⊇ [start, end). */
  windowStart: number;
  windowEnd: number;
}

/**
 * Computes `compute(item, slot)` for every item with at most `concurrency` in flight (item i runs
 * in slot i mod concurrency: one slot per worker, which is free again when its previous item is
 * consumed), and hands the results to `consume` in item order.
 */
async function orderedMap<T, R>(
  items: T[],
  concurrency: number,
  compute: (item: T, slot: number) => Promise<R>,
  consume: (result: R, item: T) => void | Promise<void>,
): Promise<void> {
  const inFlight: Promise<R>[] = [];
  let next = 0;
  const launch = () => {
    const started = compute(items[next], next % concurrency);
    started.catch(() => undefined); // reported when awaited below; not an unhandled rejection
    inFlight.push(started);
    next++;
  };
  while (next < items.length && inFlight.length < concurrency) launch();
  for (const item of items) {
    const result = await inFlight.shift()!;
    if (next < items.length) launch();
    await consume(result, item);
  }
}

export function planChunks(total: number, chunk: number, margin: number): ChunkWindow[] {
  const windows: ChunkWindow[] = [];
  for (let start = 0; start < total; start += chunk) {
    const end = Math.min(start + chunk, total);
    windows.push({ start, end, windowStart: Math.max(0, start - margin), windowEnd: Math.min(total, end + margin) });
  }
  return windows;
}

/**
 * Encodes a whole song chunk by chunk, at each of `levels`, giving exactly the codes of a
 * whole-file `encode`: chunk boundaries sit on multiples of the largest hop (so every strided
 * conv sees the same phase), and each chunk carries at least the encoder's receptive reach of real
 * audio on both sides (so zero padding at the chunk edges never reaches a kept token). The final
 * chunk ends where the song ends, with the same padding a whole-file encode sees.
 *
 * Returns one Int32Array of `floor(length / hop_L)` codes per level asked.
 */
export async function encodeChunked(
  model: VQVAE,
  source: SampleSource,
  levels: number[] = model.allLevels(),
  options: ChunkOptions = {},
): Promise<Int32Array[]> {
  if (source.sampleRate !== model.config.sr) {
    throw new JukeboxError(
      `audio is at ${source.sampleRate} Hz but the model expects ${model.config.sr} Hz; resample it first`,
    );
  }
  const hops = levels.map((level) => model.hopLengths[level]);
  const align = Math.max(...hops);
  const reach = Math.max(...levels.map((level) => Math.max(model.encoderReach(level).left, model.encoderReach(level).right)));
  const margin = roundUp(reach, align);
  const total = source.length;
  const chunk = roundUp(options.chunkSamples ?? balancedChunk(total, options.pool), align);
  const codes = hops.map((hop) => new Int32Array(Math.floor(total / hop)));
  const { pool } = options;
  const encodeWindow = async (w: ChunkWindow, slot: number): Promise<Int32Array[]> => {
    const audio = source.read(w.windowStart, w.windowEnd);
    if (pool) return pool.encode(slot, audio, levels);
    const x = tf.tensor3d(audio, [1, audio.length, 1]);
    const zs = model.encode(x, levels);
    x.dispose();
    const out = await Promise.all(zs.map(async (z) => (await z.data()) as Int32Array));
    tf.dispose(zs);
    return out;
  };
  await orderedMap(planChunks(total, chunk, margin), pool?.size ?? 1, encodeWindow, (zs, w) => {
    for (let i = 0; i < levels.length; i++) {
      const first = (w.start - w.windowStart) / hops[i];
      const count = Math.min(codes[i].length, Math.floor(w.end / hops[i])) - w.start / hops[i];
      codes[i].set(zs[i].subarray(first, first + count), w.start / hops[i]);
    }
    options.onProgress?.(w.end, total);
  });
  return codes;
}

/**
 * Decodes one level's codes chunk by chunk and hands the audio to `sink` in order, equal to a
 * whole `decode` of the codes: each chunk of tokens is decoded with the decoder's receptive reach
 * of neighbouring tokens on both sides and only its own span is kept. Memory follows the chunk.
 */
export async function decodeChunked(
  model: VQVAE,
  codes: Int32Array,
  level: number,
  sink: (audio: Float32Array) => void | Promise<void>,
  options: ChunkOptions = {},
): Promise<void> {
  const hop = model.hopLengths[level];
  const reach = model.decoderReach(level);
  const marginTokens = Math.ceil(Math.max(reach.left, reach.right) / hop) + 1;
  const chunkTokens = Math.max(1, Math.ceil((options.chunkSamples ?? balancedChunk(codes.length * hop, options.pool)) / hop));
  for (let i = 0; i < codes.length; i++) {
    if (!(codes[i] >= 0 && codes[i] < model.config.l_bins)) {
      throw new JukeboxError(`code ${codes[i]} at token ${i} is outside the codebook (0..${model.config.l_bins - 1})`);
    }
  }
  const { pool } = options;
  const decodeWindow = async (w: ChunkWindow, slot: number): Promise<Float32Array> => {
    const window = codes.subarray(w.windowStart, w.windowEnd);
    if (pool) return pool.decode(slot, window, level);
    const z = tf.tensor2d(window, [1, window.length], 'int32');
    const y = model.decode(z, level);
    z.dispose();
    const audio = (await y.data()) as Float32Array;
    y.dispose();
    return audio;
  };
  await orderedMap(planChunks(codes.length, chunkTokens, marginTokens), pool?.size ?? 1, decodeWindow, async (audio, w) => {
    await sink(audio.slice((w.start - w.windowStart) * hop, (w.end - w.windowStart) * hop));
    options.onProgress?.(w.end, codes.length);
  });
}
