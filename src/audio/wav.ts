import * as fs from 'fs';
import { JukeboxError } from '../errors';

/**
 * Streaming WAV reader. `openWav` parses only the header; samples are read on demand with
 * positional reads, so memory is bounded by the request, not the file.
 *
 * Supported: RIFF/WAVE (and RF64/BW64 with a `ds64` chunk), format codes PCM (1), IEEE float (3)
 * and WAVE_FORMAT_EXTENSIBLE (0xFFFE) with a PCM or float sub-format; 8-bit unsigned and
 * 16/24/32-bit signed PCM, 32/64-bit float; any number of channels. Unknown chunks are skipped
 * (with their pad byte when the size is odd). A `data` chunk whose size is 0xFFFFFFFF (left as a
 * placeholder by tools that wrote to a pipe) is taken to run to the end of the file.
 *
 * PCM is scaled to [-1, 1): uint8 (x − 128) / 128, int16 / 2^15, int24 / 2^23, int32 / 2^31.
 */

export type WavSampleFormat = 'pcm' | 'float';

export interface WavInfo {
  sampleRate: number;
  channels: number;
  /** Sample frames (samples per channel). */
  frames: number;
  /** Container bits per sample: 8, 16, 24, 32 (PCM) or 32, 64 (float). */
  bitsPerSample: number;
  format: WavSampleFormat;
}

export interface WavReader {
  readonly path: string;
  readonly info: WavInfo;
  /**
   * Frames [startFrame, startFrame + frameCount) averaged over the channels. Frames outside
   * [0, frames) read as zeros, so padded windows can be asked for directly.
   */
  readMono(startFrame: number, frameCount: number): Float32Array;
  /** Frames [startFrame, startFrame + frameCount), one array per channel; zeros outside [0, frames). */
  readChannels(startFrame: number, frameCount: number): Float32Array[];
  /** Closes the file; further reads throw. Idempotent. */
  close(): void;
}

/** Where the samples are and how to decode them. */
interface Layout {
  info: WavInfo;
  dataOffset: number;
  frameSize: number;
  decoder: SampleKind;
}

type SampleKind = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'f64';

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID built from a format code (00000000-0000-0010-8000-00AA00389B71). */
const GUID_TAIL = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]);

const FORMAT_NAMES: Record<number, string> = {
  0x0000: 'unknown',
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'mu-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MPEG Layer 3',
  0x00ff: 'AAC',
  0x2000: 'AC-3',
  0xf1ac: 'FLAC',
};

/** Bytes read per positional read when decoding (bounds the scratch buffer). */
const READ_CHUNK_BYTES = 1 << 20;

/** Reads up to `length` bytes at `position`, looping over short reads; returns the count read. */
function readAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** A one-line description of how a file starts: its printable prefix in quotes, else its first bytes in hex. */
function describeStart(head: Uint8Array): string {
  const first4 = head.subarray(0, Math.min(4, head.length));
  let printable = 0;
  while (printable < first4.length && first4[printable] >= 0x20 && first4[printable] < 0x7f) printable++;
  if (printable >= 3 || (printable > 0 && printable === first4.length)) {
    return `'${Buffer.from(first4.subarray(0, printable)).toString('latin1')}'`;
  }
  return `bytes ${Array.from(first4, (b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

/** What a non-WAV file probably is, from its signature. */
function guessKind(head: Uint8Array): string | undefined {
  const ascii = (start: number, end: number) => Buffer.from(head.subarray(start, end)).toString('latin1');
  if (ascii(0, 3) === 'ID3' || (head.length >= 2 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0)) return 'MP3 (or other MPEG) audio';
  if (ascii(0, 4) === 'fLaC') return 'FLAC audio';
  if (ascii(0, 4) === 'OggS') return 'Ogg audio';
  if (ascii(4, 8) === 'ftyp') return 'an MP4/M4A file';
  if (ascii(0, 4) === 'FORM') return 'an AIFF file';
  return undefined;
}

/** A chunk id for a message: quoted, with anything unprintable as \xNN (keeps messages on one line). */
function showId(id: string): string {
  return `'${id.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

function formatName(code: number): string {
  const hex = `0x${code.toString(16).padStart(4, '0')}`;
  const name = FORMAT_NAMES[code];
  return name ? `${hex} (${name})` : hex;
}

interface FmtChunk {
  code: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bits: number;
}

function parseFmt(body: Buffer, size: number, file: string): FmtChunk {
  if (size < 16) throw new JukeboxError(`the 'fmt ' chunk is ${size} bytes, too short for a WAV format header (16)`, file);
  const tag = body.readUInt16LE(0);
  const channels = body.readUInt16LE(2);
  const sampleRate = body.readUInt32LE(4);
  const blockAlign = body.readUInt16LE(12);
  const bits = body.readUInt16LE(14);
  let code = tag;
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40 || body.readUInt16LE(16) < 22) {
      throw new JukeboxError(`the WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is too short (${size} bytes, need 40)`, file);
    }
    const guid = body.subarray(24, 40);
    code = guid.readUInt16LE(0);
    if (!guid.subarray(2).equals(GUID_TAIL)) {
      throw new JukeboxError(
        `unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID ${guid.toString('hex')}; only PCM and IEEE float WAV files are supported`,
        file,
      );
    }
  }
  return { code, channels, sampleRate, blockAlign, bits };
}

