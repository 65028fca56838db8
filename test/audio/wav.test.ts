import * as fs from 'fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openWav, readWav, readWavMono } from '../../src/audio';
import { JukeboxError } from '../../src/errors';
import {
  chunk,
  extensibleFmtBody,
  float32Bytes,
  float64Bytes,
  fmtBody,
  int16Bytes,
  int24Bytes,
  int32Bytes,
  riff,
  simpleWav,
  tempDir,
  u32,
} from './wav-bytes';

const tmp = tempDir('wav');
afterAll(() => tmp.cleanup());

let counter = 0;
function wavFile(bytes: Uint8Array, name = `t${counter++}.wav`): string {
  return tmp.file(name, bytes);
}

const f32 = (values: number[]) => Float32Array.from(values);

/** Asserts `fn` throws a one-line JukeboxError that names `file` and matches `problem`. */
function expectJukeboxError(fn: () => unknown, file: string, problem: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(JukeboxError);
  const err = caught as JukeboxError;
  expect(err.file).toBe(file);
  expect(err.message.startsWith(`${file}: `)).toBe(true);
  expect(err.message).toMatch(problem);
  expect(err.message).not.toContain('\n');
}

describe('reading sample formats', () => {
  it('8-bit unsigned PCM: (x - 128) / 128', () => {
    const file = wavFile(simpleWav(1, 1, 8000, 8, Uint8Array.from([0, 64, 128, 192, 255])));
    const { sampleRate, channels } = readWav(file);
    expect(sampleRate).toBe(8000);
    expect(channels).toHaveLength(1);
    expect(channels[0]).toEqual(f32([-1, -0.5, 0, 0.5, 127 / 128]));
  });

  it('16-bit PCM: x / 32768', () => {
    const file = wavFile(simpleWav(1, 1, 44100, 16, int16Bytes([-32768, -16384, 0, 1, 16384, 32767])));
    expect(readWav(file).channels[0]).toEqual(f32([-1, -0.5, 0, 1 / 32768, 0.5, 32767 / 32768]));
    const reader = openWav(file);
    expect(reader.info).toEqual({ sampleRate: 44100, channels: 1, frames: 6, bitsPerSample: 16, format: 'pcm' });
    reader.close();
  });

  it('24-bit PCM: x / 2^23, sign-extended', () => {
    const values = [-8388608, -4194304, -1, 0, 1, 0x123456, 8388607];
    const file = wavFile(simpleWav(1, 1, 48000, 24, int24Bytes(values)));
    expect(readWav(file).channels[0]).toEqual(f32(values.map((v) => v / 2 ** 23)));
    expect(openWav(file).info.bitsPerSample).toBe(24);
  });

  it('32-bit PCM: x / 2^31', () => {
    const values = [-2147483648, -1073741824, -1, 0, 1, 123456789, 2147483647];
    const file = wavFile(simpleWav(1, 1, 48000, 32, int32Bytes(values)));
    expect(readWav(file).channels[0]).toEqual(f32(values.map((v) => v / 2 ** 31)));
  });

  it('32-bit float, values kept as stored (even outside [-1, 1])', () => {
    const values = [0, 0.25, -0.5, 1, -1, 1.5, 1e-30, 0.1];
    const file = wavFile(simpleWav(3, 1, 22050, 32, float32Bytes(values)));
    expect(readWav(file).channels[0]).toEqual(f32(values));
    expect(openWav(file).info.format).toBe('float');
  });

  it('64-bit float, rounded to float32', () => {
    const values = [0, 0.1, -0.3333333333333333, 0.999999999, -1];
    const file = wavFile(simpleWav(3, 1, 22050, 64, float64Bytes(values)));
    expect(readWav(file).channels[0]).toEqual(f32(values));
    expect(openWav(file).info).toMatchObject({ bitsPerSample: 64, format: 'float', frames: 5 });
  });

  it('3 channels: de-interleaves, and downmixes by averaging', () => {
    // frames: (L, C, R)
    const frames = [
      [1000, 2000, 3000],
      [-32768, 0, 32767],
      [7, -8, 9],
      [0, 0, 0],
    ];
    const file = wavFile(simpleWav(1, 3, 16000, 16, int16Bytes(frames.flat())));
    const { channels } = readWav(file);
    expect(channels).toHaveLength(3);
    for (let c = 0; c < 3; c++) expect(channels[c]).toEqual(f32(frames.map((f) => f[c] / 32768)));
    const mono = readWavMono(file);
    expect(mono.sampleRate).toBe(16000);
    expect(mono.samples).toEqual(f32(frames.map((f) => (f[0] / 32768 + f[1] / 32768 + f[2] / 32768) / 3)));
  });

  it('3-channel 8-bit and 24-bit and float downmix', () => {
    const u8 = wavFile(simpleWav(1, 3, 8000, 8, Uint8Array.from([0, 128, 255, 100, 101, 102])));
    expect(readWavMono(u8).samples).toEqual(f32([(-128 + 0 + 127) / 128 / 3, (-28 - 27 - 26) / 128 / 3]));
    const s24 = wavFile(simpleWav(1, 3, 8000, 24, int24Bytes([8388607, -8388608, 3, 1, 2, 4])));
    expect(readWavMono(s24).samples).toEqual(f32([2 / 2 ** 23 / 3, 7 / 2 ** 23 / 3]));
    const fl = wavFile(simpleWav(3, 3, 8000, 32, float32Bytes([0.5, 0.25, -0.125, 1, 1, 1])));
    expect(readWavMono(fl).samples).toEqual(f32([(0.5 + 0.25 - 0.125) / 3, 1]));
  });

  it('WAVE_FORMAT_EXTENSIBLE with PCM and float sub-formats', () => {
    const pcm = wavFile(riff(chunk('fmt ', extensibleFmtBody(1, 2, 96000, 24)), chunk('data', int24Bytes([100, -100, 8388607, 1]))));
    const reader = openWav(pcm);
    expect(reader.info).toEqual({ sampleRate: 96000, channels: 2, frames: 2, bitsPerSample: 24, format: 'pcm' });
    expect(reader.readChannels(0, 2)).toEqual([f32([100 / 2 ** 23, 8388607 / 2 ** 23]), f32([-100 / 2 ** 23, 1 / 2 ** 23])]);
    expect(reader.readMono(0, 2)).toEqual(f32([0, (8388607 + 1) / 2 ** 23 / 2]));
    reader.close();

    // 20 valid bits in a 24-bit container: the container is read as is (left-justified samples).
    const pcm20 = wavFile(riff(chunk('fmt ', extensibleFmtBody(1, 1, 44100, 24, 20)), chunk('data', int24Bytes([0x7ffff0, -16]))));
    expect(readWavMono(pcm20).samples).toEqual(f32([0x7ffff0 / 2 ** 23, -16 / 2 ** 23]));

    const float = wavFile(riff(chunk('fmt ', extensibleFmtBody(3, 1, 44100, 32)), chunk('data', float32Bytes([0.75, -0.125]))));
    expect(readWavMono(float).samples).toEqual(f32([0.75, -0.125]));
    expect(openWav(float).info.format).toBe('float');
  });

  it('skips unknown chunks before data, honouring the pad byte of odd-sized ones', () => {
    const file = wavFile(
      riff(
        chunk('LIST', Buffer.from('INFOx', 'latin1')), // 5 bytes + pad
        chunk('fmt ', fmtBody(1, 1, 44100, 16)),
        chunk('junk', Buffer.alloc(7, 0xaa)), // 7 bytes + pad
        chunk('bext', Buffer.alloc(10)),
        chunk('data', int16Bytes([1, 2, 3])), // 6 bytes
        chunk('id3 ', Buffer.from('ID3', 'latin1')),
      ),
    );
    expect(readWavMono(file).samples).toEqual(f32([1, 2, 3].map((v) => v / 32768)));
  });

  it('finds a fmt chunk that comes after the data chunk', () => {
    const file = wavFile(riff(chunk('data', int16Bytes([5, -5])), chunk('fmt ', fmtBody(1, 1, 8000, 16))));
    expect(readWavMono(file).samples).toEqual(f32([5 / 32768, -5 / 32768]));
  });

  it('treats a 0xFFFFFFFF data size (written to a pipe) as running to the end of the file', () => {
    const data = int16Bytes([1, 2, 3, 4, 5]);
    const bytes = Buffer.concat([
      Buffer.from('RIFF', 'latin1'),
      u32(0xffffffff),
      Buffer.from('WAVE', 'latin1'),
      chunk('fmt ', fmtBody(1, 2, 8000, 16)),
      Buffer.from('data', 'latin1'),
      u32(0xffffffff),
      data, // 10 bytes = 2.5 stereo frames: the partial frame is dropped
    ]);
    const reader = openWav(wavFile(bytes));
    expect(reader.info.frames).toBe(2);
    expect(reader.readChannels(0, 2)).toEqual([f32([1 / 32768, 3 / 32768]), f32([2 / 32768, 4 / 32768])]);
    reader.close();
  });

  it('reads RF64 with a ds64 chunk', () => {
    const ds64 = Buffer.alloc(28);
    ds64.writeBigUInt64LE(0n, 0); // RIFF size (unused)
    ds64.writeBigUInt64LE(6n, 8); // data size
    ds64.writeBigUInt64LE(3n, 16); // sample count
    const bytes = Buffer.concat([
      Buffer.from('RF64', 'latin1'),
      u32(0xffffffff),
      Buffer.from('WAVE', 'latin1'),
      chunk('ds64', ds64),
      chunk('fmt ', fmtBody(1, 1, 48000, 16)),
      Buffer.from('data', 'latin1'),
      u32(0xffffffff),
      int16Bytes([10, 20, 30]),
    ]);
    expect(readWavMono(wavFile(bytes)).samples).toEqual(f32([10, 20, 30].map((v) => v / 32768)));
  });
});

