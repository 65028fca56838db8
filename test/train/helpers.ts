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
