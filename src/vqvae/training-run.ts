import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { AudioFolderDataset } from '../audio/dataset';
import { saveVQVAE } from '../checkpoint/load';
import { configFromHps, hpsFromConfig } from '../checkpoint/hps';
import { VQVAE_PRESETS } from '../checkpoint/presets';
import { SafetensorsTensor, writeSafetensors } from '../checkpoint/safetensors';
import { itemNorm } from '../metrics/spectral';
import { DEFAULT_STFT, stftMagnitude } from '../metrics/stft';
import { Rng } from '../rng';
import { VQVAEConfig } from './config';
import { randomVQVAE } from './init';
import { Bandwidth } from './losses';
import { StepMetrics, TrainConfig, VQVAETrainer } from './trainer';
import { VQVAE } from './vqvae';
import { WeightMap } from './weights';
import { VQVAEWorkerPool } from './worker-pool';
import {
  checkUnchanged, counterMetadata, METRICS_FILE, putTrainingTensors, readModelWeights, readOptimizer, refuseExistingRun,
  restoreOptimizer, STATE_FILE, truncateMetrics, withRunState,
} from '../train/run-state';

/** Where a run keeps its files inside `--out`. */
export const RUN_FILES = {
  /** The current model, readable by every other command. */
  model: 'vqvae.safetensors',
  /** Everything `--resume` needs: weights, Adam moments, codebook EMAs, step, RNG state. */
  state: STATE_FILE,
  /** One JSON object of metrics per step. */
  metrics: METRICS_FILE,
} as const;

const STATE_FORMAT = 'jukebox-ts/vqvae-train-state';

/** How a run reads its data (saved with the run, so a resume reads it the same way). */
export interface DataOptions {
  dir: string;
  /** Samples per training window. */
  windowLength: number;
  batchSize: number;
  /** Random channel downmix per window. */
  blend: boolean;
  /** Random gain range in dB. */
  gainDb: [number, number];
}

export interface TrainRunOptions {
  /** Output directory: model, training state and metrics log. */
  outDir: string;
  /** Train until this many steps have been taken in total (a resume continues towards it). */
  steps: number;
  /** Continue the run in `outDir` from its last saved state. */
  resume?: boolean;
  /** Settings a resumed command gave again: each must equal the run's. */
  resumeCheck?: ResumeCheck;
  /** Seed of the initial weights, data order and restarts (fresh runs). Default 0. */
  seed?: number;
  /** Model config of a fresh run. */
  config?: VQVAEConfig;
  /** Data of a fresh run. */
  data?: DataOptions;
  /** Optimiser and loss settings of a fresh run. */
  train?: Partial<TrainConfig>;
  /**
   * Worker threads computing the batch's micro-batches (1: none). Results are the same for any
   * number, so a run may resume with a different one. Default 1.
   */
  workers?: number;
  /** Save the state every this many steps (and at the end). Default 100. */
  saveEvery?: number;
  /** Called after every step. */
  onStep?: (metrics: StepMetrics, run: { step: number; steps: number }) => void;
  /** Called after every save. */
  onSave?: (step: number) => void;
  /** Non-fatal problems (skipped files). */
  warn?: (message: string) => void;
}

/**
 * The data's bandwidth, as the reference's `calculate_bandwidth`: over up to `seconds` of
 * consecutive windows, l2 = sample variance, l1 = mean |x|, spec = mean Frobenius norm of a
 * window's default-STFT magnitude.
 */
export function dataBandwidth(dataset: AudioFolderDataset, sampleRate: number, windowLength: number, seconds = 600): Bandwidth {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let sumAbs = 0;
  let specTotal = 0;
  let windows = 0;
  for (const w of dataset.windows(Math.max(1, Math.ceil((seconds * sampleRate) / windowLength)))) {
    for (let i = 0; i < w.length; i++) {
      sum += w[i];
      sumSq += w[i] * w[i];
      sumAbs += Math.abs(w[i]);
    }
    n += w.length;
    specTotal += tf.tidy(() => itemNorm(stftMagnitude(tf.tensor2d(w, [1, w.length]), DEFAULT_STFT)).dataSync()[0]);
    windows++;
  }
  const mean = sum / n;
  return { l2: sumSq / n - mean * mean, l1: sumAbs / n, spec: specTotal / windows };
}

