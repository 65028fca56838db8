/**
 * Makes the notebooks' demo data (run once; outputs are committed):
 * - demo-clip.wav: 6 s of synthetic music (synthesizeMusic, seed 1000), 22.05 kHz 16-bit mono;
 * - demo-mini.safetensors: a `mini` VQ-VAE (hops 8/32/128) trained on 96 s of other synthetic
 *   music (seeds 0–11), never on the demo clip, saved in half precision.
 *
 *   npx tsx data/make-demo.ts [--steps 600]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { synthesizeMusic, writeWav } from '../src/audio/index';
import { initBackend } from '../src/backend';
import { saveVQVAE } from '../src/checkpoint/load';
import { vqvaePreset } from '../src/checkpoint/presets';
import { trainVQVAE } from '../src/vqvae/training-run';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '600' } } });
  await initBackend();
  const sr = 22050;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-demo-'));
  try {
    const corpus = path.join(work, 'corpus');
    fs.mkdirSync(corpus);
    for (let seed = 0; seed < 12; seed++) {
      await writeWav(path.join(corpus, `piece-${seed}.wav`), synthesizeMusic({ seconds: 8, seed, sampleRate: sr }), sr, { format: 'float32' });
    }
    await writeWav(path.join(__dirname, 'demo-clip.wav'), synthesizeMusic({ seconds: 6, seed: 1000, sampleRate: sr }), sr, { format: 'pcm16' });
    const started = Date.now();
    const { model, metrics } = await trainVQVAE({
      outDir: path.join(work, 'run'),
      steps: Number(values.steps),
      seed: 0,
      config: vqvaePreset('mini'),
      data: { dir: corpus, windowLength: 8192, batchSize: 4, blend: true, gainDb: [-6, 0] },
      train: { lr: 1e-3, lr_warmup: 50 },
      saveEvery: 200,
      onStep: (m, run) => {
        if (run.step % 50 === 0) console.log(`step ${run.step}: loss ${m.loss.toFixed(3)} sc ${[1, 2, 3].map((l) => m[`spectral_convergence_l${l}`].toFixed(3)).join('/')} usage ${[1, 2, 3].map((l) => m[`usage_l${l}`]).join('/')}`);
      },
    });
    const last = metrics[metrics.length - 1];
    await saveVQVAE(path.join(__dirname, 'demo-mini.safetensors'), model, {
      description: 'jukebox-ts demo: mini VQ-VAE trained on synthetic music (data/make-demo.ts)',
      steps: String(metrics.length),
      final_spectral_convergence: JSON.stringify([1, 2, 3].map((l) => +last[`spectral_convergence_l${l}`].toFixed(4))),
    }, { dtype: 'F16' });
    model.dispose();
    console.log(`trained ${metrics.length} steps in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
