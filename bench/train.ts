/**
 * VQ-VAE training speed: median wall and CPU seconds per step of the TypeScript trainer on a
 * preset (default `small`, batch 4 × 32768 samples), on one thread and on `--threads` worker
 * threads, beside the reference's training step (openai/jukebox, Debian's python3-torch) at its
 * best (FACTS.md's allocator settings) on as many threads, when JUKEBOX_REF names a checkout.
 * The runs interleave (reference 1 thread, ours 1 thread, reference N, ours N, repeated
 * `--rounds` times) so that a shared machine's load falls on both alike; the load average is
 * printed beside every figure. Ratios > 1: jukebox-ts is faster.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/train.ts [--preset small] [--steps 5] [--threads 2] [--rounds 1]
 */
import * as tf from '@tensorflow/tfjs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { vqvaePreset } from '../src/checkpoint/presets';
import { Rng } from '../src/rng';
import { randomVQVAE } from '../src/vqvae/init';
import { VQVAETrainer } from '../src/vqvae/trainer';
import { VQVAEWorkerPool } from '../src/vqvae/worker-pool';
import { interleavedRounds, load, runReference, StepTimes, summarise, timed } from './train-common';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    preset: { type: 'string', default: 'small' },
    steps: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '4' },
    window: { type: 'string', default: '32768' },
    threads: { type: 'string', default: String(Math.min(2, os.cpus().length)) },
    rounds: { type: 'string', default: '1' },
  } });
  const steps = Number(values.steps);
  const batch = Number(values['batch-size']);
  const window = Number(values.window);
  const threads = Number(values.threads);
  const backend = await initBackend();
  const config = vqvaePreset(values.preset!);
  const bandwidth = { l1: 0.2, l2: 0.05, spec: 40 };
  const ours = async (workers: number): Promise<StepTimes> => {
    const model = randomVQVAE(config, 0);
    const trainer = new VQVAETrainer(model, bandwidth, new Rng(0));
    if (workers > 1) {
      trainer.pool = await VQVAEWorkerPool.start(model, workers);
      await trainer.pool.startTraining(bandwidth, trainer.config);
    }
    const times: { wall: number; cpu: number }[] = [];
    for (let step = 0; step <= steps; step++) {
      const f0 = 110 * (1 + (step % 5));
      const data = new Float32Array(batch * window);
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < window; i++) {
          const t = i / config.sr;
          data[b * window + i] = 0.3 * Math.sin(2 * Math.PI * f0 * (b + 1) * t) * Math.exp(-(t % 0.5) * 4);
        }
      }
      const x = tf.tensor2d(data, [batch, window]);
      const t = await timed(() => trainer.trainStep(x));
      if (step > 0) times.push(t); // step 0 initialises the codebooks
      x.dispose();
    }
    await trainer.pool?.close();
    trainer.dispose();
    model.dispose();
    return summarise(times);
  };
  const reference = (n: number) => runReference(path.join(__dirname, 'reference_train.py'),
    ['--preset', values.preset!, '--steps', String(steps), '--batch-size', String(batch), '--window', String(window), '--threads', String(n)]);
  const show = (t: StepTimes | string) => ({ ...(typeof t === 'string' ? { result: t } : t), load: load() });
  const rounds = await interleavedRounds(Number(values.rounds), threads, reference, ours, show);
  console.log(JSON.stringify({
    machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
    preset: values.preset,
    batch,
    window,
    threads,
    backend: backend.choice,
    rounds,
  }, null, 2));
}

main();
