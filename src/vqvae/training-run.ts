import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { AudioFolderDataset } from '../audio/dataset';
import { saveVQVAE } from '../checkpoint/load';
import { configFromHps, hpsFromConfig } from '../checkpoint/hps';
import { openSafetensors, SafetensorsTensor, writeSafetensors } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
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

/** Where a run keeps its files inside `--out`. */
export const RUN_FILES = {
  /** The current model, readable by every other command. */
  model: 'vqvae.safetensors',
  /** Everything `--resume` needs: weights, Adam moments, codebook EMAs, step, RNG state. */
  state: 'train_state.safetensors',
  /** One JSON object of metrics per step. */
  metrics: 'metrics.jsonl',
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
  const put = (name: string, t: tf.Tensor) => tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
  for (const name of trainer.model.spec.keys()) put(`model/${name}`, trainer.model.weights.get(name));
  for (const [name, t] of trainer.optimizer.m) put(`adam_m/${name}`, t);
  for (const [name, t] of trainer.optimizer.v) put(`adam_v/${name}`, t);
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
    step: String(trainer.step),
    adam_t: String(trainer.optimizer.t),
    rng_state: JSON.stringify([...trainer.rng.state]),
  });
  await saveVQVAE(path.join(outDir, RUN_FILES.model), trainer.model, { step: String(trainer.step) });
}

/** Rebuilds a trainer exactly as `saveRun` left it. */
function loadRun(outDir: string): { trainer: VQVAETrainer; saved: SavedState } {
  const file = path.join(outDir, RUN_FILES.state);
  if (!fs.existsSync(file)) throw new JukeboxError(`--resume: no training state here (expected ${RUN_FILES.state})`, outDir);
  const st = openSafetensors(file);
  try {
    if (st.metadata.format !== STATE_FORMAT) throw new JukeboxError('not a jukebox-ts training state', file);
    const json = (key: string) => {
      try {
        return JSON.parse(st.metadata[key]);
      } catch {
        throw new JukeboxError(`training state metadata '${key}' is missing or not JSON`, file);
      }
    };
    const config = configFromHps(json('hps'), file);
    const saved: SavedState = { config, train: json('train_config'), data: json('data'), bandwidth: json('bandwidth'), seed: Number(st.metadata.seed) };
    const weights = new WeightMap();
    for (const name of VQVAE.parameterSpec(config).keys()) {
      if (!st.entries.has(`model/${name}`)) throw new JukeboxError(`training state lacks model/${name}`, file);
      weights.set(name, tf.tensor(st.readFloat32(`model/${name}`), st.entries.get(`model/${name}`)!.shape));
    }
    const model = new VQVAE(config, weights);
    const trainer = new VQVAETrainer(model, saved.bandwidth, new Rng(Uint32Array.from(json('rng_state'))), saved.train);
    trainer.step = Number(st.metadata.step);
    trainer.optimizer.t = Number(st.metadata.adam_t);
    for (const [key, entry] of st.entries) {
      const [kind, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      if (kind === 'adam_m' || kind === 'adam_v') {
        (kind === 'adam_m' ? trainer.optimizer.m : trainer.optimizer.v).set(name, tf.tensor(st.readFloat32(key), entry.shape));
      }
    }
    trainer.codebooks.forEach((cb, level) => {
      if (st.entries.has(`ema_k_sum/${level}`)) {
        cb.state = { kSum: st.readFloat32(`ema_k_sum/${level}`), kElem: st.readFloat32(`ema_k_elem/${level}`) };
      }
    });
    return { trainer, saved };
  } finally {
    st.close();
  }
}

/** Keeps only the metrics lines of steps before `step` (a resume replays the steps after it). */
function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs.readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      return (JSON.parse(line) as { step: number }).step < step;
    } catch {
      return false; // a line cut by the kill
    }
  });
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
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
  } else {
    if (fs.existsSync(path.join(outDir, RUN_FILES.state))) {
      throw new JukeboxError('already holds a training run; pass --resume to continue it, or choose another --out', outDir);
    }
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
