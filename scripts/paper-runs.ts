/**
 * `npm run paper-runs`: reruns the VQ-VAE ablations of the Jukebox paper (Dhariwal et al. 2020,
 * arXiv:2005.00341, Tables 1–3 and the codebook-entropy curves) at laptop scale, on the generated
 * corpus (data/corpus), with fixed seeds and the same budget (steps × batch × window) per run:
 *
 *   baseline         random restarts, multi-scale spectral loss, `--codes` codes per level
 *   no_restarts      without random restarts (Table 1)
 *   codebook_small   `--small-codes` codes per level (Table 2)
 *   no_quantisation  plain autoencoders, no bottleneck (Table 2)
 *   no_spectral      without the multi-scale spectral loss (Table 3)
 *
 *   npm run paper-runs -- [--run runs/paper] [--out data/paper-runs] [--steps N] [--songs N]
 *     [--only baseline,no_restarts] [--workers N] [--tiny] ...
 *
 * Each run trains a three-level VQ-VAE (hops 8/32/128 at 16 kHz, the `default` preset's structure
 * at `--width`/`--depth`), then evaluates every level on whole held-out songs. The checkpoints stay
 * in `--run` (not shipped); `--out` gets what is committed: `settings.json`, and per run
 * `<run>/metrics.jsonl` (the per-step losses, spectral convergence and codebook usage) and
 * `<run>/eval.json` (held-out figures and wall time). src/metrics/paper-tables.ts builds the tables.
 *
 * Everything resumes: a complete corpus is kept, a run with an `eval.json` for the current steps is
 * skipped, and a run stopped part-way continues from its last save. Raising `--steps` trains every
 * run further. The runs are independent, so after the corpus they may train in several processes
 * at once, one run each (`--only baseline`, `--only no_restarts`, ...; never two processes on one
 * run), as the committed results were made (data/paper-runs/README.md).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'util';
import { writeCorpus } from '../data/corpus/corpus';
import { openAudio } from '../src/audio/source';
import { initBackend } from '../src/backend';
import { vqvaePreset } from '../src/checkpoint/presets';
import { JukeboxError } from '../src/errors';
import { spectralConvergenceDb } from '../src/metrics/audio-metrics';
import {
  LevelEvaluation, PAPER_RUN_NAMES, PAPER_RUNS, PaperRunEvaluation, PaperRunName, PaperRunSettings, PaperRunStep,
} from '../src/metrics/paper-tables';
import { hopLengths, VQVAEConfig } from '../src/vqvae/config';
import { TrainConfig } from '../src/vqvae/trainer';
import { RUN_FILES, trainVQVAE } from '../src/vqvae/training-run';
import { VQVAE } from '../src/vqvae/vqvae';
import { corpusComplete, CorpusSettings, kebab, savedStep } from './corpus-settings';

export interface PaperRunsOptions extends CorpusSettings {
  /** Working folder: corpus and checkpoints (not shipped). */
  run: string;
  /** Where the committed results go. */
  out: string;
  /** Training steps of every run. */
  steps: number;
  batchSize: number;
  /** Samples per training window. */
  window: number;
  width: number;
  depth: number;
  embWidth: number;
  /** Codes per level of every run but codebook_small. */
  codes: number;
  /** Codes per level of codebook_small. */
  smallCodes: number;
  lr: number;
  /** Steps of the learning rate's linear warm-up. */
  warmup: number;
  saveEvery: number;
  workers: number;
  /** Comma-separated runs to train (default all). */
  only: string;
}

/**
 * The full setting, sized for about 30–45 minutes on 2 shared cores: the `default` preset's
 * structure at half its width and one residual layer less, 0.5 s windows, 200 steps per run.
 * 128 codes: the top level then sees 256 tokens per batch, two per code, so the restart rule
 * (EMA count below 1) does not restart live codes; 16 codes is the paper's ratio, 256 : 2048.
 */
export const DEFAULTS: PaperRunsOptions = {
  run: 'runs/paper',
  out: 'data/paper-runs',
  songs: 32,
  heldOutSongs: 8,
  seconds: 30,
  sr: 16000,
  seed: 1,
  heldOutSeed: 1001,
  steps: 200,
  batchSize: 4,
  window: 8192,
  width: 8,
  depth: 2,
  embWidth: 32,
  codes: 128,
  smallCodes: 16,
  // The reference's 3e-4 after 100 warm-up steps suits week-long runs; these runs are 200 steps.
  lr: 1e-3,
  warmup: 20,
  saveEvery: 25,
  workers: Math.min(2, os.cpus().length),
  only: PAPER_RUN_NAMES.join(','),
};

