import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  decodeAudioBytes,
  decodeAudioFile,
  detectAudioFormat,
  openAudio,
  openAudioAsync,
  openAudioChannels,
  resample,
  sniffAudioFormat,
  writeWav,
} from '../../src/audio';
import { JukeboxError } from '../../src/errors';
import { oggPageCrc, readOggStream } from '../../src/audio/ogg';
import { tempDir } from './wav-bytes';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'audio');
const FLAC = path.join(FIXTURES, 'stereo-44100.flac');
const MP3 = path.join(FIXTURES, 'stereo-44100.mp3');
const MP3_MONO = path.join(FIXTURES, 'mono-22050-id3.mp3');
const VORBIS = path.join(FIXTURES, 'stereo-44100.ogg');
const OPUS = path.join(FIXTURES, 'stereo-48000.opus');

const tmp = tempDir('decoders');
afterAll(() => tmp.cleanup());

/** The fixtures' source signals (see test/fixtures/audio/README.md), rounded to 16 bits as they were encoded. */
function tone(n: number, rate: number, f: number, a: number, ph = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const v = Math.fround(a * Math.sin((2 * Math.PI * f * i) / rate + ph)); // writeWav takes Float32Arrays
    return Math.round(v * 32768) / 32768;
  });
}
const LEFT = tone(11025, 44100, 440, 0.5);
const RIGHT = tone(11025, 44100, 1250, 0.25, 0.5);
const MONO = tone(11025, 22050, 440, 0.5);
const LEFT_48K = tone(12000, 48000, 440, 0.5);
const RIGHT_48K = tone(12000, 48000, 1250, 0.25, 0.5);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Signal-to-noise ratio of `x` against the reference `ref`, in dB, over [from, to). */
function snrDb(ref: Float32Array, x: Float32Array, from = 0, to = ref.length): number {
  let s = 0;
  let e = 0;
  for (let i = from; i < to; i++) {
    s += ref[i] * ref[i];
    e += (ref[i] - x[i]) ** 2;
  }
  return 10 * Math.log10(s / e);
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('sniffAudioFormat', () => {
  const b = (...bytes: (number | string)[]) =>
    Buffer.concat(bytes.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));

  it('tells WAV, FLAC and MP3 by their first bytes', () => {
    expect(sniffAudioFormat(b('RIFF', 0, 0, 0, 0, 'WAVE'))).toBe('wav');
    expect(sniffAudioFormat(b('RF64', 0, 0, 0, 0, 'WAVE'))).toBe('wav');
    expect(sniffAudioFormat(b('fLaC', 0, 0, 0, 34))).toBe('flac');
    expect(sniffAudioFormat(b('ID3', 4, 0, 0, 0, 0, 0, 0))).toBe('mp3');
    expect(sniffAudioFormat(b('ID3', 4, 0, 0, 0, 0, 0, 0), b('fLaC'))).toBe('flac');
    expect(sniffAudioFormat(b(0xff, 0xfb, 0x90, 0x44))).toBe('mp3'); // MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    expect(sniffAudioFormat(b(0xff, 0xf3, 0x40, 0xc4))).toBe('mp3'); // MPEG-2 layer III
  });

  it('rejects what only looks like a frame sync, and anything else', () => {
    expect(sniffAudioFormat(b(0xff, 0xf9, 0x90, 0x44))).toBeUndefined(); // layer 0 (reserved): an ADTS AAC header
    expect(sniffAudioFormat(b(0xff, 0xfb, 0xf0, 0x44))).toBeUndefined(); // bitrate index 15
    expect(sniffAudioFormat(b(0xff, 0xfb, 0x9c, 0x44))).toBeUndefined(); // sample rate index 3
    expect(sniffAudioFormat(b('RIFF', 0, 0, 0, 0, 'AVI '))).toBeUndefined();
    expect(sniffAudioFormat(b('OggS'))).toBeUndefined(); // too short to show its first packet
    expect(sniffAudioFormat(new Uint8Array(0))).toBeUndefined();
  });

  it('detectAudioFormat reads the file, looking past an ID3 tag', async () => {
    expect(detectAudioFormat(FLAC)).toBe('flac');
    expect(detectAudioFormat(MP3)).toBe('mp3');
    expect(detectAudioFormat(MP3_MONO)).toBe('mp3');
    const tagged = Buffer.concat([Buffer.from('ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0004', 'latin1'), Buffer.alloc(4), fs.readFileSync(FLAC)]);
    expect(detectAudioFormat(tmp.file('tagged.flac', tagged))).toBe('flac');
    const wav = tmp.file('x.wav');
    await writeWav(wav, new Float32Array(10), 8000);
    expect(detectAudioFormat(wav)).toBe('wav');
    expect(detectAudioFormat(tmp.file('text.mp3', Buffer.from('hello')))).toBeUndefined();
    expect(detectAudioFormat(VORBIS)).toBe('vorbis');
    expect(detectAudioFormat(OPUS)).toBe('opus');
    // By content: Opus in a .ogg file (common) is Opus.
    expect(detectAudioFormat(tmp.file('opus-inside.ogg', fs.readFileSync(OPUS)))).toBe('opus');
    const missing = path.join(tmp.dir, 'missing.flac');
    expect(() => detectAudioFormat(missing)).toThrow(new JukeboxError('no such file', missing));
  });
});

