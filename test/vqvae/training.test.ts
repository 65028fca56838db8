import * as tf from '@tensorflow/tfjs';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWav } from '../../src/audio';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { readSafetensorsHeader } from '../../src/checkpoint/safetensors';
import { RUN_FILES, trainVQVAE } from '../../src/vqvae/training-run';
import { StepMetrics } from '../../src/vqvae/trainer';
import { musicLike, runCommand, runJukebox, tempDir, useBackend } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'src', 'cli', 'bin.js');
const { dir, cleanup } = tempDir();
const DATA = path.join(dir, 'data');
const SR = 22050;

beforeAll(async () => {
  await useBackend();
  fs.mkdirSync(DATA);
  // Synthetic music (harmonic notes with envelopes and percussive bursts), one stereo and one
  // mono file at other rates, so the loader resamples and downmixes.
  await writeWav(path.join(DATA, 'song-a.wav'), [musicLike(SR * 6, SR, 5), musicLike(SR * 6, SR, 6)], SR, { format: 'pcm16' });
  await writeWav(path.join(DATA, 'song-b.wav'), musicLike(44100 * 4, 44100, 9), 44100, { format: 'float32' });
});
afterAll(cleanup);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('training a tiny VQ-VAE on synthetic music', () => {
  const STEPS = 200;
  const runs: Record<string, { metrics: StepMetrics[]; distinct: number[] }> = {};

  async function train(name: string, restarts: boolean) {
    const { model, metrics } = await trainVQVAE({
      outDir: path.join(dir, name),
      steps: STEPS,
      seed: 3,
      config: vqvaePreset('tiny'),
      data: { dir: DATA, windowLength: 2048, batchSize: 2, blend: true, gainDb: [-6, 0] },
      // A higher rate and shorter warm-up than the reference's, for a 200-step run.
      train: { lr: 1e-3, lr_warmup: 20, restarts },
      saveEvery: STEPS,
    });
    // Codes in use: distinct codes when encoding the whole first song.
    const song = musicLike(SR * 6, SR, 5);
    const zs = tf.tidy(() => model.encode(tf.tensor3d(song, [1, song.length, 1])));
    runs[name] = { metrics, distinct: zs.map((z) => new Set(z.dataSync()).size) };
    tf.dispose(zs);
    model.dispose();
  }

  it('halves the multispectral loss, and restarts keep at least half the codes in use', async () => {
    await train('restarts', true);
    const { metrics, distinct } = runs.restarts;
    expect(metrics).toHaveLength(STEPS);
    const first = mean(metrics.slice(0, 10).map((m) => m.multispectral_loss));
    const last = mean(metrics.slice(-10).map((m) => m.multispectral_loss));
    expect(last).toBeLessThan(first / 2);
    // The reference's usage: codes whose EMA count is at least the revival threshold.
    const usage = [1, 2, 3].map((l) => metrics[STEPS - 1][`usage_l${l}`]);
    for (const u of usage) expect(u).toBeGreaterThanOrEqual(32);
    expect(distinct.every((d) => d > 8)).toBe(true);
    console.log(`multispectral loss ${first.toFixed(2)} -> ${last.toFixed(2)}; usage with restarts ${usage}; distinct codes ${distinct}`);
  }, 600_000);

  it('without restarts fewer codes stay in use', async () => {
    await train('no-restarts', false);
    const { metrics, distinct } = runs['no-restarts'];
    const usage = [1, 2, 3].map((l) => metrics[STEPS - 1][`usage_l${l}`]);
    const withRestarts = [1, 2, 3].map((l) => runs.restarts.metrics[STEPS - 1][`usage_l${l}`]);
    usage.forEach((u, l) => expect(u).toBeLessThan(withRestarts[l]));
    expect(mean(usage)).toBeLessThan(32);
    distinct.forEach((d, l) => expect(d).toBeLessThan(runs.restarts.distinct[l]));
    console.log(`usage without restarts ${usage}; distinct codes ${distinct}`);
  }, 600_000);

  it('writes a model every other command reads, and a JSONL metrics log', async () => {
    const out = path.join(dir, 'restarts');
    const info = await runJukebox('info', path.join(out, RUN_FILES.model), '--json');
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ preset: 'tiny', levels: 3, hop_lengths: [4, 8, 16] });
    const lines = fs.readFileSync(path.join(out, RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    expect(Object.keys(lines[0])).toEqual(expect.arrayContaining(['loss', 'multispectral_loss', 'spectral_convergence_l1', 'usage_l3', 'entropy', 'gn', 'lr']));
  });
});

