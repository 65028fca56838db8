import * as fs from 'fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openWav, readWav, writeWav, writeWavStream } from '../../src/audio';
import { JukeboxError } from '../../src/errors';
import { tempDir } from './wav-bytes';

const tmp = tempDir('wav-write');
afterAll(() => tmp.cleanup());

let counter = 0;
const target = (name = `out${counter++}.wav`) => tmp.file(name);

/** Files in the temp dir, including hidden temporaries. */
const listing = () => fs.readdirSync(tmp.dir).sort();

function noise(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    x[i] = (s / 4294967296) * 2 - 1;
  }
  return x;
}

describe('writeWav', () => {
  it('float32 round-trips bit for bit, mono and multi-channel', async () => {
    const mono = noise(1001, 1);
    mono[0] = 1.75; // float keeps out-of-range values
    mono[1] = -0;
    const file = target();
    await writeWav(file, mono, 44100, { format: 'float32' });
    const back = readWav(file);
    expect(back.sampleRate).toBe(44100);
    expect(back.channels).toEqual([mono]);
    const reader = openWav(file);
    expect(reader.info).toEqual({ sampleRate: 44100, channels: 1, frames: 1001, bitsPerSample: 32, format: 'float' });
    reader.close();

    const planes = [noise(500, 2), noise(500, 3), noise(500, 4)];
    const file3 = target();
    await writeWav(file3, planes, 48000); // float32 is the default
    expect(readWav(file3)).toEqual({ sampleRate: 48000, channels: planes });
  });

  it('writes a standard header: float with a fact chunk, PCM with a 16-byte fmt', async () => {
    const file = target();
    await writeWav(file, [new Float32Array(3), new Float32Array(3)], 22050);
    const b = fs.readFileSync(file);
    expect(b.toString('latin1', 0, 4)).toBe('RIFF');
    expect(b.readUInt32LE(4)).toBe(b.length - 8);
    expect(b.toString('latin1', 8, 16)).toBe('WAVEfmt ');
    expect(b.readUInt32LE(16)).toBe(18);
    expect(b.readUInt16LE(20)).toBe(3); // IEEE float
    expect(b.readUInt16LE(22)).toBe(2);
    expect(b.readUInt32LE(24)).toBe(22050);
    expect(b.readUInt32LE(28)).toBe(22050 * 8);
    expect(b.readUInt16LE(32)).toBe(8);
    expect(b.readUInt16LE(34)).toBe(32);
    expect(b.toString('latin1', 38, 42)).toBe('fact');
    expect(b.readUInt32LE(46)).toBe(3);
    expect(b.toString('latin1', 50, 54)).toBe('data');
    expect(b.readUInt32LE(54)).toBe(24);
    expect(b.length).toBe(58 + 24);

    const pcm = target();
    await writeWav(pcm, new Float32Array(5), 8000, { format: 'pcm16' });
    const p = fs.readFileSync(pcm);
    expect(p.readUInt32LE(16)).toBe(16);
    expect(p.readUInt16LE(20)).toBe(1);
    expect(p.toString('latin1', 36, 40)).toBe('data');
    expect(p.readUInt32LE(40)).toBe(10);
    expect(p.length).toBe(44 + 10);
  });

  it('pcm16 reads back within 1/32768, clipping to [-1, 1] and rounding', async () => {
    const x = noise(4000, 5);
    x.set([1, -1, 1.5, -3, 0.5, 1e-6, -0.99999], 0);
    const file = target();
    await writeWav(file, x, 16000, { format: 'pcm16' });
    const y = readWav(file).channels[0];
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) {
      const clipped = Math.max(-1, Math.min(1, x[i]));
      expect(Math.abs(y[i] - clipped)).toBeLessThanOrEqual(1 / 32768);
    }
    // 1 → 32767 (clamped), 1.5 and -3 clip, 1e-6 rounds to 0, -0.99999 · 32768 rounds to -32768.
    expect(Array.from(y.subarray(0, 7))).toEqual([32767 / 32768, -1, 32767 / 32768, -1, 0.5, 0, -1]);
    const raw = fs.readFileSync(file);
    expect(raw.readInt16LE(44 + 2 * 4)).toBe(16384); // 0.5 → exactly 16384
  });

  it('rejects NaN/Infinity, ragged channels and bad rates without leaving a file', async () => {
    const before = listing();
    const x = new Float32Array(10);
    x[7] = NaN;
    const file = target();
    await expect(writeWav(file, x, 8000)).rejects.toThrow(/sample 7 of channel 0 is NaN/);
    await expect(writeWav(file, [new Float32Array(3), new Float32Array(4)], 8000)).rejects.toThrow(JukeboxError);
    await expect(writeWav(file, new Float32Array(3), 0)).rejects.toThrow(/sample rate 0/);
    await expect(writeWav(file, [], 8000)).rejects.toThrow(/no channels/);
    expect(listing()).toEqual(before);
  });
});