interface SavedState {
  config: VQVAEConfig;
  train: TrainConfig;
  data: DataOptions;
  bandwidth: Bandwidth;
  seed: number;
}

/** Writes the full training state atomically, then the model checkpoint. */
async function saveRun(outDir: string, trainer: VQVAETrainer, saved: SavedState): Promise<void> {
  const tensors = new Map<string, SafetensorsTensor>();
  putTrainingTensors(tensors, [...trainer.model.spec.keys()].map((name) => [name, trainer.model.weights.get(name)]), trainer.optimizer);
  trainer.codebooks.forEach((cb, level) => {
    if (cb.state === null) return;
    tensors.set(`ema_k_sum/${level}`, { dtype: 'F32', shape: [cb.bins, cb.width], data: cb.state.kSum });
    tensors.set(`ema_k_elem/${level}`, { dtype: 'F32', shape: [cb.bins], data: cb.state.kElem });
  });
  await writeSafetensors(path.join(outDir, RUN_FILES.state), tensors, {
    format: STATE_FORMAT,
    hps: JSON.stringify(hpsFromConfig(saved.config)),
    train_config: JSON.stringify(saved.train),
    data: JSON.stringify(saved.data),
    bandwidth: JSON.stringify(saved.bandwidth),
    seed: String(saved.seed),
    ...counterMetadata(trainer.step, trainer.optimizer, trainer.rng.state),
  });
  await saveVQVAE(path.join(outDir, RUN_FILES.model), trainer.model, { step: String(trainer.step) });
}

/** Rebuilds a trainer exactly as `saveRun` left it. */
function loadRun(outDir: string): { trainer: VQVAETrainer; saved: SavedState } {
  return withRunState(outDir, STATE_FORMAT, (state) => {
    const config = configFromHps(state.json('hps'), state.file);
    const saved: SavedState = { config, train: state.json('train_config'), data: state.json('data'), bandwidth: state.json('bandwidth'), seed: Number(state.st.metadata.seed) };
    const weights = new WeightMap();
    for (const [name, t] of readModelWeights(state, VQVAE.parameterSpec(config).keys())) weights.set(name, t);
    const trainer = new VQVAETrainer(new VQVAE(config, weights), saved.bandwidth, new Rng(state.rngState), saved.train);
    trainer.step = state.step;
    restoreOptimizer(trainer.optimizer, readOptimizer(state));
    trainer.codebooks.forEach((cb, level) => {
      if (state.st.entries.has(`ema_k_sum/${level}`)) {
        cb.state = { kSum: state.st.readFloat32(`ema_k_sum/${level}`), kElem: state.st.readFloat32(`ema_k_elem/${level}`) };
      }
    });
    return { trainer, saved };
  });
}

/**
 * What a resumed command gave again (all optional): a setting equal to the run's is accepted, so
 * the original command with `--resume` added works; a changed one is refused.
 */
export interface ResumeCheck {
  preset?: string;
  data?: string;
  seed?: number;
  batchSize?: number;
  windowLength?: number;
  lr?: number;
  restarts?: boolean;
}

/** The preset a config is, if any (a run stores its config, not the preset's name). */
function presetNameOf(config: VQVAEConfig): string {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const found = Object.entries(VQVAE_PRESETS).find(([, preset]) => (Object.keys(preset) as (keyof VQVAEConfig)[]).every((k) => same(preset[k], config[k])));
  return found?.[0] ?? 'a custom config';
}

