import { writeAll, writeFileAtomic } from '../atomic-write';
import { JukeboxError } from '../errors';

/**
 * WAV writing, always atomic (temporary file + rename through {@link writeFileAtomic}): a failed or
 * interrupted write leaves no partial file behind and never damages an existing file at `path`.
 *
 * `float32` writes IEEE float (format code 3, with a `fact` chunk); `pcm16` clips to [-1, 1],
 * scales by 32768, rounds to the nearest integer and clamps to [-32768, 32767], so reading it
 * back (int16 / 32768) is within 1/32768 of the input.
 */

export type WavWriteFormat = 'float32' | 'pcm16';

export interface WavWriteOptions {
  /** Sample encoding; default 'float32'. */
  format?: WavWriteFormat;
}

export interface WavStreamSpec {
  sampleRate: number;
  channels: number;
  /** Frames that will be written in total (the header is written first, so this is fixed up front). */
  frames: number;
  /** Sample encoding; default 'float32'. */
  format?: WavWriteFormat;
}

/**
 * Appends frames to the stream: a Float32Array when there is one channel, otherwise one
 * Float32Array per channel, all the same length.
 */
export type WavChunkWriter = (chunk: Float32Array | Float32Array[]) => void;

/** Frames encoded per write call (bounds the scratch buffer). */
const ENCODE_FRAMES = 1 << 15;

const MAX_RIFF_SIZE = 0xffffffff;

/**
 * The RIFF/WAVE header of a WAV holding `spec.frames` frames: 44 bytes for 16-bit PCM, 58 for
 * 32-bit float (which adds a `fact` chunk). The sample data follows it directly.
 */
export function headerFor(spec: Required<WavStreamSpec>): Uint8Array {
  const bytesPerSample = spec.format === 'pcm16' ? 2 : 4;
  const blockAlign = spec.channels * bytesPerSample;
  const dataBytes = spec.frames * blockAlign;
  const isFloat = spec.format === 'float32';
  const fmtSize = isFloat ? 18 : 16;
  const headerSize = 12 + 8 + fmtSize + (isFloat ? 12 : 0) + 8;
  const buf = Buffer.alloc(headerSize);
  let p = 0;
  const id = (s: string) => {
    buf.write(s, p, 'latin1');
    p += 4;
  };
  const u32 = (v: number) => {
    buf.writeUInt32LE(v, p);
    p += 4;
  };
  const u16 = (v: number) => {
    buf.writeUInt16LE(v, p);
    p += 2;
  };
  id('RIFF');
  u32(headerSize - 8 + dataBytes);
  id('WAVE');
  id('fmt ');
  u32(fmtSize);
  u16(isFloat ? 3 : 1);
  u16(spec.channels);
  u32(spec.sampleRate);
  u32(spec.sampleRate * blockAlign);
  u16(blockAlign);
  u16(bytesPerSample * 8);
  if (isFloat) {
    u16(0); // cbSize
    id('fact');
    u32(4);
    u32(spec.frames);
  }
  id('data');
  u32(dataBytes);
  return buf;
}

function checkSpec(path: string, spec: WavStreamSpec): Required<WavStreamSpec> {
  const format = spec.format ?? 'float32';
  if (format !== 'float32' && format !== 'pcm16') {
    throw new JukeboxError(`cannot write WAV format '${String(format)}' (use 'float32' or 'pcm16')`, path);
  }
  if (!Number.isInteger(spec.sampleRate) || spec.sampleRate <= 0) {
    throw new JukeboxError(`cannot write a WAV file with sample rate ${spec.sampleRate} (need a positive integer)`, path);
  }
  if (!Number.isInteger(spec.channels) || spec.channels < 1 || spec.channels > 0xffff / 4) {
    throw new JukeboxError(`cannot write a WAV file with ${spec.channels} channels`, path);
  }
  if (!Number.isSafeInteger(spec.frames) || spec.frames < 0) {
    throw new JukeboxError(`cannot write a WAV file of ${spec.frames} frames`, path);
  }
  const full = { sampleRate: spec.sampleRate, channels: spec.channels, frames: spec.frames, format };
  if (spec.sampleRate * spec.channels * (format === 'pcm16' ? 2 : 4) > MAX_RIFF_SIZE) {
    throw new JukeboxError(`cannot write a WAV file at ${spec.sampleRate} Hz × ${spec.channels} channels (byte rate over 2^32)`, path);
  }
  const dataBytes = spec.frames * spec.channels * (format === 'pcm16' ? 2 : 4);
  if (dataBytes + 64 > MAX_RIFF_SIZE) {
    throw new JukeboxError(
      `too long for a WAV file: ${spec.frames} frames × ${spec.channels} channel(s) is ${dataBytes} bytes of audio, over the 4 GiB RIFF limit`,
      path,
    );
  }
  return full;
}

