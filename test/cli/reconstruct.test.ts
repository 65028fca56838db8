import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavMono } from '../../src/audio';
import { compareReconstruction } from '../../src/metrics';
import { launchOffline, openPage } from '../browser';
import { CommandResult, runJukebox, tempDir, useBackend } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const CLIP = path.join(ROOT, 'data', 'demo-clip.wav');
const MODEL = path.join(ROOT, 'data', 'demo-mini.safetensors');

const { dir, cleanup } = tempDir();
const OUT = path.join(dir, 'out');
let run: CommandResult;

beforeAll(async () => {
  await useBackend();
  run = await runJukebox('reconstruct', CLIP, '--vqvae', MODEL, '--out-dir', OUT);
});
afterAll(cleanup);

describe('jukebox reconstruct', () => {
  it('writes one WAV per level, metrics.json and report.html', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(fs.readdirSync(OUT).sort()).toEqual(['level_0.wav', 'level_1.wav', 'level_2.wav', 'metrics.json', 'report.html']);
    const input = readWavMono(CLIP);
    for (const [level, hop] of [[0, 8], [1, 32], [2, 128]]) {
      const wav = readWavMono(path.join(OUT, `level_${level}.wav`));
      expect(wav.sampleRate).toBe(22050);
      expect(wav.samples.length).toBe(Math.floor(input.samples.length / hop) * hop);
    }
  });

  it('metrics.json holds each level\'s metrics, recomputable from the WAVs', () => {
    const metrics = JSON.parse(fs.readFileSync(path.join(OUT, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({ sample_rate: 22050, hop_lengths: [8, 32, 128], audio: 'demo-clip.wav', vqvae: 'demo-mini.safetensors' });
    const input = readWavMono(CLIP).samples;
    const recomputed = compareReconstruction(input, [0, 1, 2].map((l) => readWavMono(path.join(OUT, `level_${l}.wav`)).samples), 22050);
    for (const level of [0, 1, 2]) {
      const m = metrics[`level_${level}`];
      for (const key of ['spectral_convergence_db', 'snr_db', 'si_sdr_db']) {
        expect(typeof m[key], key).toBe('number');
        expect(m[key]).toBeCloseTo(recomputed[level][key as 'snr_db'], 4);
      }
    }
    // The demo model's levels get noisier as they compress more.
    const sc = [0, 1, 2].map((l) => metrics[`level_${l}`].spectral_convergence_db);
    expect(sc[0]).toBeLessThan(sc[1]);
    expect(sc[1]).toBeLessThan(sc[2]);
    expect(metrics.level_0.snr_db).toBeGreaterThan(metrics.level_2.snr_db);
  });

  it('report.html renders offline in Chromium: no console errors, every plot drawn, audio playable', async () => {
    const browser = await launchOffline();
    try {
      const { page, consoleErrors, pageErrors } = await openPage(browser.context, path.join(OUT, 'report.html'));
      const figures = await page.$$eval('.jbx-figure', (divs) => divs.length);
      expect(figures).toBe(4); // spectrograms, waveform, usage, timeline
      await page.waitForFunction((n) => document.querySelectorAll('.js-plotly-plot .main-svg:first-of-type').length === n, figures, { timeout: 30_000 });
      expect(await page.$$eval('.js-plotly-plot .hm image', (els) => els.length)).toBe(4); // original + 3 levels
      expect(await page.$$eval('table tbody tr', (rows) => rows.length)).toBe(3);
      const durations = await page.$$eval('audio', (audios) => Promise.all((audios as HTMLAudioElement[]).map((a) => new Promise<number>((resolve) => {
        if (a.readyState >= 1) return resolve(a.duration);
        a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
        a.load();
      }))));
      expect(durations).toHaveLength(4);
      for (const d of durations) expect(d).toBeGreaterThan(5.9);
      expect(pageErrors).toEqual([]);
      expect(consoleErrors).toEqual([]);
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('fails in one line without leaving files for a bad input', async () => {
    const out = path.join(dir, 'bad');
    const r = await runJukebox('reconstruct', MODEL, '--vqvae', MODEL, '--out-dir', out);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'))).toHaveLength(1);
    expect(r.stderr).toMatch(/demo-mini\.safetensors: /);
    expect(fs.existsSync(out)).toBe(false);
  });
});
