/**
 * VQ-VAE training speed: median seconds per step of the TypeScript trainer on a preset (default
 * `small`, batch 4 × 32768 samples), on one thread and on `--threads` worker threads, and, when
 * JUKEBOX_REF names an openai/jukebox checkout and Debian's python3-torch is installed, the
 * reference's training step with as many threads on the same machine.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/train.ts [--preset small] [--steps 10] [--threads 2]
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { vqvaePreset } from '../src/checkpoint/presets';
import { Rng } from '../src/rng';
import { randomVQVAE } from '../src/vqvae/init';
import { VQVAETrainer } from '../src/vqvae/trainer';
import { VQVAEWorkerPool } from '../src/vqvae/worker-pool';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    preset: { type: 'string', default: 'small' },
    steps: { type: 'string', default: '10' },
    'batch-size': { type: 'string', default: '4' },
    window: { type: 'string', default: '32768' },
    threads: { type: 'string', default: String(Math.min(2, os.cpus().length)) },
  } });
  const steps = Number(values.steps);
  const batch = Number(values['batch-size']);
  const window = Number(values.window);
  const backend = await initBackend();
  const config = vqvaePreset(values.preset!);
  const threads = Number(values.threads);
  const bandwidth = { l1: 0.2, l2: 0.05, spec: 40 };
  const secondsPerStep = async (workers: number): Promise<number> => {
    const model = randomVQVAE(config, 0);
    const trainer = new VQVAETrainer(model, bandwidth, new Rng(0));
    if (workers > 1) {
      trainer.pool = await VQVAEWorkerPool.start(model, workers);
      await trainer.pool.startTraining(bandwidth, trainer.config);
    }
    const times: number[] = [];
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
      const start = performance.now();
      await trainer.trainStep(x);
      if (step > 0) times.push((performance.now() - start) / 1000); // step 0 initialises the codebooks
      x.dispose();
    }
    await trainer.pool?.close();
    trainer.dispose();
    model.dispose();
    return median(times);
  };
  const single = await secondsPerStep(1);
  const parallel = await secondsPerStep(threads);
  const report: Record<string, unknown> = {
    machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
    preset: values.preset,
    batch,
    window,
    backend: backend.choice,
    jukebox_ts: {
      one_thread: { seconds_per_step: +single.toFixed(3), steps_per_second: +(1 / single).toFixed(3) },
      [`${threads}_worker_threads`]: { seconds_per_step: +parallel.toFixed(3), steps_per_second: +(1 / parallel).toFixed(3) },
    },
  };
  if (!process.env.JUKEBOX_REF) {
    report.reference = 'skipped: set JUKEBOX_REF to an openai/jukebox checkout to compare';
  } else {
    const r = spawnSync(process.env.JUKEBOX_PYTHON ?? '/usr/bin/python3', [path.join(__dirname, 'reference_train.py'),
      '--preset', values.preset!, '--steps', String(steps), '--batch-size', String(batch), '--window', String(window), '--threads', values.threads!],
    { encoding: 'utf8' });
    if (r.status !== 0) {
      report.reference = `skipped: the reference failed (${(r.stderr || String(r.error)).trim().split('\n').pop()})`;
    } else {
      const ref = JSON.parse(r.stdout.trim().split('\n').pop()!);
      report.reference = { ...ref, seconds_per_step: +ref.seconds_per_step.toFixed(3) };
      // Ratio > 1: jukebox-ts trains faster. Same machine, same number of threads.
      report.speed_ratio_vs_reference = {
        [`${threads}_threads`]: +(ref.seconds_per_step / parallel).toFixed(2),
        one_thread_vs_reference: +(ref.seconds_per_step / single).toFixed(2),
      };
    }
  }
  console.log(JSON.stringify(report, null, 2));
}

main();
