import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusLabelTables } from '../../data/corpus/tables';
import { AlignAccuracyOptions, AlignAccuracyReport, alignAccuracy, DEFAULTS, reportTable } from '../../scripts/align-accuracy';
import { evenSpreadBaseline, onsetAccuracy } from '../../src/align/accuracy';
import { randomPrior, savePrior } from '../../src/prior/load';
import { priorPreset } from '../../src/prior/presets';
import { REPO_ROOT, runCommand, tempDir, useBackend } from '../helpers';
import { saveTinyVQVAE } from '../train/helpers';

/**
 * `npm run align-accuracy` end to end on tiny random models: a two-song held-out corpus generated
 * because the folder is absent, every song aligned and scored against its sidecar's word onsets,
 * the baseline, every lyric head, the JSON report and the printed table.
 */
const { dir, cleanup } = tempDir('align-accuracy-');
const TOP = path.join(dir, 'top.safetensors');
const VQVAE = path.join(dir, 'vqvae.safetensors');
const NO_LYRICS = path.join(dir, 'no-lyrics.safetensors');
const options: AlignAccuracyOptions = { ...DEFAULTS, corpus: path.join(dir, 'corpus'), top: TOP, vqvae: VQVAE, out: null, songs: 2, seconds: 5 };

beforeAll(async () => {
  await useBackend();
  await saveTinyVQVAE(VQVAE, 1);
  for (const [file, preset] of [[TOP, 'tiny_top'], [NO_LYRICS, 'tiny_top_no_lyrics']]) {
    const prior = randomPrior(priorPreset(preset), 0, { labelTables: corpusLabelTables() });
    await savePrior(file, prior, { preset });
    prior.dispose();
  }
});
afterAll(cleanup);

