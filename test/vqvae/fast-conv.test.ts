import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../../scripts/build-wasm';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { convArena } from '../../src/vqvae/fast/conv-arena';
import { ConvRun, fastVQVAEUnsupported } from '../../src/vqvae/fast/conv-runner';
import { randomVQVAE } from '../../src/vqvae/init';
import type { VQVAE } from '../../src/vqvae/vqvae';
import { relativeL2, useBackend } from '../helpers';

/**
 * The fast VQ-VAE path (src/vqvae/fast) against the tfjs path it must equal: every layer kind on
 * its own, then whole encodes (identical codes at every level) and decodes (audio within 1e-5
 * relative L2: the kernels sum in another order), with and without worker threads, batched, on
 * lengths that are no multiple of the hop or of the kernels' four-row blocks. The reference parity
 * tests (parity.test.ts) run on this path too, since it is the default on the wasm backend.
 */

beforeAll(useBackend);

const saved = { JUKEBOX_FAST_VQVAE: process.env.JUKEBOX_FAST_VQVAE, JUKEBOX_VQVAE_THREADS: process.env.JUKEBOX_VQVAE_THREADS };
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** Hops 4/16 at widths 16 and 8 (a multiple of 8 the kernels need for transposed convs), 3 dilations. */
function testModel(seed = 1): VQVAE {
  return randomVQVAE({ ...vqvaePreset('tiny'), levels: 2, downs_t: [2, 2], strides_t: [2, 2], multipliers: [2, 1], depth: 3, l_bins: 96 }, seed);
}

function audio(batch: number, length: number): tf.Tensor3D {
  const data = new Float32Array(batch * length).map((_, i) => 0.4 * Math.sin(i * 0.05) + 0.2 * Math.sin(i * 0.71 + (i % 7)));
  return tf.tensor3d(data, [batch, length, 1]);
}

/** Runs `body` on the fast path when `fast`, else on the tfjs path. */
function onPath<T>(fast: boolean, body: () => T): T {
  process.env.JUKEBOX_FAST_VQVAE = fast ? '1' : '0';
  return body();
}

describe('fast VQ-VAE kernels', () => {
  it('commits conv-kernels.wat compiled (npm run build:wasm)', async () => {
    const file = path.join(__dirname, '..', '..', 'src', 'vqvae', 'fast', 'conv-kernels.wat');
    const committed = fs.readFileSync(file.replace(/\.wat$/, '.wasm'));
    expect(Buffer.from(await compileWat(file)).equals(committed)).toBe(true);
  });

  it('computes each layer kind as the tfjs layer does', () => {
    const model = testModel();
    const arena = convArena()!;
    const mark = arena.used;
    const run = new ConvRun(arena, model.weights, 256, null); // dilations up to 3^5
    const rows = 37;
    const width = 16;
    const data = new Float32Array(rows * width).map((_, i) => Math.sin(i * 0.37));
    const load = (channels: number, values: Float32Array) => {
      const act = run.act(values.length / channels, channels);
      for (let t = 0; t < act.rows; t++) arena.f32.set(values.subarray(t * channels, (t + 1) * channels), (act.ptr + t * act.rowBytes) / 4);
      return act;
    };
    const read = (act: { ptr: number; rows: number; channels: number; rowBytes: number }) => {
      const out = new Float32Array(act.rows * act.channels);
      for (let t = 0; t < act.rows; t++) out.set(arena.f32.subarray((act.ptr + t * act.rowBytes) / 4, (act.ptr + t * act.rowBytes) / 4 + act.channels), t * act.channels);
      return out;
    };
    const x = tf.tensor3d(data, [1, rows, width]);
    const encBlock = model.encoders[0].blocks[0]; // width 16 after its first conv
    const decBlock = model.decoders[0].blocks[0];
    const check = (want: tf.Tensor, got: Float32Array) => {
      expect(got.length).toBe(want.size);
      expect(relativeL2(got, want.dataSync() as Float32Array)).toBeLessThan(1e-6);
      want.dispose();
    };
    // Strided (kernel 4, stride 2, padding 1), dilated residual stack, output conv, transposed conv.
    check(encBlock.downs[1].conv.apply(model.weights, x), read(run.conv(encBlock.downs[1].conv, load(width, data))));
    const stacked = load(width, data);
    run.resnet(encBlock.downs[0].resnet, stacked);
    check(encBlock.downs[0].resnet.apply(model.weights, x), read(stacked));
    check(encBlock.out.apply(model.weights, x), read(run.conv(encBlock.out, load(width, data))));
    check(decBlock.ups[0].conv.apply(model.weights, x), read(run.convTranspose(decBlock.ups[0].conv, load(width, data))));
    x.dispose();
    arena.release(mark);
    model.dispose();
  });
});

describe('fast VQ-VAE equals the tfjs path', () => {
  it('is taken for the presets', () => {
    for (const name of ['small', 'default', 'mini', 'tiny']) {
      const preset = randomVQVAE(vqvaePreset(name), 0);
      expect(fastVQVAEUnsupported(preset)).toBeNull();
      preset.dispose();
    }
    const model = testModel();
    expect(fastVQVAEUnsupported(model)).toBeNull();
    expect(model.takesFastPath()).toBe(true);
    process.env.JUKEBOX_FAST_VQVAE = '0';
    expect(model.takesFastPath()).toBe(false);
    model.dispose();
  });

  it.each([
    ['one thread', '1'],
    ['with two worker threads', '3'],
  ])('encodes and decodes as the tfjs path, %s', (_label, threads) => {
    process.env.JUKEBOX_VQVAE_THREADS = threads;
    const model = testModel();
    try {
      // Not a multiple of the hop (16) nor of 4 rows; long enough that convolutions are shared.
      const x = audio(2, 16 * 1024 + 3);
      const before = tf.memory().numTensors;
      const fast = onPath(true, () => model.encode(x));
      const slow = onPath(false, () => model.encode(x));
      for (let level = 0; level < 2; level++) {
        expect(fast[level].shape).toEqual(slow[level].shape);
        expect(Array.from(fast[level].dataSync())).toEqual(Array.from(slow[level].dataSync()));
      }
      for (let level = 0; level < 2; level++) {
        const y = onPath(true, () => model.decode(slow[level], level));
        const want = onPath(false, () => model.decode(slow[level], level));
        expect(y.shape).toEqual(want.shape);
        expect(relativeL2(y.dataSync() as Float32Array, want.dataSync() as Float32Array)).toBeLessThan(1e-5);
        tf.dispose([y, want]);
      }
      tf.dispose([...fast, ...slow]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    } finally {
      model.dispose();
    }
  });

  it('rejects codes outside the codebook', () => {
    const model = testModel();
    const codes = tf.tensor2d([[0, 96]], [1, 2], 'int32');
    expect(() => onPath(true, () => model.decode(codes, 0))).toThrow(/outside the codebook/);
    codes.dispose();
    model.dispose();
  });
});