describe('a killed run resumes exactly', () => {
  const STEPS = 30;
  const args = (out: string) => ['train-vqvae', '--data', DATA, '--preset', 'tiny', '--steps', String(STEPS), '--out', out, '--seed', '11',
    '--batch-size', '2', '--window', '2048', '--save-every', '10'];

  function lastMetrics(out: string): StepMetrics {
    const lines = fs.readFileSync(path.join(out, RUN_FILES.metrics), 'utf8').trim().split('\n');
    return JSON.parse(lines[lines.length - 1]);
  }

  function savedStep(out: string): number {
    try {
      return Number(readSafetensorsHeader(path.join(out, RUN_FILES.state)).metadata.step);
    } catch {
      return 0;
    }
  }

  it('kill -9 after a checkpoint, --resume (on 2 threads), and the losses at the last step agree to 1e-5', async () => {
    const straight = path.join(dir, 'straight');
    const r = await runCommand(process.execPath, [BIN, ...args(straight)]);
    expect(r.code, r.stderr).toBe(0);

    const killed = path.join(dir, 'killed');
    const child = spawn(process.execPath, [BIN, ...args(killed)], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    while (savedStep(killed) < 10) await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const stoppedAt = savedStep(killed);
    expect(stoppedAt).toBeGreaterThanOrEqual(10);
    expect(stoppedAt).toBeLessThan(STEPS);

    // The original command with --resume added, on two worker threads: the numbers do not depend
    // on the thread count.
    const resumed = await runCommand(process.execPath, [BIN, ...args(killed), '--resume', '--workers', '2']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const [a, b] = [lastMetrics(straight), lastMetrics(killed)];
    expect(b.step).toBe(STEPS - 1);
    for (const key of ['loss', 'recons_loss', 'multispectral_loss', 'commit_loss', 'usage']) {
      expect(Math.abs(a[key] - b[key]), key).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(a[key])));
    }
    // The log holds each step once, in order.
    const steps = fs.readFileSync(path.join(killed, RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    console.log(`resumed from step ${stoppedAt}: loss at step ${STEPS - 1} straight ${a.loss}, resumed ${b.loss}`);
  }, 600_000);

  it('refuses to overwrite a run without --resume, and to change settings on resume', async () => {
    const out = path.join(dir, 'straight');
    const again = await runJukebox(...args(out));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a training run; pass --resume/);
    const changed = await runJukebox('train-vqvae', '--out', out, '--steps', '40', '--resume', '--preset', 'small');
    expect(changed.code).toBe(1);
    expect(changed.stderr.trim()).toBe("jukebox: train-vqvae: --preset cannot change when resuming: the run has 'tiny', this command gives 'small'");
    const lr = await runJukebox(...args(out), '--resume', '--lr', '0.01');
    expect(lr.code).toBe(1);
    expect(lr.stderr.trim()).toBe('jukebox: train-vqvae: --lr cannot change when resuming: the run has 0.0003, this command gives 0.01');
  });

  it('reports a data folder with no usable audio in one line', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'broken.wav'), 'not audio at all');
    const r = await runJukebox('train-vqvae', '--data', empty, '--preset', 'tiny', '--steps', '5', '--out', path.join(dir, 'x'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/warning: .*broken\.wav/);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^jukebox: .*empty/);
  });
});