/** `--tiny`: seconds of work, for tests and the notebook's PAPER_RERUN. */
export const TINY: Partial<PaperRunsOptions> = {
  songs: 3, heldOutSongs: 2, seconds: 5, steps: 4, window: 2048, width: 4, depth: 1, embWidth: 8, codes: 32, smallCodes: 4, warmup: 1, saveEvery: 2, workers: 1,
};

type Log = (line: string) => void;

/** The model config of a run. */
export function runConfig(o: PaperRunsOptions, run: PaperRunName): VQVAEConfig {
  return {
    ...vqvaePreset('default'),
    sr: o.sr,
    width: o.width,
    depth: o.depth,
    emb_width: o.embWidth,
    l_bins: run === 'codebook_small' ? o.smallCodes : o.codes,
    sample_length: o.window,
  };
}

/** The training settings of a run: the baseline's, with the run's one change. */
export function runTrainConfig(o: PaperRunsOptions, run: PaperRunName): Partial<TrainConfig> {
  const base: Partial<TrainConfig> = { lr: o.lr, lr_warmup: o.warmup };
  if (run === 'no_restarts') return { ...base, restarts: false };
  if (run === 'no_quantisation') return { ...base, quantise: false };
  if (run === 'no_spectral') return { ...base, multispectral: 0, spectral: 0 };
  return base;
}

export function settingsOf(o: PaperRunsOptions): PaperRunSettings {
  return {
    songs: o.songs, held_out_songs: o.heldOutSongs, seconds: o.seconds, sr: o.sr, seed: o.seed, held_out_seed: o.heldOutSeed,
    steps: o.steps, batch_size: o.batchSize, window: o.window, width: o.width, depth: o.depth, emb_width: o.embWidth,
    codes: o.codes, small_codes: o.smallCodes, lr: o.lr, warmup: o.warmup,
  };
}

