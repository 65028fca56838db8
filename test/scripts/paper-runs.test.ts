import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from '../helpers';
import { DEFAULTS, PaperRunsOptions, paperRuns, parseOptions, TINY } from '../../scripts/paper-runs';
import {
  evaluatedNumbers, PAPER, PAPER_RUN_NAMES, PAPER_RUNS, PaperRunEvaluation, readPaperRuns, readPaperRunSteps, table1, table2, table3,
} from '../../src/metrics/paper-tables';

/**
 * Starts `npm run paper-runs` with `args` as a child process and kills it once a line of its output
 * matches `until`; resolves with the output so far.
 */
function runUntil(args: string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    // Node itself with tsx's loader, not the tsx binary, which runs the script in a child the kill would miss.
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/paper-runs.ts', ...args], { cwd: REPO_ROOT });
    let out = '';
    const seen = (chunk: Buffer) => {
      out += chunk.toString();
      if (until.test(out)) child.kill('SIGKILL');
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('error', reject);
    child.on('close', () => (until.test(out) ? resolve(out) : reject(new Error(`paper-runs ended before ${until}: ${out.slice(-2000)}`))));
  });
}

/** Each table's numbers, read straight from the eval.json files (independently of paper-tables.ts). */
function rawNumbers(dir: string): { table1: number[]; table2: number[]; table3: number[] } {
  const ev = (run: string) => JSON.parse(fs.readFileSync(path.join(dir, run, 'eval.json'), 'utf8')) as PaperRunEvaluation;
  const sc = (run: string, level: number) => Number(ev(run).levels[level].spectral_convergence_db.toFixed(2));
  return {
    table1: [0, 1, 2].flatMap((l) => [sc('no_restarts', l), sc('baseline', l)]),
    table2: ['codebook_small', 'baseline', 'no_quantisation'].flatMap((run) => [0, 1, 2].map((l) => sc(run, l))),
    table3: [sc('baseline', 2), sc('no_spectral', 2)],
  };
}

/** What the tables show, cell by cell, in the order rawNumbers lists them. */
function shownNumbers(dir: string): { table1: number[]; table2: number[]; table3: number[] } {
  const r = readPaperRuns(dir);
  return {
    table1: table1(r).rows.flatMap((row) => [row['ours, without restarts (dB)'], row['ours, with restarts (dB)']]),
    table2: table2(r).rows.map((row) => row['ours (dB)']),
    table3: table3(r).rows.map((row) => row['ours, top level (dB)']),
  };
}

