import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../src/checkpoint/safetensors';
import { PRIOR_RUN_FILES, PriorRunMetrics } from '../../src/train/prior-run';
import { runJukebox } from '../helpers';
import { saveTinyVQVAE, useTrainingSet } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'src', 'cli', 'bin.js');
const set = useTrainingSet();
const { dir } = set;

const run = runJukebox;
const lastLine = (stderr: string) => stderr.trim().split('\n').pop()!;

describe('a killed run resumes exactly', () => {
  const STEPS = 24;
  const args = (out: string) => ['train-prior', '--data', set.data, '--vqvae', set.vqvae, '--preset', 'tiny_top', '--steps', String(STEPS), '--out', out,
    '--seed', '5', '--batch-size', '2', '--save-every', '8', '--lr', '0.002'];
  const lastMetrics = (out: string) => {
    const lines = fs.readFileSync(path.join(out, PRIOR_RUN_FILES.metrics), 'utf8').trim().split('\n');
    return JSON.parse(lines[lines.length - 1]) as PriorRunMetrics;
  };
  const savedStep = (out: string) => {
    try {
      return Number(readSafetensorsHeader(path.join(out, PRIOR_RUN_FILES.state)).metadata.step);
    } catch {
      return 0;
    }
  };
  const codeFiles = (out: string) => {
    const root = path.join(out, PRIOR_RUN_FILES.codes);
    return fs.readdirSync(root).flatMap((h) => fs.readdirSync(path.join(root, h)).map((f) => path.join(root, h, f)));
  };

  it('kill -9 after a checkpoint, the original command with --resume (on 2 worker threads): same losses, cached codes reused', async () => {
    const straight = path.join(dir, 'straight');
    const r = await run(...args(straight));
    expect(r.code, r.stderr).toBe(0);

    const killed = path.join(dir, 'killed');
    const child = spawn(process.execPath, [BIN, ...args(killed)], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    while (savedStep(killed) < 8) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const stoppedAt = savedStep(killed);
    expect(stoppedAt).toBeLessThan(STEPS);
    const cached = new Map(codeFiles(killed).map((f) => [f, fs.statSync(f).mtimeMs]));
    expect(cached.size).toBe(5);

    const resumed = await run(...args(killed), '--resume', '--workers', '2');
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const [f, mtime] of cached) expect(fs.statSync(f).mtimeMs).toBe(mtime);
    const [a, b] = [lastMetrics(straight), lastMetrics(killed)];
    expect(b.step).toBe(STEPS - 1);
    for (const key of ['loss', 'bpd', 'prime_loss', 'gn', 'heldout_bpd'] as const) {
      expect(Math.abs(a[key]! - b[key]!), key).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(a[key]!)));
    }
    const steps = fs.readFileSync(path.join(killed, PRIOR_RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    console.log(`resumed from step ${stoppedAt}: loss at step ${STEPS - 1} straight ${a.loss}, resumed ${b.loss}`);
  }, 180_000);

  it('refuses a new run over an old one, a changed setting (naming both values), and another VQ-VAE than the cached codes\'', async () => {
    const out = path.join(dir, 'straight');
    expect(lastLine((await run(...args(out))).stderr)).toMatch(/^jukebox: .*straight: already holds a training run; pass --resume/);
    const seed = await run(...args(out).map((a) => (a === '5' ? '6' : a)), '--resume');
    expect(seed.code).toBe(1);
    expect(seed.stderr.trim()).toBe('jukebox: train-prior: --seed cannot change when resuming: the run has 5, this command gives 6');
    const other = path.join(dir, 'other-vqvae.safetensors');
    await saveTinyVQVAE(other, 2);
    const swapped = await run(...args(out).map((a) => (a === set.vqvae ? other : a)), '--resume');
    expect(swapped.code).toBe(1);
    expect(swapped.stderr.trim().split('\n')).toHaveLength(1);
    expect(swapped.stderr).toMatch(/--vqvae does not match the run's cached codes: they were made with .*vqvae\.safetensors \(hash [0-9a-f]{16}\), .*other-vqvae\.safetensors has hash [0-9a-f]{16}/);
  });
});

describe('bad inputs: one line each', () => {
  it('a data folder without sidecars', async () => {
    const bare = path.join(dir, 'bare');
    fs.mkdirSync(bare);
    fs.copyFileSync(path.join(set.data, 'song0.wav'), path.join(bare, 'song0.wav'));
    const r = await run('train-prior', '--data', bare, '--vqvae', set.vqvae, '--preset', 'tiny_top', '--steps', '2', '--out', path.join(dir, 'x1'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^jukebox: .*song0\.wav: has no sidecar song0\.json \(JSON with artist, genre, lyrics\)/);
  });

  it('a sidecar with lyrics for a prior without lyrics', async () => {
    const r = await run('train-prior', '--data', set.data, '--vqvae', set.vqvae, '--preset', 'tiny_top_no_lyrics', '--steps', '2', '--out', path.join(dir, 'x2'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/song0\.json: has lyrics, but preset 'tiny_top_no_lyrics' is a prior without lyrics/);
  });

  it('a VQ-VAE of another geometry than the preset', async () => {
    const small = path.join(dir, 'small-vqvae.safetensors');
    await saveTinyVQVAE(small, 0, 'mini');
    const r = await run('train-prior', '--data', set.data, '--vqvae', small, '--preset', 'tiny_top', '--steps', '2', '--out', path.join(dir, 'x3'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--vqvae does not match preset 'tiny_top': the VQ-VAE has 3 levels, 128 codes, 22050 Hz, downs_t \[3,2,2\]/);
  });
});
