import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { convArena } from '../../src/vqvae/fast/conv-arena';
import { ConvRun } from '../../src/vqvae/fast/conv-runner';
import { Conv1d } from '../../src/vqvae/layers';
import { ParameterRegistry, WeightMap } from '../../src/vqvae/weights';
import { useBackend } from '../helpers';

/**
 * The Winograd F(4,3) path of the fast VQ-VAE's same-length 3-tap convolutions (conv-kernels.wat
 * `winograd`, `ConvRun.conv` when encoding) against the same convolution in double precision,
 * beside the direct kernel's own error on the same rows: a 3-tap conv of the 5b VQ-VAE's width (64
 * channels) at each of its residual blocks' dilations, on inputs of both signs, on rows that end
 * in a partial group (left to the direct kernel), on one thread and shared with a worker thread
 * (the same bits).
 *
 * Measured (relative L2 error; largest error over largest output): F(4,3) 5.1–5.2e-7 and
 * 1.2–1.4e-6, the direct kernel 2.5e-7 and 4.1–6.0e-7.
 */

beforeAll(useBackend);

const savedThreads = process.env.JUKEBOX_VQVAE_THREADS;
afterEach(() => {
  if (savedThreads === undefined) delete process.env.JUKEBOX_VQVAE_THREADS;
  else process.env.JUKEBOX_VQVAE_THREADS = savedThreads;
});

/** Deterministic values in [-1, 1). */
function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return new Float32Array(n).map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

interface Errors {
  /** ‖got − exact‖ / ‖exact‖. */
  relativeL2: number;
  /** max |got − exact| / max |exact|. */
  relativeMax: number;
}

function errors(got: Float32Array, exact: Float64Array): Errors {
  let num = 0;
  let den = 0;
  let maxErr = 0;
  let maxAbs = 0;
  for (let i = 0; i < exact.length; i++) {
    num += (got[i] - exact[i]) ** 2;
    den += exact[i] ** 2;
    maxErr = Math.max(maxErr, Math.abs(got[i] - exact[i]));
    maxAbs = Math.max(maxAbs, Math.abs(exact[i]));
  }
  return { relativeL2: Math.sqrt(num / den), relativeMax: maxErr / maxAbs };
}

/** b + Σ x · w with zero padding, in double precision: `[rows, channels]`. */
function exactConv(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, channels: number, dilation: number): Float64Array {
  const y = new Float64Array(rows * channels);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < channels; o++) {
      let s = b[o];
      for (let tap = 0; tap < 3; tap++) {
        const src = t + (tap - 1) * dilation;
        if (src < 0 || src >= rows) continue;
        for (let i = 0; i < channels; i++) s += x[src * channels + i] * w[(o * channels + i) * 3 + tap];
      }
      y[t * channels + o] = s;
    }
  }
  return y;
}

describe('Winograd F(4,3) 3-tap convolutions', () => {
  const channels = 64;
  const rows = 4 * 27 * 5 + 37; // whole groups at every dilation, then a partial one

  it('stay within 3 times the direct kernel\'s error, on any number of threads', () => {
    const arena = convArena()!;
    const mark = arena.used;
    const registry = new ParameterRegistry();
    const weights = new WeightMap();
    try {
      for (const dilation of [1, 3, 9, 27]) {
        const layer = new Conv1d(registry, `conv${dilation}`, channels, channels, 3, 1, dilation, dilation);
        // Variance-preserving weights, small biases: each output about as large as each input.
        const w = noise(channels * channels * 3, dilation).map((v) => v * Math.sqrt(2 / channels));
        const b = noise(channels, 100 + dilation).map((v) => 0.1 * v);
        weights.set(layer.weight, tf.tensor3d(w, [channels, channels, 3]));
        weights.set(layer.bias, tf.tensor1d(b));
        const x = noise(rows * channels, 200 + dilation);
        const exact = exactConv(x, w, b, rows, channels, dilation);

        const winograd = (threads: string) => {
          process.env.JUKEBOX_VQVAE_THREADS = threads;
          const run = new ConvRun(arena, weights, 32);
          const input = run.act(rows, channels);
          arena.f32.set(x, input.ptr / 4);
          const y = run.conv(layer, input);
          return { run, input, y: arena.f32.slice(y.ptr / 4, y.ptr / 4 + rows * channels) };
        };
        const shared = winograd('2').y;
        const { run, input, y } = winograd('1');
        expect(shared).toEqual(y);
        // The direct kernel on the same rows.
        const packed = run.pack(3, channels, channels, (tap, i, o) => w[(o * channels + i) * 3 + tap], (o) => b[o]);
        const direct = run.act(rows, channels);
        arena.k.conv(packed.w, packed.b, input.ptr - dilation * input.rowBytes, input.rowBytes, dilation * input.rowBytes, 3, channels,
          direct.ptr, direct.rowBytes, channels / 8, rows, -Infinity, 0);
        const directY = arena.f32.slice(direct.ptr / 4, direct.ptr / 4 + rows * channels);
        expect(directY).not.toEqual(y); // the Winograd path was taken
        const got = errors(y, exact);
        const base = errors(directY, exact);
        expect(got.relativeL2).toBeLessThan(3 * base.relativeL2);
        expect(got.relativeMax).toBeLessThan(4 * base.relativeMax);
        arena.release(mark);
      }
    } finally {
      arena.release(mark);
      weights.dispose();
    }
  });
});
