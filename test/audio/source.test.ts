import { afterAll, describe, expect, it } from 'vitest';
import {
  AudioSource,
  Resampler,
  arraySource,
  openAudio,
  openAudioAsync,
  openAudioChannels,
  readWav,
  readWavMono,
  resample,
  resampleSource,
  writeWav,
} from '../../src/audio';
import { JukeboxError } from '../../src/errors';
import { tempDir } from './wav-bytes';

const tmp = tempDir('source');
afterAll(() => tmp.cleanup());

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function signal(n: number, rate: number, f: number, phase = 0): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * f * i) / rate + phase) + 0.1 * Math.sin(i * 0.37);
  return x;
}

/** Reads [start, end) of `src` as a sequence of reads of pseudo-random sizes, and joins them. */
function readInChunks(src: AudioSource, start: number, end: number, seed: number): Float32Array {
  const out = new Float32Array(end - start);
  let s = seed;
  for (let at = start; at < end; ) {
    s = (s * 48271) % 2147483647;
    const size = Math.min(1 + (s % 3000), end - at);
    out.set(src.read(at, at + size), at - start);
    at += size;
  }
  return out;
}

describe('arraySource', () => {
  it('reads ranges with zeros outside [0, length)', () => {
    const src = arraySource(Float32Array.from([1, 2, 3, 4]), 8000);
    expect(src.sampleRate).toBe(8000);
    expect(src.length).toBe(4);
    expect(src.read(1, 3)).toEqual(Float32Array.from([2, 3]));
    expect(src.read(-2, 2)).toEqual(Float32Array.from([0, 0, 1, 2]));
    expect(src.read(3, 7)).toEqual(Float32Array.from([4, 0, 0, 0]));
    expect(src.read(9, 9)).toEqual(new Float32Array(0));
    expect(() => src.read(3, 2)).toThrow(RangeError);
    expect(() => src.read(0.5, 2)).toThrow(RangeError);
  });
});

describe('openAudio', () => {
  it('stereo 48 kHz WAV → mono 44.1 kHz: chunked reads equal the one-shot resample exactly', async () => {
    const file = tmp.file('stereo48k.wav');
    const n = 48000; // 1 s
    await writeWav(file, [signal(n, 48000, 440), signal(n, 48000, 3000, 1)], 48000);
    const oneShot = resample(readWavMono(file).samples, 48000, 44100);

    const src = openAudio(file, 44100);
    expect(src.sampleRate).toBe(44100);
    expect(src.length).toBe(44100);
    expect(oneShot.length).toBe(44100);
    expect(sameBits(readInChunks(src, 0, src.length, 7), oneShot)).toBe(true);
    expect(sameBits(src.read(0, src.length), oneShot)).toBe(true);
    // Padded windows: zeros outside [0, length), the signal inside.
    const padded = readInChunks(src, -1000, src.length + 1000, 99);
    expect(sameBits(padded.subarray(1000, 1000 + src.length), oneShot)).toBe(true);
    expect(padded.subarray(0, 1000)).toEqual(new Float32Array(1000));
    expect(padded.subarray(1000 + src.length)).toEqual(new Float32Array(1000));
    src.close();
    src.close();
    expect(() => src.read(0, 10)).toThrow(/closed/);
  });

  it('at the file rate it is the mono downmix, read lazily', async () => {
    const file = tmp.file('mono22k.wav');
    const x = signal(5000, 22050, 700);
    await writeWav(file, [x, x.map((v) => -v / 2)], 22050, { format: 'pcm16' });
    const mono = readWavMono(file).samples;
    const src = openAudio(file);
    expect(src.sampleRate).toBe(22050);
    expect(src.length).toBe(5000);
    expect(sameBits(readInChunks(src, -10, 5010, 3).subarray(10, 5010), mono)).toBe(true);
    src.close();
    const same = openAudio(file, 22050);
    expect(sameBits(same.read(100, 200), mono.subarray(100, 200))).toBe(true);
    same.close();
  });

  it('upsamples too (22.05 kHz → 44.1 kHz), chunked = one-shot', async () => {
    const file = tmp.file('up.wav');
    await writeWav(file, signal(3001, 22050, 2000), 22050);
    const src = openAudio(file, 44100);
    const oneShot = resample(readWavMono(file).samples, 22050, 44100);
    expect(src.length).toBe(6002);
    expect(sameBits(readInChunks(src, 0, src.length, 5), oneShot)).toBe(true);
    src.close();
  });

  it('bad files fail with the JukeboxError of the WAV reader', async () => {
    const file = tmp.file('fake.wav', Buffer.from('OggS not really audio', 'latin1'));
    expect(() => openAudio(file, 44100)).toThrow(JukeboxError);
    expect(() => openAudio(file, 44100)).toThrow(`${file}: not a WAV file (starts with 'OggS'; it looks like Ogg audio`);
    const missing = tmp.file('missing.wav');
    expect(() => openAudio(missing)).toThrow(new JukeboxError('no such file', missing));
  });

  it('what looks like MP3 or FLAC is pointed to openAudioAsync', async () => {
    const file = tmp.file('fake.wav', Buffer.from('ID3\u0004\u0000 not really audio', 'latin1'));
    expect(() => openAudio(file, 44100)).toThrow(
      new JukeboxError('is MP3 audio, which is decoded asynchronously: open it with openAudioAsync (the synchronous reader takes WAV only)', file),
    );
    await expect(openAudioAsync(file, 44100)).rejects.toThrow(`${file}: not a decodable MP3 file`);
  });
});

