import * as fs from 'fs';
import { JukeboxError } from '../errors';
import { oggCodecOf, readOggStream } from './ogg';

/**
 * Audio container sniffing, and decoding of the compressed formats (FLAC, MP3, Ogg Vorbis, Ogg
 * Opus) through the WebAssembly decoders of `@wasm-audio-decoders/flac` (libFLAC),
 * `mpg123-decoder` (mpg123), `@wasm-audio-decoders/ogg-vorbis` (libvorbis) and `ogg-opus-decoder`
 * (libopus).
 *
 * WAV is not decoded here: it is read by {@link openWav}, streaming, with positional reads.
 * The compressed formats are decoded whole, into one Float32Array per channel (4 bytes per sample
 * per channel: about 85 MB for four minutes of 44.1 kHz stereo). The decoders are ES modules that
 * compile WebAssembly on load, so decoding is asynchronous ({@link decodeAudioFile}); the
 * synchronous readers (`openAudio`, `AudioFolderDataset.open`) stay WAV-only, and
 * `openAudioAsync` / `AudioFolderDataset.openAsync` accept every format.
 *
 * The format is told by content, not by file name: 'RIFF'/'RF64'/'BW64' + 'WAVE' is WAV, 'fLaC'
 * is FLAC (also after an ID3v2 tag, which some taggers put in front), 'ID3' or an MPEG audio
 * frame header is MP3 (MPEG-1/2/2.5 layer III; layers I and II decode too), and 'OggS' is Ogg,
 * Vorbis or Opus by the signature of its first packet (whatever the extension: `.ogg` files
 * often hold Opus).
 */

/** A format the toolkit reads; 'vorbis' and 'opus' are those codecs in an Ogg container. */
export type AudioFormat = 'wav' | 'flac' | 'mp3' | 'vorbis' | 'opus';

/** The formats decoded whole, asynchronously, by {@link decodeAudioFile} (all but WAV). */
export type DecodedFormat = Exclude<AudioFormat, 'wav'>;

/** Whether a format is one {@link decodeAudioFile} decodes (rather than the streaming WAV reader). */
export function isDecodedFormat(format: AudioFormat | undefined): format is DecodedFormat {
  return format !== undefined && format !== 'wav';
}

/** Names of the formats for messages. */
export const FORMAT_NAMES: Readonly<Record<AudioFormat, string>> = Object.freeze({
  wav: 'WAV',
  flac: 'FLAC',
  mp3: 'MP3',
  vorbis: 'Ogg Vorbis',
  opus: 'Ogg Opus',
});

/**
 * File name extensions of the formats the toolkit reads (lower case, with the dot), each with
 * the format it usually holds. Only the listing of folders goes by these; the format of a file
 * is told by its content (a `.ogg` may hold Opus).
 */
export const AUDIO_EXTENSIONS: Readonly<Record<string, AudioFormat>> = Object.freeze({
  '.wav': 'wav',
  '.wave': 'wav',
  '.flac': 'flac',
  '.mp3': 'mp3',
  '.ogg': 'vorbis',
  '.oga': 'vorbis',
  '.opus': 'opus',
});

/** Audio decoded whole: one array per channel, all the same length. */
export interface DecodedAudio {
  format: DecodedFormat;
  sampleRate: number;
  /** One Float32Array per channel, samples in [-1, 1]. */
  channels: Float32Array[];
  /** Bits per sample of the source, for FLAC (MP3 has none). */
  bitDepth?: number;
}

/**
 * Bytes from the start that {@link sniffAudioFormat} wants to see (more is fine, less may not
 * tell): Ogg needs its first page header and the start of the first packet, 36 bytes as encoders
 * write it; the margin allows a longer segment table.
 */
export const SNIFF_BYTES = 64;

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, Math.min(end, bytes.length))).toString('latin1');
}

