import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavMono, writeWav } from '../../src/audio';
import { alignLyrics } from '../../src/align/index';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { checkBackendCapacity, randomPrior, savePrior } from '../../src/prior/load';
import { writeBatchedCodesFile } from '../../src/vqvae/codes-file';
import { musicLike, runJukebox, tempDir, useBackend } from '../helpers';
import { TINY_TOP, TINY_TOP_NO_LYRICS, tinyUpsampler } from '../sample/tiny-priors';

const ROOT = path.join(__dirname, '..', '..');
const VQVAE = path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');

const jukebox = runJukebox;

const { dir, cleanup } = tempDir();
const F = (name: string) => path.join(dir, name);
const LABELS = ['--artist-id', '3', '--genre-id', '2', '--lyrics', F('lyrics.txt')];
const rows = (file: string, name: string) => {
  const t = readSafetensors(file).tensors.get(name)!;
  const data = t.data as Int32Array;
  return Array.from({ length: t.shape[0] }, (_, i) => Array.from(data.subarray(i * t.shape[1], (i + 1) * t.shape[1])));
};

beforeAll(async () => {
  await useBackend();
  const save = async (file: string, config: typeof TINY_TOP, seed: number) => {
    const p = randomPrior(config, seed);
    await savePrior(F(file), p);
    p.dispose();
  };
  await save('top.safetensors', TINY_TOP, 1);
  await save('top-nolyrics.safetensors', TINY_TOP_NO_LYRICS, 4);
  await save('up1.safetensors', tinyUpsampler(1), 2);
  await save('up0.safetensors', tinyUpsampler(0), 3);
  fs.writeFileSync(F('lyrics.txt'), 'Hello, world: a tiny song\nla la la\n');
  // 24 top tokens of audio (16 samples each): the prompt is all of it, so `encode` of the file
  // sees the same audio (a cut prompt's last tokens see its end, as in the reference).
  await writeWav(F('prompt.wav'), musicLike(24 * 16, 22050, 5), 22050, { format: 'float32' });
}, 60000);
afterAll(cleanup);

