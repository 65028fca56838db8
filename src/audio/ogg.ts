import { JukeboxError } from '../errors';

/**
 * The Ogg container (RFC 3533), read just far enough to tell its codec and to vouch for the
 * pages before a decoder sees them.
 *
 * Why check pages here: the WASM decoders (`@wasm-audio-decoders/ogg-vorbis`, `ogg-opus-decoder`)
 * parse Ogg with page CRCs turned off and stop quietly where data ends, so a damaged or cut file
 * would decode into wrong or missing audio without a word. Every page carries a CRC and a
 * sequence number and the last one an end-of-stream flag: checking them catches damage anywhere,
 * pages lost in the middle, and a cut, and names the page.
 */

export type OggCodec = 'vorbis' | 'opus';

/** What a checked Ogg stream holds, from its pages and its identification header. */
export interface OggStreamInfo {
  codec: OggCodec;
  channels: number;
  /** Vorbis: the sampling rate; Opus: the input rate the encoder noted (Opus always decodes at 48 kHz). */
  sampleRate: number;
  /** Opus only: samples at 48 kHz the decoder must drop at the start (0 for Vorbis). */
  preSkip: number;
  /** Granule position of the last page that ends a packet: Vorbis, the sample count; Opus, preSkip + samples at 48 kHz. */
  lastGranule: number;
  pages: number;
}

const HEADER = 27; // fixed part of a page header, before the segment table
const EOS = 0x04; // header-type flag: last page of the logical stream

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, Math.min(end, bytes.length))).toString('latin1');
}

/** The first packet's codec signature, for the codecs Ogg commonly carries (named in errors). */
function codecOfPacket(packet: Uint8Array): OggCodec | string {
  if (ascii(packet, 0, 7) === '\x01vorbis') return 'vorbis';
  if (ascii(packet, 0, 8) === 'OpusHead') return 'opus';
  if (ascii(packet, 0, 5) === '\x7fFLAC') return 'FLAC';
  if (ascii(packet, 0, 5) === 'Speex') return 'Speex';
  if (ascii(packet, 0, 7) === '\x80theora') return 'Theora video';
  if (ascii(packet, 0, 7) === 'fishead') return 'a Skeleton track (a multiplexed file)';
  return 'an unknown codec';
}

/**
 * The codec of an Ogg file from its first bytes: 'vorbis' or 'opus' when its first page starts
 * a Vorbis or Opus stream, the name of another codec when it is Ogg of another kind, undefined
 * when it is not Ogg or `head` is too short to tell (the first packet starts after the 27-byte
 * page header and the segment table: 28 bytes in, as encoders write it).
 */
export function oggCodecOf(head: Uint8Array): OggCodec | string | undefined {
  if (head.length < HEADER || ascii(head, 0, 4) !== 'OggS') return undefined;
  const first = HEADER + head[HEADER - 1];
  if (head.length < first + 8) return undefined;
  return codecOfPacket(head.subarray(first));
}

/** CRC-32 of Ogg pages: polynomial 0x04C11DB7, not reflected, initial value 0, no final xor. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** The Ogg CRC of a page, computed with its CRC field (bytes 22–25) taken as zero. */
export function oggPageCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const b = i >= 22 && i < 26 ? 0 : page[i];
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  }
  return crc;
}

/** Channels, rate and pre-skip from the identification header (the first packet). */
function identification(codec: OggCodec, packet: Uint8Array, file: string): Pick<OggStreamInfo, 'channels' | 'sampleRate' | 'preSkip'> {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const name = codec === 'vorbis' ? 'Vorbis' : 'Opus';
  const need = codec === 'vorbis' ? 16 : 19;
  if (packet.length < need) throw new JukeboxError(`corrupt Ogg ${name} file: its identification header is cut short`, file);
  const info =
    codec === 'vorbis'
      ? { channels: packet[11], sampleRate: view.getUint32(12, true), preSkip: 0 }
      : { channels: packet[9], sampleRate: view.getUint32(12, true), preSkip: view.getUint16(10, true) };
  if (info.channels === 0) throw new JukeboxError(`corrupt Ogg ${name} file: its identification header declares 0 channels`, file);
  if (codec === 'vorbis' && info.sampleRate === 0) {
    throw new JukeboxError('corrupt Ogg Vorbis file: its identification header declares a sample rate of 0 Hz', file);
  }
  return info;
}