describe('decodeAudioFile: FLAC', () => {
  it('decodes the fixture losslessly: rate, channels, length, samples', async () => {
    const d = await decodeAudioFile(FLAC);
    expect(d.format).toBe('flac');
    expect(d.sampleRate).toBe(44100);
    expect(d.bitDepth).toBe(16);
    expect(d.channels.length).toBe(2);
    expect(d.channels[0].length).toBe(11025);
    expect(maxAbsDiff(d.channels[0], LEFT)).toBe(0);
    expect(maxAbsDiff(d.channels[1], RIGHT)).toBe(0);
  });

  it('decodes a FLAC stream behind an ID3v2 tag', async () => {
    const tag = Buffer.concat([Buffer.from('ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0004', 'latin1'), Buffer.alloc(4)]);
    const d = await decodeAudioBytes(Buffer.concat([tag, fs.readFileSync(FLAC)]), 'tagged.flac');
    expect(d.channels[0].length).toBe(11025);
    expect(maxAbsDiff(d.channels[0], LEFT)).toBe(0);
  });

  it('corrupt and truncated files fail with one-line JukeboxErrors naming the file, and print nothing', async () => {
    const good = fs.readFileSync(FLAC);
    const spy = vi.spyOn(console, 'error');
    const spied = console.error;
    try {
      const garbage = tmp.file('garbage.flac', Buffer.concat([Buffer.from('fLaC', 'latin1'), Buffer.alloc(200, 7)]));
      let err = await errorOf(decodeAudioFile(garbage));
      expect(err).toBeInstanceOf(JukeboxError);
      expect(err.message).toMatch(new RegExp(`^${garbage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a valid FLAC file`));

      const truncated = tmp.file('truncated.flac', good.subarray(0, 5000));
      err = await errorOf(decodeAudioFile(truncated));
      expect(err).toBeInstanceOf(JukeboxError);
      expect(err.message).toMatch(/truncated\.flac: corrupt or truncated FLAC file/);

      const headerOnly = tmp.file('header-only.flac', good.subarray(0, 20));
      err = await errorOf(decodeAudioFile(headerOnly));
      expect(err.message).toBe(`${headerOnly}: truncated FLAC file: it ends inside the STREAMINFO header`);

      // Damage inside the audio frames: libFLAC's frame CRC catches it.
      const damaged = Buffer.from(good);
      for (let i = 3000; i < 3100; i++) damaged[i] ^= 0x5a;
      const damagedFile = tmp.file('damaged.flac', damaged);
      err = await errorOf(decodeAudioFile(damagedFile));
      expect(err).toBeInstanceOf(JukeboxError);
      expect(err.message.startsWith(`${damagedFile}: `)).toBe(true);
      expect(err.message).not.toContain('\n');

      expect(spy).not.toHaveBeenCalled();
      expect(console.error).toBe(spied); // silenced only while decoding
    } finally {
      spy.mockRestore();
    }
  });
});