describe('jukebox sample', () => {
  it('samples all three levels: codes, float WAVs per level and item, index.html', async () => {
    const out = F('s1');
    const r = await jukebox('sample', '--top', F('top.safetensors'), '--upsamplers', `${F('up1.safetensors')},${F('up0.safetensors')}`, '--vqvae', VQVAE, ...LABELS,
      '--tokens', '40', '--samples', '2', '--seed', '3', '--quiet', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const codes = readSafetensors(path.join(out, 'codes.safetensors'));
    expect([2, 1, 0].map((l) => [codes.tensors.get(`level_${l}`)!.dtype, codes.tensors.get(`level_${l}`)!.shape])).toEqual([['I32', [2, 40]], ['I32', [2, 80]], ['I32', [2, 160]]]);
    const m = codes.metadata;
    expect(m).toMatchObject({ format: 'jukebox-ts/codes', sample_rate: '22050', hop_lengths: '[4,8,16]', seed: '3', mode: 'ancestral', length_samples: '640' });
    expect(JSON.parse(m.labels)).toEqual([0, 1].map(() => ({ artistId: 3, genreId: 2, lyrics: 'Hello, world: a tiny song\nla la la\n', totalSeconds: 640 / 22050, offsetSeconds: 0 })));
    expect(JSON.parse(m.settings)).toMatchObject({ level_2: { temperature: 0.99, chunkSize: 16, maxBatchSize: 3, hopFraction: 0.125 }, level_0: { hopFraction: 0.5, maxBatchSize: 16 } });
    for (const [level, hop] of [[2, 16], [1, 8], [0, 4]]) {
      for (const i of [0, 1]) {
        const file = path.join(out, `level_${level}`, `item_${i}.wav`);
        expect(fs.readFileSync(file).readUInt16LE(20)).toBe(3); // IEEE float
        const wav = readWavMono(file);
        expect(wav.sampleRate).toBe(22050);
        expect(wav.samples.length).toBe((640 / hop) * hop);
      }
    }
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html.match(/<audio /g)).toHaveLength(6);
    expect(html).toContain('src="level_0/item_1.wav"');
    expect(fs.readdirSync(out).sort()).toEqual(['codes.safetensors', 'index.html', 'item_0', 'item_1', 'level_0', 'level_1', 'level_2']);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // Each item's lyrics aligned to its own top-level codes (the tiny prior names no head: the head finder's first).
    expect(html).toContain('href="item_1/index.html"');
    const prior = randomPrior(TINY_TOP, 1);
    try {
      for (const i of [0, 1]) {
        const item = path.join(out, `item_${i}`);
        expect(fs.readdirSync(item).sort()).toEqual(['alignment.json', 'attention.safetensors', 'heads.json', 'index.html']);
        const a = JSON.parse(fs.readFileSync(path.join(item, 'alignment.json'), 'utf8'));
        const lib = await alignLyrics(prior, Int32Array.from(rows(path.join(out, 'codes.safetensors'), 'level_2')[i]), JSON.parse(m.labels)[i]);
        expect(a).toEqual({ layer: lib.layer, head: lib.head, sample_rate: 22050, hop_length: 16, characters: lib.characters, words: lib.words, method: lib.method });
        expect(readSafetensors(path.join(item, 'attention.safetensors')).tensors.get('alignment')!.shape).toEqual([40, lib.characters.length]);
        expect(fs.readFileSync(path.join(item, 'index.html'), 'utf8')).toContain(`src="../level_0/item_${i}.wav"`);
      }
    } finally {
      prior.dispose();
    }
  });

  it('--codes-only needs no VQ-VAE; the seed makes runs reproducible', async () => {
    const run = (out: string, seed: string) => jukebox('sample', '--top', F('top.safetensors'), ...LABELS, '--seconds', '0.03', '--samples', '3', '--seed', seed, '--codes-only', '--quiet', '--out', F(out));
    expect((await run('c1', '7')).code).toBe(0);
    expect((await run('c2', '7')).code).toBe(0);
    expect((await run('c3', '8')).code).toBe(0);
    expect(fs.readdirSync(F('c1'))).toEqual(['codes.safetensors']);
    // 0.03 s at 22050 Hz is 661 samples: 41 top tokens.
    const a = rows(F('c1/codes.safetensors'), 'level_2');
    expect(a).toHaveLength(3);
    expect(a[0]).toHaveLength(41);
    expect(rows(F('c2/codes.safetensors'), 'level_2')).toEqual(a);
    expect(rows(F('c3/codes.safetensors'), 'level_2')).not.toEqual(a);
  });

  it('continues item K of a codes file from its first --prime-seconds', async () => {
    const r = await jukebox('sample', '--top', F('top.safetensors'), ...LABELS, '--tokens', '48', '--prime', F('c1/codes.safetensors'), '--take', '2', '--prime-seconds', '0.015',
      '--samples', '2', '--codes-only', '--quiet', '--out', F('cont'));
    expect(r.stderr).toBe('');
    const got = rows(F('cont/codes.safetensors'), 'level_2');
    const prompt = rows(F('c1/codes.safetensors'), 'level_2')[2];
    // 0.015 s is 330 samples: 20 whole top tokens of the prompt.
    for (const row of got) {
      expect(row).toHaveLength(48);
      expect(row.slice(0, 20)).toEqual(prompt.slice(0, 20));
    }
    expect(readSafetensors(F('cont/codes.safetensors')).metadata).toMatchObject({ mode: 'continue', take: '2', prompt_seconds: String(320 / 22050) });
  });

  it('primes with audio encoded by the VQ-VAE at every level sampled', async () => {
    expect((await jukebox('encode', F('prompt.wav'), '--vqvae', VQVAE, '--out', F('prompt-codes.safetensors'))).code).toBe(0);
    // One upsampler given: levels 2 and 1 by default.
    const r = await jukebox('sample', '--top', F('top.safetensors'), '--upsamplers', F('up1.safetensors'), '--vqvae', VQVAE, ...LABELS, '--tokens', '40',
      '--prime', F('prompt.wav'), '--codes-only', '--quiet', '--out', F('primed'));
    expect(r.stderr).toBe('');
    const encoded = readSafetensors(F('prompt-codes.safetensors')).tensors;
    const got = readSafetensors(F('primed/codes.safetensors')).tensors;
    expect([...got.keys()].sort()).toEqual(['level_1', 'level_2']);
    expect(Array.from((got.get('level_2')!.data as Int32Array).subarray(0, 24))).toEqual(Array.from((encoded.get('level_2')!.data as Int32Array).subarray(0, 24)));
    expect(Array.from((got.get('level_1')!.data as Int32Array).subarray(0, 48))).toEqual(Array.from((encoded.get('level_1')!.data as Int32Array).subarray(0, 48)));
    expect(got.get('level_1')!.shape).toEqual([1, 80]);
  });
});

