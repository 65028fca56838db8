import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeMusic, writeWav } from '../../src/audio';
import { lyricWords } from '../../src/align/words';
import { loadPrior, randomPrior, savePrior } from '../../src/prior/load';
import { priorPreset } from '../../src/prior/presets';
import { characterWords } from '../../src/align/accuracy';
import { ALIGN_LOSS_EPSILON, alignmentTerm, windowTargets } from '../../src/train/align-loss';
import { windowJitter } from '../../src/train/prior-data';
import { PRIOR_RUN_FILES, PriorRunMetrics, trainPrior, TrainPriorOptions } from '../../src/train/prior-run';
import { readSafetensorsHeader } from '../../src/checkpoint/safetensors';
import { priorLossAndGrads } from '../../src/train/prior-trainer';
import { runJukebox, tempDir, useBackend } from '../helpers';
import { saveTinyVQVAE, SR } from './helpers';

const { dir, cleanup } = tempDir();
let DATA: string;
let VQVAE_FILE: string;
const SECONDS = 4;

/**
 * Five 4-second songs whose sidecars time every word of the lyrics in proportion to its place in
 * the text (so the Labeller's lyric window, centred on the window's share of the song, holds the
 * word sung there), with a gap at each space.
 */
async function writeTimedSet(root: string): Promise<void> {
  DATA = path.join(root, 'data');
  fs.mkdirSync(DATA, { recursive: true });
  for (let i = 0; i < 5; i++) {
    await writeWav(path.join(DATA, `song${i}.wav`), synthesizeMusic({ seconds: SECONDS, seed: i, sampleRate: SR }), SR, { format: 'pcm16' });
    const lyrics = `The sun goes down, and night comes round; la la la, song ${i}!`;
    const words = [...lyrics.matchAll(/\S+/g)].map((m) => ({
      word: m[0].replace(/[,;!]/g, ''),
      start: (m.index! / lyrics.length) * SECONDS,
      end: ((m.index! + m[0].length) / lyrics.length) * SECONDS,
    }));
    fs.writeFileSync(path.join(DATA, `song${i}.json`), JSON.stringify({ artist: ['Nora Quill', 'Marco Ferro'][i % 2], genre: 'folk', lyrics, words }));
  }
  VQVAE_FILE = path.join(root, 'vqvae.safetensors');
  await saveTinyVQVAE(VQVAE_FILE, 1);
}