describe('decodeAudioFile: MP3', () => {
  it('decodes the stereo fixture gaplessly, close to the source', async () => {
    const d = await decodeAudioFile(MP3);
    expect(d.format).toBe('mp3');
    expect(d.sampleRate).toBe(44100);
    expect(d.channels.length).toBe(2);
    expect(d.channels[0].length).toBe(11025);
    expect(d.channels[1].length).toBe(11025);
    // Lossy, but aligned (the encoder delay is trimmed): high SNR sample by sample.
    expect(snrDb(LEFT, d.channels[0], 1000, 10000)).toBeGreaterThan(25);
    expect(snrDb(RIGHT, d.channels[1], 1000, 10000)).toBeGreaterThan(25);
  });

  it('decodes the mono fixture behind an ID3 tag as one channel', async () => {
    const d = await decodeAudioFile(MP3_MONO);
    expect(d.sampleRate).toBe(22050);
    expect(d.channels.length).toBe(1);
    expect(d.channels[0].length).toBe(11025);
    expect(snrDb(MONO, d.channels[0], 1000, 10000)).toBeGreaterThan(25);
  });

  it('files that are not MP3 inside fail with JukeboxErrors naming them', async () => {
    const spy = vi.spyOn(console, 'error');
    try {
      const fake = tmp.file('fake.mp3', Buffer.from('ID3\u0004\u0000 not really audio', 'latin1'));
      expect(await errorOf(decodeAudioFile(fake))).toEqual(
        new JukeboxError('not a decodable MP3 file: no MPEG audio frame could be decoded', fake),
      );
      const noise = Buffer.alloc(4000);
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + 13) % 251;
      const noisy = tmp.file('noise.mp3', Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x44]), noise]));
      const err = await errorOf(decodeAudioFile(noisy));
      expect(err).toBeInstanceOf(JukeboxError);
      expect(err.message.startsWith(`${noisy}: corrupt MP3 data: `)).toBe(true);

      // mpg123 decodes what it can of a cut or damaged file; the LAME Info header tells what is missing.
      const good = fs.readFileSync(MP3);
      const cut = tmp.file('cut.mp3', good.subarray(0, 2500));
      expect((await errorOf(decodeAudioFile(cut))).message).toMatch(
        new RegExp(`^.*cut\\.mp3: corrupt or truncated MP3 file: decoded only \\d+ samples of the 11025 its Xing/Info header declares$`),
      );
      const damaged = Buffer.from(good);
      for (let i = 2000; i < 2200; i++) damaged[i] ^= 0x5a;
      const damagedFile = tmp.file('damaged.mp3', damaged);
      expect((await errorOf(decodeAudioFile(damagedFile))).message).toContain(`${damagedFile}: corrupt or truncated MP3 file`);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('other inputs: empty, text, WAV, a directory, a missing file', async () => {
    const empty = tmp.file('empty.mp3', new Uint8Array(0));
    expect(await errorOf(decodeAudioFile(empty))).toEqual(new JukeboxError('not an audio file (the file is empty)', empty));
    const text = tmp.file('text.flac', Buffer.from('just some text'));
    expect((await errorOf(decodeAudioFile(text))).message).toBe(`${text}: not a FLAC, MP3, Ogg Vorbis or Ogg Opus file (no fLaC, ID3, MPEG frame or OggS signature)`);
    const wav = tmp.file('a.wav');
    await writeWav(wav, new Float32Array(10), 8000);
    expect((await errorOf(decodeAudioFile(wav))).message).toContain('is a WAV file');
    expect(await errorOf(decodeAudioFile(tmp.dir))).toEqual(new JukeboxError('is a directory, not an audio file', tmp.dir));
    const missing = path.join(tmp.dir, 'nope.mp3');
    expect(await errorOf(decodeAudioFile(missing))).toEqual(new JukeboxError('no such file', missing));
  });
});

describe('openAudioAsync', () => {
  it('FLAC: the channel average, resampled lazily', async () => {
    const src = await openAudioAsync(FLAC, 22050);
    expect(src.sampleRate).toBe(22050);
    expect(src.length).toBe(5513); // ceil(11025 / 2)
    const mono = LEFT.map((v, i) => (v + RIGHT[i]) / 2);
    expect(maxAbsDiff(src.read(0, src.length), resample(mono, 44100, 22050))).toBeLessThan(1e-6);
    src.close();
    const native = await openAudioAsync(FLAC);
    expect(native.sampleRate).toBe(44100);
    expect(maxAbsDiff(native.read(0, native.length), mono)).toBeLessThan(1e-7);
  });

  it('MP3 at its own rate and resampled', async () => {
    const src = await openAudioAsync(MP3_MONO);
    expect([src.sampleRate, src.length]).toEqual([22050, 11025]);
    expect(snrDb(MONO, src.read(0, src.length), 1000, 10000)).toBeGreaterThan(25);
    const up = await openAudioAsync(MP3_MONO, 44100);
    expect([up.sampleRate, up.length]).toEqual([44100, 22050]);
  });

  it('WAV: the same as openAudio', async () => {
    const file = tmp.file('w.wav');
    await writeWav(file, [LEFT, RIGHT], 44100);
    const a = await openAudioAsync(file, 22050);
    const b = openAudio(file, 22050);
    expect(a.length).toBe(b.length);
    expect(maxAbsDiff(a.read(-10, a.length + 10), b.read(-10, b.length + 10))).toBe(0);
    a.close();
    b.close();
  });

  it('the synchronous readers refuse compressed files, pointing to the asynchronous ones', () => {
    expect(() => openAudio(FLAC)).toThrow(
      new JukeboxError('is FLAC audio, which is decoded asynchronously: open it with openAudioAsync (the synchronous reader takes WAV only)', FLAC),
    );
    expect(() => openAudio(MP3, 22050)).toThrow(`${MP3}: is MP3 audio`);
    expect(() => openAudioChannels(MP3)).toThrow(JukeboxError);
  });
});