describe('batched codes and the other commands', () => {
  it('decode --take K decodes item K of a sample, as the sample wrote it', async () => {
    const out = F('item1.wav');
    const r = await jukebox('decode', F('s1/codes.safetensors'), '--vqvae', VQVAE, '--level', '1', '--take', '1', '--out', out);
    expect(r.stderr).toBe('');
    expect(Array.from(readWavMono(out).samples)).toEqual(Array.from(readWavMono(F('s1/level_1/item_1.wav')).samples));
    const ambiguous = await jukebox('decode', F('s1/codes.safetensors'), '--vqvae', VQVAE, '--level', '1', '--out', out + '2');
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/codes\.safetensors: holds 2 items; choose one with --take K \(0\.\.1\)\n$/);
  });

  it('a model too big for the wasm heap is refused in one line naming the file, advising tfjs-node', async () => {
    expect(() => checkBackendCapacity(5e9, 'prior_level_2.pth.tar', 'wasm')).toThrow(/^prior_level_2\.pth\.tar: the model needs 5\.0 GB [^\n]*install @tensorflow\/tfjs-node[^\n]*$/);
  });
});

describe('jukebox upsample', () => {
  it('upsamples item K of sampled codes to levels 1 and 0 with WAVs and a page', async () => {
    const r = await jukebox('upsample', F('c1/codes.safetensors'), '--upsamplers', `${F('up1.safetensors')},${F('up0.safetensors')}`, '--take', '1', '--samples', '2',
      '--vqvae', VQVAE, '--artist-id', '1', '--quiet', '--out', F('up'));
    // One warning, though two items and two upsamplers' labellers each lack a genre.
    expect(r.stderr).toBe('jukebox: warning: no genre given: using genre id 0 (unknown)\n');
    expect(r.code).toBe(0);
    const top = rows(F('c1/codes.safetensors'), 'level_2')[1];
    expect(rows(F('up/codes.safetensors'), 'level_2')).toEqual([top, top]);
    expect(rows(F('up/codes.safetensors'), 'level_1').map((r) => r.length)).toEqual([82, 82]);
    expect(rows(F('up/codes.safetensors'), 'level_0').map((r) => r.length)).toEqual([164, 164]);
    expect(fs.readdirSync(F('up/level_0')).sort()).toEqual(['item_0.wav', 'item_1.wav']);
    expect(readSafetensors(F('up/codes.safetensors')).metadata).toMatchObject({ mode: 'upsample', take: '1', hop_lengths: '[4,8,16]' });
    expect(fs.readFileSync(F('up/index.html'), 'utf8').match(/<audio /g)).toHaveLength(6);
  });
});

