import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { captureLyricAttention } from '../align/capture';
import { rankHeads } from '../align/heads';
import { loadVQVAE } from '../checkpoint/load';
import { SafetensorsTensor, writeSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import { LabelIdTables, labelTablesFromMetadata, labelTablesToMetadata } from '../labels/index';
import { PriorConfig } from '../prior/config';
import { hpsFromPriorConfig, priorConfigFromHps } from '../prior/hps';
import { loadPrior, randomPrior, savePrior } from '../prior/load';
import { priorPreset } from '../prior/presets';
import { Prior } from '../prior/prior';
import { Rng } from '../rng';
import { WeightMap } from '../vqvae/weights';
import { VQVAE } from '../vqvae/vqvae';
import { AlignLossSettings, SeparatorTargets, alignLossHead, configuredAlignHead } from './align-loss';
import { OptimizerConfig } from './optimizer';
import { encodeSongs, fileHash, labelTablesFromSongs, listSongs, PriorSong, PriorWindows } from './prior-data';
import { PriorBatch, PriorBatchScore, priorBatchScore, PriorMicroBatchRunner, PriorStepMetrics, PriorTrainer } from './prior-trainer';
import { PriorWorkerPool } from './prior-worker-pool';
import {
  checkUnchanged, counterMetadata, METRICS_FILE, putTrainingTensors, readModelWeights, readOptimizer, refuseExistingRun,
  restoreOptimizer, SavedOptimizer, STATE_FILE, truncateMetrics, withRunState,
} from './run-state';

/** Where a prior training run keeps its files inside `--out`. */
export const PRIOR_RUN_FILES = {
  /** The current model, readable by `sample`, `score` and `info`. */
  model: 'prior.safetensors',
  /** Everything `--resume` needs: weights, Adam moments, step, RNG state, settings, label tables. */
  state: STATE_FILE,
  /** One JSON object per step: loss, bits per token, and at each save the held-out bits per token. */
  metrics: METRICS_FILE,
  /** The songs' codes, `codes/<VQ-VAE hash>/<file hash>.safetensors`. */
  codes: 'codes',
} as const;

const STATE_FORMAT = 'jukebox-ts/prior-train-state';

/** What a run was started with; a resume takes these from the state and refuses changed ones. */
interface RunSettings {
  /** The data folder, absolute. */
  data: string;
  vqvae: string;
  /** sha256 of the VQ-VAE file (first 16 hex digits): the codes cache's key. */
  vqvae_hash: string;
  preset: string;
  seed: number;
  batch_size: number;
  /** The songs' file hashes in listing order: a resume must see the same songs. */
  songs: string[];
  /** Weight of the guided alignment loss (0 or absent: the reference's procedure). */
  align_loss?: number;
  /** Its breaks' minimum length in seconds (absent: breaks get no target). */
  align_breaks?: number;
  /** Intros and outros without other targets target the window's separators (absent: false). */
  align_edges?: boolean;
  /** Every break targets the window's separators (absent: false). */
  align_separators?: boolean;
  /** Seconds by which a training window's label row may be moved (absent: 0). */
  timing_jitter?: number;
  /** The prior file a fine-tuning run started from (`--init`), absolute. */
  init?: string;
}

export interface TrainPriorOptions {
  outDir: string;
  /** Train until this many steps have been taken in total (a resume continues towards it). */
  steps: number;
  /** Continue the run in `outDir`; settings given again must equal the run's. */
  resume?: boolean;
  /** Folder of audio files with JSON sidecars (fresh runs). */
  data?: string;
  /** VQ-VAE checkpoint the codes are made with (fresh runs; on resume, default the run's). */
  vqvae?: string;
  /** Prior preset (fresh runs). */
  preset?: string;
  /** Seed of the initial weights and the window draws. Default 0. */
  seed?: number;
  /** Windows per step. Default 4. */
  batchSize?: number;
  /** Peak learning rate. Default the reference's 3e-4. */
  lr?: number;
  /** Other optimiser settings of a fresh run (warm-up, clipping, ...), the reference's by default. */
  train?: Partial<OptimizerConfig>;
  /** Save (and score the held-out windows) every this many steps, and at the end. Default 100. */
  saveEvery?: number;
  /** Worker threads computing the batch's micro-batches (1: none); results do not depend on it. */
  workers?: number;
  /** Windows scored per held-out song. Default 4. */
  heldOutWindows?: number;
  /**
   * Weight W of the guided alignment loss (align-loss.ts; not the reference's): the loss gains
   * W × the alignment head's term on songs with sidecar words. Default 0: the reference's procedure.
   */
  alignLoss?: number;
  /**
   * With the alignment loss, also target the breaks: gaps of at least this many seconds between
   * sung words, and the stretches before the first word and after the last, target the lyric
   * characters that separate the words there (align-loss.ts `windowTargets`). Default: breaks get
   * no target. Fresh runs; a resume must give the same value or none.
   */
  alignBreaks?: number;
  /**
   * With `alignBreaks`, a token before the first word or after the last whose window holds no
   * padding and no character there (lyrics longer than the lyric window) targets the window's
   * separator characters (align-loss.ts `windowTargets`). Default false. Fresh runs; a resume
   * must give the same value or none.
   */
  alignEdges?: boolean;
  /**
   * With `alignBreaks`, every break token targets every separator character of the window, not
   * only the characters between its two words; this covers the edges too. Default false. Fresh
   * runs; a resume must give the same value or none.
   */
  alignSeparators?: boolean;
  /**
   * Seconds S: each training window's label row (its timing, and so its lyric window) is made for
   * a point up to S seconds before or after the window, uniformly, clamped to the song
   * (prior-data.ts `windowJitter`), so the prior cannot tell which line is sung from the window's
   * offset alone and must listen; the alignment targets stay the window's own, and held-out windows
   * keep their true labels. Default 0. Fresh runs; a resume must give the same value or none.
   */
  timingJitter?: number;
  /**
   * The head the alignment loss supervises (fresh runs), stored in the model as its
   * alignment_layer/alignment_head; default the preset's.
   */
  alignHead?: { layer: number; head: number };
  /** A prior file of the same preset whose weights start this (fresh) run: fine-tuning, fresh optimiser. */
  init?: string;
  onEncode?: (done: number, total: number, cached: boolean) => void;
  onStep?: (metrics: PriorStepMetrics, run: { step: number; steps: number; tokensPerSecond: number }) => void;
  onSave?: (step: number, heldOutBpd: number | null) => void;
  warn?: (message: string) => void;
}

/** A lyric head and the head finder's score of its attention (higher: more alignment-like). */
export interface LyricHeadScore { layer: number; head: number; score: number }

/**
 * The metrics log's line of a step: the step's numbers, and held-out ones at saves. A top prior
 * with lyrics also logs at each save the head finder's score of every lyric head on one held-out
 * window (`lyric_heads`, best first): the reference learns alignment late, which the loss alone
 * does not show. With an alignment head (the preset's, or `alignHead`), each save also logs the
 * guided alignment term on the held-out songs with words (`heldout_align_loss`, whatever the weight).
 */
export type PriorRunMetrics = PriorStepMetrics & { heldout_bpd?: number; heldout_prime_loss?: number; heldout_align_loss?: number; lyric_heads?: LyricHeadScore[] };

/** Songs held out from training: every tenth in hash order (at least one when there are two or more). */
function heldOutSongs(songs: PriorSong[]): Set<string> {
  if (songs.length < 2) return new Set();
  const byHash = songs.map((s) => s.hash).sort();
  const count = Math.max(1, Math.round(songs.length / 10));
  return new Set(byHash.filter((_h, i) => i % Math.ceil(songs.length / count) === 0).slice(0, count));
}

/**
 * Mean bits per token of `prior` over `windows`, in batches of `batchSize`, and with `align` the
 * guided alignment term's mean over the targeted tokens of every window (null when none has one).
 * With a `runner` (the training workers), the batches are scored there, in parallel; the sums are
 * taken in batch order either way.
 */
async function score(prior: Prior, windows: PriorWindows, batchSize: number, perSong: number, align?: AlignLossSettings, runner?: PriorMicroBatchRunner):
  Promise<{ bpd: number; primeLoss: number; alignLoss: number | null } | null> {
  const all = windows.spread(perSong);
  if (all.length === 0) return null;
  const batches: PriorBatch[] = [];
  for (let i = 0; i < all.length; i += batchSize) batches.push(windows.batch(all.slice(i, i + batchSize)));
  let scores: PriorBatchScore[];
  if (runner) {
    await runner.setWeights(prior);
    scores = await Promise.all(batches.map((b, i) => runner.score(i % runner.size, b, align)));
  } else {
    scores = batches.map((b) => priorBatchScore(prior, b, align));
  }
  let bpd = 0;
  let primeLoss = 0;
  let alignSum = 0;
  let alignTokens = 0;
  scores.forEach((s, i) => {
    bpd += (s.genLoss * batches[i].items) / all.length;
    primeLoss += (s.primeLoss * batches[i].items) / all.length;
    alignSum += s.alignSum;
    alignTokens += s.alignTokens;
  });
  return { bpd, primeLoss, alignLoss: alignTokens === 0 ? null : alignSum / alignTokens };
}

/**
 * The head finder's scores of every lyric head on one held-out window: the middle window of the
 * first held-out song long enough for one (mid-song, where words are sung), teacher-forced with
 * its labels. Null for priors without lyrics, upsamplers, and runs with no such song.
 */
async function lyricHeadScores(prior: Prior, windows: PriorWindows): Promise<LyricHeadScore[] | null> {
  if (!prior.hasLyrics || prior.condDownsample !== null) return null;
  const song = windows.songs.find((s) => s.codes[0].length >= prior.nCtx);
  if (song === undefined) return null;
  const start = Math.floor((song.codes[0].length - prior.nCtx) / 2);
  const meta = { artist: song.meta.artist, genre: song.meta.genre, lyrics: song.meta.lyrics, totalSeconds: song.seconds, offsetSeconds: (start * prior.rawToTokens) / prior.sampleRate };
  const attention = await captureLyricAttention(prior, song.codes[0].slice(start, start + prior.nCtx), meta);
  return rankHeads(attention).map((h) => ({ layer: h.layer, head: h.head, score: h.score }));
}

async function saveRun(outDir: string, trainer: PriorTrainer, rng: Rng, settings: RunSettings): Promise<void> {
  const { prior } = trainer;
  const tensors = new Map<string, SafetensorsTensor>();
  putTrainingTensors(tensors, [...prior.spec.keys()].map((name) => [name, prior.weights.get(name)]), trainer.optimizer);
  const tables = prior.labeller?.tables ?? null;
  await writeSafetensors(path.join(outDir, PRIOR_RUN_FILES.state), tensors, {
    format: STATE_FORMAT,
    hps: JSON.stringify(hpsFromPriorConfig(prior.config)),
    settings: JSON.stringify(settings),
    train_config: JSON.stringify(trainer.config),
    ...(tables === null ? {} : labelTablesToMetadata(tables, prior.config.labels_v3 ? 'v3' : 'v2')),
    ...counterMetadata(trainer.step, trainer.optimizer, rng.state),
  });
  await savePrior(path.join(outDir, PRIOR_RUN_FILES.model), prior, { step: String(trainer.step), preset: settings.preset });
}

/** The VQ-VAE, checked against the prior's token geometry. */
function openVQVAE(file: string, config: PriorConfig, preset: string): VQVAE {
  if (!fs.existsSync(file)) throw new JukeboxError('--vqvae: no such file', file);
  const { model } = loadVQVAE(file);
  const c = model.config;
  const same = c.levels === config.levels && c.l_bins === config.l_bins && c.sr === config.sr &&
    c.downs_t.every((d, i) => d === config.downs_t[i]) && c.strides_t.every((s, i) => s === config.strides_t[i]);
  if (!same) {
    model.dispose();
    const geometry = (g: { levels: number; l_bins: number; sr: number; downs_t: number[]; strides_t: number[] }) =>
      `${g.levels} levels, ${g.l_bins} codes, ${g.sr} Hz, downs_t [${g.downs_t}], strides_t [${g.strides_t}]`;
    throw new JukeboxError(`--vqvae does not match preset '${preset}': the VQ-VAE has ${geometry(c)}, the prior expects ${geometry(config)}`, file);
  }
  return model;
}

/**
 * Runs (or resumes) prior training: the data encoded once (codes cached beside the run), random
 * windows with labels for their offsets, the reference's loss, clipping and Adam, the state saved
 * atomically every `saveEvery` steps, so that a killed run resumed with `--resume` reaches the
 * losses of a run never stopped. Songs are held out for the held-out bits per token.
 */
export async function trainPrior(options: TrainPriorOptions): Promise<{ model: Prior; metrics: PriorRunMetrics[] }> {
  const { outDir, steps } = options;
  const saveEvery = options.saveEvery ?? 100;
  const warn = options.warn ?? ((m: string) => console.warn(m));
  let config: PriorConfig;
  let settings: RunSettings;
  let tables: LabelIdTables | null;
  let resumed: { weights: Map<string, tf.Tensor>; optimizer: SavedOptimizer; step: number } | null = null;
  let rng: Rng;
  let train: Partial<OptimizerConfig>;
  let vqvaeFile: string;
  const alignWeight = options.alignLoss;
  if (alignWeight !== undefined && !(Number.isFinite(alignWeight) && alignWeight >= 0)) throw new JukeboxError(`train-prior: --align-loss must be a number ≥ 0, got ${alignWeight}`);
  const alignBreaks = options.alignBreaks;
  if (alignBreaks !== undefined && !(Number.isFinite(alignBreaks) && alignBreaks > 0)) throw new JukeboxError(`train-prior: --align-breaks must be a number of seconds > 0, got ${alignBreaks}`);
  if (alignBreaks !== undefined && !options.resume && !(alignWeight !== undefined && alignWeight > 0)) throw new JukeboxError('train-prior: --align-breaks sets targets of the alignment loss; it needs --align-loss W > 0');
  if (options.alignEdges && !options.resume && alignBreaks === undefined) throw new JukeboxError('train-prior: --align-edges targets the intros and outros as breaks; it needs --align-breaks S');
  if (options.alignSeparators && !options.resume && alignBreaks === undefined) throw new JukeboxError('train-prior: --align-separators targets the separators in the breaks; it needs --align-breaks S');
  const timingJitter = options.timingJitter;
  if (timingJitter !== undefined && !(Number.isFinite(timingJitter) && timingJitter >= 0)) throw new JukeboxError(`train-prior: --timing-jitter must be a number of seconds ≥ 0, got ${timingJitter}`);
  if (options.resume) {
    ({ config, settings, tables, resumed, rng, train } = withRunState(outDir, STATE_FORMAT, (state) => {
      const config = priorConfigFromHps(state.json('hps'), state.file);
      return {
        config,
        settings: state.json<RunSettings>('settings'),
        tables: labelTablesFromMetadata(state.st.metadata, state.file)?.tables ?? null,
        resumed: { weights: readModelWeights(state, Prior.parameterSpec(config).keys()), optimizer: readOptimizer(state), step: state.step },
        rng: new Rng(state.rngState),
        train: state.json<OptimizerConfig>('train_config'),
      };
    }));
    const dataDir = options.data === undefined ? undefined : path.resolve(options.data);
    const givenHash = options.vqvae === undefined ? undefined : fs.existsSync(options.vqvae) ? fileHash(options.vqvae) : undefined;
    if (options.vqvae !== undefined && givenHash === undefined) throw new JukeboxError('--vqvae: no such file', options.vqvae);
    if (givenHash !== undefined && givenHash !== settings.vqvae_hash) {
      throw new JukeboxError(
        `train-prior: --vqvae does not match the run's cached codes: they were made with ${settings.vqvae} (hash ${settings.vqvae_hash}), ` +
          `${options.vqvae} has hash ${givenHash}; resume with that VQ-VAE, or start a new run in another --out`,
      );
    }
    checkUnchanged('train-prior', [
      { flag: 'data', saved: settings.data, given: dataDir },
      { flag: 'preset', saved: settings.preset, given: options.preset },
      { flag: 'seed', saved: settings.seed, given: options.seed },
      { flag: 'batch-size', saved: settings.batch_size, given: options.batchSize },
      { flag: 'lr', saved: train.lr!, given: options.lr },
      { flag: 'align-loss', saved: settings.align_loss ?? 0, given: alignWeight },
      { flag: 'align-breaks', saved: settings.align_breaks ?? 'none', given: alignBreaks },
      { flag: 'align-edges', saved: settings.align_edges ?? false, given: options.alignEdges },
      { flag: 'align-separators', saved: settings.align_separators ?? false, given: options.alignSeparators },
      { flag: 'timing-jitter', saved: settings.timing_jitter ?? 0, given: timingJitter },
      // The original command of a fine-tune names its --init; the run itself goes on from its own weights.
      { flag: 'init', saved: settings.init ?? 'none', given: options.init === undefined ? undefined : path.resolve(options.init) },
      { flag: 'align-head', saved: `${config.alignment_layer}/${config.alignment_head}`, given: options.alignHead && `${options.alignHead.layer}/${options.alignHead.head}` },
    ]);
    vqvaeFile = options.vqvae ?? settings.vqvae;
    if (!fs.existsSync(vqvaeFile)) throw new JukeboxError(`--resume: the run's VQ-VAE is gone; pass --vqvae with the same checkpoint (hash ${settings.vqvae_hash})`, vqvaeFile);
  } else {
    refuseExistingRun(outDir);
    for (const [key, flag] of [['data', 'data'], ['vqvae', 'vqvae'], ['preset', 'preset']] as const) {
      if (options[key] === undefined) throw new JukeboxError(`train-prior: --${flag} is required for a new run`);
    }
    config = priorPreset(options.preset!);
    if (options.alignHead !== undefined) config = { ...config, alignment_layer: options.alignHead.layer, alignment_head: options.alignHead.head };
    vqvaeFile = options.vqvae!;
    rng = new Rng(options.seed ?? 0);
    train = { ...options.train, ...(options.lr === undefined ? {} : { lr: options.lr }) };
    tables = null;
    settings = {
      data: path.resolve(options.data!),
      vqvae: path.resolve(vqvaeFile),
      vqvae_hash: '',
      preset: options.preset!,
      seed: options.seed ?? 0,
      batch_size: options.batchSize ?? 4,
      songs: [],
      align_loss: alignWeight ?? 0,
      ...(alignBreaks === undefined ? {} : { align_breaks: alignBreaks }),
      ...(options.alignEdges ? { align_edges: true } : {}),
      ...(options.alignSeparators ? { align_separators: true } : {}),
      ...(timingJitter ? { timing_jitter: timingJitter } : {}),
      ...(options.init === undefined ? {} : { init: path.resolve(options.init) }),
    };
  }
  const vqvae = openVQVAE(vqvaeFile, config, settings.preset);
  let prior: Prior | undefined;
  let trainer: PriorTrainer | undefined;
  let pool: PriorWorkerPool | undefined;
  let initial: { weights: Map<string, tf.Tensor>; tables: LabelIdTables | null } | null = null;
  try {
    // A probe model reads the sidecars as the trained one will (lyrics or not, labels or not).
    const probe = new Prior(config, zeroWeights(config));
    let listed: ReturnType<typeof listSongs>;
    // The head the term trains (W > 0), and the one the held-out windows are scored on (also at
    // W = 0 when the prior names one: how well the reference's procedure aligns, for comparison).
    let alignLoss: AlignLossSettings | undefined;
    let scoredHead: AlignLossSettings | undefined;
    try {
      const weight = settings.align_loss ?? 0;
      const head = weight > 0 || options.alignHead !== undefined ? alignLossHead(probe, settings.preset) : configuredAlignHead(probe);
      if (head !== null) scoredHead = { weight, ...head };
      if (weight > 0) alignLoss = scoredHead;
      listed = listSongs(settings.data, probe, settings.preset);
      if (settings.init !== undefined && resumed === null) initial = initialWeights(settings.init, config, settings.preset, warn);
      if (tables === null && initial !== null) tables = initial.tables;
      if (tables === null && config.labels) tables = labelTablesFromSongs(listed.map((s) => s.meta), probe, settings.preset);
    } finally {
      probe.dispose();
    }
    const vqvaeHash = fileHash(vqvaeFile);
    const levels = config.level === config.levels - 1 ? [config.level] : [config.level, config.level + 1];
    const songs = await encodeSongs(listed, vqvae, vqvaeHash, levels, path.join(outDir, PRIOR_RUN_FILES.codes), options.onEncode);
    if (options.resume) {
      const now = songs.map((s) => s.hash);
      if (now.length !== settings.songs.length || now.some((h, i) => h !== settings.songs[i])) {
        throw new JukeboxError(`--resume: the data folder changed since the run started (${settings.songs.length} songs then, ${now.length} now, or other files); an exact resume needs the same songs`, settings.data);
      }
    } else {
      settings = { ...settings, vqvae_hash: vqvaeHash, songs: songs.map((s) => s.hash) };
    }
    const held = heldOutSongs(songs);
    const start = resumed?.weights ?? initial?.weights;
    prior = start === undefined ? randomPrior(config, settings.seed, { labelTables: tables }) : new Prior(config, weightMap(start), { labelTables: tables, warn });
    initial = null;
    const separators: SeparatorTargets = settings.align_separators ? 'breaks' : settings.align_edges ? 'edges' : 'none';
    const targetRule = { breakSeconds: settings.align_breaks ?? null, separators };
    const trainWindows = new PriorWindows(prior, songs.filter((s) => !held.has(s.hash)), alignLoss === undefined ? null : targetRule, settings.timing_jitter ?? 0);
    const heldWindows = new PriorWindows(prior, songs.filter((s) => held.has(s.hash)), scoredHead === undefined ? null : targetRule);
    for (const s of [...trainWindows.tooShort, ...heldWindows.tooShort]) warn(`${s.file}: skipped: shorter than one window of ${prior.nCtx} tokens (${(prior.sampleLength / config.sr).toFixed(2)} s)`);
    if (trainWindows.total === 0) throw new JukeboxError(`--data: no training song is as long as one window (${(prior.sampleLength / config.sr).toFixed(2)} s)`, settings.data);
    trainer = new PriorTrainer(prior, train);
    trainer.alignLoss = alignLoss;
    if (resumed !== null) {
      restoreOptimizer(trainer.optimizer, resumed.optimizer);
      trainer.step = resumed.step;
      resumed = null;
    }
    const metricsFile = path.join(outDir, PRIOR_RUN_FILES.metrics);
    truncateMetrics(metricsFile, trainer.step);
    if ((options.workers ?? 1) > 1) {
      pool = await PriorWorkerPool.start(prior, options.workers!);
      trainer.runner = pool;
    }
    const history: PriorRunMetrics[] = [];
    const started = Date.now();
    const firstStep = trainer.step;
    while (trainer.step < steps) {
      const windows = Array.from({ length: settings.batch_size }, () => trainWindows.draw(rng));
      const metrics: PriorRunMetrics = await trainer.trainStep(trainWindows.batch(windows));
      const save = trainer.step % saveEvery === 0 || trainer.step === steps;
      const heldOut = save ? await score(prior, heldWindows, settings.batch_size, options.heldOutWindows ?? 4, scoredHead, pool) : null;
      if (heldOut !== null) Object.assign(metrics, { heldout_bpd: heldOut.bpd, heldout_prime_loss: heldOut.primeLoss });
      if (heldOut?.alignLoss != null) metrics.heldout_align_loss = heldOut.alignLoss;
      const heads = save ? await lyricHeadScores(prior, heldWindows) : null;
      if (heads !== null) metrics.lyric_heads = heads;
      history.push(metrics);
      fs.appendFileSync(metricsFile, JSON.stringify(metrics) + '\n');
      const seconds = (Date.now() - started) / 1000;
      options.onStep?.(metrics, { step: trainer.step, steps, tokensPerSecond: ((trainer.step - firstStep) * settings.batch_size * prior.nCtx) / seconds });
      // Let timers, signals and I/O run between steps.
      await new Promise((resolve) => setImmediate(resolve));
      if (save) {
        await saveRun(outDir, trainer, rng, settings);
        options.onSave?.(trainer.step, heldOut?.bpd ?? null);
      }
    }
    return { model: prior, metrics: history };
  } catch (err) {
    prior?.dispose();
    if (initial !== null) tf.dispose([...initial.weights.values()]);
    if (resumed !== null) tf.dispose([...resumed.weights.values(), ...resumed.optimizer.m.values(), ...resumed.optimizer.v.values()]);
    throw err;
  } finally {
    vqvae.dispose();
    await pool?.close();
    trainer?.dispose();
  }
}

/**
 * The weights (and label tables, when the file has them: its embeddings' rows mean those names)
 * of `--init`, a prior file whose parameters must have the preset's names and shapes.
 */
function initialWeights(file: string, config: PriorConfig, preset: string, warn: (m: string) => void): { weights: Map<string, tf.Tensor>; tables: LabelIdTables | null } {
  if (!fs.existsSync(file)) throw new JukeboxError('--init: no such file', file);
  const { model } = loadPrior(file, { preset, warn });
  try {
    const want = Prior.parameterSpec(config);
    const have = model.spec;
    const problems: string[] = [];
    for (const [name, shape] of want) {
      const got = have.get(name);
      if (got === undefined) problems.push(`lacks ${name}`);
      else if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) problems.push(`${name} is [${got}], the preset has [${shape}]`);
    }
    for (const name of have.keys()) if (!want.has(name)) problems.push(`has ${name}, which the preset lacks`);
    if (problems.length > 0) {
      throw new JukeboxError(`--init does not match preset '${preset}': ${problems.length} parameter${problems.length === 1 ? '' : 's'} differ (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''})`, file);
    }
    return { weights: new Map([...want.keys()].map((name) => [name, model.weights.get(name).clone()])), tables: model.labeller?.tables ?? null };
  } finally {
    model.dispose();
  }
}

/** Zero weights of a config's shapes: a model that only reads sidecars. */
function zeroWeights(config: PriorConfig): WeightMap {
  return weightMap(new Map([...Prior.parameterSpec(config)].map(([name, shape]) => [name, tf.zeros(shape)])));
}

function weightMap(tensors: Map<string, tf.Tensor>): WeightMap {
  const weights = new WeightMap();
  for (const [name, t] of tensors) weights.set(name, t);
  return weights;
}
