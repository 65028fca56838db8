import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import { JukeboxError } from '../errors';
import { VQVAEConfig } from '../vqvae/config';
import { VQVAE } from '../vqvae/vqvae';
import { matchStateDict, WeightMap } from '../vqvae/weights';
import { configFromHps, hpsFromConfig } from './hps';
import { float32ToHalf } from './numeric';
import { VQVAE_PRESETS } from './presets';
import { isSafetensors, openSafetensors, SafetensorsTensor, writeSafetensors } from './safetensors';
import { checkpointEntry, isTorchCheckpoint, readTorchCheckpoint, stateDictToFloat32, TorchCheckpoint } from './torch';

/** Metadata key of the project's VQ-VAE safetensors files: the reference `hps` as JSON. */
export const HPS_METADATA_KEY = 'hps';
/** Metadata `format` value that marks a jukebox-ts VQ-VAE file. */
export const VQVAE_FORMAT = 'jukebox-ts/vqvae';

export type CheckpointFormat = 'torch-legacy' | 'torch-zip' | 'safetensors';

/** A model's weights as plain data, before any tensor exists. */
export interface VQVAEStateDict {
  format: CheckpointFormat;
  config: VQVAEConfig;
  /** Where the config came from: the checkpoint's `hps`, or the preset whose keys and shapes it matched. */
  configSource: string;
  /** Reference `state_dict` name → float32 data, reference layout. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/**
 * Finds the preset a headerless state dict was made with: the one whose declared keys and shapes
 * it matches exactly. Throws with the mismatch against the published 5b model otherwise.
 */
function configFromShapes(tensors: Map<string, { shape: number[] }>, file: string): { config: VQVAEConfig; source: string } {
  for (const [name, preset] of Object.entries(VQVAE_PRESETS)) {
    try {
      matchStateDict(VQVAE.parameterSpec(preset as VQVAEConfig), tensors, file);
      return { config: structuredClone(preset) as VQVAEConfig, source: `preset '${name}' (matched by shapes)` };
    } catch {
      // try the next preset
    }
  }
  matchStateDict(VQVAE.parameterSpec(VQVAE_PRESETS['5b'] as VQVAEConfig), tensors, file);
  throw new Error('unreachable');
}

function readTorchStateDict(path: string): VQVAEStateDict {
  let checkpoint: TorchCheckpoint | undefined;
  try {
    checkpoint = readTorchCheckpoint(path);
    const root = checkpoint.root;
    // Reference checkpoints are {'hps', 'model', 'opt', 'step', ...}; a bare state dict also loads.
    const isWrapped = root instanceof Map && root.has('model');
    const tensors = stateDictToFloat32(isWrapped ? checkpointEntry(checkpoint, 'model') : root, path);
    const format: CheckpointFormat = checkpoint.format === 'legacy' ? 'torch-legacy' : 'torch-zip';
    if (isWrapped && (root as Map<unknown, unknown>).has('hps')) {
      return { format, config: configFromHps((root as Map<unknown, unknown>).get('hps'), path), configSource: 'hps', tensors };
    }
    const { config, source } = configFromShapes(tensors, path);
    return { format, config, configSource: source, tensors };
  } finally {
    checkpoint?.close();
  }
}

/** Other files of this project that are safetensors but not models, and what to say about them. */
const NOT_A_MODEL: Record<string, string> = {
  'jukebox-ts/codes': 'is a codes file (written by `jukebox encode`), not a VQ-VAE checkpoint',
  'jukebox-ts/vqvae-train-state': 'is a training state (for `train-vqvae --resume`); the model beside it is vqvae.safetensors',
};

function readSafetensorsStateDict(path: string): VQVAEStateDict {
  const file = openSafetensors(path);
  try {
    const kind = NOT_A_MODEL[file.metadata.format ?? ''];
    if (kind !== undefined) throw new JukeboxError(kind, path);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, entry] of file.entries) tensors.set(name, { shape: entry.shape, data: file.readFloat32(name) });
    const hpsJson = file.metadata[HPS_METADATA_KEY];
    if (hpsJson === undefined) {
      const { config, source } = configFromShapes(tensors, path);
      return { format: 'safetensors', config, configSource: source, tensors };
    }
    let hps: unknown;
    try {
      hps = JSON.parse(hpsJson);
    } catch {
      throw new JukeboxError(`the '${HPS_METADATA_KEY}' metadata is not valid JSON`, path);
    }
    return { format: 'safetensors', config: configFromHps(hps, path), configSource: 'hps', tensors };
  } finally {
    file.close();
  }
}