/** Size of the ID3v2 tag at the start of `head` (header, body and footer), or 0 when there is none. */
export function id3v2Size(head: Uint8Array): number {
  if (head.length < 10 || ascii(head, 0, 3) !== 'ID3') return 0;
  // The body size is "syncsafe": four bytes of 7 bits each.
  if ((head[6] | head[7] | head[8] | head[9]) & 0x80) return 0;
  const body = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9];
  const footer = head[5] & 0x10 ? 10 : 0;
  return 10 + body + footer;
}

/** MPEG audio frame header at `p`: sync, a valid version, layer, bitrate and sample rate. */
export function isMpegFrameHeader(bytes: Uint8Array, p = 0): boolean {
  if (p + 4 > bytes.length) return false;
  const [b0, b1, b2] = [bytes[p], bytes[p + 1], bytes[p + 2]];
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 3; // 1 is reserved
  const layer = (b1 >> 1) & 3; // 0 is reserved
  const bitrate = b2 >> 4; // 15 is invalid
  const rate = (b2 >> 2) & 3; // 3 is reserved
  return version !== 1 && layer !== 0 && bitrate !== 15 && rate !== 3;
}

/**
 * The format of a file from its first bytes, or undefined when it is none of those read here.
 * After an ID3v2 tag, pass the bytes that follow it as `afterId3` to tell FLAC (rarely tagged
 * that way) from MP3; without them a tagged file counts as MP3.
 */
export function sniffAudioFormat(head: Uint8Array, afterId3?: Uint8Array): AudioFormat | undefined {
  const magic = ascii(head, 0, 4);
  if ((magic === 'RIFF' || magic === 'RF64' || magic === 'BW64') && ascii(head, 8, 12) === 'WAVE') return 'wav';
  if (magic === 'fLaC') return 'flac';
  if (magic === 'OggS') {
    const codec = oggCodecOf(head);
    return codec === 'vorbis' || codec === 'opus' ? codec : undefined;
  }
  if (ascii(head, 0, 3) === 'ID3') return afterId3 && ascii(afterId3, 0, 4) === 'fLaC' ? 'flac' : 'mp3';
  if (isMpegFrameHeader(head)) return 'mp3';
  return undefined;
}

const OPEN_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not an audio file',
};

/** Runs a file-system call, turning the usual failures into one-line JukeboxErrors naming `path`. */
function fsCall<T>(path: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof JukeboxError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new JukeboxError((code && OPEN_REASONS[code]) ?? `cannot read: ${(err as Error).message}`, path);
  }
}

/** The format of the file at `path` by its content (see {@link sniffAudioFormat}); undefined when unknown. */
export function detectAudioFormat(path: string): AudioFormat | undefined {
  return fsCall(path, () => {
    const fd = fs.openSync(path, 'r');
    try {
      if (fs.fstatSync(fd).isDirectory()) throw new JukeboxError('is a directory, not an audio file', path);
      const head = Buffer.alloc(SNIFF_BYTES);
      const got = fs.readSync(fd, head, 0, head.length, 0);
      const tag = id3v2Size(head.subarray(0, got));
      let after: Buffer | undefined;
      if (tag > 0) {
        after = Buffer.alloc(4);
        after = after.subarray(0, fs.readSync(fd, after, 0, 4, tag));
      }
      return sniffAudioFormat(head.subarray(0, got), after);
    } finally {
      fs.closeSync(fd);
    }
  });
}

// The decoder packages are ES modules: loaded on first use with a dynamic import (which works from
// CommonJS on every Node 20), once per process.
type FlacModule = typeof import('@wasm-audio-decoders/flac');
type MpegModule = typeof import('mpg123-decoder');
type VorbisModule = typeof import('@wasm-audio-decoders/ogg-vorbis');
type OpusModule = typeof import('ogg-opus-decoder');
let flacModule: Promise<FlacModule> | undefined;
let mpegModule: Promise<MpegModule> | undefined;
let vorbisModule: Promise<VorbisModule> | undefined;
let opusModule: Promise<OpusModule> | undefined;