async function makeCorpora(o: PaperRunsOptions, log: Log): Promise<void> {
  for (const [name, songs, seed] of [['train', o.songs, o.seed], ['heldout', o.heldOutSongs, o.heldOutSeed]] as const) {
    const out = path.join(o.run, 'corpus', name);
    if (corpusComplete(out, songs)) continue;
    const started = Date.now();
    await writeCorpus({ songs, seed, seconds: o.seconds, sampleRate: o.sr, out });
    log(`corpus ${name}: ${songs} songs of ${o.seconds} s in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

/**
 * Checks that a run folder was made with these settings (a run with other settings would resume
 * into a different experiment), and records them in a fresh one.
 */
function checkSettings(dir: string, settings: PaperRunSettings): void {
  const file = path.join(dir, 'paper-settings.json');
  const { steps: _steps, ...fixed } = settings;
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const changed = Object.keys(fixed).filter((k) => saved[k] !== (fixed as Record<string, unknown>)[k]);
    if (changed.length > 0) {
      throw new JukeboxError(`was trained with other settings (${changed.map((k) => `${k} ${saved[k]} → ${(fixed as Record<string, unknown>)[k]}`).join(', ')}); choose another --run or delete it`, dir);
    }
  } else {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(fixed, null, 1) + '\n');
  }
}

/** Seconds a run has taken, summed over invocations (flushed at each save). */
class RunClock {
  private since = Date.now();
  constructor(private readonly file: string) {}
  get seconds(): number {
    return fs.existsSync(this.file) ? (JSON.parse(fs.readFileSync(this.file, 'utf8')) as { seconds: number }).seconds : 0;
  }
  flush(): number {
    const now = Date.now();
    const total = this.seconds + (now - this.since) / 1000;
    this.since = now;
    fs.writeFileSync(this.file, JSON.stringify({ seconds: total }) + '\n');
    return total;
  }
}

/** Shannon entropy in bits of a histogram. */
export function entropyBits(counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  let h = 0;
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) h -= (counts[i] / total) * Math.log2(counts[i] / total);
  return h;
}

/**
 * One level's reconstruction of `audio` [T] (T a multiple of the level's hop): encoder, nearest
 * code and decoder, or encoder and decoder alone for a run without quantisation.
 */
function reconstruct(model: VQVAE, audio: Float32Array, level: number, quantise: boolean): { audio: Float32Array; codes: Int32Array | null } {
  const [decoded, codes] = tf.tidy(() => {
    const x = tf.tensor3d(audio, [1, audio.length, 1]);
    const latents = model.encodeLatents(x, level); // [1, T / hop, emb_width]
    if (!quantise) return [model.decoders[level].apply(model.weights, latents)];
    const z = model.bottleneck[level].quantise(model.weights, latents); // [1, T / hop]
    return [model.decode(z, level), z]; // [1, T, 1], [1, T / hop]
  });
  const result = { audio: decoded.dataSync() as Float32Array, codes: codes === undefined ? null : (codes.dataSync() as Int32Array) };
  tf.dispose([decoded, codes]);
  return result;
}

/** Every level's spectral convergence over whole held-out songs, and their code usage. */
async function evaluateRun(o: PaperRunsOptions, model: VQVAE, run: PaperRunName): Promise<LevelEvaluation[]> {
  const dir = path.join(o.run, 'corpus', 'heldout');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.wav')).sort().slice(0, o.heldOutSongs);
  const hops = hopLengths(model.config);
  const quantise = run !== 'no_quantisation';
  const sc = hops.map(() => [] as number[]);
  const counts = hops.map(() => new Float64Array(model.config.l_bins));
  for (const f of files) {
    const source = openAudio(path.join(dir, f), model.config.sr);
    const whole = source.read(0, source.length);
    source.close();
    const audio = whole.subarray(0, whole.length - (whole.length % hops[hops.length - 1]));
    for (const level of model.allLevels()) {
      const r = reconstruct(model, audio, level, quantise);
      sc[level].push(spectralConvergenceDb(audio, r.audio));
      if (r.codes !== null) for (const c of r.codes) counts[level][c]++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return model.allLevels().map((level) => ({
    level,
    hop: hops[level],
    spectral_convergence_db: sc[level].reduce((a, b) => a + b, 0) / sc[level].length,
    codes_in_use: quantise ? counts[level].filter((c) => c > 0).length / model.config.l_bins : null,
    entropy_bits: quantise ? entropyBits(counts[level]) : null,
    codes: model.config.l_bins,
  }));
}

/** The committed training log: per step, the losses, spectral convergence and codebook usage. */
function thinMetrics(file: string, levels: number, bins: number): string {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, number>);
  const r4 = (x: number) => Number(x.toFixed(4));
  return lines.map((m) => {
    const row: PaperRunStep = { step: m.step, loss: r4(m.loss), recons_loss: r4(m.recons_loss), multispectral_loss: r4(m.multispectral_loss), commit_loss: r4(m.commit_loss) };
    for (let l = 1; l <= levels; l++) {
      row[`spectral_convergence_l${l}`] = r4(m[`spectral_convergence_l${l}`]);
      row[`entropy_bits_l${l}`] = r4(m[`entropy_l${l}`] / Math.LN2);
      row[`codes_used_l${l}`] = r4(m[`used_curr_l${l}`] / bins);
      row[`codes_alive_l${l}`] = r4(m[`usage_l${l}`] / bins);
    }
    return JSON.stringify(row);
  }).join('\n') + '\n';
}

async function paperRun(o: PaperRunsOptions, run: PaperRunName, log: Log): Promise<PaperRunEvaluation> {
  const outDir = path.join(o.out, run);
  const evalFile = path.join(outDir, 'eval.json');
  if (fs.existsSync(evalFile)) {
    const done = JSON.parse(fs.readFileSync(evalFile, 'utf8')) as PaperRunEvaluation;
    if (done.steps === o.steps) {
      log(`[${run}] already done (${done.steps} steps, ${(done.wall_seconds / 60).toFixed(1)} min)`);
      return done;
    }
  }
  const dir = path.join(o.run, run);
  checkSettings(dir, settingsOf(o));
  const clock = new RunClock(path.join(dir, 'seconds.json'));
  const step = savedStep(dir);
  const config = runConfig(o, run);
  const data = path.join(o.run, 'corpus', 'train');
  log(`[${run}] ${PAPER_RUNS[run]}: ${step > 0 ? `resuming at step ${step} of ${o.steps}` : `training ${o.steps} steps`}`);
  const { model } = await trainVQVAE({
    outDir: dir,
    steps: o.steps,
    resume: step > 0,
    resumeCheck: { data, batchSize: o.batchSize, windowLength: o.window, lr: o.lr, seed: o.seed },
    seed: o.seed,
    config,
    data: { dir: data, windowLength: o.window, batchSize: o.batchSize, blend: true, gainDb: [-6, 0] },
    train: runTrainConfig(o, run),
    workers: o.workers,
    saveEvery: o.saveEvery,
    onSave: (s) => {
      const seconds = clock.flush();
      log(`[${run}] step ${s}/${o.steps} (${(seconds / 60).toFixed(1)} min)`);
    },
  });
  try {
    const levels = await evaluateRun(o, model, run);
    const wall = clock.flush();
    const result: PaperRunEvaluation = { run, description: PAPER_RUNS[run], steps: o.steps, wall_seconds: Number(wall.toFixed(1)), held_out_songs: o.heldOutSongs, levels };
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'metrics.jsonl'), thinMetrics(path.join(dir, RUN_FILES.metrics), config.levels, config.l_bins));
    fs.writeFileSync(evalFile, JSON.stringify(result, null, 1) + '\n');
    log(`[${run}] done in ${(wall / 60).toFixed(1)} min: spectral convergence ${levels.map((l) => l.spectral_convergence_db.toFixed(2)).join(' / ')} dB at hops ${levels.map((l) => l.hop).join(' / ')}` +
      (levels[0].codes_in_use === null ? '' : `, codes in use ${levels.map((l) => (100 * l.codes_in_use!).toFixed(0)).join(' / ')}%`));
    return result;
  } finally {
    model.dispose();
  }
}

/** Runs (or resumes) the corpus and every run of `o.only`, in order; returns their evaluations. */
export async function paperRuns(o: PaperRunsOptions, log: Log = console.log): Promise<PaperRunEvaluation[]> {
  const only = o.only.split(',').map((s) => s.trim());
  for (const s of only) if (!(PAPER_RUN_NAMES as string[]).includes(s)) throw new JukeboxError(`--only: unknown run '${s}' (runs: ${PAPER_RUN_NAMES.join(', ')})`, 'paper-runs');
  await initBackend();
  fs.mkdirSync(o.out, { recursive: true });
  const settingsFile = path.join(o.out, 'settings.json');
  const settings = settingsOf(o);
  if (fs.existsSync(settingsFile) && fs.readFileSync(settingsFile, 'utf8') !== JSON.stringify(settings, null, 1) + '\n') {
    // Results of other settings would sit in one table with these: start the folder afresh.
    for (const run of PAPER_RUN_NAMES) fs.rmSync(path.join(o.out, run), { recursive: true, force: true });
    log(`${o.out}: settings changed, earlier results removed`);
  }
  fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 1) + '\n');
  await makeCorpora(o, log);
  const results: PaperRunEvaluation[] = [];
  for (const run of PAPER_RUN_NAMES) if (only.includes(run)) results.push(await paperRun(o, run, log));
  return results;
}

/** Command-line flags: every option, kebab-cased (--held-out-songs, --small-codes, ...), and --tiny. */
export function parseOptions(argv: string[]): PaperRunsOptions {
  const keys = Object.keys(DEFAULTS) as (keyof PaperRunsOptions)[];
  const { values } = parseArgs({
    args: argv,
    options: { ...Object.fromEntries(keys.map((k) => [kebab(k), { type: 'string' as const }])), tiny: { type: 'boolean' as const } },
  });
  const o: Record<string, string | number> = { ...DEFAULTS, ...(values.tiny ? TINY : {}) };
  for (const k of keys) {
    const v = (values as Record<string, string | boolean | undefined>)[kebab(k)];
    if (v === undefined || typeof v === 'boolean') continue;
    if (typeof DEFAULTS[k] === 'number') {
      const n = Number(v);
      if (!(n > 0)) throw new JukeboxError(`--${kebab(k)} must be a positive number, got '${v}'`, 'paper-runs');
      o[k] = n;
    } else {
      o[k] = v;
    }
  }
  return o as unknown as PaperRunsOptions;
}

if (require.main === module) {
  const started = Date.now();
  const load = os.loadavg();
  paperRuns(parseOptions(process.argv.slice(2)))
    .then((results) => {
      const end = os.loadavg();
      console.log(`paper-runs: ${results.length} runs, done in ${((Date.now() - started) / 60000).toFixed(1)} min ` +
        `(runs' own times summed over invocations: ${(results.reduce((n, r) => n + r.wall_seconds, 0) / 60).toFixed(1)} min); ` +
        `load average ${load.map((l) => l.toFixed(2)).join(' ')} at the start, ${end.map((l) => l.toFixed(2)).join(' ')} at the end`);
    })
    .catch((err) => {
      console.error(`paper-runs: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    });
}
