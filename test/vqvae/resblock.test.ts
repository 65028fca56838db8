import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { convArena } from '../../src/vqvae/fast/conv-arena';
import { ConvRun } from '../../src/vqvae/fast/conv-runner';
import { randomVQVAE } from '../../src/vqvae/init';
import type { Conv1d } from '../../src/vqvae/layers';
import { useBackend } from '../helpers';

/**
 * The decoder's fused residual blocks (conv-kernels.wat `resblock`, `ConvRun.resnet` without
 * Winograd) against the same blocks run convolution by convolution through the `conv` kernel: the
 * same bits, for a residual stack of the `small` preset's level-1 decoder (three blocks, dilations
 * 9, 3 and 1, so the result ends in the second activation and is copied back) on rows that are no
 * multiple of the kernel's 32-row tiles, on one thread and shared with worker threads.
 */

beforeAll(useBackend);

const savedThreads = process.env.JUKEBOX_VQVAE_THREADS;
afterEach(() => {
  if (savedThreads === undefined) delete process.env.JUKEBOX_VQVAE_THREADS;
  else process.env.JUKEBOX_VQVAE_THREADS = savedThreads;
});

describe('fused residual blocks', () => {
  it.each([
    ['one thread', '1'],
    ['with two worker threads', '3'],
  ])('equal the convolutions one by one, %s', (_label, threads) => {
    process.env.JUKEBOX_VQVAE_THREADS = threads;
    const model = randomVQVAE(vqvaePreset('small'), 3);
    const arena = convArena()!;
    const mark = arena.used;
    try {
      const resnet = model.decoders[1].blocks[0].ups[0].resnet; // level 1: depth × multiplier 1
      expect(resnet.blocks.length % 2).toBe(1);
      const channels = resnet.blocks[0].conv3.nIn;
      const rows = 32 * 300 + 17; // enough multiply-adds to share out
      const values = new Float32Array(rows * channels).map((_, i) => Math.sin(i * 0.37) + 0.3 * Math.sin(i * 0.011));
      const run = new ConvRun(arena, model.weights, 256, arena.threads(), false);
      const load = () => {
        const act = run.act(rows, channels);
        for (let t = 0; t < rows; t++) arena.f32.set(values.subarray(t * channels, (t + 1) * channels), (act.ptr + t * act.rowBytes) / 4);
        return act;
      };
      const fused = load();
      run.resnet(resnet, fused);
      // Conv by conv: relu(x) copied (a negative zero kept, as f32x4.pmax keeps it), conv3 with its
      // output ReLU into h, conv1 added to x.
      const separate = load();
      const relu = run.act(rows, channels);
      const h = run.act(rows, resnet.blocks[0].conv3.nOut);
      const packed = (layer: Conv1d) => {
        const w = model.weights.get(layer.weight).dataSync() as Float32Array;
        const b = model.weights.get(layer.bias).dataSync() as Float32Array;
        return run.pack(layer.kernel, layer.nIn, layer.nOut, (tap, i, o) => w[(o * layer.nIn + i) * layer.kernel + tap], (o) => b[o]);
      };
      for (const { conv3, conv1 } of resnet.blocks) {
        const [w3, w1] = [packed(conv3), packed(conv1)];
        const f = arena.f32;
        for (let i = separate.ptr / 4; i < (separate.ptr + rows * separate.rowBytes) / 4; i++) {
          f[i - separate.ptr / 4 + relu.ptr / 4] = f[i] < 0 ? 0 : f[i];
        }
        const d = conv3.dilation;
        arena.k.conv(w3.w, w3.b, relu.ptr - d * relu.rowBytes, relu.rowBytes, d * relu.rowBytes, 3, channels, h.ptr, h.rowBytes,
          h.rowBytes / 32, rows, 0, 0);
        arena.k.conv(w1.w, w1.b, h.ptr, h.rowBytes, 0, 1, conv1.nIn, separate.ptr, separate.rowBytes, separate.rowBytes / 32, rows, -Infinity, 1);
      }
      const read = (ptr: number) => arena.f32.slice(ptr / 4, ptr / 4 + rows * fused.rowBytes / 4);
      const got = read(fused.ptr);
      expect(got).toEqual(read(separate.ptr));
      expect(got).not.toEqual(values); // the blocks did something
    } finally {
      arena.release(mark);
      model.dispose();
    }
  });
});