/**
 * Runs `fn` with console.error silenced: both decoders print every decoding error to the console
 * as well as returning it, and the toolkit reports errors itself, once, as a JukeboxError. The
 * decoding work of both packages is synchronous (FLAC's `decode` is `async` only in signature: it
 * decodes before its first `await`), so nothing else runs while the console is swapped.
 */
function quietly<T>(fn: () => T): T {
  const saved = console.error;
  console.error = () => {};
  try {
    return fn();
  } finally {
    console.error = saved;
  }
}

interface StreamInfo {
  sampleRate: number;
  channels: number;
  bitDepth: number;
  /** Samples per channel; 0 when the encoder did not know it. */
  totalSamples: number;
}

/** Parses FLAC's STREAMINFO block (it must come first after 'fLaC'). */
function parseStreamInfo(bytes: Uint8Array, file: string): StreamInfo {
  if (bytes.length < 8 + 34) throw new JukeboxError('truncated FLAC file: it ends inside the STREAMINFO header', file);
  const type = bytes[4] & 0x7f;
  const size = (bytes[5] << 16) | (bytes[6] << 8) | bytes[7];
  if (type !== 0 || size < 34) {
    throw new JukeboxError(`not a valid FLAC file: the first metadata block is not a STREAMINFO block (type ${type}, ${size} bytes)`, file);
  }
  const s = 8 + 10; // after the block header and the block/frame size fields
  const sampleRate = (bytes[s] << 12) | (bytes[s + 1] << 4) | (bytes[s + 2] >> 4);
  const channels = ((bytes[s + 2] >> 1) & 7) + 1;
  const bitDepth = (((bytes[s + 2] & 1) << 4) | (bytes[s + 3] >> 4)) + 1;
  const totalSamples = (bytes[s + 3] & 0x0f) * 2 ** 32 + ((bytes[s + 4] << 24) >>> 0) + (bytes[s + 5] << 16) + (bytes[s + 6] << 8) + bytes[s + 7];
  if (sampleRate === 0) throw new JukeboxError('not a valid FLAC file: STREAMINFO declares a sample rate of 0 Hz', file);
  return { sampleRate, channels, bitDepth, totalSamples };
}

/** The first of the decoder's errors on one line, with where it happened (frame, or input byte for mpg123, which counts no frames). */
function describeErrors(errors: { message: string; frameNumber: number; inputBytes: number }[], where: 'frame' | 'byte'): string {
  const first = errors[0];
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  const at = where === 'frame' ? `at frame ${first.frameNumber}` : `within the first ${first.inputBytes} bytes`;
  return `${first.message.replace(/\s+/g, ' ').trim()} ${at}${more}`;
}

async function decodeFlac(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  const tag = id3v2Size(bytes);
  const stream = tag > 0 ? bytes.subarray(tag) : bytes;
  if (ascii(stream, 0, 4) !== 'fLaC') throw new JukeboxError("not a FLAC file (no 'fLaC' signature)", file);
  const info = parseStreamInfo(stream, file);
  const { FLACDecoder } = await (flacModule ??= import('@wasm-audio-decoders/flac'));
  const decoder = new FLACDecoder();
  await decoder.ready;
  let decoded;
  try {
    decoded = await quietly(() => decoder.decodeFile(stream));
  } catch (err) {
    throw new JukeboxError(`corrupt FLAC data: ${(err as Error).message}`, file);
  } finally {
    decoder.free();
  }
  if (decoded.errors.length > 0) throw new JukeboxError(`corrupt FLAC data: ${describeErrors(decoded.errors, 'frame')}`, file);
  const n = decoded.samplesDecoded;
  if (n === 0) {
    throw new JukeboxError('corrupt or truncated FLAC file: no audio frame could be decoded', file);
  }
  if (info.totalSamples > 0 && n < info.totalSamples) {
    // codec-parser drops frames it cannot parse, so damage anywhere shows up as missing samples.
    throw new JukeboxError(`corrupt or truncated FLAC file: decoded only ${n} of the ${info.totalSamples} samples its header declares`, file);
  }
  const bitDepth = decoded.bitDepth || info.bitDepth;
  const channels = decoded.channelData.slice(0, info.channels).map((c) => toWavScale(c.subarray(0, info.totalSamples || n), bitDepth));
  if (channels.length !== info.channels) {
    throw new JukeboxError(`corrupt FLAC data: ${channels.length} channel(s) decoded, STREAMINFO declares ${info.channels}`, file);
  }
  return { format: 'flac', sampleRate: decoded.sampleRate || info.sampleRate, channels, bitDepth };
}