describe('streaming reads', () => {
  it('reads any window, with zeros outside [0, frames)', () => {
    const values = Array.from({ length: 10 }, (_, i) => (i + 1) * 100);
    const reader = openWav(wavFile(simpleWav(1, 1, 8000, 16, int16Bytes(values))));
    const all = f32(values.map((v) => v / 32768));
    expect(reader.readMono(3, 4)).toEqual(all.slice(3, 7));
    expect(reader.readMono(-3, 5)).toEqual(f32([0, 0, 0, all[0], all[1]]));
    expect(reader.readMono(8, 5)).toEqual(f32([all[8], all[9], 0, 0, 0]));
    expect(reader.readMono(-5, 20)).toEqual(f32([0, 0, 0, 0, 0, ...all, 0, 0, 0, 0, 0]));
    expect(reader.readMono(50, 3)).toEqual(f32([0, 0, 0]));
    expect(reader.readMono(-50, 3)).toEqual(f32([0, 0, 0]));
    expect(reader.readMono(4, 0)).toEqual(f32([]));
    expect(reader.readChannels(9, 2)).toEqual([f32([all[9], 0])]);
    expect(() => reader.readMono(0.5, 2)).toThrow(RangeError);
    expect(() => reader.readMono(0, -1)).toThrow(RangeError);
    reader.close();
    reader.close(); // idempotent
    expect(() => reader.readMono(0, 1)).toThrow(/closed/);
  });

  it('windows spanning the internal read blocks match a whole-file read', () => {
    // 300 000 stereo 16-bit frames = 1.2 MB, more than one 1 MiB read block.
    const frames = 300_000;
    const data = Buffer.alloc(frames * 4);
    for (let i = 0; i < frames; i++) {
      data.writeInt16LE(((i * 7919) % 65536) - 32768, i * 4);
      data.writeInt16LE(((i * 104729) % 65536) - 32768, i * 4 + 2);
    }
    const file = wavFile(simpleWav(1, 2, 44100, 16, data));
    const whole = readWavMono(file).samples;
    expect(whole[123_457]).toBe(Math.fround(((((123_457 * 7919) % 65536) - 32768) / 32768 + (((123_457 * 104729) % 65536) - 32768) / 32768) / 2));
    const reader = openWav(file);
    for (const [start, count] of [[262_000, 1000], [0, frames], [262_143, 2], [299_990, 20], [100, 270_000]]) {
      const expected = new Float32Array(count);
      for (let i = 0; i < count; i++) expected[i] = start + i < frames ? whole[start + i] : 0;
      const got = reader.readMono(start, count);
      expect(got.length).toBe(count);
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
    reader.close();
  });
});

describe('errors name the file and the problem', () => {
  it('random bytes', () => {
    const file = wavFile(Uint8Array.from([0x9c, 0x03, 0xee, 0x41, 0x00, 0x17, 0x88, 0x21, 0x5a, 0x5a, 0x10, 0x01, 0x02]));
    expectJukeboxError(() => openWav(file), file, /not a WAV file \(starts with bytes 9c 03 ee 41\)/);
  });

  it('an MP3 with an ID3 tag', () => {
    const file = wavFile(Buffer.concat([Buffer.from('ID3', 'latin1'), Uint8Array.from([4, 0, 0, 0, 0, 0, 0x23]), Buffer.alloc(100)]), 'song.mp3');
    expectJukeboxError(() => openWav(file), file, /not a WAV file \(starts with 'ID3'.*MP3/);
  });

  it('FLAC, another RIFF type, an empty file, a missing file', () => {
    const flac = wavFile(Buffer.concat([Buffer.from('fLaC', 'latin1'), Buffer.alloc(40)]));
    expectJukeboxError(() => openWav(flac), flac, /not a WAV file \(starts with 'fLaC'.*FLAC/);
    const avi = wavFile(Buffer.concat([Buffer.from('RIFF', 'latin1'), u32(4), Buffer.from('AVI ', 'latin1')]));
    expectJukeboxError(() => openWav(avi), avi, /not a WAV file \(a RIFF file of type 'AVI '\)/);
    const empty = wavFile(Buffer.alloc(0));
    expectJukeboxError(() => openWav(empty), empty, /not a WAV file .*empty/);
    const missing = tmp.file('does-not-exist.wav');
    expectJukeboxError(() => openWav(missing), missing, /no such file/);
    expectJukeboxError(() => openWav(tmp.dir), tmp.dir, /directory/);
  });

  it('truncated data chunk', () => {
    const full = simpleWav(1, 1, 44100, 16, int16Bytes([1, 2, 3, 4, 5, 6, 7, 8]));
    const file = wavFile(full.subarray(0, full.length - 6)); // data declares 16 bytes, 10 remain
    expectJukeboxError(() => openWav(file), file, /truncated: the data chunk declares 16 bytes but only 10 follow/);
  });

  it('truncated chunk before data', () => {
    const file = wavFile(riff(chunk('fmt ', fmtBody(1, 1, 8000, 16)), chunk('LIST', Buffer.alloc(4), 4000)));
    expectJukeboxError(() => openWav(file), file, /truncated: the 'LIST' chunk declares 4000 bytes but only 4 follow/);
  });

  it('garbage chunk ids stay on one line', () => {
    const bytes = riff(chunk('fmt ', fmtBody(1, 1, 8000, 16)), Buffer.from([0x0a, 0x00, 0x61, 0x62]), u32(99999));
    const file = wavFile(bytes);
    expectJukeboxError(() => openWav(file), file, /truncated: the '\\x0a\\x00ab' chunk declares 99999 bytes but only 0 follow/);
  });

  it('zero-length data', () => {
    const file = wavFile(simpleWav(1, 2, 44100, 16, Buffer.alloc(0)));
    expectJukeboxError(() => openWav(file), file, /contains no audio samples/);
  });

  it('missing fmt chunk, missing data chunk', () => {
    const noFmt = wavFile(riff(chunk('LIST', Buffer.alloc(4)), chunk('data', int16Bytes([1, 2]))));
    expectJukeboxError(() => openWav(noFmt), noFmt, /no 'fmt ' chunk \(chunks found: 'LIST', 'data'\)/);
    const noData = wavFile(riff(chunk('fmt ', fmtBody(1, 1, 8000, 16))));
    expectJukeboxError(() => openWav(noData), noData, /no 'data' chunk/);
    const nothing = wavFile(riff());
    expectJukeboxError(() => openWav(nothing), nothing, /no 'fmt ' chunk \(no chunks found\)/);
  });

  it('unsupported format codes and bit depths', () => {
    const mp3 = wavFile(simpleWav(0x55, 1, 44100, 16, int16Bytes([1])));
    expectJukeboxError(() => openWav(mp3), mp3, /unsupported WAV format code 0x0055 \(MPEG Layer 3\)/);
    const ulaw = wavFile(simpleWav(7, 1, 8000, 8, Uint8Array.from([1, 2])));
    expectJukeboxError(() => openWav(ulaw), ulaw, /format code 0x0007 \(mu-law\)/);
    const b12 = wavFile(simpleWav(1, 1, 8000, 12, Uint8Array.from([1, 2, 3, 4])));
    expectJukeboxError(() => openWav(b12), b12, /unsupported bit depth: 12-bit PCM/);
    const f16 = wavFile(simpleWav(3, 1, 8000, 16, int16Bytes([1, 2])));
    expectJukeboxError(() => openWav(f16), f16, /unsupported bit depth: 16-bit float/);
    const badGuid = extensibleFmtBody(1, 1, 8000, 16);
    badGuid[30] ^= 0xff;
    const guid = wavFile(riff(chunk('fmt ', badGuid), chunk('data', int16Bytes([1]))));
    expectJukeboxError(() => openWav(guid), guid, /unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID/);
    const shortFmt = wavFile(riff(chunk('fmt ', Buffer.alloc(10)), chunk('data', int16Bytes([1]))));
    expectJukeboxError(() => openWav(shortFmt), shortFmt, /'fmt ' chunk is 10 bytes, too short/);
  });

  it('data size not a multiple of the frame size', () => {
    const file = wavFile(simpleWav(1, 3, 8000, 16, int16Bytes([1, 2, 3, 4])));
    expectJukeboxError(() => openWav(file), file, /data chunk holds 8 bytes, not a whole number of 6-byte frames/);
  });

  it('zero channels, zero sample rate, inconsistent block align', () => {
    const noCh = fmtBody(1, 1, 8000, 16);
    noCh.writeUInt16LE(0, 2);
    noCh.writeUInt16LE(0, 12);
    const f0 = wavFile(riff(chunk('fmt ', noCh), chunk('data', int16Bytes([1]))));
    expectJukeboxError(() => openWav(f0), f0, /zero channels/);
    const f1 = wavFile(simpleWav(1, 1, 0, 16, int16Bytes([1])));
    expectJukeboxError(() => openWav(f1), f1, /sample rate of 0 Hz/);
    const badAlign = fmtBody(1, 2, 8000, 16);
    badAlign.writeUInt16LE(2, 12);
    const f2 = wavFile(riff(chunk('fmt ', badAlign), chunk('data', int16Bytes([1, 2]))));
    expectJukeboxError(() => openWav(f2), f2, /block align is 2 bytes but 2 channel\(s\) of 16-bit samples take 4/);
  });

  it('big-endian RIFX', () => {
    const bytes = Buffer.from(simpleWav(1, 1, 8000, 16, int16Bytes([1])));
    bytes.write('RIFX', 0, 'latin1');
    const file = wavFile(bytes);
    expectJukeboxError(() => openWav(file), file, /big-endian \(RIFX\)/);
  });

  it.skipIf(!fs.existsSync('/proc/self/fd'))('leaves no file descriptor open after a failed open', () => {
    const file = wavFile(simpleWav(1, 1, 8000, 16, Buffer.alloc(0)));
    const before = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) expect(() => openWav(file)).toThrow(JukeboxError);
    expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(before);
  });
});
