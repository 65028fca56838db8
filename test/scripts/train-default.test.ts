import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../src/checkpoint/safetensors';
import { loadPrior } from '../../src/prior/load';
import { runJukebox } from '../helpers';
import { DEFAULTS, machineName, SHIPPED, signTestP, trainDefault, TrainDefaultOptions } from '../../scripts/train-default';


const jukebox = runJukebox;

describe('npm run train-default, end to end on tiny models', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'train-default-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const options: TrainDefaultOptions = {
    ...DEFAULTS,
    run: path.join(work, 'run'),
    out: path.join(work, 'out'),
    songs: 3,
    heldOutSongs: 3,
    seconds: 5,
    sr: 22050,
    vqvaePreset: 'tiny',
    topPreset: 'tiny_top',
    // tiny_top names no alignment head (the head finder picks one), so no guided alignment term;
    // its fine-tune runs without it too.
    topAlignLoss: 0,
    topTuneSteps: 2,
    topTuneAlignLoss: 0,
    // Large enough for its second step to move the weights visibly past half-precision rounding.
    topTuneLr: 1e-2,
    topTuneWarmup: 1,
    topEdgesSteps: 2,
    topSeparatorsSteps: 2,
    topTimingSteps: 2,
    up1Preset: 'tiny_upsampler',
    up0Preset: 'tiny_upsampler_level_0',
    vqvaeSteps: 2,
    topSteps: 2,
    up1Steps: 2,
    up0Steps: 2,
    batchSize: 2,
    saveEvery: 1,
    workers: 1,
    evalSongs: 3,
  };

  it('makes the corpus, trains every model, exports, evaluates, then resumes instead of starting over', async () => {
    const log: string[] = [];
    const ev = (await trainDefault(options, (line) => log.push(line)))!;
    for (const f of [SHIPPED.vqvae, SHIPPED.prior(2), SHIPPED.prior(1), SHIPPED.prior(0), 'eval.json', 'training.jsonl', 'README.md']) {
      expect(fs.existsSync(path.join(options.out, f)), f).toBe(true);
    }
    // Half precision: the shipped prior is about half its float32 training copy.
    const shipped = fs.statSync(path.join(options.out, SHIPPED.prior(2))).size;
    const trained = fs.statSync(path.join(options.run, 'prior_level_2', 'prior.safetensors')).size;
    expect(shipped).toBeLessThan(0.6 * trained);

    expect(ev.vqvae.map((r) => r.level)).toEqual([0, 1, 2]);
    for (const r of ev.vqvae) {
      expect(Number.isFinite(r.spectral_convergence_db)).toBe(true);
      expect(r.codes_in_use).toBeGreaterThan(0);
      expect(r.codes_in_use).toBeLessThanOrEqual(1);
    }
    for (const c of [ev.top_prior.lyrics, ev.top_prior.lyrics_vs_others, ev.top_prior.artist, ev.top_prior.genre]) {
      expect(c.songs).toBe(3);
      expect(c.per_song).toHaveLength(3);
      expect(c.mean_difference).toBeCloseTo(c.other_bits_per_token - c.own_bits_per_token, 6);
      expect(c.songs_agreeing).toBe(c.per_song.filter((s) => s.other > s.own).length);
      expect(c.sign_test_p).toBe(signTestP(c.songs_agreeing, 3));
    }
    // Each held-out song of the tiny corpus has its own lyrics, so swapping them changes the score.
    expect(ev.top_prior.lyrics.per_song.every((s) => s.own !== s.other)).toBe(true);
    // Three held-out songs: each has two other songs' lyrics (of the 8 asked for), the first of
    // them "another song's"; the mean takes the second too, a score of its own.
    const vsOthers = ev.top_prior.lyrics_vs_others;
    expect(vsOthers.others).toBe(2);
    vsOthers.per_song.forEach((s, i) => {
      const first = ev.top_prior.lyrics.per_song[i];
      expect(s.own).toBe(first.own);
      const second = 2 * s.other - first.other;
      expect(Math.abs(second - first.other)).toBeGreaterThan(1e-6);
      expect(Math.abs(second - s.own)).toBeGreaterThan(1e-6);
    });
    expect(ev.upsamplers.map((u) => u.level)).toEqual([1, 0]);

    const saved = JSON.parse(fs.readFileSync(path.join(options.out, 'eval.json'), 'utf8'));
    expect(Object.keys(saved.wall_seconds)).toEqual(['corpus', 'vqvae', 'encode', 'prior_level_2', 'prior_level_2_tune', 'prior_level_2_edges', 'prior_level_2_separators', 'prior_level_2_timing', 'prior_level_1', 'prior_level_0', 'export', 'evaluate']);
    // Each stage names the machine it ran on (model and cores), in eval.json and the README.
    expect(machineName()).toBe(`${os.cpus()[0].model.replace(/\s+/g, ' ').trim()}, ${os.cpus().length} cores`);
    expect(Object.keys(saved.wall_machines)).toEqual(Object.keys(saved.wall_seconds));
    for (const machines of Object.values(saved.wall_machines)) expect(machines).toEqual([machineName()]);
    const models = fs.readFileSync(path.join(options.out, 'training.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).model);
    expect(new Set(models)).toEqual(new Set(['vqvae', 'prior_level_2', 'prior_level_2_tune', 'prior_level_2_edges', 'prior_level_2_separators', 'prior_level_2_timing', 'prior_level_1', 'prior_level_0']));
    // The last fine-tune ships as the top prior: its weights, and the steps of all five runs.
    const topMeta = readSafetensorsHeader(path.join(options.out, SHIPPED.prior(2))).metadata;
    expect(topMeta.steps).toBe('10');
    expect(topMeta.description).toContain(
      'trained 2 steps, then fine-tuned 2 steps (prior_level_2_tune), then fine-tuned 2 steps (prior_level_2_edges), then fine-tuned 2 steps (prior_level_2_separators), then fine-tuned 2 steps (prior_level_2_timing)',
    );
    // Only the last fine-tune moves its label rows.
    const jitter = (stage: string) => JSON.parse(readSafetensorsHeader(path.join(options.run, stage, 'train_state.safetensors')).metadata.settings).timing_jitter;
    expect(jitter('prior_level_2_timing')).toBe(DEFAULTS.topTimingJitter);
    expect(jitter('prior_level_2_separators')).toBeUndefined();
    const { model: tuned } = loadPrior(path.join(options.run, 'prior_level_2_timing', 'prior.safetensors'));
    const { model: base } = loadPrior(path.join(options.run, 'prior_level_2', 'prior.safetensors'));
    const { model: shippedTop } = loadPrior(path.join(options.out, SHIPPED.prior(2)));
    const name = 'prime_x_out.weight';
    const close = (a: Float32Array, b: Float32Array) => a.every((x, i) => Math.abs(x - b[i]) <= 1e-3 * Math.max(1, Math.abs(b[i])));
    const values = (m: typeof tuned) => m.weights.get(name).dataSync() as Float32Array;
    expect(close(values(shippedTop), values(tuned))).toBe(true);
    expect(close(values(tuned), values(base))).toBe(false);
    for (const m of [tuned, base, shippedTop]) m.dispose();
    const readme = fs.readFileSync(path.join(options.out, 'README.md'), 'utf8');
    expect(readme).toContain('| lyrics |');
    expect(readme).toContain("| lyrics, mean over 2 other songs' |");
    expect(readme).toContain('| stage | wall time | machine |');
    const vqvaeRow = readme.split('\n').find((l) => l.startsWith('| vqvae | '))!;
    expect(vqvaeRow).toMatch(/^\| vqvae \| [\d.]+ min \| /);
    expect(vqvaeRow.endsWith(` min | ${machineName()} |`)).toBe(true);
    // One encoding serves the three prior runs.
    expect(fs.lstatSync(path.join(options.run, 'prior_level_0', 'codes')).isSymbolicLink()).toBe(true);
    expect(log.some((l) => /^\[vqvae\] done in [\d.]+ s/.test(l))).toBe(true);

    // Rerun with the top prior's steps raised: finished stages are skipped, the top prior resumes.
    // The run's times were recorded before machines were (seconds alone): they carry on.
    const timingsFile = path.join(options.run, 'timings.json');
    const first = JSON.parse(fs.readFileSync(timingsFile, 'utf8'));
    fs.writeFileSync(timingsFile, JSON.stringify(first.seconds));
    const again: string[] = [];
    await trainDefault({ ...options, topSteps: 3 }, (line) => again.push(line));
    const resumed = JSON.parse(fs.readFileSync(timingsFile, 'utf8'));
    expect(resumed.seconds.vqvae).toBeGreaterThanOrEqual(first.seconds.vqvae);
    expect(resumed.seconds.prior_level_2).toBeGreaterThan(first.seconds.prior_level_2);
    expect(resumed.machines.prior_level_2).toEqual([machineName()]);
    expect(again).toContain('corpus train: 3 songs already there');
    expect(again).toContain('vqvae: already at step 2');
    expect(again).toContain('prior_level_1: already at step 2');
    expect(again.some((l) => l.startsWith('prior_level_2: step 3/3 saved'))).toBe(true);
    expect(again.some((l) => l.startsWith('prior_level_2: step 1/'))).toBe(false);
    // The fine-tune started from step 2's weights: it is kept aside and tunes step 3's afresh.
    const aside = path.join(options.run, 'prior_level_2_tune-from-step-2');
    expect(again).toContain(`prior_level_2_tune: tuned prior_level_2 at step 2, which is now at step 3; moved to ${aside}, starting afresh`);
    expect(again.some((l) => l.startsWith('prior_level_2_tune: step 2/2 saved'))).toBe(true);
    expect(fs.existsSync(path.join(aside, 'prior.safetensors'))).toBe(true);
    expect(fs.readFileSync(path.join(options.run, 'prior_level_2_tune', 'tuned_from_step.txt'), 'utf8').trim()).toBe('3');
    // The second fine-tune tuned 4 steps in all (2 + 2), now 5 (3 + 2): it starts afresh as well.
    const edgesAside = path.join(options.run, 'prior_level_2_edges-from-step-4');
    expect(again).toContain(`prior_level_2_edges: tuned prior_level_2_tune at step 4, which is now at step 5; moved to ${edgesAside}, starting afresh`);
    expect(again.some((l) => l.startsWith('prior_level_2_edges: step 2/2 saved'))).toBe(true);
    // And the third: 6 steps under it then (2 + 2 + 2), 7 now.
    const separatorsAside = path.join(options.run, 'prior_level_2_separators-from-step-6');
    expect(again).toContain(`prior_level_2_separators: tuned prior_level_2_edges at step 6, which is now at step 7; moved to ${separatorsAside}, starting afresh`);
    expect(again.some((l) => l.startsWith('prior_level_2_separators: step 2/2 saved'))).toBe(true);
    // And the fourth: 8 then, 9 now.
    const timingAside = path.join(options.run, 'prior_level_2_timing-from-step-8');
    expect(again).toContain(`prior_level_2_timing: tuned prior_level_2_separators at step 8, which is now at step 9; moved to ${timingAside}, starting afresh`);
    expect(again.some((l) => l.startsWith('prior_level_2_timing: step 2/2 saved'))).toBe(true);
  });

  it('jukebox info on the exported top prior lists the artists and genres it was trained on', async () => {
    const file = path.join(options.out, SHIPPED.prior(2));
    const r = await jukebox('info', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    const sidecars = fs.readdirSync(path.join(options.run, 'corpus', 'train')).filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(options.run, 'corpus', 'train', f), 'utf8')));
    expect(info.artists[0]).toBe('unknown');
    for (const s of sidecars) {
      expect(info.artists).toContain(s.artist);
      expect(info.genres).toContain(s.genre);
    }
    const text = await jukebox('info', file);
    expect(text.stdout).toContain(`artists:      `);
    expect(text.stdout).toContain(sidecars[0].artist);
  });
});

describe('signTestP, the paired comparisons\' one-sided sign test', () => {
  it('gives the exact binomial tail', () => {
    // C(24,18..24) sum to 190051 of 2^24 outcomes.
    expect(signTestP(18, 24)).toBeCloseTo(190051 / 2 ** 24, 12);
    expect(signTestP(24, 24)).toBeCloseTo(2 ** -24, 18);
    expect(signTestP(0, 24)).toBeCloseTo(1, 12);
    expect(signTestP(12, 24)).toBeCloseTo((2 ** 24 - 2 ** 23 + 2704156 / 2) / 2 ** 24, 12); // half of the rest, plus half of C(24,12)
    expect(signTestP(2, 2)).toBe(0.25);
    // Large n would overflow 2^n and C(n, k) outside log space.
    expect(signTestP(600, 1200)).toBeGreaterThan(0.5);
    expect(signTestP(1200, 1200)).toBe(0);
  });

  it('refuses counts that are not 0 <= agreeing <= n', () => {
    expect(() => signTestP(3, 2)).toThrow('sign test: need integers 0 <= agreeing <= n, got 3 of 2');
    expect(() => signTestP(1.5, 2)).toThrow(RangeError);
  });
});
