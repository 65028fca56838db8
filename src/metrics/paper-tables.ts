import * as fs from 'fs';
import * as path from 'path';
import { JukeboxError } from '../errors';

/**
 * The VQ-VAE ablations of Dhariwal et al. (2020), "Jukebox: A Generative Model for Music",
 * arXiv:2005.00341, section 5 (Tables 1–3 and the codebook-entropy figure), rerun at small scale by
 * `npm run paper-runs` (scripts/paper-runs.ts) into `data/paper-runs/`. This file names the runs,
 * holds the paper's published numbers, reads the runs' results and builds the three tables beside
 * the paper's, so the script, notebook 05 and the tests compute them the same way.
 */

/**
 * The paper's numbers: spectral convergence in dB on held-out audio (lower is better).
 * - Table 1, per level, without and with random restarts of dead codes (the paper: only the bottom
 *   level differs).
 * - Table 2, the bottom level with 256 and 2048 codes and without quantisation. The paper's Table 2
 *   is about the bottom level; the runs here change every level's codebook at once, so the tables
 *   show all three levels and compare the paper's figures with the bottom level.
 * - Table 3, the top level without the spectral loss and as a single (VQ-VAE-2 style)
 *   autoencoder beside the baseline.
 */
export const PAPER = {
  table1: [
    { level: 0, hop: 8, without_restarts: -21.1, with_restarts: -23.0 },
    { level: 1, hop: 32, without_restarts: -12.4, with_restarts: -12.4 },
    { level: 2, hop: 128, without_restarts: -8.3, with_restarts: -8.3 },
  ],
  table2: { small: { codes: 256, db: -15.9 }, default: { codes: 2048, db: -23.0 }, none: { db: -40.5 } },
  table3: { baseline: -8.3, without_spectral_loss: -6.3, single_autoencoder: 2.9 },
  /** The paper's scale (its sections 2.2 and 5.1 and appendix B.1), to state beside ours. */
  scale: { data: '1.2 million songs at 44.1 kHz', model: 'about 2 million parameters, 32–64 channels, 2048 codes per level', training: '9-second windows on 256 V100s for 3 days' },
} as const;

/** The runs `npm run paper-runs` trains, each a change from the baseline. */
export const PAPER_RUNS = {
  baseline: 'the baseline: random restarts, multi-scale spectral loss, the default codebook size',
  no_restarts: 'no random restarts of dead codes (Table 1)',
  codebook_small: 'an eighth of the codes per level, as the paper\'s 256 against 2048 (Table 2)',
  no_quantisation: 'no quantisation: plain autoencoders (Table 2)',
  no_spectral: 'no multi-scale spectral loss (Table 3)',
} as const;
export type PaperRunName = keyof typeof PAPER_RUNS;
export const PAPER_RUN_NAMES = Object.keys(PAPER_RUNS) as PaperRunName[];

/** One level's figures on the held-out songs. */
export interface LevelEvaluation {
  level: number;
  hop: number;
  /** Mean over songs of each whole song's spectral convergence, in dB. */
  spectral_convergence_db: number;
  /** Share of the codebook the held-out songs use (null without quantisation). */
  codes_in_use: number | null;
  /** Entropy in bits of the held-out songs' code histogram (null without quantisation). */
  entropy_bits: number | null;
  codes: number;
}

/** `data/paper-runs/<run>/eval.json`. */
export interface PaperRunEvaluation {
  run: PaperRunName;
  description: string;
  steps: number;
  /** Wall time of the run's training and evaluation, summed over resumed invocations. */
  wall_seconds: number;
  held_out_songs: number;
  levels: LevelEvaluation[];
}

/** `data/paper-runs/settings.json`: the scale every run shares. */
export interface PaperRunSettings {
  songs: number;
  held_out_songs: number;
  seconds: number;
  sr: number;
  seed: number;
  held_out_seed: number;
  steps: number;
  batch_size: number;
  window: number;
  width: number;
  depth: number;
  emb_width: number;
  codes: number;
  small_codes: number;
  lr: number;
  warmup: number;
}

/** `data/paper-runs/<run>/metrics.jsonl`: one line per training step. */
export interface PaperRunStep {
  step: number;
  loss: number;
  /** Per level L (suffix `_l{L+1}`): the batch's spectral convergence (linear), its code entropy in
   * bits, the share of codes it used, and the share whose EMA count keeps them alive. */
  [key: string]: number;
}

export interface PaperRuns {
  settings: PaperRunSettings;
  runs: Partial<Record<PaperRunName, PaperRunEvaluation>>;
}

/** Reads the settings and every finished run's evaluation in `dir` (default `data/paper-runs`). */
export function readPaperRuns(dir = 'data/paper-runs'): PaperRuns {
  const settingsFile = path.join(dir, 'settings.json');
  if (!fs.existsSync(settingsFile)) throw new JukeboxError('no paper runs here (settings.json is missing; run npm run paper-runs)', dir);
  const runs: PaperRuns['runs'] = {};
  for (const name of PAPER_RUN_NAMES) {
    const file = path.join(dir, name, 'eval.json');
    if (fs.existsSync(file)) runs[name] = JSON.parse(fs.readFileSync(file, 'utf8')) as PaperRunEvaluation;
  }
  return { settings: JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as PaperRunSettings, runs };
}

/** A run's training log. */
export function readPaperRunSteps(dir: string, run: PaperRunName): PaperRunStep[] {
  const file = path.join(dir, run, 'metrics.jsonl');
  if (!fs.existsSync(file)) throw new JukeboxError(`no training log for run '${run}'`, file);
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as PaperRunStep);
}

