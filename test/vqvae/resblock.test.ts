import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { convArena } from '../../src/vqvae/fast/conv-arena';
import { ConvRun } from '../../src/vqvae/fast/conv-runner';
import { randomVQVAE } from '../../src/vqvae/init';
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
      const separate = load();
      const h = run.act(rows, resnet.blocks[0].conv3.nOut);
      for (const block of resnet.blocks) {
        run.conv(block.conv3, separate, { reluIn: true, reluOut: true, into: h });
        run.conv(block.conv1, h, { into: separate, residual: true });
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