describe('npm run paper-runs, end to end on the tiny setting', () => {
  const { dir: work, cleanup } = tempDir('paper-runs-');
  afterAll(cleanup);
  const options: PaperRunsOptions = { ...DEFAULTS, ...TINY, run: path.join(work, 'run'), out: path.join(work, 'out') };

  it('--tiny and flags parse into the options', () => {
    const o = parseOptions(['--tiny', '--steps', '6', '--only', 'baseline']);
    expect(o).toEqual({ ...DEFAULTS, ...TINY, steps: 6, only: 'baseline' });
    expect(() => parseOptions(['--steps', '0'])).toThrow(/--steps must be a positive number/);
  });

  it('trains every run, writes its log and evaluation, and the tables show exactly those numbers', async () => {
    const log: string[] = [];
    const results = await paperRuns(options, (l) => log.push(l));
    expect(results.map((r) => r.run)).toEqual(PAPER_RUN_NAMES);
    for (const run of PAPER_RUN_NAMES) {
      expect(log.some((l) => l.startsWith(`[${run}] done in `)), run).toBe(true);
      const steps = readPaperRunSteps(options.out, run);
      expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
      for (const s of steps) {
        for (const l of [1, 2, 3]) {
          expect(s[`entropy_bits_l${l}`]).toBeGreaterThanOrEqual(0);
          expect(s[`entropy_bits_l${l}`]).toBeLessThanOrEqual(Math.log2(run === 'codebook_small' ? options.smallCodes : options.codes) + 1e-3);
          expect(s[`codes_used_l${l}`]).toBeGreaterThan(0);
          expect(s[`codes_used_l${l}`]).toBeLessThanOrEqual(1);
        }
      }
    }
    const r = readPaperRuns(options.out);
    expect(r.settings.steps).toBe(4);
    const noQuant = r.runs.no_quantisation!;
    expect(noQuant.levels.every((l) => l.codes_in_use === null && Number.isFinite(l.spectral_convergence_db))).toBe(true);
    // Without quantisation the commit loss is out of the loss; the spectral ablation drops the spectral term.
    for (const s of readPaperRunSteps(options.out, 'no_spectral')) expect(s.loss).toBeCloseTo(s.recons_loss + 0.02 * s.commit_loss, 3);
    for (const s of readPaperRunSteps(options.out, 'no_quantisation')) expect(s.loss).toBeCloseTo(s.recons_loss + s.multispectral_loss, 3);
    expect(r.runs.codebook_small!.levels[0].codes).toBe(options.smallCodes);

    expect(shownNumbers(options.out)).toEqual(rawNumbers(options.out));
    expect(evaluatedNumbers(r)).toEqual(rawNumbers(options.out));
    // The paper's column sits beside ours.
    expect(table1(r).rows.map((row) => row['paper, with restarts (dB)'])).toEqual([-23.0, -12.4, -8.3]);
    expect(table3(r).rows.map((row) => row['paper, top level (dB)'])).toEqual([PAPER.table3.baseline, PAPER.table3.without_spectral_loss]);
    expect(table2(r).rows.filter((row) => row['paper (dB)'] !== null).map((row) => row['paper (dB)'])).toEqual([-15.9, -23.0, -40.5]);
    for (const t of [table1(r), table2(r), table3(r)]) expect(t.reading).toMatch(t.holds ? /^Holds here/ : /^Does not hold here/);

    // A second invocation finds every run done.
    const again: string[] = [];
    await paperRuns(options, (l) => again.push(l));
    for (const run of PAPER_RUN_NAMES) expect(again.some((l) => l.startsWith(`[${run}] already done (4 steps`)), run).toBe(true);
  }, 600_000);

  it('trains further when the steps are raised, and resumes a run killed part-way from its last save, without retraining finished runs', async () => {
    // The runs of the first test, to 8 steps, results into a second folder.
    const args = ['--tiny', '--steps', '8', '--run', options.run, '--out', path.join(work, 'out2'), '--only', 'baseline,no_spectral'];
    const first = await runUntil(args, /\[no_spectral\] step 6\/8/);
    expect(first).toContain(`[baseline] ${PAPER_RUNS.baseline}: resuming at step 4 of 8`);
    expect(fs.existsSync(path.join(work, 'out2', 'baseline', 'eval.json'))).toBe(true);
    expect(fs.existsSync(path.join(work, 'out2', 'no_spectral', 'eval.json'))).toBe(false);
    const log: string[] = [];
    const o = parseOptions(args);
    await paperRuns(o, (l) => log.push(l));
    expect(log.some((l) => l.startsWith('[baseline] already done (8 steps'))).toBe(true);
    expect(log.some((l) => /^\[no_spectral\] .*: resuming at step [68] of 8$/.test(l))).toBe(true);
    // The log holds each step once, as a run never stopped would.
    expect(readPaperRunSteps(o.out, 'no_spectral').map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 600_000);
});

describe('the committed results in data/paper-runs', () => {
  const dir = path.join(REPO_ROOT, 'data', 'paper-runs');
  const complete = PAPER_RUN_NAMES.every((run) => fs.existsSync(path.join(dir, run, 'eval.json')));

  it.runIf(complete)('are complete, and each table shows exactly their numbers', () => {
    expect(shownNumbers(dir)).toEqual(rawNumbers(dir));
    const r = readPaperRuns(dir);
    for (const run of PAPER_RUN_NAMES) {
      expect(r.runs[run]!.steps).toBe(r.settings.steps);
      expect(readPaperRunSteps(dir, run)).toHaveLength(r.settings.steps);
    }
  });
});