function need(r: PaperRuns, run: PaperRunName): PaperRunEvaluation {
  const e = r.runs[run];
  if (e === undefined) throw new JukeboxError(`run '${run}' has not finished (no ${run}/eval.json)`, 'data/paper-runs');
  return e;
}

const LEVEL_NAMES = ['bottom', 'middle', 'top'];
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

export interface Table1Row { level: string; hop: number; 'paper, without restarts (dB)': number; 'ours, without restarts (dB)': number; 'paper, with restarts (dB)': number; 'ours, with restarts (dB)': number }
export interface Table2Row { codebook: string; level: string; hop: number; 'paper (dB)': number | null; 'ours (dB)': number; 'codes in use (%)': number | null }
export interface Table3Row { ablation: string; 'paper, top level (dB)': number | null; 'ours, top level (dB)': number }

/** A table, and a one-line reading of whether the paper's conclusion holds here, computed from it. */
export interface PaperTable<Row> { rows: Row[]; reading: string; holds: boolean }

/** Table 1: spectral convergence per level without and with random restarts. */
export function table1(r: PaperRuns): PaperTable<Table1Row> {
  const off = need(r, 'no_restarts');
  const on = need(r, 'baseline');
  const rows = PAPER.table1.map((p) => ({
    level: LEVEL_NAMES[p.level],
    hop: p.hop,
    'paper, without restarts (dB)': p.without_restarts,
    'ours, without restarts (dB)': round(off.levels[p.level].spectral_convergence_db, 2),
    'paper, with restarts (dB)': p.with_restarts,
    'ours, with restarts (dB)': round(on.levels[p.level].spectral_convergence_db, 2),
  }));
  const gain = on.levels[0].spectral_convergence_db - off.levels[0].spectral_convergence_db;
  const degrades = on.levels.every((l, i) => i === 0 || l.spectral_convergence_db > on.levels[i - 1].spectral_convergence_db);
  const holds = gain < 0 && degrades;
  const reading = `${holds ? 'Holds' : 'Does not hold'} here: restarts change the bottom level by ${gain.toFixed(2)} dB (paper: −1.9 dB), ` +
    `and fidelity ${degrades ? 'degrades' : 'does not degrade monotonically'} with compression (${on.levels.map((l) => l.spectral_convergence_db.toFixed(1)).join(' / ')} dB at hops ${on.levels.map((l) => l.hop).join(' / ')}).`;
  return { rows, reading, holds };
}

/** Table 2: codebook size: an eighth of the codes, the default, and no quantisation, per level. */
export function table2(r: PaperRuns): PaperTable<Table2Row> {
  const variants = [
    { run: 'codebook_small' as const, name: `${r.settings.small_codes} codes (paper: ${PAPER.table2.small.codes})`, paper: PAPER.table2.small.db },
    { run: 'baseline' as const, name: `${r.settings.codes} codes (paper: ${PAPER.table2.default.codes})`, paper: PAPER.table2.default.db },
    { run: 'no_quantisation' as const, name: 'no quantisation', paper: PAPER.table2.none.db },
  ];
  const rows: Table2Row[] = [];
  for (const v of variants) {
    for (const l of need(r, v.run).levels) {
      rows.push({
        codebook: v.name,
        level: LEVEL_NAMES[l.level],
        hop: l.hop,
        'paper (dB)': l.level === 0 ? v.paper : null,
        'ours (dB)': round(l.spectral_convergence_db, 2),
        'codes in use (%)': l.codes_in_use === null ? null : round(100 * l.codes_in_use, 1),
      });
    }
  }
  const bottom = variants.map((v) => need(r, v.run).levels[0].spectral_convergence_db);
  const holds = bottom[2] < bottom[1] && bottom[1] < bottom[0];
  const reading = `${holds ? 'Holds' : 'Does not hold'} here at the bottom level: ${variants.map((v, i) => `${v.name.split(' (')[0]} ${bottom[i].toFixed(2)} dB`).join(', ')} ` +
    `(paper: larger codebooks reconstruct better, no quantisation almost perfectly).`;
  return { rows, reading, holds };
}

/** Table 3: the top level without the spectral loss beside the baseline. */
export function table3(r: PaperRuns): PaperTable<Table3Row> {
  const base = need(r, 'baseline').levels[2].spectral_convergence_db;
  const ablated = need(r, 'no_spectral').levels[2].spectral_convergence_db;
  const rows: Table3Row[] = [
    { ablation: 'none (baseline)', 'paper, top level (dB)': PAPER.table3.baseline, 'ours, top level (dB)': round(base, 2) },
    { ablation: 'without spectral loss', 'paper, top level (dB)': PAPER.table3.without_spectral_loss, 'ours, top level (dB)': round(ablated, 2) },
  ];
  const holds = ablated > base;
  const reading = `${holds ? 'Holds' : 'Does not hold'} here: without the spectral loss the top level's spectral convergence ${ablated > base ? 'worsens' : 'improves'} by ` +
    `${Math.abs(ablated - base).toFixed(2)} dB (paper: worsens by ${(PAPER.table3.without_spectral_loss - PAPER.table3.baseline).toFixed(1)} dB).`;
  return { rows, reading, holds };
}

/** Each table's "ours" numbers, straight from the evaluations: what the tables must show. */
export function evaluatedNumbers(r: PaperRuns): { table1: number[]; table2: number[]; table3: number[] } {
  const sc = (run: PaperRunName, level: number) => round(need(r, run).levels[level].spectral_convergence_db, 2);
  return {
    table1: [0, 1, 2].flatMap((l) => [sc('no_restarts', l), sc('baseline', l)]),
    table2: (['codebook_small', 'baseline', 'no_quantisation'] as const).flatMap((run) => need(r, run).levels.map((l) => sc(run, l.level))),
    table3: [sc('baseline', 2), sc('no_spectral', 2)],
  };
}
