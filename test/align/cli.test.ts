import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { alignLyrics, lyricLayers } from '../../src/align/index';
import { arraySource, writeWav } from '../../src/audio';
import { loadVQVAE } from '../../src/checkpoint/load';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { main } from '../../src/cli/main';
import { randomPrior, savePrior } from '../../src/prior/load';
import { readBatchedCodesFile, writeBatchedCodesFile } from '../../src/vqvae/codes-file';
import { encodeChunked } from '../../src/vqvae/streaming';
import { KARAOKE_IDS } from '../../src/viz/karaoke';
import { currentWordAt, launchOffline, openPage } from '../browser';
import { musicLike, runJukebox, tempDir, useBackend } from '../helpers';
import { TINY_TOP, TINY_TOP_NO_LYRICS } from '../sample/tiny-priors';

/**
 * `jukebox align` end to end on the tiny VQ-VAE fixture and a random tiny top prior (22050 Hz, 16
 * samples per top-level token, n_ctx 32, one encoder-decoder lyric layer of 2 heads, 8 lyric
 * tokens per window): the weights are random, so the tests check the files, their agreement with
 * the library, the options and the page, not the quality of the alignment.
 */

const ROOT = path.join(__dirname, '..', '..');
const VQVAE = path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');
const { dir, cleanup } = tempDir();
const F = (name: string) => path.join(dir, name);
const LYRICS = 'Héllo, world: a tiny song\nla la la\n';
const TOKENS = 100;
const jukebox = runJukebox;
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

beforeAll(async () => {
  await useBackend();
  for (const [file, config, seed] of [['top.safetensors', TINY_TOP, 1], ['nolyrics.safetensors', TINY_TOP_NO_LYRICS, 2]] as const) {
    const p = randomPrior(config, seed);
    await savePrior(F(file), p);
    p.dispose();
  }
  fs.writeFileSync(F('lyrics.txt'), LYRICS);
  fs.writeFileSync(F('empty.txt'), ' \n');
  const song = musicLike(TOKENS * 16, 22050, 3);
  await writeWav(F('song.wav'), song, 22050, { format: 'float32' });
  // The song's codes as `jukebox encode` makes them.
  const { model } = loadVQVAE(VQVAE);
  try {
    const [zTop] = await encodeChunked(model, arraySource(song, 22050), [2]);
    await writeBatchedCodesFile(F('song.codes.safetensors'), new Map([[2, [zTop]]]), 22050, model.hopLengths);
    await writeBatchedCodesFile(F('two.safetensors'), new Map([[2, [zTop.slice().reverse(), zTop]]]), 22050, model.hopLengths);
  } finally {
    model.dispose();
  }
}, 60_000);
afterAll(cleanup);

