import * as fs from 'fs';
import * as path from 'path';
import { corpusLabelTables } from '../../data/corpus/tables';
import { saveVQVAE } from '../../src/checkpoint/load';
import { randomPrior, savePrior } from '../../src/prior/load';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { randomVQVAE } from '../../src/vqvae/init';
import { TINY_TOP, tinyUpsampler } from '../sample/tiny-priors';

/**
 * A model folder laid out like weights/default (vqvae.safetensors, prior_level_{2,1,0}.safetensors)
 * holding random tiny models over the tiny VQ-VAE's geometry: `jukebox song` runs on
 * it in seconds. The priors carry the generated corpus's label tables, as the default models do,
 * so the corpus's artist and genre names resolve.
 */
export async function writeTinyModelFolder(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const vqvae = randomVQVAE(vqvaePreset('tiny'), 1);
  await saveVQVAE(path.join(dir, 'vqvae.safetensors'), vqvae);
  vqvae.dispose();
  const labelTables = corpusLabelTables();
  for (const [level, config] of [[2, TINY_TOP], [1, tinyUpsampler(1)], [0, tinyUpsampler(0)]] as const) {
    const prior = randomPrior(config, 10 + level, { labelTables });
    await savePrior(path.join(dir, `prior_level_${level}.safetensors`), prior);
    prior.dispose();
  }
}
