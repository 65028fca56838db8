import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { openSafetensors, SafetensorsFile, SafetensorsTensor } from '../checkpoint/safetensors';
import { JukeboxError } from '../errors';
import { FusedAdam } from './optimizer';

/**
 * What every training run shares: its files in `--out`, the training state's layout (weights,
 * Adam moments, step and RNG state, settings as JSON metadata), the metrics log a resume
 * truncates, and the check that a resumed command changes no setting.
 */

/** The training state and metrics log of a run (the model file is the trainer's own). */
export const STATE_FILE = 'train_state.safetensors';
export const METRICS_FILE = 'metrics.jsonl';

/** Refuses to start a fresh run over an existing one. */
export function refuseExistingRun(outDir: string): void {
  if (fs.existsSync(path.join(outDir, STATE_FILE))) {
    throw new JukeboxError('already holds a training run; pass --resume to continue it, or choose another --out', outDir);
  }
}

/** Adds `weights` under `model/` and the optimiser's moments under `adam_m/` and `adam_v/` to `tensors`. */
export function putTrainingTensors(tensors: Map<string, SafetensorsTensor>, weights: Iterable<[string, tf.Tensor]>, optimizer: FusedAdam): void {
  const put = (name: string, t: tf.Tensor) => tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
  for (const [name, t] of weights) put(`model/${name}`, t);
  for (const [name, t] of optimizer.m) put(`adam_m/${name}`, t);
  for (const [name, t] of optimizer.v) put(`adam_v/${name}`, t);
}

/** The state metadata every run writes: step, Adam's step count and the RNG state. */
export function counterMetadata(step: number, optimizer: FusedAdam, rngState: Uint32Array): Record<string, string> {
  return { step: String(step), adam_t: String(optimizer.t), rng_state: JSON.stringify([...rngState]) };
}

/** An opened training state: its metadata, read as JSON where asked, and its tensors. */
export interface OpenedState {
  file: string;
  st: SafetensorsFile;
  json<T>(key: string): T;
  step: number;
  rngState: Uint32Array;
}

/**
 * Opens `<outDir>/train_state.safetensors` of format `format` for `--resume`, runs `use` on it
 * and closes it.
 */
export function withRunState<T>(outDir: string, format: string, use: (state: OpenedState) => T): T {
  const file = path.join(outDir, STATE_FILE);
  if (!fs.existsSync(file)) throw new JukeboxError(`--resume: no training state here (expected ${STATE_FILE})`, outDir);
  const st = openSafetensors(file);
  try {
    if (st.metadata.format !== format) throw new JukeboxError(`not a ${format} training state`, file);
    const json = <V>(key: string): V => {
      try {
        return JSON.parse(st.metadata[key]) as V;
      } catch {
        throw new JukeboxError(`training state metadata '${key}' is missing or not JSON`, file);
      }
    };
    return use({ file, st, json, step: Number(st.metadata.step), rngState: Uint32Array.from(json<number[]>('rng_state')) });
  } finally {
    st.close();
  }
}

/** The saved weights of `names` (shapes from the state file), as tensors. */
export function readModelWeights(state: OpenedState, names: Iterable<string>): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const name of names) {
    const entry = state.st.entries.get(`model/${name}`);
    if (entry === undefined) throw new JukeboxError(`training state lacks model/${name}`, state.file);
    out.set(name, tf.tensor(state.st.readFloat32(`model/${name}`), entry.shape));
  }
  return out;
}

/** Adam's saved moments and step count, as `putTrainingTensors` and `counterMetadata` wrote them. */
export interface SavedOptimizer {
  t: number;
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
}

export function readOptimizer(state: OpenedState): SavedOptimizer {
  const saved: SavedOptimizer = { t: Number(state.st.metadata.adam_t), m: new Map(), v: new Map() };
  for (const [key, entry] of state.st.entries) {
    const slash = key.indexOf('/');
    const [kind, name] = [key.slice(0, slash), key.slice(slash + 1)];
    if (kind === 'adam_m' || kind === 'adam_v') (kind === 'adam_m' ? saved.m : saved.v).set(name, tf.tensor(state.st.readFloat32(key), entry.shape));
  }
  return saved;
}

/** Hands saved moments (and their ownership) to `optimizer`. */
export function restoreOptimizer(optimizer: FusedAdam, saved: SavedOptimizer): void {
  optimizer.t = saved.t;
  for (const [name, t] of saved.m) optimizer.m.set(name, t);
  for (const [name, t] of saved.v) optimizer.v.set(name, t);
}

/** Keeps only the metrics lines of steps before `step` (a resume replays the steps after it). */
export function truncateMetrics(file: string, step: number): void {
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

/** A setting of a resumed run: the value the run was started with and the one given now (undefined: not given). */
export interface ResumedSetting {
  flag: string;
  saved: string | number | boolean;
  given: string | number | boolean | undefined;
}

/**
 * Resuming with the original command must work, so a setting given again with its old value is
 * fine; one whose value changed is refused, naming both values.
 */
export function checkUnchanged(command: string, settings: ResumedSetting[]): void {
  for (const s of settings) {
    if (s.given !== undefined && s.given !== s.saved) {
      throw new JukeboxError(`${command}: --${s.flag} cannot change when resuming: the run has ${show(s.saved)}, this command gives ${show(s.given)}`);
    }
  }
}

function show(v: string | number | boolean): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}