/**
 * The FLAC decoder scales a b-bit sample s to s / (2^(b−1) − 1); the toolkit's convention (the
 * WAV reader's, and torchaudio's) is s / 2^(b−1). Rescaled in place, through the integer, so
 * 16-bit FLAC reads exactly as the same samples in a 16-bit WAV file.
 */
function toWavScale(x: Float32Array, bitDepth: number): Float32Array {
  const full = 2 ** (bitDepth - 1);
  const max = full - 1;
  if (max < 1) return x;
  for (let i = 0; i < x.length; i++) x[i] = Math.round(x[i] * max) / full;
  return x;
}

interface MpegStreamInfo {
  channels: number;
  /**
   * Samples per channel the stream holds, from a Xing/Info header (LAME, FFmpeg and most
   * encoders write one): frames × samples per frame, less the encoder delay and padding when a
   * LAME extension records them; undefined without such a header.
   */
  declaredSamples?: number;
  /** Whether declaredSamples had the delay and padding taken off (so it is exact, as gapless decoding gives). */
  exact: boolean;
  samplesPerFrame: number;
}

/** What the first MPEG frame after any ID3v2 tag says: channel mode (3 is mono) and any Xing/Info header. */
function mpegStreamInfo(bytes: Uint8Array): MpegStreamInfo {
  const start = id3v2Size(bytes);
  const limit = Math.min(bytes.length - 4, start + 64 * 1024);
  let p = start;
  while (p <= limit && !isMpegFrameHeader(bytes, p)) p++;
  if (p > limit) return { channels: 2, exact: false, samplesPerFrame: 1152 };
  const mpeg1 = ((bytes[p + 1] >> 3) & 3) === 3;
  const layer = 4 - ((bytes[p + 1] >> 1) & 3);
  const mono = bytes[p + 3] >> 6 === 3;
  const samplesPerFrame = layer === 1 ? 384 : layer === 2 || mpeg1 ? 1152 : 576;
  const info: MpegStreamInfo = { channels: mono ? 1 : 2, exact: false, samplesPerFrame };
  if (layer !== 3) return info;
  const crc = (bytes[p + 1] & 1) === 0 ? 2 : 0;
  const sideInfo = mpeg1 ? (mono ? 17 : 32) : mono ? 9 : 17;
  let x = p + 4 + crc + sideInfo;
  const tag = ascii(bytes, x, x + 4);
  if ((tag !== 'Xing' && tag !== 'Info') || x + 8 > bytes.length) return info;
  const u32 = (q: number) => ((bytes[q] << 24) >>> 0) + (bytes[q + 1] << 16) + (bytes[q + 2] << 8) + bytes[q + 3];
  const flags = u32(x + 4);
  x += 8;
  if (!(flags & 1) || x + 4 > bytes.length) return info;
  const frames = u32(x);
  info.declaredSamples = frames * samplesPerFrame;
  x += 4 + (flags & 2 ? 4 : 0) + (flags & 4 ? 100 : 0) + (flags & 8 ? 4 : 0);
  // LAME extension: 9-byte encoder name, then 12 bytes, then 12-bit delay and 12-bit padding.
  const encoder = ascii(bytes, x, x + 4);
  if ((encoder === 'LAME' || encoder === 'Lavf' || encoder === 'Lavc') && x + 24 <= bytes.length) {
    const delay = (bytes[x + 21] << 4) | (bytes[x + 22] >> 4);
    const padding = ((bytes[x + 22] & 0x0f) << 8) | bytes[x + 23];
    info.declaredSamples -= delay + padding;
    info.exact = true;
  }
  return info;
}