/**
 * Walks every page of a single-stream Ogg Vorbis or Opus file held in memory, checking each
 * page's CRC and sequence number, and that the stream ends with its end-of-stream page. Bytes
 * after that page are ignored (taggers sometimes append an ID3v1 tag), unless another Ogg
 * stream follows: chained and multiplexed files are refused. Throws a one-line JukeboxError
 * naming `file` and the page at fault.
 */
export function readOggStream(bytes: Uint8Array, file: string): OggStreamInfo {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  let pages = 0;
  let serial = 0;
  let lastGranule = 0;
  let first: Uint8Array | undefined;
  let ended = false;
  while (p < bytes.length && !ended) {
    const where = `page ${pages} (byte ${p})`;
    if (p + HEADER > bytes.length || p + HEADER + bytes[p + HEADER - 1] > bytes.length) {
      throw new JukeboxError(`truncated Ogg file: it ends inside the header of ${where}`, file);
    }
    if (ascii(bytes, p, p + 4) !== 'OggS') throw new JukeboxError(`corrupt Ogg file: no page starts where ${where} should`, file);
    if (bytes[p + 4] !== 0) throw new JukeboxError(`corrupt Ogg file: ${where} has an unknown version ${bytes[p + 4]}`, file);
    const segments = bytes[p + HEADER - 1];
    let body = 0;
    for (let s = 0; s < segments; s++) body += bytes[p + HEADER + s];
    const start = p + HEADER + segments;
    const end = start + body;
    if (end > bytes.length) {
      throw new JukeboxError(`truncated Ogg file: it ends inside ${where}, ${end - bytes.length} of its ${end - p} bytes missing`, file);
    }
    if (oggPageCrc(bytes.subarray(p, end)) !== view.getUint32(p + 22, true)) {
      throw new JukeboxError(`corrupt Ogg file: ${where} fails its CRC check`, file);
    }
    const pageSerial = view.getUint32(p + 14, true);
    const sequence = view.getUint32(p + 18, true);
    if (pages === 0) {
      serial = pageSerial;
      first = bytes.subarray(start, end);
    } else if (pageSerial !== serial) {
      throw new JukeboxError('holds more than one Ogg stream (a chained or multiplexed file), which is not supported: split it first', file);
    }
    if (sequence !== pages) {
      throw new JukeboxError(`corrupt Ogg file: ${where} has sequence number ${sequence}: ${sequence > pages ? 'pages are missing' : 'pages are out of order'}`, file);
    }
    // -1 marks a page on which no packet ends.
    const granule = view.getBigInt64(p + 6, true);
    if (granule !== -1n) lastGranule = Number(granule);
    ended = (bytes[p + 5] & EOS) !== 0;
    pages++;
    p = end;
  }
  if (!first) throw new JukeboxError('not an audio file (the file is empty)', file);
  if (!ended) throw new JukeboxError(`truncated Ogg file: it ends after page ${pages - 1} without the end-of-stream page`, file);
  if (ascii(bytes, p, p + 4) === 'OggS') {
    throw new JukeboxError('holds more than one Ogg stream (a chained or multiplexed file), which is not supported: split it first', file);
  }
  const codec = codecOfPacket(first);
  if (codec !== 'vorbis' && codec !== 'opus') {
    throw new JukeboxError(`is an Ogg file of ${codec}: only Ogg Vorbis and Ogg Opus are read`, file);
  }
  return { codec, ...identification(codec, first, file), lastGranule, pages };
}