/**
 * Writes a WAV file of known length chunk by chunk: `produce` receives a `write` function and
 * calls it with consecutive blocks of frames. The header goes first; at the end the number of
 * frames written must equal `spec.frames`. If `produce` throws (or the count is wrong) nothing is
 * left at `path`, and a file already there is untouched.
 */
export async function writeWavStream(
  path: string,
  spec: WavStreamSpec,
  produce: (write: WavChunkWriter) => void | Promise<void>,
): Promise<void> {
  const s = checkSpec(path, spec);
  const { channels, frames } = s;
  const pcm16 = s.format === 'pcm16';
  const bytesPerSample = pcm16 ? 2 : 4;
  await writeFileAtomic(path, async (fd) => {
    writeAll(fd, headerFor(s));
    let written = 0;
    let open = true;
    const scratch = new Uint8Array(Math.min(Math.max(frames, 1), ENCODE_FRAMES) * channels * bytesPerSample);
    const view = new DataView(scratch.buffer);
    const write: WavChunkWriter = (chunk) => {
      if (!open) throw new Error(`${path}: write() called after the WAV stream finished`);
      let planes: Float32Array[];
      if (chunk instanceof Float32Array) {
        if (channels !== 1) {
          throw new JukeboxError(`got one Float32Array for a ${channels}-channel stream; pass one array per channel`, path);
        }
        planes = [chunk];
      } else {
        planes = chunk;
        if (planes.length !== channels) {
          throw new JukeboxError(`got ${planes.length} channel arrays for a ${channels}-channel stream`, path);
        }
      }
      const n = planes[0].length;
      for (const plane of planes) {
        if (plane.length !== n) throw new JukeboxError('channel arrays of one chunk differ in length', path);
      }
      if (written + n > frames) {
        throw new JukeboxError(`the stream wrote more than the ${frames} frames its header declares`, path);
      }
      for (let f0 = 0; f0 < n; f0 += ENCODE_FRAMES) {
        const m = Math.min(ENCODE_FRAMES, n - f0);
        let p = 0;
        for (let f = f0; f < f0 + m; f++) {
          for (let c = 0; c < channels; c++) {
            const v = planes[c][f];
            if (!Number.isFinite(v)) {
              throw new JukeboxError(`sample ${written + f} of channel ${c} is ${v}; refusing to write it`, path);
            }
            if (pcm16) {
              const x = Math.round((v > 1 ? 1 : v < -1 ? -1 : v) * 32768);
              view.setInt16(p, x > 32767 ? 32767 : x, true);
              p += 2;
            } else {
              view.setFloat32(p, v, true);
              p += 4;
            }
          }
        }
        writeAll(fd, scratch.subarray(0, p));
      }
      written += n;
    };
    try {
      await produce(write);
    } finally {
      open = false;
    }
    if (written !== frames) {
      throw new JukeboxError(`the stream wrote ${written} frames but its header declares ${frames}`, path);
    }
  });
}

/**
 * Writes samples to a WAV file atomically: `samples` is mono, or one Float32Array per channel
 * (equal lengths).
 */
export async function writeWav(
  path: string,
  samples: Float32Array | Float32Array[],
  sampleRate: number,
  options: WavWriteOptions = {},
): Promise<void> {
  const planes = samples instanceof Float32Array ? [samples] : samples;
  if (planes.length === 0) throw new JukeboxError('cannot write a WAV file with no channels', path);
  const frames = planes[0].length;
  for (const plane of planes) {
    if (!(plane instanceof Float32Array)) throw new JukeboxError('each channel must be a Float32Array', path);
    if (plane.length !== frames) {
      throw new JukeboxError(`channels differ in length (${frames} vs ${plane.length} samples)`, path);
    }
  }
  await writeWavStream(path, { sampleRate, channels: planes.length, frames, format: options.format }, (write) => {
    write(planes.length === 1 ? planes[0] : planes);
  });
}