describe('jukebox align', () => {
  it('audio with --find-head: alignment.json, attention.safetensors, heads.json and the page, as the library aligns the encoded codes', async () => {
    const out = F('a1');
    const r = await jukebox('align', F('song.wav'), '--top', F('top.safetensors'), '--vqvae', VQVAE, '--lyrics', F('lyrics.txt'), '--artist-id', '1', '--genre-id', '2', '--find-head', '--out', out);
    expect(r.stderr).toMatch(/^song\.wav: \d+ words aligned with layer 3, head [01] \(head finder's first\); wrote /);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['alignment.json', 'attention.safetensors', 'heads.json', 'index.html']);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const a = readJson(path.join(out, 'alignment.json'));
    expect(Object.keys(a)).toEqual(['layer', 'head', 'sample_rate', 'hop_length', 'characters', 'words', 'method']);
    expect(a).toMatchObject({ layer: 3, sample_rate: 22050, hop_length: 16, method: 'viterbi-words-gaps' });
    // The cleaned lyrics (accents folded as the reference's unidecode does), one string a character.
    expect(a.characters.join('')).toBe('Hello, world: a tiny song\nla la la\n');
    expect(a.words.map((w: { word: string }) => w.word)).toEqual(['Hello', 'world', 'a', 'tiny', 'song', 'la', 'la', 'la']);
    for (const w of a.words) expect(w.end).toBeGreaterThan(w.start);
    const heads = readJson(path.join(out, 'heads.json'));
    expect(heads.map((h: { layer: number; head: number }) => `${h.layer}/${h.head}`).sort()).toEqual(['3/0', '3/1']);
    expect([heads[0].layer, heads[0].head]).toEqual([a.layer, a.head]);
    const t = readSafetensors(path.join(out, 'attention.safetensors'));
    const m = t.tensors.get('alignment')!;
    expect([m.dtype, m.shape]).toEqual(['F32', [TOKENS, a.characters.length]]);
    expect(t.metadata).toMatchObject({ format: 'jukebox-ts/alignment', layer: '3', head: String(a.head), sample_rate: '22050', hop_length: '16' });

    // The same song's codes aligned in-process: the same matrix and words.
    const zTop = readBatchedCodesFile(F('song.codes.safetensors')).levels.get(2)![0];
    expect(zTop.length).toBe(TOKENS);
    const prior = randomPrior(TINY_TOP, 1);
    try {
      expect(lyricLayers(prior)).toEqual([3]);
      const lib = await alignLyrics(prior, zTop, { artistId: 1, genreId: 2, lyrics: LYRICS, totalSeconds: (TOKENS * 16) / 22050, offsetSeconds: 0 }, { layer: a.layer, head: a.head });
      const data = m.data as Float32Array;
      const want = lib.attention.maps.get(`${a.layer}/${a.head}`)!;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(data[i] - want[i]));
      expect(worst).toBeLessThan(1e-6);
      expect(a.words).toEqual(lib.words);
    } finally {
      prior.dispose();
    }
  }, 120_000);

  it('codes with --layer/--head, --decoding and --take; without --vqvae the page has a slider and no heads.json', async () => {
    const out = F('a2');
    const r = await jukebox('align', F('two.safetensors'), '--take', '1', '--top', F('top.safetensors'), '--lyrics', F('lyrics.txt'), '--artist-id', '1', '--genre-id', '2',
      '--layer', '3', '--head', '0', '--decoding', 'lines', '--quiet', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['alignment.json', 'attention.safetensors', 'index.html']);
    const a = readJson(path.join(out, 'alignment.json'));
    expect([a.layer, a.head]).toEqual([3, 0]);
    expect(a.method).toBe('viterbi-lines-gaps-then-words');
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html).toContain(`id="${KARAOKE_IDS.position}"`);
    expect(html).not.toContain('<audio');
    // Both heads of layer 3 were captured: the page offers both.
    expect(html).toContain('<option value="3/1">');
  }, 60_000);

  it('bad input is one line and writes nothing', async () => {
    const base = ['--top', F('top.safetensors'), '--lyrics', F('lyrics.txt'), '--out', F('bad')];
    const cases: [string[], RegExp][] = [
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--layer', '3'], /^jukebox: align: --layer needs --head \(give both, or --find-head to rank every lyric head\)\n$/],
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--head', '1'], /^jukebox: align: --head needs --layer/],
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--layer', '3', '--head', '1', '--find-head'], /^jukebox: align: give --layer L --head H or --find-head, not both\n$/],
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--layer', 'x', '--head', '1'], /^jukebox: align: --layer must be a non-negative integer, got 'x'\n$/],
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--decoding', 'syllables'], /^jukebox: align: --decoding must be words or lines, got 'syllables'\n$/],
      [[F('song.wav'), ...base], /^jukebox: align: audio input \(.*song\.wav\) is encoded with --vqvae, which is missing/],
      [[F('song.wav'), '--vqvae', VQVAE, '--top', F('top.safetensors'), '--out', F('bad')], /^jukebox: align: --lyrics is required/],
      [[F('song.wav'), '--vqvae', VQVAE, '--top', F('top.safetensors'), '--lyrics', F('empty.txt'), '--out', F('bad')], /empty\.txt: has no lyrics to align \(the file is empty\)\n$/],
      [[F('two.safetensors'), ...base], /two\.safetensors: holds 2 items: pick one with --take K \(0\.\.1\)\n$/],
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--layer', '2', '--head', '0'], /^jukebox: align: layer 2 is not a lyric layer of this prior \(lyric layers: 3\)\n$/],
      [[F('song.wav'), '--vqvae', VQVAE, ...base, '--layer', '3', '--head', '5'], /^jukebox: align: head 5 is out of range \(this prior has 2 heads per layer\)\n$/],
      [[F('song.wav'), '--vqvae', VQVAE, '--top', F('nolyrics.safetensors'), '--lyrics', F('lyrics.txt'), '--out', F('bad')], /^jukebox: align: the prior nolyrics\.safetensors has no lyric conditioning/],
      [[F('missing.wav'), '--vqvae', VQVAE, ...base], /missing\.wav: no such file\n$/],
    ];
    // In this process (the CLI's main, stderr captured): a process each would take half a minute here.
    for (const [args, message] of cases) {
      let stderr = '';
      const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
      });
      let code: number;
      try {
        code = await main(['align', ...args]);
      } finally {
        spy.mockRestore();
      }
      const what = args.join(' ');
      expect(code, what).toBe(1);
      expect(stderr.split('\n').filter((l) => l !== ''), what).toHaveLength(1);
      expect(stderr, what).toMatch(message);
    }
    expect(fs.existsSync(F('bad'))).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  }, 120_000);

  it('the page plays the song and highlights the word being sung at the playback position', async () => {
    const file = F('a1/index.html');
    const a = readJson(F('a1/alignment.json'));
    const browser = await launchOffline();
    try {
      const { page, consoleErrors, pageErrors } = await openPage(browser.context, file);
      await page.waitForFunction((id) => (document.getElementById(id) as HTMLAudioElement).readyState >= 1, KARAOKE_IDS.audio, { timeout: 20_000 });
      expect(await page.$eval(`#${KARAOKE_IDS.audio}`, (e) => (e as HTMLAudioElement).duration)).toBeCloseTo((TOKENS * 16) / 22050, 3);
      expect(await page.$$eval(`#${KARAOKE_IDS.head} option`, (o) => o.map((e) => (e as HTMLOptionElement).value))).toEqual(['3/0', '3/1']);
      // The lyrics as the model saw them, punctuation and line breaks kept, each word a span.
      expect(await page.$eval(`#${KARAOKE_IDS.lyrics}`, (e) => (e as HTMLElement).innerText)).toBe('Hello, world: a tiny song\nla la la');
      expect(await page.$$eval('.jbx-word', (s) => s.length)).toBe(a.words.length);
      for (const k of [0, a.words.length - 1]) {
        const w = a.words[k];
        expect(await currentWordAt(page, `#${KARAOKE_IDS.audio}`, (w.start + w.end) / 2)).toBe(w.word);
      }
      expect(pageErrors).toEqual([]);
      expect(consoleErrors).toEqual([]);
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