function checkFmt(fmt: FmtChunk, file: string): { format: WavSampleFormat; decoder: SampleKind } {
  let format: WavSampleFormat;
  let decoder: SampleKind;
  if (fmt.code === WAVE_FORMAT_PCM) {
    format = 'pcm';
    const kinds: Record<number, SampleKind> = { 8: 'u8', 16: 's16', 24: 's24', 32: 's32' };
    decoder = kinds[fmt.bits];
    if (!decoder) throw new JukeboxError(`unsupported bit depth: ${fmt.bits}-bit PCM (supported: 8, 16, 24, 32)`, file);
  } else if (fmt.code === WAVE_FORMAT_IEEE_FLOAT) {
    format = 'float';
    const kinds: Record<number, SampleKind> = { 32: 'f32', 64: 'f64' };
    decoder = kinds[fmt.bits];
    if (!decoder) throw new JukeboxError(`unsupported bit depth: ${fmt.bits}-bit float (supported: 32, 64)`, file);
  } else {
    throw new JukeboxError(
      `unsupported WAV format code ${formatName(fmt.code)}; only PCM and IEEE float WAV files are supported`,
      file,
    );
  }
  if (fmt.channels === 0) throw new JukeboxError('the WAV header declares zero channels', file);
  if (fmt.sampleRate === 0) throw new JukeboxError('the WAV header declares a sample rate of 0 Hz', file);
  const frameSize = fmt.channels * (fmt.bits / 8);
  if (fmt.blockAlign !== frameSize) {
    throw new JukeboxError(
      `inconsistent WAV header: block align is ${fmt.blockAlign} bytes but ${fmt.channels} channel(s) of ${fmt.bits}-bit samples take ${frameSize}`,
      file,
    );
  }
  return { format, decoder };
}

