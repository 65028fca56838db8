import { Resampler, ResamplerOptions } from './resample';
import { openWav } from './wav';

/**
 * A mono signal read by ranges. `read(start, end)` returns samples [start, end) as a new array;
 * positions outside [0, length) read as zeros, so padded windows can be asked for directly.
 * Sources built here compute each request on demand: memory is bounded by the request, not the
 * length of the signal.
 */
export interface AudioSource {
  readonly sampleRate: number;
  /** Samples in the signal. */
  readonly length: number;
  read(start: number, end: number): Float32Array;
  /** Releases the file behind the source, if any. Idempotent. */
  close(): void;
}

function checkRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
    throw new RangeError(`read(${start}, ${end}): start and end must be integers`);
  }
  if (end < start) throw new RangeError(`read(${start}, ${end}): end is before start`);
}

/** A source over an in-memory mono signal (not copied: later changes to `samples` show through). */
export function arraySource(samples: Float32Array, sampleRate: number): AudioSource {
  if (!Number.isSafeInteger(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`sampleRate must be a positive integer, got ${sampleRate}`);
  }
  return {
    sampleRate,
    length: samples.length,
    read(start: number, end: number): Float32Array {
      checkRange(start, end);
      const out = new Float32Array(end - start);
      const a = Math.max(start, 0);
      const b = Math.min(end, samples.length);
      if (a < b) out.set(samples.subarray(a, b), a - start);
      return out;
    },
    close(): void {},
  };
}

/**
 * `source` resampled to `targetRate` (band-limited, see {@link Resampler}); the same source when the
 * rates already match. Length is ceil(source.length · targetRate / source.sampleRate). Each
 * `read` pulls only the input span it needs, and any split of the output into reads gives exactly
 * the samples of a one-shot `resample` of the whole signal. Closing it closes `source`.
 */
export function resampleSource(source: AudioSource, targetRate: number, options?: ResamplerOptions): AudioSource {
  if (targetRate === source.sampleRate) return source;
  const rs = new Resampler(source.sampleRate, targetRate, options);
  const inFrames = source.length;
  const length = rs.outputLength(inFrames);
  return {
    sampleRate: targetRate,
    length,
    read(start: number, end: number): Float32Array {
      checkRange(start, end);
      const out = new Float32Array(end - start);
      const a = Math.max(start, 0);
      const b = Math.min(end, length);
      if (a >= b) return out;
      const span = rs.inputSpan(a, b);
      const from = Math.max(span.start, 0);
      const to = Math.min(span.end, inFrames);
      const block = to > from ? source.read(from, to) : new Float32Array(0);
      out.set(rs.resampleRange(block, from, a, b, inFrames), a - start);
      return out;
    },
    close(): void {
      source.close();
    },
  };
}

/** A WAV file as a mono source: channels averaged, frames read from disk per request. */
export function wavSource(path: string): AudioSource {
  const reader = openWav(path);
  const { sampleRate, frames } = reader.info;
  return {
    sampleRate,
    length: frames,
    read(start: number, end: number): Float32Array {
      checkRange(start, end);
      return reader.readMono(start, end - start);
    },
    close(): void {
      reader.close();
    },
  };
}

/**
 * Opens a WAV file as a mono source at `targetRate` (default: the file's own rate): downmixed by
 * averaging the channels and resampled lazily, per `read`. Close it when done.
 */
export function openAudio(path: string, targetRate?: number, options?: ResamplerOptions): AudioSource {
  const source = wavSource(path);
  try {
    return resampleSource(source, targetRate ?? source.sampleRate, options);
  } catch (err) {
    source.close();
    throw err;
  }
}
