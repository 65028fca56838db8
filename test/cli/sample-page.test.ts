import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomPrior, savePrior } from '../../src/prior/load';
import { currentWordAt, launchOffline, openPage } from '../browser';
import { tempDir, useBackend } from '../helpers';
import { TINY_TOP, tinyUpsampler } from '../sample/tiny-priors';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'src', 'cli', 'bin.js');
const VQVAE = path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');
const { dir, cleanup } = tempDir();
const F = (name: string) => path.join(dir, name);

/** Runs the CLI without blocking this worker's event loop (vitest's messages need it). */
function jukebox(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, JUKEBOX_BACKEND: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

beforeAll(async () => {
  await useBackend();
  for (const [file, config, seed] of [['top.safetensors', TINY_TOP, 1], ['up1.safetensors', tinyUpsampler(1), 2]] as const) {
    const p = randomPrior(config, seed);
    await savePrior(F(file), p);
    p.dispose();
  }
  fs.writeFileSync(F('lyrics.txt'), 'one two three\nfour five six seven\n');
  // About 0.1 s of audio: 140 top tokens, so the top level takes several windows.
  const s = await jukebox('sample', '--top', F('top.safetensors'), '--upsamplers', F('up1.safetensors'), '--levels', '2,1', '--vqvae', VQVAE, '--artist-id', '1', '--genre-id', '1', '--lyrics', F('lyrics.txt'),
    '--seconds', '0.1', '--samples', '2', '--quiet', '--out', F('out'));
  expect(s.stderr).toBe('');
  const r = await jukebox('score', F('out/codes.safetensors'), '--prior', F('top.safetensors'), '--artist-id', '1', '--genre-id', '1', '--quiet', '--out', F('out/scores.safetensors'));
  expect(r.stderr).toBe('');
}, 120_000);
afterAll(cleanup);

describe('the sample and score pages in Chromium', () => {
  it('index.html works offline: every player loads its WAV, every timeline is drawn; scores.html draws the surprise', async () => {
    const browser = await launchOffline();
    try {
      const { page, consoleErrors, pageErrors } = await openPage(browser.context, F('out/index.html'));
      const durations = await page.$$eval('audio', (audios) => Promise.all((audios as HTMLAudioElement[]).map((a) => new Promise<number>((resolve) => {
        if (a.readyState >= 1) return resolve(a.duration);
        a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
        a.addEventListener('error', () => resolve(-1), { once: true });
        a.load();
      }))));
      // Two levels × two items; 0.1 s is 2205 samples, 137 top tokens of 16: 2192 samples.
      expect(durations).toHaveLength(4);
      for (const d of durations) expect(d).toBeCloseTo(2192 / 22050, 3);
      await page.waitForFunction(() => document.querySelectorAll('.js-plotly-plot .main-svg:first-of-type').length === 2, undefined, { timeout: 30_000 });
      expect(pageErrors).toEqual([]);
      expect(consoleErrors).toEqual([]);
      const scores = await openPage(browser.context, F('out/scores.html'));
      await scores.page.waitForFunction(() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length === 2, undefined, { timeout: 30_000 });
      expect(scores.pageErrors).toEqual([]);
      expect(scores.consoleErrors).toEqual([]);
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('each item\'s alignment page plays the item\'s finest level and highlights the word being sung', async () => {
    const browser = await launchOffline();
    try {
      for (const i of [0, 1]) {
        const a = JSON.parse(fs.readFileSync(F(`out/item_${i}/alignment.json`), 'utf8')) as { words: { word: string; start: number; end: number }[] };
        expect(a.words.map((w) => w.word)).toEqual(['one', 'two', 'three', 'four', 'five', 'six', 'seven']);
        const { page, consoleErrors, pageErrors } = await openPage(browser.context, F(`out/item_${i}/index.html`));
        await page.waitForFunction(() => (document.querySelector('audio') as HTMLAudioElement).readyState >= 1, undefined, { timeout: 20_000 });
        expect(await page.$eval('audio', (e) => (e as HTMLAudioElement).duration)).toBeCloseTo(2192 / 22050, 3);
        const w = a.words[3];
        expect(await currentWordAt(page, 'audio', (w.start + w.end) / 2)).toBe(w.word);
        expect(pageErrors).toEqual([]);
        expect(consoleErrors).toEqual([]);
      }
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