function parseHeader(fd: number, file: string): Layout {
  const fileSize = fs.fstatSync(fd).size;
  const head = Buffer.alloc(12);
  const got = readAt(fd, head, 0, 12, 0);
  const magic = head.toString('latin1', 0, 4);
  const wave = got >= 12 && head.toString('latin1', 8, 12) === 'WAVE';
  const isRF64 = magic === 'RF64' || magic === 'BW64';
  if (!wave || !(magic === 'RIFF' || isRF64)) {
    if (wave && magic === 'RIFX') throw new JukeboxError('big-endian (RIFX) WAV files are not supported', file);
    if (got >= 12 && magic === 'RIFF') {
      throw new JukeboxError(`not a WAV file (a RIFF file of type ${describeStart(head.subarray(8, 12))})`, file);
    }
    if (got === 0) throw new JukeboxError('not a WAV file (the file is empty)', file);
    const kind = guessKind(head.subarray(0, got));
    const hint = kind ? `; it looks like ${kind}: convert it to WAV first (e.g. ffmpeg -i in out.wav)` : '';
    throw new JukeboxError(`not a WAV file (starts with ${describeStart(head.subarray(0, got))}${hint})`, file);
  }

  let fmt: FmtChunk | undefined;
  let data: { offset: number; size: number; placeholder: boolean } | undefined;
  let ds64DataSize: number | undefined;
  const seen: string[] = [];
  const chunkHead = Buffer.alloc(8);
  let pos = 12;
  while (pos + 8 <= fileSize) {
    readAt(fd, chunkHead, 0, 8, pos);
    const id = chunkHead.toString('latin1', 0, 4);
    const declared = chunkHead.readUInt32LE(4);
    const body = pos + 8;
    const available = fileSize - body;
    seen.push(id);
    if (id === 'data') {
      let size = declared;
      let placeholder = false;
      if (declared === 0xffffffff) {
        if (isRF64 && ds64DataSize !== undefined) size = ds64DataSize;
        else [size, placeholder] = [available, true];
      }
      data = { offset: body, size, placeholder };
      if (fmt || body + size > fileSize) break;
      pos = body + size + (size % 2);
      continue;
    }
    if (body + declared > fileSize) {
      throw new JukeboxError(`truncated: the ${showId(id)} chunk declares ${declared} bytes but only ${available} follow`, file);
    }
    if (id === 'fmt ') {
      const buf = Buffer.alloc(Math.min(declared, 64));
      readAt(fd, buf, 0, buf.length, body);
      fmt = parseFmt(buf, declared, file);
      if (data) break;
    } else if (id === 'ds64' && isRF64 && declared >= 24) {
      const buf = Buffer.alloc(24);
      readAt(fd, buf, 0, 24, body);
      ds64DataSize = Number(buf.readBigUInt64LE(8));
    }
    pos = body + declared + (declared % 2);
  }

  const shown = seen.slice(0, 8).map(showId).join(', ') + (seen.length > 8 ? `, … (${seen.length} in all)` : '');
  const chunks = seen.length ? `chunks found: ${shown}` : 'no chunks found';
  if (!fmt) throw new JukeboxError(`not a usable WAV file: no 'fmt ' chunk (${chunks})`, file);
  if (!data) throw new JukeboxError(`not a usable WAV file: no 'data' chunk (${chunks})`, file);
  const { format, decoder } = checkFmt(fmt, file);
  const frameSize = fmt.blockAlign;
  const available = fileSize - data.offset;
  let size = data.size;
  if (size > available) {
    throw new JukeboxError(`truncated: the data chunk declares ${size} bytes but only ${available} follow`, file);
  }
  // A size inferred from the file length may end in a partial frame (or trailing chunks); drop it.
  if (data.placeholder) size -= size % frameSize;
  if (size === 0) throw new JukeboxError('contains no audio samples (the data chunk is empty)', file);
  if (size % frameSize !== 0) {
    throw new JukeboxError(
      `the data chunk holds ${size} bytes, not a whole number of ${frameSize}-byte frames (${fmt.channels} channel(s) × ${fmt.bits / 8} bytes)`,
      file,
    );
  }
  return {
    info: { sampleRate: fmt.sampleRate, channels: fmt.channels, frames: size / frameSize, bitsPerSample: fmt.bits, format },
    dataOffset: data.offset,
    frameSize,
    decoder,
  };
}

/** Decodes n interleaved frames from `view`, averaging the channels, into `out[outOffset…]`. */
function decodeMono(view: DataView, kind: SampleKind, channels: number, n: number, out: Float32Array, outOffset: number): void {
  let p = 0;
  switch (kind) {
    case 'u8': {
      const d = 128 * channels;
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++) s += view.getUint8(p++) - 128;
        out[outOffset + f] = s / d;
      }
      return;
    }
    case 's16': {
      const d = 32768 * channels;
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++, p += 2) s += view.getInt16(p, true);
        out[outOffset + f] = s / d;
      }
      return;
    }
    case 's24': {
      const d = 8388608 * channels;
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++, p += 3) {
          s += ((view.getUint8(p + 2) << 24) | (view.getUint8(p + 1) << 16) | (view.getUint8(p) << 8)) >> 8;
        }
        out[outOffset + f] = s / d;
      }
      return;
    }
    case 's32': {
      const d = 2147483648 * channels;
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++, p += 4) s += view.getInt32(p, true);
        out[outOffset + f] = s / d;
      }
      return;
    }
    case 'f32': {
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++, p += 4) s += view.getFloat32(p, true);
        out[outOffset + f] = s / channels;
      }
      return;
    }
    case 'f64': {
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++, p += 8) s += view.getFloat64(p, true);
        out[outOffset + f] = s / channels;
      }
      return;
    }
  }
}

/** Decodes one sample at byte `p` to [-1, 1). */
function decodeSample(view: DataView, kind: SampleKind, p: number): number {
  switch (kind) {
    case 'u8':
      return (view.getUint8(p) - 128) / 128;
    case 's16':
      return view.getInt16(p, true) / 32768;
    case 's24':
      return (((view.getUint8(p + 2) << 24) | (view.getUint8(p + 1) << 16) | (view.getUint8(p) << 8)) >> 8) / 8388608;
    case 's32':
      return view.getInt32(p, true) / 2147483648;
    case 'f32':
      return view.getFloat32(p, true);
    case 'f64':
      return view.getFloat64(p, true);
  }
}