/** The Ogg pages of a file: [start, end) byte offsets (27-byte header, segment table, body). */
function oggPages(bytes: Uint8Array): [number, number][] {
  const pages: [number, number][] = [];
  for (let p = 0; p < bytes.length; ) {
    const segments = bytes[p + 26];
    let end = p + 27 + segments;
    for (let s = 0; s < segments; s++) end += bytes[p + 27 + s];
    pages.push([p, end]);
    p = end;
  }
  return pages;
}

/** Rewrites the CRC of the page at `start` so the page passes the container's check again. */
function resealPage(bytes: Buffer, start: number, end: number): void {
  bytes.writeUInt32LE(oggPageCrc(bytes.subarray(start, end)), start + 22);
}

describe('decodeAudioFile: Ogg Vorbis and Ogg Opus', () => {
  it('sniffs the codec from the first packet of the first page', () => {
    const page = (packet: string) => {
      const body = Buffer.from(packet, 'latin1');
      return Buffer.concat([Buffer.from('OggS', 'latin1'), Buffer.alloc(22), Buffer.from([1, body.length]), body]);
    };
    expect(sniffAudioFormat(page('\u0001vorbis\u0000\u0000\u0000\u0000\u0002'))).toBe('vorbis');
    expect(sniffAudioFormat(page('OpusHead\u0001\u0002'))).toBe('opus');
    expect(sniffAudioFormat(page('Speex   1.2'))).toBeUndefined();
    expect(sniffAudioFormat(page('\u007fFLAC\u0001\u0000\u0000\u0001'))).toBeUndefined();
  });

  it('Vorbis: the stereo 44.1 kHz fixture, full length, close to its source', async () => {
    const d = await decodeAudioFile(VORBIS);
    expect(d.format).toBe('vorbis');
    expect(d.sampleRate).toBe(44100);
    expect(d.channels.length).toBe(2);
    expect(d.channels.map((c) => c.length)).toEqual([11025, 11025]); // the encoder's padding is trimmed by the granule position
    // Lossy, but aligned with the source sample by sample (about 41 and 40 dB measured).
    expect(snrDb(LEFT, d.channels[0], 1000, 10000)).toBeGreaterThan(30);
    expect(snrDb(RIGHT, d.channels[1], 1000, 10000)).toBeGreaterThan(30);
    expect(readOggStream(fs.readFileSync(VORBIS), VORBIS)).toEqual({ codec: 'vorbis', channels: 2, sampleRate: 44100, preSkip: 0, lastGranule: 11025, pages: 3 });
  });

  it('Opus: the stereo 48 kHz fixture, pre-skip and end padding trimmed, close to its source', async () => {
    const d = await decodeAudioFile(OPUS);
    expect(d.format).toBe('opus');
    expect(d.sampleRate).toBe(48000);
    expect(d.channels.length).toBe(2);
    // 12000 samples: the last granule (12312) less the pre-skip (312); the decoder alone returns 12168.
    expect(d.channels.map((c) => c.length)).toEqual([12000, 12000]);
    expect(readOggStream(fs.readFileSync(OPUS), OPUS)).toEqual({ codec: 'opus', channels: 2, sampleRate: 48000, preSkip: 312, lastGranule: 12312, pages: 3 });
    expect(snrDb(LEFT_48K, d.channels[0], 1000, 11000)).toBeGreaterThan(30);
    expect(snrDb(RIGHT_48K, d.channels[1], 1000, 11000)).toBeGreaterThan(30);
    // The same bytes named .ogg decode the same: the content decides.
    const renamed = await decodeAudioFile(tmp.file('opus.ogg', fs.readFileSync(OPUS)));
    expect(renamed.format).toBe('opus');
    expect(maxAbsDiff(renamed.channels[0], d.channels[0])).toBe(0);
  });

  it('cut, damaged, reordered and chained files fail with one line naming the file, and print nothing', async () => {
    const spy = vi.spyOn(console, 'error');
    const spied = console.error;
    try {
      const vorbis = fs.readFileSync(VORBIS);
      const opus = fs.readFileSync(OPUS);
      const pages = oggPages(opus); // identification, comments, audio
      expect(pages.length).toBe(3);
      const failure = async (name: string, bytes: Uint8Array) => {
        const file = tmp.file(name, bytes);
        const err = await errorOf(decodeAudioFile(file));
        expect(err).toBeInstanceOf(JukeboxError);
        expect(err.message.startsWith(`${file}: `)).toBe(true);
        expect(err.message).not.toContain('\n');
        return err.message.slice(file.length + 2);
      };

      expect(await failure('cut.ogg', vorbis.subarray(0, 5000))).toMatch(/^truncated Ogg file: it ends inside page 2 \(byte \d+\), \d+ of its \d+ bytes missing$/);
      expect(await failure('cut.opus', opus.subarray(0, 3000))).toBe(`truncated Ogg file: it ends inside page 2 (byte ${pages[2][0]}), ${pages[2][1] - 3000} of its ${pages[2][1] - pages[2][0]} bytes missing`);
      expect(await failure('header.opus', opus.subarray(0, 20))).toBe('truncated Ogg file: it ends inside the header of page 0 (byte 0)');
      // Cut exactly between pages: only the missing end-of-stream page tells.
      expect(await failure('at-page.opus', opus.subarray(0, pages[2][0]))).toBe('truncated Ogg file: it ends after page 1 without the end-of-stream page');

      const flipped = Buffer.from(vorbis);
      flipped[vorbis.length - 100] ^= 0x40;
      expect(await failure('flipped.ogg', flipped)).toMatch(/^corrupt Ogg file: page 2 \(byte \d+\) fails its CRC check$/);

      const dropped = Buffer.concat([opus.subarray(0, pages[1][0]), opus.subarray(pages[2][0])]);
      expect(await failure('dropped.opus', dropped)).toBe(`corrupt Ogg file: page 1 (byte ${pages[1][0]}) has sequence number 2: pages are missing`);

      const chained = Buffer.concat([opus, opus]);
      expect(await failure('chained.opus', chained)).toBe('holds more than one Ogg stream (a chained or multiplexed file), which is not supported: split it first');

      // An intact page holding a packet libopus rejects (code 3 with no frames): the decoder's
      // own error, once, in the message; opus-decoder's console.error print is swallowed.
      const invalid = Buffer.from(opus);
      const [start, end] = pages[2];
      const firstPacket = start + 27 + invalid[start + 26];
      invalid[firstPacket] |= 3;
      invalid[firstPacket + 1] = 0;
      resealPage(invalid, start, end);
      expect(await failure('invalid-packet.opus', invalid)).toMatch(/^corrupt Ogg Opus data: libopus -4 .* at frame 0$/);

      const speex = Buffer.from(opus.subarray(0, pages[0][1]));
      speex.write('Speex   ', pages[0][0] + 28, 'latin1');
      resealPage(speex, pages[0][0], pages[0][1]);
      expect(await failure('speex.ogg', speex)).toBe('is an Ogg file of Speex: only Ogg Vorbis and Ogg Opus are read');

      expect(spy).not.toHaveBeenCalled();
      expect(console.error).toBe(spied); // restored after decoding
    } finally {
      spy.mockRestore();
    }
  });

  it('openAudioAsync reads both, to mono at any rate; the synchronous readers point to it', async () => {
    const native = await openAudioAsync(OPUS);
    expect([native.sampleRate, native.length]).toEqual([48000, 12000]);
    const mono = LEFT_48K.map((v, i) => (v + RIGHT_48K[i]) / 2);
    expect(snrDb(mono, native.read(0, native.length), 1000, 11000)).toBeGreaterThan(30);
    const down = await openAudioAsync(OPUS, 44100);
    expect([down.sampleRate, down.length]).toEqual([44100, 11025]);
    const vorbis = await openAudioAsync(VORBIS, 22050);
    expect([vorbis.sampleRate, vorbis.length]).toEqual([22050, 5513]);
    expect(() => openAudio(VORBIS)).toThrow(
      new JukeboxError('is Ogg Vorbis audio, which is decoded asynchronously: open it with openAudioAsync (the synchronous reader takes WAV only)', VORBIS),
    );
    expect(() => openAudioChannels(OPUS)).toThrow(`${OPUS}: is Ogg Opus audio`);
  });
});