async function decodeMp3(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  const { MPEGDecoder } = await (mpegModule ??= import('mpg123-decoder'));
  // Gapless (the default): the encoder delay and padding that LAME records are trimmed, so the
  // decoded length is the length that was encoded.
  const decoder = new MPEGDecoder({ enableGapless: true });
  await decoder.ready;
  let decoded;
  try {
    decoded = quietly(() => decoder.decode(bytes));
  } catch (err) {
    throw new JukeboxError(`corrupt MP3 data: ${(err as Error).message}`, file);
  } finally {
    decoder.free();
  }
  if (decoded.errors.length > 0) throw new JukeboxError(`corrupt MP3 data: ${describeErrors(decoded.errors, 'byte')}`, file);
  if (decoded.samplesDecoded === 0 || !decoded.sampleRate) {
    throw new JukeboxError('not a decodable MP3 file: no MPEG audio frame could be decoded', file);
  }
  const info = mpegStreamInfo(bytes);
  const n = decoded.samplesDecoded;
  // mpg123 conceals damage by skipping frames, and stops where a file is cut: a Xing/Info header
  // tells how much should have come (within a frame when its LAME extension gives the exact count).
  const slack = info.exact ? info.samplesPerFrame : 3 * info.samplesPerFrame;
  if (info.declaredSamples !== undefined && n < info.declaredSamples - slack) {
    throw new JukeboxError(
      `corrupt or truncated MP3 file: decoded only ${n} samples of the ${info.exact ? '' : 'about '}${info.declaredSamples} its Xing/Info header declares`,
      file,
    );
  }
  // mpg123-decoder always returns two channels; a mono stream comes back duplicated.
  const channels = decoded.channelData.slice(0, info.channels);
  return { format: 'mp3', sampleRate: decoded.sampleRate, channels };
}

/**
 * libopus failures are printed by `opus-decoder` (with console.error) as well as returned in
 * `errors`; the toolkit reports them itself, once. Unlike {@link quietly}, this spans the awaits
 * inside `OggOpusDecoder.decodeFile` (it instantiates libopus on the first audio page), so other
 * code may run meanwhile: only messages that start as that package's do ('libopus <code> ...')
 * are dropped, anything else passes through. Counted, so overlapping decodes restore the
 * original console.error once, after the last.
 */
let libopusFiltering = 0;
let consoleErrorBeforeOpus: typeof console.error = console.error;
async function withoutLibopusMessages<T>(fn: () => Promise<T>): Promise<T> {
  if (libopusFiltering++ === 0) {
    const saved = (consoleErrorBeforeOpus = console.error);
    console.error = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && /^libopus -?\d+ /.test(args[0])) return;
      saved(...args);
    };
  }
  try {
    return await fn();
  } finally {
    if (--libopusFiltering === 0) console.error = consoleErrorBeforeOpus;
  }
}

/**
 * Ogg Vorbis and Ogg Opus. The pages are checked first ({@link readOggStream}: CRC, sequence,
 * end of stream), since both decoders skip what they cannot parse without saying so.
 */