describe('writeWavStream', () => {
  it('writes chunks that read back as the whole signal', async () => {
    const left = noise(10_000, 6);
    const right = noise(10_000, 7);
    const file = target();
    await writeWavStream(file, { sampleRate: 44100, channels: 2, frames: 10_000, format: 'float32' }, async (write) => {
      let at = 0;
      for (const size of [1, 999, 0, 4000, 5000]) {
        write([left.subarray(at, at + size), right.subarray(at, at + size)]);
        at += size;
        await new Promise((r) => setImmediate(r));
      }
    });
    expect(readWav(file).channels).toEqual([left, right]);
    // Same bytes as the one-shot writer.
    const oneShot = target();
    await writeWav(oneShot, [left, right], 44100);
    expect(fs.readFileSync(file).equals(fs.readFileSync(oneShot))).toBe(true);
  });

  it('a callback that throws leaves no file and no temporary file', async () => {
    const before = listing();
    const file = target('never.wav');
    await expect(
      writeWavStream(file, { sampleRate: 8000, channels: 1, frames: 100, format: 'pcm16' }, async (write) => {
        write(new Float32Array(50));
        await new Promise((r) => setImmediate(r));
        throw new Error('model crashed');
      }),
    ).rejects.toThrow('model crashed');
    expect(fs.existsSync(file)).toBe(false);
    expect(listing()).toEqual(before);
  });

  it('a failed write over an existing file leaves the old file intact', async () => {
    const file = target('keep.wav');
    const old = noise(64, 8);
    await writeWav(file, old, 8000);
    const oldBytes = fs.readFileSync(file);
    const before = listing();
    await expect(
      writeWavStream(file, { sampleRate: 8000, channels: 1, frames: 1000 }, (write) => {
        write(new Float32Array(600));
        throw new Error('interrupted');
      }),
    ).rejects.toThrow('interrupted');
    expect(fs.readFileSync(file).equals(oldBytes)).toBe(true);
    expect(listing()).toEqual(before);
  });

  it('checks the frame count and the chunk shapes', async () => {
    const before = listing();
    const file = target();
    const spec = { sampleRate: 8000, channels: 2, frames: 10 };
    const two = (n: number) => [new Float32Array(n), new Float32Array(n)];
    await expect(writeWavStream(file, spec, (write) => write(two(9)))).rejects.toThrow(
      /wrote 9 frames but its header declares 10/,
    );
    await expect(writeWavStream(file, spec, (write) => write(two(11)))).rejects.toThrow(/more than the 10 frames/);
    await expect(writeWavStream(file, spec, (write) => write(new Float32Array(10)))).rejects.toThrow(/one array per channel/);
    await expect(writeWavStream(file, spec, (write) => write([new Float32Array(10)]))).rejects.toThrow(/got 1 channel arrays/);
    await expect(
      writeWavStream(file, spec, (write) => write([new Float32Array(10), new Float32Array(9)])),
    ).rejects.toThrow(/differ in length/);
    await expect(writeWavStream(file, { ...spec, frames: 4e9 }, () => {})).rejects.toThrow(/4 GiB/);
    expect(listing()).toEqual(before);

    let saved: ((c: Float32Array[]) => void) | undefined;
    await writeWavStream(file, spec, (write) => {
      write(two(10));
      saved = write;
    });
    expect(() => saved!(two(1))).toThrow(/after the WAV stream finished/);
  });
});