/**
 * Reads a VQ-VAE checkpoint without building the model: a PyTorch `.pth.tar` (legacy or zip
 * format, through the restricted unpickler: nothing in the file is executed) or one of the
 * project's safetensors files. The config comes from the checkpoint's `hps` when present,
 * otherwise from the preset whose parameter shapes the weights match.
 */
export function readVQVAEStateDict(path: string): VQVAEStateDict {
  if (!fs.existsSync(path)) throw new JukeboxError('no such file', path);
  if (fs.statSync(path).isDirectory()) throw new JukeboxError('is a directory, not a checkpoint', path);
  if (isSafetensors(path)) return readSafetensorsStateDict(path);
  if (isTorchCheckpoint(path)) return readTorchStateDict(path);
  // Let the torch reader say precisely what is wrong (tar format, truncated, not a pickle, ...).
  return readTorchStateDict(path);
}

/**
 * Loads a VQ-VAE from a checkpoint, checking every key and shape against what the config
 * declares; the error lists all missing, unexpected and mis-shaped keys.
 */
export function loadVQVAE(path: string): { model: VQVAE; format: CheckpointFormat; configSource: string } {
  const state = readVQVAEStateDict(path);
  const spec = VQVAE.parameterSpec(state.config);
  const keyOf = matchStateDict(spec, state.tensors, path);
  const weights = new WeightMap();
  try {
    for (const [name, shape] of spec) weights.set(name, tf.tensor(state.tensors.get(keyOf.get(name)!)!.data, shape, 'float32'));
    return { model: new VQVAE(state.config, weights), format: state.format, configSource: state.configSource };
  } catch (err) {
    weights.dispose();
    throw err;
  }
}

/**
 * Saves a state dict as the project's safetensors format: parameters under their reference names
 * and layouts (so `model.load_state_dict(safetensors.torch.load_file(path))` works on the reference
 * VQVAE), the config as the reference `hps` in the metadata.
 */
export async function saveVQVAEStateDict(
  path: string,
  config: VQVAEConfig,
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  extraMetadata: Record<string, string> = {},
  options: SaveOptions = {},
): Promise<void> {
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, t] of tensors) {
    out.set(name, options.dtype === 'F16'
      ? { dtype: 'F16', shape: t.shape, data: float32ToHalf(t.data) }
      : { dtype: 'F32', shape: t.shape, data: t.data });
  }
  await writeSafetensors(path, out, {
    ...extraMetadata,
    format: VQVAE_FORMAT,
    [HPS_METADATA_KEY]: JSON.stringify(hpsFromConfig(config)),
  });
}

export interface SaveOptions {
  /** Storage type of the weights: F32 (default, exact) or F16 (half the size; loads as float32). */
  dtype?: 'F32' | 'F16';
}

/** Saves a loaded model (its current weights) as the project's safetensors format. */
export async function saveVQVAE(path: string, model: VQVAE, extraMetadata: Record<string, string> = {}, options: SaveOptions = {}): Promise<void> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const name of model.spec.keys()) {
    const t = model.weights.get(name);
    tensors.set(name, { shape: t.shape, data: (await t.data()) as Float32Array });
  }
  await saveVQVAEStateDict(path, model.config, tensors, extraMetadata, options);
}