beforeAll(async () => {
  await useBackend();
  await writeTimedSet(dir);
});
afterAll(cleanup);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('alignment targets', () => {
  // Characters: "one two,  three" — "two," is the word "two" (punctuation trimmed), two spaces.
  const characters = 'one two,  three';
  const words = [{ word: 'one', start: 0, end: 1 }, { word: 'two', start: 1, end: 2 }, { word: 'three', start: 3, end: 4 }];

  it('gives each character of the cleaned lyrics its timed word, and none to spaces and punctuation', () => {
    expect(Array.from(characterWords(characters, words))).toEqual([0, 0, 0, -1, 1, 1, 1, -1, -1, -1, 2, 2, 2, 2, 2]);
    // A word the cleaned text lacks does not shift the later pairs.
    expect(Array.from(characterWords('one three', words))).toEqual([0, 0, 0, -1, 2, 2, 2, 2, 2]);
  });

  it('targets, per music token, the window\'s keys of the word sung at its centre, and nothing in gaps', () => {
    const owner = characterWords(characters, words);
    const identity = Array.from({ length: characters.length }, (_, i) => i);
    // 0.5 s per token: centres 0.25, 0.75 (one), 1.25, 1.75 (two), 2.25, 2.75 (gap), 3.25, 3.75 (three).
    const { targets, tokens } = windowTargets(words, owner, identity, 0, 8, 0.5);
    const keysOf = (t: number) => identity.filter((k) => targets[t * identity.length + k] === 1);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(keysOf)).toEqual([[0, 1, 2], [0, 1, 2], [4, 5, 6], [4, 5, 6], [], [], [10, 11, 12, 13, 14], [10, 11, 12, 13, 14]]);
    expect(tokens).toBe(6);
  });

  it('reads times from the window\'s start and keys through the window\'s lyric indices (padding: -1)', () => {
    const owner = characterWords(characters, words);
    // A window 2 tokens in whose lyric window holds "two," and padding: tokens at 1.25, 1.75, 2.25, 2.75 s.
    const indices = [4, 5, 6, 7, -1, -1];
    const { targets, tokens } = windowTargets(words, owner, indices, 2, 4, 0.5);
    expect(Array.from(targets)).toEqual([1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(tokens).toBe(2);
    // A word sung while the window's lyrics do not hold it gives that token no target.
    expect(windowTargets(words, owner, [0, 1, 2], 2, 4, 0.5).tokens).toBe(0);
  });

  it('with breakSeconds, targets in a long enough gap the characters between its words, and leaves shorter gaps alone', () => {
    const owner = characterWords(characters, words);
    const identity = Array.from({ length: characters.length }, (_, i) => i);
    const keysOf = (targets: Uint8Array) => (t: number) => identity.filter((k) => targets[t * identity.length + k] === 1);
    // The gap 2–3 s lasts 1 s: a break at 1 s and under, its tokens (2.25, 2.75 s) target ",  " (keys 7–9).
    const breaks = windowTargets(words, owner, identity, 0, 8, 0.5, 1);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(keysOf(breaks.targets))).toEqual([[0, 1, 2], [0, 1, 2], [4, 5, 6], [4, 5, 6], [7, 8, 9], [7, 8, 9], [10, 11, 12, 13, 14], [10, 11, 12, 13, 14]]);
    expect(breaks.tokens).toBe(8);
    // Over 1 s it is not a break: the words' targets only, as without breakSeconds.
    const longer = windowTargets(words, owner, identity, 0, 8, 0.5, 1.5);
    expect(Array.from(longer.targets)).toEqual(Array.from(windowTargets(words, owner, identity, 0, 8, 0.5).targets));
    expect(longer.tokens).toBe(6);
  });

  it('with breakSeconds, targets the padding before the lyrics ahead of the first word, and the characters after the last word after it', () => {
    // "one two." sung 1–2 s and 2–3 s; the Labeller pads short lyrics at the start (index -1).
    const timed = [{ word: 'one', start: 1, end: 2 }, { word: 'two', start: 2, end: 3 }];
    const owner = characterWords('one two.', timed);
    const indices = [-1, -1, 0, 1, 2, 3, 4, 5, 6, 7];
    // 1 s per token: 0.5 (before "one"), 1.5 (one), 2.5 (two), 3.5 (after "two": ".").
    const { targets, tokens } = windowTargets(timed, owner, indices, 0, 4, 1, 10);
    const keysOf = (t: number) => indices.map((_, k) => k).filter((k) => targets[t * indices.length + k] === 1);
    expect([0, 1, 2, 3].map(keysOf)).toEqual([[0, 1], [2, 3, 4], [6, 7, 8], [9]]);
    expect(tokens).toBe(4);
    // A window whose lyric keys start past the padding has no key for the intro: no target there.
    expect(windowTargets(timed, owner, [0, 1, 2, 3], 0, 1, 1, 10).tokens).toBe(0);
  });

  it('with edgeSeparators, an intro or outro with no key of its own targets every separator of the window', () => {
    // "one two, three" sung 1–4 s, lyrics longer than the window: no padding, nothing before "one".
    const timed = [{ word: 'one', start: 1, end: 2 }, { word: 'two', start: 2, end: 3 }, { word: 'three', start: 3, end: 4 }];
    const owner = characterWords('one two, three', timed);
    // Window keys "e two, t" (characters 2–9); 1 s per token: 0.5 (intro), 1.5, 2.5, 3.5 (sung), 4.5 (outro).
    const indices = [2, 3, 4, 5, 6, 7, 8, 9];
    const keysOf = (targets: Uint8Array) => (t: number) => indices.map((_, k) => k).filter((k) => targets[t * indices.length + k] === 1);
    const edges = windowTargets(timed, owner, indices, 0, 5, 1, 10, 'edges');
    // The separators of the window are " " (key 1) and ", " (keys 5, 6).
    expect([0, 1, 2, 3, 4].map(keysOf(edges.targets))).toEqual([[1, 5, 6], [0], [2, 3, 4], [7], [1, 5, 6]]);
    expect(edges.tokens).toBe(5);
    // Without it those two tokens have no target.
    const plain = windowTargets(timed, owner, indices, 0, 5, 1, 10);
    expect([0, 4].map(keysOf(plain.targets))).toEqual([[], []]);
    expect(plain.tokens).toBe(3);
    // A gap between words is not an edge: with a key of its own it keeps it, and without one it stays empty.
    const gapped = [{ word: 'one', start: 0, end: 1 }, { word: 'two', start: 3, end: 4 }, { word: 'three', start: 4, end: 5 }];
    const inGap = windowTargets(gapped, owner, [8, 9, 10], 0, 5, 1, 1, 'edges');
    expect(Array.from(inGap.targets.subarray(3, 9))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('with separators \'breaks\', every break targets every separator of the window, and the padding before the first word', () => {
    // "one two, three": "one" 1–2 s, a break, "two" 4–5 s, "three" 5–6 s; two padding keys ahead of the lyrics.
    const timed = [{ word: 'one', start: 1, end: 2 }, { word: 'two', start: 4, end: 5 }, { word: 'three', start: 5, end: 6 }];
    const owner = characterWords('one two, three', timed);
    const indices = [-1, -1, ...Array.from({ length: 14 }, (_, c) => c)];
    const keysOf = (targets: Uint8Array) => (t: number) => indices.map((_, k) => k).filter((k) => targets[t * indices.length + k] === 1);
    // 1 s per token: 0.5 (intro), 1.5 (one), 2.5 and 3.5 (the break), 4.5 (two), 5.5 (three), 6.5 (outro).
    // The separators are " " (key 5), "," and " " (keys 9, 10).
    const every = windowTargets(timed, owner, indices, 0, 7, 1, 1, 'breaks');
    expect([0, 1, 2, 3, 4, 5, 6].map(keysOf(every.targets))).toEqual([[0, 1, 5, 9, 10], [2, 3, 4], [5, 9, 10], [5, 9, 10], [6, 7, 8], [11, 12, 13, 14, 15], [5, 9, 10]]);
    expect(every.tokens).toBe(7);
    // With 'edges' the break keeps the space between its words, the intro its padding; the outro, with no key of its own, gets the separators.
    const edges = windowTargets(timed, owner, indices, 0, 7, 1, 1, 'edges');
    expect([0, 2, 3, 6].map(keysOf(edges.targets))).toEqual([[0, 1], [5], [5], [5, 9, 10]]);
    // A gap shorter than a break gets no target in either.
    expect(windowTargets(timed, owner, indices, 0, 7, 1, 2.5, 'breaks').tokens).toBe(5);
  });

  it('follows the Labeller\'s cleaning of the lyrics (the characters the model reads)', () => {
    const prior = randomPrior(priorPreset('tiny_top'), 1, { labelTables: { artists: new Map([['unknown', 0]]), genres: new Map([['unknown', 0]]) } });
    const lyrics = 'Héllo, wörld!  Don\'t stop';
    const labels = prior.labeller!.getBatchLabels([{ artist: 'unknown', genre: 'unknown', lyrics, totalSeconds: 4, offsetSeconds: 0 }]);
    const cleaned = labels.info[0].lyrics;
    const timed = [{ word: 'Hello', start: 0, end: 1 }, { word: 'world', start: 1, end: 2 }, { word: 'Don\'t', start: 2, end: 3 }, { word: 'stop', start: 3, end: 4 }];
    const owner = characterWords(cleaned, timed);
    const spelled = timed.map((_, j) => [...cleaned].filter((_c, i) => owner[i] === j).join(''));
    expect(spelled).toEqual(lyricWords(cleaned).map((w) => w.word));
    expect(spelled.map((w) => w.toLowerCase().normalize('NFKD').replace(/[^a-z']/g, ''))).toEqual(['hello', 'world', 'don\'t', 'stop']);
    prior.dispose();
  });
});

describe('the guided alignment term', () => {
  it('is the mean over targeted tokens of -log(attention mass on the word\'s keys + 1e-6), on the supervised head', () => {
    // [N=1, heads=2, T=2, K=3]; head 1 is supervised, head 0 must not matter.
    const attention = tf.tensor4d([[[[1, 0, 0], [1, 0, 0]], [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]]]);
    const one = alignmentTerm(attention, 1, { targets: Uint8Array.from([1, 1, 0, 0, 0, 0]), tokensPerRow: 1 });
    expect(one.dataSync()[0]).toBeCloseTo(-Math.log(0.8 + ALIGN_LOSS_EPSILON), 6);
    const two = alignmentTerm(attention, 1, { targets: Uint8Array.from([0, 0, 1, 0, 1, 0]), tokensPerRow: 2 });
    expect(two.dataSync()[0]).toBeCloseTo((-Math.log(0.2 + ALIGN_LOSS_EPSILON) - Math.log(0.1 + ALIGN_LOSS_EPSILON)) / 2, 6);
    // No attention on the word: finite, -log(1e-6).
    const none = alignmentTerm(attention, 0, { targets: Uint8Array.from([0, 1, 0, 0, 0, 0]), tokensPerRow: 1 });
    expect(none.dataSync()[0]).toBeCloseTo(-Math.log(ALIGN_LOSS_EPSILON), 4);
    tf.dispose([attention, one, two, none]);
  });

  it('adds W × the term to the training loss, with its gradient through the recorded attention, leaking nothing', () => {
    const prior = randomPrior(priorPreset('tiny_top'), 2, { labelTables: { artists: new Map([['unknown', 0]]), genres: new Map([['unknown', 0]]) } });
    const labels = prior.labeller!.getBatchLabels([{ artist: 'unknown', genre: 'unknown', lyrics: 'the sun goes down and the night comes round', totalSeconds: 4, offsetSeconds: 0 }]);
    const { y } = prior.getY(labels, 1000)!;
    const z = tf.tensor2d(Array.from({ length: 64 }, (_, i) => (i * 7) % 64), [1, 64], 'int32');
    // Every token's target: keys 3..6.
    const targets = new Uint8Array(64 * 32);
    for (let t = 0; t < 64; t++) targets.fill(1, t * 32 + 3, t * 32 + 7);
    const before = tf.memory().numTensors;
    const plain = priorLossAndGrads(prior, z, { y });
    const guided = priorLossAndGrads(prior, z, { y }, { settings: { weight: 2, layer: 3, head: 1 }, targets: { targets, tokensPerRow: 64 } });
    expect(plain.alignLoss).toBeNull();
    expect(guided.alignLoss).toBeGreaterThan(0);
    expect(guided.loss).toBeCloseTo(plain.loss + 2 * guided.alignLoss!, 4);
    expect(guided.genLoss).toBe(plain.genLoss);
    const diff = (name: string) => tf.tidy(() => tf.max(tf.abs(tf.sub(guided.grads.get(name)!, plain.grads.get(name)!))).dataSync()[0]);
    // The term reaches the alignment layer's queries and the lyrics encoder's keys...
    expect(diff('prior.transformer._attn_mods.3.attn.c_attn.w')).toBeGreaterThan(1e-6);
    expect(diff('prior.transformer._attn_mods.3.attn.c_enc_kv.w')).toBeGreaterThan(1e-6);
    expect(diff('prime_state_proj.w')).toBeGreaterThan(1e-6);
    // ...and nothing after the attention probabilities (the layer's output projection) or off its path.
    expect(diff('prior.transformer._attn_mods.3.attn.c_proj.w')).toBe(0);
    expect(diff('prime_x_out.weight')).toBe(0);
    tf.dispose([...plain.grads.values(), ...guided.grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, y]);
    prior.dispose();
  });
});

describe('train-prior with --align-loss on tiny_top', () => {
  const STEPS = 40;
  const options = (out: string, extra: Partial<TrainPriorOptions>): TrainPriorOptions => ({
    outDir: path.join(dir, out), steps: STEPS, data: DATA, vqvae: VQVAE_FILE, preset: 'tiny_top', seed: 1, batchSize: 4, saveEvery: 10,
    train: { lr: 3e-3, lr_warmup: 10 }, alignHead: { layer: 3, head: 0 }, warn: () => undefined, ...extra,
  });
  const runs = new Map<number, PriorRunMetrics[]>();

  it.each([0, 1])('W = %d: trains, logging the held-out term at each save, leaking nothing', async (weight) => {
    const before = tf.memory().numTensors;
    const r = await trainPrior(options(`w${weight}`, { alignLoss: weight }));
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    runs.set(weight, r.metrics);
    expect(r.metrics.filter((m) => m.heldout_align_loss !== undefined)).toHaveLength(STEPS / 10);
    expect(r.metrics.every((m) => (m.align_loss !== undefined) === (weight > 0))).toBe(true);
    const logged = fs.readFileSync(path.join(dir, `w${weight}`, PRIOR_RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(logged[STEPS - 1].heldout_align_loss).toBe(r.metrics[STEPS - 1].heldout_align_loss);
  }, 120_000);

  it('W = 1 lowers the term (train and held-out) and raises the head\'s attention on the sung word, where W = 0 does not', () => {
    const guided = runs.get(1)!;
    const plain = runs.get(0)!;
    const trainFirst = mean(guided.slice(0, 10).map((m) => m.align_loss!));
    const trainLast = mean(guided.slice(-10).map((m) => m.align_loss!));
    const held = (ms: PriorRunMetrics[]) => ms.filter((m) => m.heldout_align_loss !== undefined).map((m) => m.heldout_align_loss!);
    const [g, p] = [held(guided), held(plain)];
    console.log(`align loss: train ${trainFirst.toFixed(2)} -> ${trainLast.toFixed(2)}; held-out at saves W=1 ${g.map((x) => x.toFixed(2)).join(', ')}, W=0 ${p.map((x) => x.toFixed(2)).join(', ')}; ` +
      `head 3/0's mass on the sung word (geometric mean) W=1 ${Math.exp(-g[0]).toFixed(3)} -> ${Math.exp(-g[g.length - 1]).toFixed(3)}, W=0 ${Math.exp(-p[p.length - 1]).toFixed(3)}; ` +
      `held-out bpd W=1 ${guided[STEPS - 1].heldout_bpd!.toFixed(2)}, W=0 ${plain[STEPS - 1].heldout_bpd!.toFixed(2)}`);
    expect(trainLast).toBeLessThan(trainFirst / 2);
    expect(g[g.length - 1]).toBeLessThan(g[0]);
    expect(g[g.length - 1]).toBeLessThan(p[p.length - 1] / 2);
    // Same seed and windows: the reference's terms are not the guided run's (the weights moved apart).
    expect(guided[0].bpd).toBe(plain[0].bpd);
    expect(guided[STEPS - 1].bpd).not.toBe(plain[STEPS - 1].bpd);
  });

  it('gives on 2 worker threads the steps of one', async () => {
    const r = await trainPrior(options('workers', { alignLoss: 1, steps: 3, workers: 2 }));
    r.model.dispose();
    const one = runs.get(1)!;
    r.metrics.forEach((m, i) => {
      for (const key of ['loss', 'bpd', 'prime_loss', 'align_loss', 'gn'] as const) {
        expect(Math.abs(m[key]! - one[i][key]!), `${key} at step ${i}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(one[i][key]!)));
      }
    });
  }, 60_000);

  it('resumes with the same weight and refuses a changed one, naming both', async () => {
    await expect(trainPrior(options('w1', { resume: true, alignLoss: 2, steps: STEPS + 1 }))).rejects.toThrow(
      'train-prior: --align-loss cannot change when resuming: the run has 1, this command gives 2',
    );
    await expect(trainPrior(options('w1', { resume: true, alignHead: { layer: 3, head: 1 }, steps: STEPS + 1 }))).rejects.toThrow(
      'train-prior: --align-head cannot change when resuming: the run has \'3/0\', this command gives \'3/1\'',
    );
    const r = await trainPrior({ outDir: path.join(dir, 'w1'), steps: STEPS + 1, resume: true, warn: () => undefined });
    expect(r.metrics.map((m) => m.step)).toEqual([STEPS]);
    expect(r.metrics[0].align_loss).toBeGreaterThan(0);
    // The trained model names the supervised head, so alignment reads it.
    expect([r.model.config.alignment_layer, r.model.config.alignment_head]).toEqual([3, 0]);
    r.model.dispose();
  }, 60_000);
});

describe('train-prior --align-breaks', () => {
  const options = (out: string, extra: Partial<TrainPriorOptions>): TrainPriorOptions => ({
    outDir: path.join(dir, out), steps: 2, data: DATA, vqvae: VQVAE_FILE, preset: 'tiny_top', seed: 1, batchSize: 4, saveEvery: 2,
    alignHead: { layer: 3, head: 0 }, alignLoss: 1, warn: () => undefined, ...extra,
  });

  it('targets the gaps as well: another term from the same weights, kept on resume and refused changed', async () => {
    // The timed songs leave a gap of about 0.07 s at each space: breaks at 0.05 s.
    const breaks = await trainPrior(options('breaks', { alignBreaks: 0.05 }));
    const words = await trainPrior(options('words', {}));
    // The first step's music loss is the same (same weights and windows); the align term is not.
    expect(breaks.metrics[0].bpd).toBe(words.metrics[0].bpd);
    expect(breaks.metrics[0].align_loss).not.toBe(words.metrics[0].align_loss);
    expect(breaks.metrics[1].heldout_align_loss).not.toBe(words.metrics[1].heldout_align_loss);
    breaks.model.dispose();
    words.model.dispose();
    await expect(trainPrior(options('breaks', { resume: true, alignBreaks: 1, steps: 3 }))).rejects.toThrow(
      'train-prior: --align-breaks cannot change when resuming: the run has 0.05, this command gives 1',
    );
    await expect(trainPrior(options('words', { resume: true, alignBreaks: 1, steps: 3 }))).rejects.toThrow(
      'train-prior: --align-breaks cannot change when resuming: the run has \'none\', this command gives 1',
    );
    const resumed = await trainPrior({ outDir: path.join(dir, 'breaks'), steps: 3, resume: true, warn: () => undefined });
    const again = await trainPrior(options('breaks-again', { alignBreaks: 0.05, steps: 3 }));
    // The resumed run kept its breaks: its third step is a fresh run's.
    expect(resumed.metrics[0].align_loss).toBeCloseTo(again.metrics[2].align_loss!, 5);
    resumed.model.dispose();
    again.model.dispose();
  }, 120_000);

  it('refuses --align-breaks without --align-loss, and a bad value, in one line', async () => {
    const base = ['train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--steps', '1', '--out', path.join(dir, 'refused-breaks'), '--align-head', '3/0'];
    const alone = await runJukebox(...base, '--align-breaks', '1');
    expect(alone.stderr.trim()).toBe('jukebox: train-prior: --align-breaks sets targets of the alignment loss; it needs --align-loss W > 0');
    const bad = await runJukebox(...base, '--align-loss', '1', '--align-breaks', '0');
    expect(bad.stderr.trim()).toBe('jukebox: train-prior: --align-breaks must be a positive number, got \'0\'');
    for (const r of [alone, bad]) expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(dir, 'refused-breaks', PRIOR_RUN_FILES.state))).toBe(false);
  }, 60_000);
});

describe('train-prior --align-edges and --align-separators', () => {
  /** The timed songs in `name`, each word's times moved by `move`. */
  function writeMovedSet(name: string, move: (seconds: number, wordStart: number) => number): string {
    const data = path.join(dir, name);
    fs.mkdirSync(data, { recursive: true });
    for (const f of fs.readdirSync(DATA)) {
      if (f.endsWith('.wav')) fs.copyFileSync(path.join(DATA, f), path.join(data, f));
      if (!f.endsWith('.json')) continue;
      const side = JSON.parse(fs.readFileSync(path.join(DATA, f), 'utf8')) as { words: { start: number; end: number }[] };
      side.words = side.words.map((w) => ({ ...w, start: move(w.start, w.start), end: move(w.end, w.start) }));
      fs.writeFileSync(path.join(data, f), JSON.stringify(side));
    }
    return data;
  }
  /** The words moved into the last 3 s: a 1-s intro, lyrics longer than tiny_top's 32-key window. */
  const writeIntroSet = () => writeMovedSet('intro-data', (t) => 1 + (t * 3) / SECONDS);
  /** The words that start in the first half squeezed into its first 1.2 s: a break of at least 0.8 s in the middle of each song. */
  const writeBreakSet = () => writeMovedSet('break-data', (t, wordStart) => (wordStart < SECONDS / 2 ? (t * 1.2) / (SECONDS / 2 + 0.4) : t));
  const options = (data: string, out: string, extra: Partial<TrainPriorOptions>): TrainPriorOptions => ({
    outDir: path.join(dir, out), steps: 1, data, vqvae: VQVAE_FILE, preset: 'tiny_top', seed: 1, batchSize: 4, saveEvery: 1,
    alignHead: { layer: 3, head: 0 }, alignLoss: 1, alignBreaks: 0.5, warn: () => undefined, ...extra,
  });

  it('targets the intros too: another term from the same weights, and refused changed on resume', async () => {
    const data = writeIntroSet();
    const edges = await trainPrior(options(data, 'edges', { alignEdges: true }));
    const breaks = await trainPrior(options(data, 'edges-off', {}));
    expect(edges.metrics[0].bpd).toBe(breaks.metrics[0].bpd);
    expect(edges.metrics[0].align_loss).not.toBe(breaks.metrics[0].align_loss);
    edges.model.dispose();
    breaks.model.dispose();
    await expect(trainPrior(options(data, 'edges-off', { resume: true, alignEdges: true, steps: 2 }))).rejects.toThrow(
      'train-prior: --align-edges cannot change when resuming: the run has false, this command gives true',
    );
    // The same command again with --resume is accepted.
    const resumed = await trainPrior(options(data, 'edges', { resume: true, alignEdges: true, alignHead: undefined, steps: 2 }));
    expect(resumed.metrics.map((m) => m.step)).toEqual([1]);
    resumed.model.dispose();
  }, 120_000);

  it('--align-separators targets every break\'s separators: another term from the same weights, and refused changed on resume', async () => {
    const data = writeBreakSet();
    const every = await trainPrior(options(data, 'separators', { alignEdges: true, alignSeparators: true }));
    const edges = await trainPrior(options(data, 'separators-off', { alignEdges: true }));
    expect(every.metrics[0].bpd).toBe(edges.metrics[0].bpd);
    expect(every.metrics[0].align_loss).not.toBe(edges.metrics[0].align_loss);
    every.model.dispose();
    edges.model.dispose();
    await expect(trainPrior(options(data, 'separators-off', { resume: true, alignEdges: true, alignSeparators: true, steps: 2 }))).rejects.toThrow(
      'train-prior: --align-separators cannot change when resuming: the run has false, this command gives true',
    );
    const r = await runJukebox('train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--steps', '1', '--out', path.join(dir, 'refused-separators'),
      '--align-head', '3/0', '--align-loss', '1', '--align-separators');
    expect(r.stderr.trim()).toBe('jukebox: train-prior: --align-separators targets the separators in the breaks; it needs --align-breaks S');
    expect(r.code).toBe(1);
  }, 120_000);

  it('refuses --align-edges without --align-breaks in one line', async () => {
    const r = await runJukebox('train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--steps', '1', '--out', path.join(dir, 'refused-edges'),
      '--align-head', '3/0', '--align-loss', '1', '--align-edges');
    expect(r.stderr.trim()).toBe('jukebox: train-prior: --align-edges targets the intros and outros as breaks; it needs --align-breaks S');
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(dir, 'refused-edges', PRIOR_RUN_FILES.state))).toBe(false);
  }, 60_000);
});

describe('train-prior --init', () => {
  it('starts a new run from a prior\'s weights and label tables exactly', async () => {
    const file = path.join(dir, 'w0', PRIOR_RUN_FILES.model);
    const before = tf.memory().numTensors;
    const r = await trainPrior({ outDir: path.join(dir, 'init'), steps: 0, data: DATA, vqvae: VQVAE_FILE, preset: 'tiny_top', init: file, warn: () => undefined });
    const { model: saved } = loadPrior(file);
    for (const name of saved.spec.keys()) expect(r.model.weights.get(name).dataSync(), name).toEqual(saved.weights.get(name).dataSync());
    expect(r.model.labeller!.tables!.artists).toEqual(saved.labeller!.tables!.artists);
    saved.dispose();
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fine-tunes from there: the first step\'s loss is the initial model\'s, not a random one\'s', async () => {
    const file = path.join(dir, 'w0', PRIOR_RUN_FILES.model);
    const common = { steps: 1, data: DATA, vqvae: VQVAE_FILE, preset: 'tiny_top', seed: 3, warn: () => undefined };
    const tuned = await trainPrior({ outDir: path.join(dir, 'tuned'), init: file, ...common });
    const fresh = await trainPrior({ outDir: path.join(dir, 'fresh'), ...common });
    console.log(`first step's bits per token: from --init ${tuned.metrics[0].bpd.toFixed(2)}, from random weights ${fresh.metrics[0].bpd.toFixed(2)}`);
    expect(tuned.metrics[0].bpd).toBeLessThan(fresh.metrics[0].bpd - 1);
    tuned.model.dispose();
    fresh.model.dispose();
  }, 60_000);

  it('refuses, in one line naming the file, a prior of another structure, and an --init added on resuming a run without one', async () => {
    const other = path.join(dir, 'no-lyrics.safetensors');
    const model = randomPrior(priorPreset('tiny_top_no_lyrics'), 1);
    await savePrior(other, model);
    model.dispose();
    const args = ['train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--steps', '1', '--out', path.join(dir, 'mismatch'), '--init', other];
    const r = await runJukebox(...args);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^jukebox: .*no-lyrics\.safetensors: --init does not match preset 'tiny_top': \d+ parameters differ \(/);
    // w0 started from random weights: an --init on its resume is a changed setting.
    const initFile = path.join(dir, 'w0', PRIOR_RUN_FILES.model);
    const both = await runJukebox('train-prior', '--out', path.join(dir, 'w0'), '--steps', '50', '--resume', '--init', initFile);
    expect(both.code).toBe(1);
    expect(both.stderr.trim()).toBe(`jukebox: train-prior: --init cannot change when resuming: the run has 'none', this command gives '${path.resolve(initFile)}'`);
  }, 60_000);

  it('resumes a fine-tune with its original command and --resume added, from the run\'s own weights', async () => {
    const init = path.join(dir, 'w0', PRIOR_RUN_FILES.model);
    const out = path.join(dir, 'tune-resume');
    const command = ['train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--seed', '3', '--batch-size', '2', '--save-every', '1', '--init', init, '--out', out, '--quiet'];
    const first = await runJukebox(...command, '--steps', '1');
    expect(first.code, first.stderr).toBe(0);
    const afterOne = fs.readFileSync(path.join(out, PRIOR_RUN_FILES.model));
    const again = await runJukebox(...command, '--steps', '2', '--resume');
    expect(again.code, again.stderr).toBe(0);
    const steps = fs.readFileSync(path.join(out, PRIOR_RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual([0, 1]);
    // The resumed command trained step 1 on top of the saved run (exact resume: the same as one uninterrupted run).
    expect(fs.readFileSync(path.join(out, PRIOR_RUN_FILES.model)).equals(afterOne)).toBe(false);
    const other = await runJukebox(...command.map((a) => (a === init ? path.join(dir, 'tuned', PRIOR_RUN_FILES.model) : a)), '--steps', '3', '--resume');
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toMatch(/^jukebox: train-prior: --init cannot change when resuming: the run has '.*w0\/prior\.safetensors', this command gives '.*tuned\/prior\.safetensors'$/);
  }, 120_000);

  it('refuses --align-loss without an alignment head, and bad values, in one line', async () => {
    const base = ['train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--steps', '1', '--out', path.join(dir, 'refused')];
    const noHead = await runJukebox(...base, '--align-loss', '1');
    expect(noHead.stderr.trim()).toBe('jukebox: train-prior: --align-loss needs an alignment head: preset \'tiny_top\' names none; pass --align-head L/H (lyric layers: 3)');
    const notLyric = await runJukebox(...base, '--align-loss', '1', '--align-head', '2/0');
    expect(notLyric.stderr.trim()).toBe('jukebox: train-prior: alignment layer 2 is not a lyric layer of preset \'tiny_top\' (lyric layers: 3)');
    const negative = await runJukebox(...base, '--align-loss', 'lots');
    expect(negative.stderr.trim()).toBe('jukebox: train-prior: --align-loss must be a number ≥ 0, got \'lots\'');
    for (const r of [noHead, notLyric, negative]) expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(dir, 'refused', PRIOR_RUN_FILES.state))).toBe(false);
  }, 60_000);
});

describe('train-prior --timing-jitter', () => {
  it('windowJitter is fixed by the window and spread over [-1, 1)', () => {
    const values = Array.from({ length: 2000 }, (_, i) => windowJitter(i % 7, 37 * i));
    expect(values.map((_, i) => windowJitter(i % 7, 37 * i))).toEqual(values);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...values)).toBeLessThan(1);
    // Uniform: each quarter of the range holds about a quarter of the windows.
    for (let q = 0; q < 4; q++) {
      const share = values.filter((v) => v >= -1 + q / 2 && v < -0.5 + q / 2).length / values.length;
      expect(share).toBeGreaterThan(0.2);
      expect(share).toBeLessThan(0.3);
    }
    expect(windowJitter(0, 100)).not.toBe(windowJitter(1, 100));
  });

  const options = (out: string, extra: Partial<TrainPriorOptions>): TrainPriorOptions => ({
    outDir: path.join(dir, out), steps: 1, data: DATA, vqvae: VQVAE_FILE, preset: 'tiny_top', seed: 1, batchSize: 4, saveEvery: 1,
    alignHead: { layer: 3, head: 0 }, alignLoss: 1, warn: () => undefined, ...extra,
  });

  it('moves the label rows of the same windows: another loss, recorded, refused changed on resume and refused negative in one line', async () => {
    const moved = await trainPrior(options('jitter', { timingJitter: 1 }));
    const still = await trainPrior(options('jitter-off', {}));
    // The same windows and weights with other timing and lyric windows in their labels.
    expect(moved.metrics[0].bpd).not.toBe(still.metrics[0].bpd);
    moved.model.dispose();
    still.model.dispose();
    const settings = (out: string) => JSON.parse(readSafetensorsHeader(path.join(dir, out, PRIOR_RUN_FILES.state)).metadata.settings);
    expect(settings('jitter').timing_jitter).toBe(1);
    expect(settings('jitter-off').timing_jitter).toBeUndefined();
    await expect(trainPrior(options('jitter', { resume: true, timingJitter: 2, steps: 2 }))).rejects.toThrow(
      'train-prior: --timing-jitter cannot change when resuming: the run has 1, this command gives 2',
    );
    // The same command again with --resume is accepted.
    const resumed = await trainPrior(options('jitter', { resume: true, timingJitter: 1, alignHead: undefined, steps: 2 }));
    expect(resumed.metrics.map((m) => m.step)).toEqual([1]);
    resumed.model.dispose();
    const r = await runJukebox('train-prior', '--data', DATA, '--vqvae', VQVAE_FILE, '--preset', 'tiny_top', '--steps', '1', '--out', path.join(dir, 'refused-jitter'),
      '--timing-jitter', 'x');
    expect(r.stderr.trim()).toBe('jukebox: train-prior: --timing-jitter must be a number ≥ 0, got \'x\'');
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(dir, 'refused-jitter', PRIOR_RUN_FILES.state))).toBe(false);
  }, 120_000);
});