describe('jukebox score', () => {
  it('scores sampled codes: logprob, logits, label rows, lyric indices, bits per token, scores.html', async () => {
    fs.mkdirSync(F('scores'));
    const out = F('scores/top.safetensors');
    const r = await jukebox('score', F('s1/codes.safetensors'), '--prior', F('top.safetensors'), ...LABELS, '--logits', '--quiet', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = readSafetensors(out);
    const lp = s.tensors.get('logprob')!;
    const logits = s.tensors.get('logits')!;
    expect([lp.dtype, lp.shape, logits.dtype, logits.shape]).toEqual(['F32', [2, 40], 'F32', [2, 40, 64]]);
    const codes = rows(F('s1/codes.safetensors'), 'level_2');
    const l = logits.data as Float32Array;
    let bits = 0;
    for (let i = 0; i < 2; i++) {
      for (let t = 0; t < 40; t++) {
        const row = l.subarray((i * 40 + t) * 64, (i * 40 + t + 1) * 64);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
        expect((lp.data as Float32Array)[i * 40 + t]).toBeCloseTo(row[codes[i][t]] - lse, 4);
        bits -= (lp.data as Float32Array)[i * 40 + t] / Math.LN2;
      }
    }
    expect(Number(s.metadata.bits_per_token)).toBeCloseTo(bits / 80, 4);
    const labels = JSON.parse(s.metadata.labels);
    expect(labels).toHaveLength(2);
    expect(labels[0]).toHaveLength(4 + 5 + 8);
    expect(labels[0].slice(0, 4)).toEqual([640, 0, 32 * 16, 3]);
    expect(JSON.parse(s.metadata.lyric_indices)[0][0]).toHaveLength(8);
    // 40 tokens with n_ctx 32: two windows.
    expect(JSON.parse(s.metadata.windows).map((w: { start: number }) => w.start)).toEqual([0, 8]);
    const html = fs.readFileSync(F('scores/scores.html'), 'utf8');
    expect(html).toContain('Surprise over time');
    expect(html).toContain('data-jbx-plotly');
  });

  it('scores an upsampler on the level above from the same file, and audio through the VQ-VAE', async () => {
    const u = await jukebox('score', F('s1/codes.safetensors'), '--prior', F('up1.safetensors'), '--quiet', '--out', F('scores/up1.safetensors'));
    expect(u.stderr).toMatch(/^(jukebox: warning: no (artist|genre) given.*\n){2}$/);
    const s = readSafetensors(F('scores/up1.safetensors'));
    expect(s.tensors.get('logprob')!.shape).toEqual([2, 80]);
    expect(JSON.parse(s.metadata.windows).length).toBeGreaterThanOrEqual(3);
    expect(s.metadata).toMatchObject({ level: '1', format: 'jukebox-ts/scores' });
    const a = await jukebox('score', F('prompt.wav'), '--prior', F('top.safetensors'), '--vqvae', VQVAE, '--artist-id', '2', '--genre-id', '1', '--quiet', '--out', F('scores/audio.safetensors'));
    expect(a.stderr).toBe('');
    expect(readSafetensors(F('scores/audio.safetensors')).tensors.get('logprob')!.shape).toEqual([1, 24]);
    // 392 samples: 49 level-1 tokens over 24 level-2 tokens (the last one half covered).
    await writeWav(F('odd.wav'), musicLike(392, 22050, 6), 22050, { format: 'float32' });
    const b = await jukebox('score', F('odd.wav'), '--prior', F('up1.safetensors'), '--vqvae', VQVAE, '--artist-id', '2', '--genre-id', '1', '--quiet', '--out', F('scores/odd.safetensors'));
    expect(b.stderr).toBe('');
    expect(readSafetensors(F('scores/odd.safetensors')).tensors.get('logprob')!.shape).toEqual([1, 49]);
  });
});

describe('sample, upsample and score errors', () => {
  const up = () => `${F('up1.safetensors')},${F('up0.safetensors')}`;
  const cases: [string, () => string[], RegExp][] = [
    ['codes from a VQ-VAE with other hop lengths', () => ['score', F('other-hops.safetensors'), '--prior', F('top.safetensors'), '--out', F('x.safetensors')],
      /other-hops\.safetensors: codes were made by a VQ-VAE at 22050 Hz with hop lengths \[8,32,128\], but .*top\.safetensors models a VQ-VAE at 22050 Hz with hop lengths \[4,8,16\]/],
    ['other hop lengths, upsample', () => ['upsample', F('other-hops.safetensors'), '--upsamplers', up(), '--codes-only', '--out', F('x')], /codes were made by a VQ-VAE at 22050 Hz with hop lengths \[8,32,128\]/],
    ['a level the prior does not model (upsampler order)', () => ['sample', '--top', F('top.safetensors'), '--upsamplers', F('up0.safetensors'), '--levels', '2,1', '--tokens', '40', '--codes-only', '--out', F('x')],
      /up0\.safetensors: models level 0, but --upsamplers entry 1 needs a prior of level 1/],
    ['an upsampler as the top prior', () => ['sample', '--top', F('up1.safetensors'), '--tokens', '40', '--codes-only', '--out', F('x')], /up1\.safetensors: models level 1, an upsampler; --top takes a top-level prior/],
    ['a level the codes lack', () => ['score', F('primed/codes.safetensors'), '--prior', F('up0.safetensors'), '--out', F('x.safetensors')], /holds no level_0 codes, the level the prior up0\.safetensors models \(it holds level_1, level_2\)/],
    ['levels without an upsampler', () => ['sample', '--top', F('top.safetensors'), '--levels', '2,1', '--tokens', '40', '--codes-only', '--out', F('x')], /--levels 2,1 needs an upsampler for level 1/],
    ['lyrics for a prior without lyrics (score)', () => ['score', F('s1/codes.safetensors'), '--prior', F('up1.safetensors'), '--lyrics', F('lyrics.txt'), '--out', F('x.safetensors')],
      /score: --lyrics .*lyrics\.txt: the prior up1\.safetensors has no lyric conditioning/],
    ['lyrics no prior sampled takes', () => ['sample', '--top', F('top-nolyrics.safetensors'), '--upsamplers', up(), '--lyrics', F('lyrics.txt'), '--tokens', '40', '--codes-only', '--out', F('x')],
      /sample: --lyrics .*: no prior sampled takes lyrics \(top-nolyrics\.safetensors, up1\.safetensors, up0\.safetensors have no lyric conditioning\)/],
    ['lyrics to upsample', () => ['upsample', F('c1/codes.safetensors'), '--upsamplers', up(), '--lyrics', F('lyrics.txt'), '--codes-only', '--out', F('x')], /upsample: --lyrics .*: no prior sampled takes lyrics/],
    ['an unknown preset', () => ['score', F('s1/codes.safetensors'), '--prior', F('top.safetensors'), '--preset', 'huge', '--out', F('x.safetensors')], /unknown prior preset 'huge' \(known: /],
    ['no length', () => ['sample', '--top', F('top.safetensors'), '--codes-only', '--out', F('x')], /sample: give --seconds S or --tokens N/],
    ['no --vqvae and no --codes-only', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--out', F('x')], /sample: --vqvae is required to decode the audio \(or pass --codes-only/],
    ['--take without --prime', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--take', '1', '--codes-only', '--out', F('x')], /sample: --take needs --prime/],
    ['a take the codes lack', () => ['upsample', F('c1/codes.safetensors'), '--upsamplers', up(), '--take', '5', '--codes-only', '--out', F('x')], /--take 5: the codes hold items 0\.\.2/],
    ['a prompt as long as the song', () => ['sample', '--top', F('top.safetensors'), '--tokens', '41', '--prime', F('c1/codes.safetensors'), '--take', '0', '--codes-only', '--out', F('x')],
      /the prompt \(0\.03 s\) is as long as the song asked \(0\.03 s\): nothing to sample/],
    ['a bad hop fraction', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--hop-fraction', '0.5,0', '--codes-only', '--out', F('x')], /--hop-fraction must be 3 fractions in \(0, 1\]/],
    ['both artist and artist id', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--artist', 'a', '--artist-id', '1', '--codes-only', '--out', F('x')], /give --artist or --artist-id, not both/],
    ['a missing input', () => ['score', F('nothing.safetensors'), '--prior', F('top.safetensors'), '--out', F('x.safetensors')], /nothing\.safetensors: no such file/],
    ['an output folder that does not exist, found before scoring', () => ['score', F('s1/codes.safetensors'), '--prior', F('top.safetensors'), '--out', F('no/dir/x.safetensors')], /x\.safetensors: cannot write: the directory .*no\/dir does not exist/],
    ['codes outside the codebook', () => ['upsample', F('big-codes.safetensors'), '--upsamplers', up(), '--codes-only', '--out', F('x')], /big-codes\.safetensors: code 99 at token 3 of item 0 of level_2 is outside the priors' codebook \(0\.\.63\)/],
    ['an audio prompt without a VQ-VAE', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--prime', F('prompt.wav'), '--codes-only', '--out', F('x')], /sample: an audio prompt \(--prime .*prompt\.wav\) is encoded with --vqvae, which is missing/],
    ['--take with an audio prompt', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--prime', F('prompt.wav'), '--take', '1', '--vqvae', VQVAE, '--codes-only', '--out', F('x')], /sample: --take picks an item of a codes file; an audio prompt has one/],
    ['a missing lyrics file', () => ['score', F('s1/codes.safetensors'), '--prior', F('top.safetensors'), '--lyrics', F('nope.txt'), '--out', F('x.safetensors')], /nope\.txt: no such file/],
    ['a song too short for the upsamplers, refused before the top level is sampled', () => ['sample', '--top', F('top.safetensors'), '--upsamplers', up(), '--tokens', '8', '--codes-only', '--out', F('x')],
      /upsampling level 1 needs at least one context of 32 tokens \(16 level 2 tokens\), got 16 \(8 level 2 tokens\)/],
    ['a timing outside the prior\'s range, in seconds', () => ['sample', '--top', F('top.safetensors'), '--tokens', '40', '--total-seconds', '200', '--codes-only', '--out', F('x')],
      /total length 200(\.0+)? s is outside this prior's range 0\.01–100 s \(set the song's length with --total-seconds/],
    ['an upsampler too short for one context', () => ['upsample', F('short.safetensors'), '--upsamplers', up(), '--codes-only', '--out', F('x')], /upsampling level 1 needs at least one context of 32 tokens/],
  ];
  beforeAll(async () => {
    await writeBatchedCodesFile(F('other-hops.safetensors'), new Map([[2, [new Int32Array(40)]], [1, [new Int32Array(160)]]]), 22050, [8, 32, 128]);
    await writeBatchedCodesFile(F('big-codes.safetensors'), new Map([[2, [Int32Array.from({ length: 40 }, (_, i) => (i === 3 ? 99 : 1))]]]), 22050, [4, 8, 16]);
    await writeBatchedCodesFile(F('short.safetensors'), new Map([[2, [new Int32Array(8)]]]), 22050, [4, 8, 16]);
  });
  it.each(cases)('%s: exit 1, one line, no output', async (_label, args, pattern) => {
    const before = fs.readdirSync(dir).sort();
    const r = await jukebox(...args());
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('npm warn'));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^jukebox: /);
    expect(lines[0]).toMatch(pattern);
    expect(r.code).toBe(1);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });
});
