import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { randomVQVAE } from '../../src/vqvae/init';
import { decodeChunked, encodeChunked, planChunks, SampleSource } from '../../src/vqvae/streaming';
import { VQVAE } from '../../src/vqvae/vqvae';
import { musicLike, tensorLeak, useBackend } from '../helpers';

function memorySource(samples: Float32Array, sampleRate: number): SampleSource & { reads: number[][] } {
  const reads: number[][] = [];
  return {
    sampleRate,
    length: samples.length,
    reads,
    read(start, end) {
      reads.push([start, end]);
      const out = new Float32Array(end - start);
      const from = Math.max(0, start);
      const to = Math.min(samples.length, end);
      if (to > from) out.set(samples.subarray(from, to), from - start);
      return out;
    },
  };
}

let model: VQVAE;
beforeAll(async () => {
  await useBackend();
  model = randomVQVAE(vqvaePreset('tiny'), 7);
});
afterAll(() => model.dispose());

describe('planChunks', () => {
  it('covers the range once, with clamped context', () => {
    expect(planChunks(10, 4, 3)).toEqual([
      { start: 0, end: 4, windowStart: 0, windowEnd: 7 },
      { start: 4, end: 8, windowStart: 1, windowEnd: 10 },
      { start: 8, end: 10, windowStart: 5, windowEnd: 10 },
    ]);
  });
});

describe('chunked encode', () => {
  // 3 s at 22.05 kHz, a length that is not a multiple of the top hop.
  const audio = musicLike(66_150 + 7, 22050, 3);

  it('gives exactly the codes of a whole-file encode at every level', async () => {
    const whole = tf.tidy(() => model.encode(tf.tensor3d(audio, [1, audio.length, 1])));
    const wholeCodes = whole.map((z) => Array.from(z.dataSync()));
    whole.forEach((z) => z.dispose());
    // Chunks far smaller than the song, so there are many boundaries (reach at level 0 is 247 samples).
    const source = memorySource(audio, 22050);
    const chunked = await encodeChunked(model, source, [0, 1, 2], { chunkSamples: 4000 });
    expect(source.reads.length).toBeGreaterThan(10);
    for (let level = 0; level < 3; level++) {
      expect(chunked[level].length).toBe(Math.floor(audio.length / model.hopLengths[level]));
      expect(Array.from(chunked[level])).toEqual(wholeCodes[level]);
    }
    // Every read is bounded by the chunk plus context, never the song.
    const longest = Math.max(...source.reads.map(([s, e]) => e - s));
    expect(longest).toBeLessThanOrEqual(4000 + 2 * 256 + 16);
  });

  it('encodes a subset of levels and leaks no tensors', async () => {
    const source = memorySource(audio.subarray(0, 20_000), 22050);
    let codes: Int32Array[] = [];
    expect(await tensorLeak(async () => (codes = await encodeChunked(model, source, [2, 0], { chunkSamples: 4096 })))).toBe(0);
    expect(codes.map((c) => c.length)).toEqual([1250, 5000]);
  });

  it('refuses audio at the wrong rate', async () => {
    await expect(encodeChunked(model, memorySource(audio, 44100))).rejects.toThrow(/44100 Hz but the model expects 22050 Hz/);
  });
});

describe('chunked decode', () => {
  it('gives the audio of a whole decode at every level', async () => {
    const codes = new Int32Array(1500).map((_, i) => (i * 37 + (i >> 3)) % model.config.l_bins);
    for (let level = 0; level < 3; level++) {
      const whole = tf.tidy(() => model.decode(tf.tensor2d(codes, [1, codes.length], 'int32'), level));
      const expected = whole.dataSync() as Float32Array;
      const pieces: Float32Array[] = [];
      await decodeChunked(model, codes, level, (a) => void pieces.push(a), { chunkSamples: 1000 });
      expect(pieces.length).toBeGreaterThan(2);
      const got = new Float32Array(pieces.reduce((n, p) => n + p.length, 0));
      let offset = 0;
      for (const p of pieces) got.set(p, (offset += p.length) - p.length);
      expect(got.length).toBe(codes.length * model.hopLengths[level]);
      let maxDiff = 0;
      got.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - expected[i]))));
      expect(maxDiff).toBeLessThan(1e-5);
      whole.dispose();
    }
  });

  it('rejects codes outside the codebook', async () => {
    await expect(decodeChunked(model, new Int32Array([1, 2, 64]), 0, () => {})).rejects.toThrow(/code 64 at token 2 is outside the codebook/);
  });
});

describe('on worker threads', () => {
  it('encodes and decodes exactly as the main thread does', async () => {
    const { VQVAEWorkerPool } = await import('../../src/vqvae/worker-pool');
    const pool = await VQVAEWorkerPool.start(model, 2);
    try {
      const audio = musicLike(30_000, 22050, 8);
      const local = await encodeChunked(model, memorySource(audio, 22050), [0, 1, 2], { chunkSamples: 4096 });
      const parallel = await encodeChunked(model, memorySource(audio, 22050), [0, 1, 2], { chunkSamples: 4096, pool });
      parallel.forEach((codes, level) => expect(Array.from(codes)).toEqual(Array.from(local[level])));
      const collect = async (usePool: boolean) => {
        const pieces: number[] = [];
        await decodeChunked(model, local[1], 1, (a) => void pieces.push(...a), { chunkSamples: 2048, pool: usePool ? pool : undefined });
        return pieces;
      };
      expect(await collect(true)).toEqual(await collect(false));
    } finally {
      await pool.close();
    }
  });
});
