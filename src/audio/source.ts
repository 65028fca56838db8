import { JukeboxError } from '../errors';
import { DecodedFormat, FORMAT_NAMES, decodeAudioFile, detectAudioFormat, isDecodedFormat } from './decoders';
import { Resampler, ResamplerOptions } from './resample';
import { WavReader, openWav } from './wav';

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

/** Average of equal-length channels (a new array; the channel itself when there is one). */
function averageChannels(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const n = channels[0].length;
  const out = new Float32Array(n);
  for (const c of channels) for (let i = 0; i < n; i++) out[i] += c[i];
  const k = 1 / channels.length;
  for (let i = 0; i < n; i++) out[i] *= k;
  return out;
}

/** The error for a compressed file handed to a synchronous (WAV-only) reader. */
function compressedNeedsAsync(path: string, format: DecodedFormat, asyncName: string): JukeboxError {
  return new JukeboxError(
    `is ${FORMAT_NAMES[format]} audio, which is decoded asynchronously: open it with ${asyncName} (the synchronous reader takes WAV only)`,
    path,
  );
}

/**
 * Opens a WAV file as a mono source at `targetRate` (default: the file's own rate): downmixed by
 * averaging the channels and resampled lazily, per `read`. Close it when done.
 *
 * WAV only, streaming from disk. FLAC, MP3, Ogg Vorbis and Ogg Opus (told by content) fail with
 * a JukeboxError pointing to {@link openAudioAsync}; anything else fails with the WAV reader's
 * error.
 */
export function openAudio(path: string, targetRate?: number, options?: ResamplerOptions): AudioSource {
  const format = detectAudioFormat(path);
  if (isDecodedFormat(format)) throw compressedNeedsAsync(path, format, 'openAudioAsync');
  const source = wavSource(path);
  try {
    return resampleSource(source, targetRate ?? source.sampleRate, options);
  } catch (err) {
    source.close();
    throw err;
  }
}

/**
 * {@link openAudio} for every supported format: WAV streams from disk exactly as with
 * `openAudio`; FLAC, MP3, Ogg Vorbis and Ogg Opus are decoded whole on opening (see
 * `decodeAudioFile`), averaged to mono, and only the mono signal is kept (4 bytes per sample at
 * the file's rate), resampled lazily per `read`.
 */
export async function openAudioAsync(path: string, targetRate?: number, options?: ResamplerOptions): Promise<AudioSource> {
  const format = detectAudioFormat(path);
  if (!isDecodedFormat(format)) return openAudio(path, targetRate, options);
  const decoded = await decodeAudioFile(path);
  const source = arraySource(averageChannels(decoded.channels), decoded.sampleRate);
  return resampleSource(source, targetRate ?? decoded.sampleRate, options);
}

/**
 * A multi-channel signal read by ranges: `read(start, end)` returns one new array per channel,
 * samples [start, end), zeros outside [0, length).
 */
export interface MultiChannelSource {
  readonly sampleRate: number;
  readonly length: number;
  readonly channels: number;
  read(start: number, end: number): Float32Array[];
  /** Releases the file behind the source, if any. Idempotent. */
  close(): void;
}

/**
 * One source per channel of a WAV reader, sharing its file: the channels' reads of one range (as
 * resampling makes, channel after channel) cost one disk read, not one per channel.
 */
function wavChannelSources(reader: WavReader): AudioSource[] {
  const { sampleRate, frames, channels } = reader.info;
  let last: { start: number; end: number; data: Float32Array[]; taken: boolean[] } | undefined;
  return Array.from({ length: channels }, (_, c) => ({
    sampleRate,
    length: frames,
    read(start: number, end: number): Float32Array {
      checkRange(start, end);
      if (!last || last.start !== start || last.end !== end || last.taken[c]) {
        last = { start, end, data: reader.readChannels(start, end - start), taken: new Array<boolean>(channels).fill(false) };
      }
      last.taken[c] = true; // each array goes out once, so callers may keep or change it
      return last.data[c];
    },
    close(): void {
      last = undefined;
      reader.close();
    },
  }));
}

/**
 * Opens a WAV file keeping its channels apart, resampled to `targetRate` (default: the file's
 * rate) lazily, per `read`; each channel is the one {@link resampleSource} would give for it alone.
 * Streams from disk, memory bounded by the request. WAV only (the compressed formats fail with a
 * JukeboxError, as in {@link openAudio}). Close it when done.
 */
export function openAudioChannels(path: string, targetRate?: number, options?: ResamplerOptions): MultiChannelSource {
  const format = detectAudioFormat(path);
  if (isDecodedFormat(format)) throw compressedNeedsAsync(path, format, 'decodeAudioFile');
  const reader = openWav(path);
  try {
    const rate = targetRate ?? reader.info.sampleRate;
    const sources = wavChannelSources(reader).map((s) => resampleSource(s, rate, options));
    return {
      sampleRate: rate,
      length: sources[0].length,
      channels: sources.length,
      read(start: number, end: number): Float32Array[] {
        checkRange(start, end);
        return sources.map((s) => s.read(start, end));
      },
      close(): void {
        reader.close();
      },
    };
  } catch (err) {
    reader.close();
    throw err;
  }
}