describe('npm run align-accuracy, end to end on tiny models', () => {
  let report: AlignAccuracyReport;

  it('generates the absent corpus, aligns every song and scores it against the exact word onsets', async () => {
    const log: string[] = [];
    const before = tf.memory().numTensors;
    report = await alignAccuracy(options, (line) => log.push(line));
    expect(tf.memory().numTensors).toBe(before);
    expect(log[0]).toMatch(/is absent; generating 2 songs of 5 s, seed 1001/);
    const sidecars = fs.readdirSync(options.corpus).filter((f) => f.endsWith('.json')).sort()
      .map((f) => JSON.parse(fs.readFileSync(path.join(options.corpus, f), 'utf8')) as { words: { word: string; start: number; end: number }[]; seed: number });
    expect(sidecars).toHaveLength(2);
    expect(sidecars.every((s) => s.seed === 1001)).toBe(true);

    expect(report.songs).toBe(2);
    expect(report.per_song.map((s) => s.words)).toEqual(sidecars.map((s) => s.words.length));
    expect(report.words).toBe(sidecars.reduce((n, s) => n + s.words.length, 0));
    for (const [i, song] of report.per_song.entries()) {
      // The baseline is the even spread over the song's sung span, scored as the model is.
      const truth = sidecars[i].words.map((w) => ({ word: w.word, start: w.start, end: w.end }));
      expect(song.baseline).toEqual(onsetAccuracy(evenSpreadBaseline(truth), truth));
      for (const a of [song.model, song.baseline]) {
        expect(a.words).toBe(truth.length);
        expect(a.median_abs_error).toBeGreaterThanOrEqual(0);
        expect(a.within_0_2).toBeLessThanOrEqual(a.within_0_5);
        expect(a.within_0_5).toBeLessThanOrEqual(1);
      }
      expect(song.beats_baseline).toBe(song.model.median_abs_error < song.baseline.median_abs_error);
      // Where the used head looks while the words are sung: a word's tokens are on its line too.
      expect(song.tracking.tokens).toBeGreaterThan(0);
      expect(song.tracking.word).toBeLessThanOrEqual(song.tracking.line);
      expect(song.tracking.line).toBeLessThanOrEqual(1);
      // tiny_top reads lyrics in one encoder-decoder layer of two heads: the finder ranks both.
      expect(song.most_accurate.finder_rank).toBeGreaterThanOrEqual(1);
      expect(song.most_accurate.finder_rank).toBeLessThanOrEqual(report.heads.length);
    }
    expect(report.overall.model.words).toBe(report.words);
    expect(report.overall.baseline.words).toBe(report.words);
    expect(report.overall.songs_beating_baseline).toBe(report.per_song.filter((s) => s.beats_baseline).length);
    // Pooled over the songs' sung tokens, each token once.
    const sungTokens = report.per_song.reduce((n, s) => n + s.tracking.tokens, 0);
    expect(report.overall.tracking.tokens).toBe(sungTokens);
    expect(report.overall.tracking.word).toBeCloseTo(report.per_song.reduce((n, s) => n + s.tracking.word * s.tracking.tokens, 0) / sungTokens, 12);
    // Every head is tracked over the same sung tokens, and a word's tokens are on its line too.
    for (const h of report.heads) {
      expect(h.tracking.tokens).toBe(sungTokens);
      expect(h.tracking.word).toBeLessThanOrEqual(h.tracking.line);
    }

    // Every lyric head, best first by the finder's mean score, each with its accuracy over all words.
    expect(report.heads.length).toBeGreaterThanOrEqual(2);
    expect(report.heads.map((h) => h.finder_rank)).toEqual(report.heads.map((_h, i) => i + 1));
    for (let i = 1; i < report.heads.length; i++) expect(report.heads[i].score).toBeLessThanOrEqual(report.heads[i - 1].score);
    expect(report.heads.reduce((n, h) => n + h.ranked_first_in, 0)).toBe(2);
    expect(report.heads.every((h) => h.accuracy.words === report.words)).toBe(true);
    for (const h of report.heads) for (const f of [h.score, h.monotonicity, h.concentration, h.coverage]) expect(f >= 0 && f <= 1).toBe(true);
    expect(report.head_finder.first).toEqual({ layer: report.heads[0].layer, head: report.heads[0].head });
    const best = report.heads.find((h) => h.layer === report.head_finder.most_accurate.layer && h.head === report.head_finder.most_accurate.head)!;
    expect(best.finder_rank).toBe(report.head_finder.most_accurate.finder_rank);
    expect(Math.min(...report.heads.map((h) => h.accuracy.median_abs_error))).toBe(best.accuracy.median_abs_error);

    const table = reportTable(report);
    expect(table.split('\n')[0]).toMatch(/^song\s+words\s+head\s+median err/);
    expect(table.split('\n')[0]).toMatch(/beats baseline\s+looks at word\s+at line\s/);
    expect(table).toMatch(/\noverall\s/);
  }, 240_000);

  it('as an npm script: reads the existing corpus, prints the table and writes the JSON', async () => {
    const out = path.join(dir, 'report', 'alignment-accuracy.json');
    const r = await runCommand('npm', ['run', '--silent', 'align-accuracy', '--', '--corpus', options.corpus, '--top', TOP, '--vqvae', VQVAE, '--songs', '1', '--out', out], REPO_ROOT);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('generating');
    expect(r.stdout).toMatch(/\noverall\s/);
    const saved = JSON.parse(fs.readFileSync(out, 'utf8')) as AlignAccuracyReport;
    expect(saved.songs).toBe(1);
    // The same song, model and procedure give the same figures as the in-process run.
    expect(saved.per_song[0]).toEqual(report.per_song[0]);
    expect(saved.wall_seconds).toBeGreaterThan(0);
  }, 240_000);

  it('refuses a top prior without lyrics, naming the file', async () => {
    await expect(alignAccuracy({ ...options, top: NO_LYRICS })).rejects.toThrow(/--top has no lyrics/);
    await expect(alignAccuracy({ ...options, top: path.join(dir, 'missing.safetensors') })).rejects.toThrow(/--top: no such file/);
  });
});
