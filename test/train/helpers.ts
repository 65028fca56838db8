import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll } from 'vitest';
import { synthesizeMusic, writeWav } from '../../src/audio';
import { saveVQVAE } from '../../src/checkpoint/load';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { randomVQVAE } from '../../src/vqvae/init';
import { tempDir, useBackend } from '../helpers';

/**
 * A small generated training set for the prior trainer's tests: five 4-second songs of synthetic
 * music (three artists, three genres, lyrics), each with its JSON sidecar, and a random tiny VQ-VAE.
 */
export const SR = 22050;
const ARTISTS = ['Nora Quill', 'Marco Ferro', 'The Synthetic Strings'];
const GENRES = ['folk', 'blues rock', 'jazz'];

export async function writeTrainingSet(dir: string): Promise<{ data: string; vqvae: string }> {
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { recursive: true });
  for (let i = 0; i < 5; i++) {
    await writeWav(path.join(data, `song${i}.wav`), synthesizeMusic({ seconds: 4, seed: i, sampleRate: SR }), SR, { format: 'pcm16' });
    const lyrics = `song ${i}: the sun goes down and the night comes round, la la la `.repeat(4);
    fs.writeFileSync(path.join(data, `song${i}.json`), JSON.stringify({ artist: ARTISTS[i % 3], genre: GENRES[i % 3], lyrics }));
  }
  const vqvae = path.join(dir, 'vqvae.safetensors');
  await saveTinyVQVAE(vqvae, 1);
  return { data, vqvae };
}

/**
 * For a test file: a temporary folder (`dir`, removed after its tests) holding `writeTrainingSet`'s
 * set, written before the first test with the backend initialised; `data` and `vqvae` are set then.
 */
export function useTrainingSet(): { readonly dir: string; readonly data: string; readonly vqvae: string } {
  const { dir, cleanup } = tempDir();
  const set = { dir, data: '', vqvae: '' };
  beforeAll(async () => {
    await useBackend();
    Object.assign(set, await writeTrainingSet(dir));
  });
  afterAll(cleanup);
  return set;
}

/** A random VQ-VAE of preset `preset` (default tiny) saved as safetensors. */
export async function saveTinyVQVAE(file: string, seed: number, preset = 'tiny'): Promise<void> {
  const model = randomVQVAE(vqvaePreset(preset), seed);
  await saveVQVAE(file, model);
  model.dispose();
}

/**
 * op(A)·op(B) for [..., r, c] operands whose batch shapes broadcast, in float64, with the
 * rounding bound of each element's float32 sum.
 */
export function exactProducts(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): { values: Float64Array; bound: Float64Array; shape: number[] } {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  const batch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const count = batch.reduce((p, d) => p * d, 1);
  // The matrix of an operand that output batch item p reads: its index along each batch axis, 0 where it broadcasts.
  const item = (shape: number[], p: number) => {
    const own = shape.slice(0, -2);
    let index = 0;
    for (let ax = batch.length - 1, rest = p, stride = 1; ax >= 0; ax--) {
      const at = rest % batch[ax];
      rest = Math.floor(rest / batch[ax]);
      const d = own[ax - (batch.length - own.length)] ?? 1;
      index += (d === 1 ? 0 : at) * stride;
      stride *= d;
    }
    return index;
  };
  const av = a.dataSync();
  const bv = b.dataSync();
  const out = new Float64Array(count * m * n);
  const bound = new Float64Array(count * m * n);
  for (let p = 0; p < count; p++) {
    const ao = item(a.shape, p) * m * k;
    const bo = item(b.shape, p) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let c = 0;
        let magnitude = 0;
        for (let kk = 0; kk < k; kk++) {
          const xy = av[ao + (ta ? kk * m + i : i * k + kk)] * bv[bo + (tb ? j * k + kk : kk * n + j)];
          c += xy;
          magnitude += Math.abs(xy);
        }
        out[(p * m + i) * n + j] = c;
        bound[(p * m + i) * n + j] = k * 2 ** -24 * magnitude;
      }
    }
  }
  return { values: out, bound, shape: [...batch, m, n] };
}