describe('resampleSource', () => {
  it('asks its input only for the span each read needs (memory bounded by the request)', () => {
    const inner = arraySource(signal(480_000, 48000, 440), 48000); // 10 s
    const requests: number[] = [];
    const counting: AudioSource = {
      sampleRate: inner.sampleRate,
      length: inner.length,
      read(start, end) {
        requests.push(end - start);
        return inner.read(start, end);
      },
      close() {},
    };
    const src = resampleSource(counting, 44100);
    expect(src.length).toBe(441_000);
    const out = src.read(200_000, 204_096);
    expect(out.length).toBe(4096);
    expect(requests).toHaveLength(1);
    // 4096 outputs need 4096 · 160/147 ≈ 4458 input frames plus the ±70-frame filter window.
    expect(requests[0]).toBeLessThanOrEqual(Math.ceil((4096 * 160) / 147) + 2 * 70 + 2);
    expect(sameBits(out, new Resampler(48000, 44100).resampleRange(inner.read(0, inner.length), 0, 200_000, 204_096, inner.length))).toBe(true);
  });

  it('is the source itself when the rates match', () => {
    const s = arraySource(new Float32Array(4), 16000);
    expect(resampleSource(s, 16000)).toBe(s);
  });
});

describe('openAudioChannels', () => {
  it('keeps the channels apart, each exactly as resampleSource would give it, with reads sharing one disk read', async () => {
    const file = tmp.file('three.wav');
    const n = 9600;
    const chans = [signal(n, 48000, 440), signal(n, 48000, 3000, 1), signal(n, 48000, 1234, 2)];
    await writeWav(file, chans, 48000);
    const src = openAudioChannels(file, 22050);
    expect([src.sampleRate, src.length, src.channels]).toEqual([22050, 4410, 3]);
    const whole = src.read(-100, src.length + 100);
    const fromDisk = readWav(file).channels;
    for (let c = 0; c < 3; c++) {
      const alone = resampleSource(arraySource(fromDisk[c], 48000), 22050);
      expect(sameBits(whole[c], alone.read(-100, alone.length + 100))).toBe(true);
    }
    // Pieces equal the whole; arrays handed out are the caller's (changing one changes nothing else).
    const a = src.read(1000, 2000);
    a[0].fill(9);
    const b = src.read(1000, 2000);
    expect(sameBits(b[0], whole[0].subarray(1100, 2100))).toBe(true);
    expect(sameBits(b[2], whole[2].subarray(1100, 2100))).toBe(true);
    src.close();
    src.close();
    expect(() => src.read(0, 10)).toThrow('closed');

    const native = openAudioChannels(file);
    expect([native.sampleRate, native.length]).toEqual([48000, n]);
    expect(sameBits(native.read(0, n)[1], fromDisk[1])).toBe(true);
    native.close();
  });
});