async function decodeOgg(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  const info = readOggStream(bytes, file);
  const name = FORMAT_NAMES[info.codec];
  let decoded;
  if (info.codec === 'vorbis') {
    const { OggVorbisDecoder } = await (vorbisModule ??= import('@wasm-audio-decoders/ogg-vorbis'));
    const decoder = new OggVorbisDecoder();
    await decoder.ready;
    try {
      decoded = await decoder.decodeFile(bytes);
    } catch (err) {
      throw new JukeboxError(`corrupt ${name} data: ${(err as Error).message}`, file);
    } finally {
      decoder.free();
    }
  } else {
    const { OggOpusDecoder } = await (opusModule ??= import('ogg-opus-decoder'));
    const decoder = new OggOpusDecoder();
    await decoder.ready;
    try {
      decoded = await withoutLibopusMessages(() => decoder.decodeFile(bytes));
    } catch (err) {
      throw new JukeboxError(`corrupt ${name} data: ${(err as Error).message}`, file);
    } finally {
      decoder.free();
    }
  }
  if (decoded.errors.length > 0) throw new JukeboxError(`corrupt ${name} data: ${describeErrors(decoded.errors, 'frame')}`, file);
  if (decoded.samplesDecoded === 0) throw new JukeboxError(`not a decodable ${name} file: no audio packet could be decoded`, file);
  let channels = decoded.channelData;
  if (info.codec === 'opus') {
    // The stream holds lastGranule − preSkip samples (RFC 7845 §4); ogg-opus-decoder trims the
    // pre-skip at the start but, at the end, compares the granule with a count that excludes it,
    // so up to a frame of the encoder's padding comes back too.
    const length = info.lastGranule - info.preSkip;
    if (length > 0 && length < channels[0].length) channels = channels.map((c) => c.subarray(0, length));
  }
  if (channels.length !== info.channels) {
    throw new JukeboxError(`corrupt ${name} data: ${channels.length} channel(s) decoded, its header declares ${info.channels}`, file);
  }
  return { format: info.codec, sampleRate: decoded.sampleRate, channels };
}

/**
 * Decodes a whole FLAC, MP3, Ogg Vorbis or Ogg Opus file held in memory. `file` names it in
 * errors. WAV bytes are refused (read WAV with `openWav`, which streams).
 */
export async function decodeAudioBytes(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  const tag = id3v2Size(bytes);
  const head = bytes.subarray(0, SNIFF_BYTES);
  const format = sniffAudioFormat(head, tag > 0 ? bytes.subarray(tag, tag + 4) : undefined);
  if (format === 'flac') return decodeFlac(bytes, file);
  if (format === 'mp3') return decodeMp3(bytes, file);
  if (format === 'vorbis' || format === 'opus') return decodeOgg(bytes, file);
  if (format === 'wav') throw new JukeboxError('is a WAV file: read it with openWav or openAudio, not a decoder', file);
  if (bytes.length === 0) throw new JukeboxError('not an audio file (the file is empty)', file);
  const ogg = oggCodecOf(head);
  if (ogg !== undefined) throw new JukeboxError(`is an Ogg file of ${ogg}: only Ogg Vorbis and Ogg Opus are read`, file);
  // Ogg whose first packet is not within the sniffed bytes (cut short, or a long segment
  // table): the page walk finds where it ends or what it holds.
  if (ascii(head, 0, 4) === 'OggS') return decodeOgg(bytes, file);
  throw new JukeboxError('not a FLAC, MP3, Ogg Vorbis or Ogg Opus file (no fLaC, ID3, MPEG frame or OggS signature)', file);
}

/**
 * Decodes a whole FLAC, MP3, Ogg Vorbis or Ogg Opus file into memory, one Float32Array per
 * channel (see the note at the top of this module on memory). Throws a one-line JukeboxError
 * naming `path` when the file cannot be read, is none of those, or is corrupt or truncated.
 */
export async function decodeAudioFile(path: string): Promise<DecodedAudio> {
  const bytes = fsCall(path, () => {
    if (fs.statSync(path).isDirectory()) throw new JukeboxError('is a directory, not an audio file', path);
    return fs.readFileSync(path);
  });
  return decodeAudioBytes(bytes, path);
}
