import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavMono } from '../../src/audio';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { runCommand, tempDir, useBackend } from '../helpers';
import { writeTinyModelFolder } from './tiny-models';

const ROOT = path.join(__dirname, '..', '..');
const { dir, cleanup } = tempDir('jukebox-song-');
const MODELS = path.join(dir, 'models');

const run = runCommand;
const npmStart = (...args: string[]) => run('npm', ['start', '--silent', '--', ...args]);
const song = (cwd: string, ...args: string[]) => run(process.execPath, [path.join(ROOT, 'src', 'cli', 'bin.js'), 'song', ...args], cwd);

beforeAll(async () => {
  await useBackend();
  await writeTinyModelFolder(MODELS);
  fs.writeFileSync(path.join(dir, 'my.txt'), 'Under the <blue> moon\nwe wander again\n');
}, 60000);
afterAll(cleanup);

describe('npm start (jukebox song)', () => {
  it('sings the lyrics through all three levels: codes, a WAV per level, a page with players, timelines and lyrics', async () => {
    const out = path.join(dir, 'out1');
    const r = await npmStart('--models', MODELS, '--lyrics', path.join(dir, 'my.txt'), '--artist', 'delta_reed', '--seconds', '0.05', '--seed', '3', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    // Every stage reports, in order.
    const stages = ['song: 0.05 s sung by delta_reed (country)', 'loading the models', 'level 2 window', 'level 1 window', 'level 0 window', 'decoding level 2', 'decoding level 1', 'decoding level 0'];
    const at = stages.map((s) => r.stderr.indexOf(s));
    expect(at.every((i) => i >= 0), r.stderr).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(r.stdout).toContain(`wrote ${out}/`);
    expect(r.stdout).toMatch(/index\.html +open it in a browser/);

    // 0.05 s at 22050 Hz is 1102 samples: 68 whole top-level tokens of 16 samples.
    const codes = readSafetensors(path.join(out, 'codes.safetensors'));
    expect([2, 1, 0].map((l) => codes.tensors.get(`level_${l}`)!.shape)).toEqual([[1, 68], [1, 136], [1, 272]]);
    expect(codes.metadata).toMatchObject({ mode: 'ancestral', seed: '3', length_samples: '1088', vqvae: 'vqvae.safetensors' });
    expect(JSON.parse(codes.metadata.labels)).toEqual([{ artist: 'delta_reed', genre: 'country', lyrics: 'Under the <blue> moon\nwe wander again\n', totalSeconds: 1088 / 22050, offsetSeconds: 0 }]);
    for (const level of [2, 1, 0]) {
      const wav = readWavMono(path.join(out, `level_${level}`, 'item_0.wav'));
      expect(wav.sampleRate).toBe(22050);
      expect(wav.samples.length).toBe(1088);
    }

    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    for (const level of [2, 1, 0]) expect(html).toContain(`src="level_${level}/item_0.wav"`);
    expect(html.match(/<audio /g)).toHaveLength(3);
    expect(html).toMatch(/<h2>Lyrics<\/h2>\n<pre class="jbx-lyrics"[^>]*>Under the &lt;blue&gt; moon\nwe wander again<\/pre>/);
    // One code timeline with a trace per level, each as long as the level's codes.
    expect(html).toContain('<h2>Codes</h2>');
    for (const [level, hop, tokens] of [[2, 16, 68], [1, 8, 136], [0, 4, 272]]) {
      const x = new RegExp(`"Level ${level} · ${hop}×","x":\\[([^\\]]*)\\]`).exec(html);
      expect(x, `level ${level} timeline`).not.toBeNull();
      expect(x![1].split(',')).toHaveLength(tokens);
    }
  }, 120_000);

  it('defaults: the shipped lyrics, amber_vale singing pop, 8 s unless told, into out/ of the working directory', async () => {
    const cwd = path.join(dir, 'cwd');
    fs.mkdirSync(cwd);
    const r = await song(cwd, '--models', MODELS, '--seconds', '0.02', '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const codes = readSafetensors(path.join(cwd, 'out', 'codes.safetensors'));
    const [meta] = JSON.parse(codes.metadata.labels);
    expect(meta).toMatchObject({ artist: 'amber_vale', genre: 'pop', lyrics: fs.readFileSync(path.join(ROOT, 'data', 'default-lyrics.txt'), 'utf8') });
    expect(codes.metadata.seed).toBe('0');
    expect(fs.readdirSync(path.join(cwd, 'out')).sort()).toEqual(['codes.safetensors', 'index.html', 'item_0', 'level_0', 'level_1', 'level_2']);
    const help = await song(cwd, '--help');
    expect(help.stdout).toMatch(/--seconds S +length of the song; default 8\n/);
  }, 120_000);

  it('sings with the shipped default models (weights/default), 16 kHz, from a short setting', async () => {
    const out = path.join(dir, 'shipped');
    const r = await npmStart('--seconds', '1.1', '--quiet', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // 1.1 s at 16 kHz is 17600 samples: 137 whole top-level tokens of 128 samples.
    const codes = readSafetensors(path.join(out, 'codes.safetensors'));
    expect([2, 1, 0].map((l) => codes.tensors.get(`level_${l}`)!.shape)).toEqual([[1, 137], [1, 548], [1, 2192]]);
    expect(JSON.parse(codes.metadata.priors)).toEqual({ level_2: 'prior_level_2.safetensors', level_1: 'prior_level_1.safetensors', level_0: 'prior_level_0.safetensors' });
    for (const level of [2, 1, 0]) {
      const wav = readWavMono(path.join(out, `level_${level}`, 'item_0.wav'));
      expect(wav.sampleRate).toBe(16000);
      expect(wav.samples.length).toBe(17536);
      // Decoded music, not silence.
      expect(Math.max(...wav.samples.map(Math.abs))).toBeGreaterThan(0.01);
    }
    // The lyrics aligned to the song by the top prior: the karaoke page and its files.
    expect(fs.readdirSync(path.join(out, 'item_0')).sort()).toEqual(expect.arrayContaining(['alignment.json', 'attention.safetensors', 'index.html']));
    const alignment = JSON.parse(fs.readFileSync(path.join(out, 'item_0', 'alignment.json'), 'utf8'));
    expect(alignment).toMatchObject({ sample_rate: 16000, hop_length: 128 });
    expect(alignment.words.length).toBeGreaterThan(0);
  }, 120_000);

  it('a missing model folder, a missing file in it, or a length the models cannot make is one line saying what to do', async () => {
    const empty = await npmStart('--models', path.join(dir, 'nowhere'));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe(`jukebox: ${path.join(dir, 'nowhere')}: no models here (a model folder holds vqvae.safetensors, prior_level_2.safetensors, prior_level_1.safetensors, prior_level_0.safetensors); the default models are built by \`npm run train-default\`, or pass --models DIR\n`);
    const partial = path.join(dir, 'partial');
    fs.mkdirSync(partial);
    fs.copyFileSync(path.join(MODELS, 'vqvae.safetensors'), path.join(partial, 'vqvae.safetensors'));
    fs.copyFileSync(path.join(MODELS, 'prior_level_2.safetensors'), path.join(partial, 'prior_level_2.safetensors'));
    const r = await npmStart('--models', partial);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^jukebox: [^\n]*partial: missing prior_level_1\.safetensors, prior_level_0\.safetensors \(a model folder holds [^\n]*\n$/);
    const bad = await npmStart('--models', MODELS, '--seconds', 'soon');
    expect(bad.stderr).toBe("jukebox: song: --seconds must be a positive number, got 'soon'\n");
    // The tiny level-1 upsampler needs one context of 32 tokens of 8 samples: 256 samples, 0.0116 s.
    const short = await npmStart('--models', MODELS, '--seconds', '0.01');
    expect(short.stderr).toBe('jukebox: song: --seconds 0.01 is too short for these models: at least 0.02 s (one context of the level 1 upsampler, 32 tokens)\n');
  }, 120_000);
});