function checkRequest(startFrame: number, frameCount: number): void {
  if (!Number.isSafeInteger(startFrame)) throw new RangeError(`startFrame must be an integer, got ${startFrame}`);
  if (!Number.isSafeInteger(frameCount) || frameCount < 0) {
    throw new RangeError(`frameCount must be a non-negative integer, got ${frameCount}`);
  }
}

class FileWavReader implements WavReader {
  readonly path: string;
  readonly info: WavInfo;
  private fd: number | undefined;
  private readonly layout: Layout;
  private scratch: Uint8Array | undefined;

  constructor(path: string, fd: number, layout: Layout) {
    this.path = path;
    this.fd = fd;
    this.layout = layout;
    this.info = Object.freeze({ ...layout.info });
  }

  /** Calls `visit(view, n, outOffset)` for consecutive blocks of the frames of the request that exist. */
  private forEachBlock(startFrame: number, frameCount: number, visit: (view: DataView, n: number, outOffset: number) => void): void {
    if (this.fd === undefined) throw new Error(`${this.path}: WAV reader is closed`);
    const { frameSize, dataOffset } = this.layout;
    const first = Math.max(startFrame, 0);
    const end = Math.min(startFrame + frameCount, this.info.frames);
    if (first >= end) return;
    const blockFrames = Math.max(1, Math.floor(READ_CHUNK_BYTES / frameSize));
    const want = Math.min(end - first, blockFrames) * frameSize;
    if (!this.scratch || this.scratch.length < want) this.scratch = new Uint8Array(want);
    const buf = this.scratch;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let f = first; f < end; f += blockFrames) {
      const n = Math.min(blockFrames, end - f);
      const bytes = n * frameSize;
      const position = dataOffset + f * frameSize;
      const got = readAt(this.fd, buf, 0, bytes, position);
      if (got < bytes) {
        throw new JukeboxError(
          `truncated: expected ${bytes} bytes at offset ${position} but the file ends after ${got} (was it changed while being read?)`,
          this.path,
        );
      }
      visit(view, n, f - startFrame);
    }
  }

  readMono(startFrame: number, frameCount: number): Float32Array {
    checkRequest(startFrame, frameCount);
    const out = new Float32Array(frameCount);
    const { decoder } = this.layout;
    const channels = this.info.channels;
    this.forEachBlock(startFrame, frameCount, (view, n, outOffset) => decodeMono(view, decoder, channels, n, out, outOffset));
    return out;
  }

  readChannels(startFrame: number, frameCount: number): Float32Array[] {
    checkRequest(startFrame, frameCount);
    const channels = this.info.channels;
    const out = Array.from({ length: channels }, () => new Float32Array(frameCount));
    const { decoder, frameSize } = this.layout;
    const bytes = frameSize / channels;
    this.forEachBlock(startFrame, frameCount, (view, n, outOffset) => {
      let p = 0;
      for (let f = 0; f < n; f++) {
        for (let c = 0; c < channels; c++, p += bytes) out[c][outOffset + f] = decodeSample(view, decoder, p);
      }
    });
    return out;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    this.scratch = undefined;
    fs.closeSync(fd);
  }
}

/** Opens `path` for reading, turning the usual file-system failures into one-line JukeboxErrors. */
function openForReading(path: string): number {
  try {
    const fd = fs.openSync(path, 'r');
    if (fs.fstatSync(fd).isDirectory()) {
      fs.closeSync(fd);
      throw new JukeboxError('is a directory, not a WAV file', path);
    }
    return fd;
  } catch (err) {
    if (err instanceof JukeboxError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reasons: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EPERM: 'permission denied',
      EISDIR: 'is a directory, not a WAV file',
    };
    const reason = (code && reasons[code]) ?? `cannot open: ${(err as Error).message}`;
    throw new JukeboxError(reason, path);
  }
}

/** Opens a WAV file, reading and validating only its header. Close the reader when done. */
export function openWav(path: string): WavReader {
  const fd = openForReading(path);
  try {
    return new FileWavReader(path, fd, parseHeader(fd, path));
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Reads a whole WAV file, one Float32Array per channel. For short files; stream long ones with {@link openWav}. */
export function readWav(path: string): { sampleRate: number; channels: Float32Array[] } {
  const reader = openWav(path);
  try {
    return { sampleRate: reader.info.sampleRate, channels: reader.readChannels(0, reader.info.frames) };
  } finally {
    reader.close();
  }
}

/** Reads a whole WAV file averaged to mono. */
export function readWavMono(path: string): { sampleRate: number; samples: Float32Array } {
  const reader = openWav(path);
  try {
    return { sampleRate: reader.info.sampleRate, samples: reader.readMono(0, reader.info.frames) };
  } finally {
    reader.close();
  }
}