function checkResume(saved: SavedState, given: ResumeCheck): void {
  checkUnchanged('train-vqvae', [
    { flag: 'preset', saved: presetNameOf(saved.config), given: given.preset },
    { flag: 'data', saved: path.resolve(saved.data.dir), given: given.data === undefined ? undefined : path.resolve(given.data) },
    { flag: 'seed', saved: saved.seed, given: given.seed },
    { flag: 'batch-size', saved: saved.data.batchSize, given: given.batchSize },
    { flag: 'window', saved: saved.data.windowLength, given: given.windowLength },
    { flag: 'lr', saved: saved.train.lr, given: given.lr },
    { flag: 'no-restarts', saved: !saved.train.restarts, given: given.restarts === undefined ? undefined : !given.restarts },
  ]);
}

/**
 * Runs (or resumes) VQ-VAE training: random windows from a folder of audio, the reference's
 * losses and optimiser, state saved atomically every `saveEvery` steps so that a killed run
 * resumes exactly: `--resume` continues with the same weights, moments, codebook EMAs, data order
 * and random restarts, and reaches the same losses as a run that was never stopped.
 */
export async function trainVQVAE(options: TrainRunOptions): Promise<{ model: VQVAE; metrics: StepMetrics[] }> {
  const { outDir, steps } = options;
  const saveEvery = options.saveEvery ?? 100;
  let trainer: VQVAETrainer;
  let saved: SavedState;
  fs.mkdirSync(outDir, { recursive: true });
  if (options.resume) {
    ({ trainer, saved } = loadRun(outDir));
    try {
      checkResume(saved, options.resumeCheck ?? {});
    } catch (err) {
      trainer.model.dispose();
      trainer.dispose();
      throw err;
    }
  } else {
    refuseExistingRun(outDir);
    if (options.config === undefined || options.data === undefined) throw new Error('a fresh run needs config and data');
    const seed = options.seed ?? 0;
    const probe = await AudioFolderDataset.openAsync(options.data.dir, { sampleRate: options.config.sr, windowLength: options.data.windowLength }, options.warn);
    const bandwidth = dataBandwidth(probe, options.config.sr, options.data.windowLength);
    probe.close();
    const model = randomVQVAE(options.config, seed);
    trainer = new VQVAETrainer(model, bandwidth, new Rng(seed), options.train);
    saved = { config: options.config, train: trainer.config, data: options.data, bandwidth, seed };
  }
  const metricsFile = path.join(outDir, RUN_FILES.metrics);
  truncateMetrics(metricsFile, trainer.step);
  const dataset = await AudioFolderDataset.openAsync(saved.data.dir, {
    sampleRate: saved.config.sr,
    windowLength: saved.data.windowLength,
    blend: saved.data.blend,
    gainDb: saved.data.gainDb,
  }, options.warn);
  const history: StepMetrics[] = [];
  try {
    if ((options.workers ?? 1) > 1) {
      trainer.pool = await VQVAEWorkerPool.start(trainer.model, options.workers);
      await trainer.pool.startTraining(trainer.bandwidth, trainer.config);
    }
    while (trainer.step < steps) {
      const batch = dataset.sample(trainer.rng, saved.data.batchSize);
      const x = tf.tensor2d(batch, [saved.data.batchSize, saved.data.windowLength]);
      const metrics = await trainer.trainStep(x);
      x.dispose();
      history.push(metrics);
      fs.appendFileSync(metricsFile, JSON.stringify(metrics) + '\n');
      options.onStep?.(metrics, { step: trainer.step, steps });
      // Let timers, signals and I/O run between steps: a step is seconds of synchronous work.
      await new Promise((resolve) => setImmediate(resolve));
      if (trainer.step % saveEvery === 0 || trainer.step === steps) {
        await saveRun(outDir, trainer, saved);
        options.onSave?.(trainer.step);
      }
    }
  } finally {
    dataset.close();
    await trainer.pool?.close();
    trainer.dispose();
  }
  return { model: trainer.model, metrics: history };
}
