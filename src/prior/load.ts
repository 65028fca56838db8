import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import { JukeboxError } from '../errors';
import { CheckpointFormat } from '../checkpoint/load';
import { isSafetensors, openSafetensors, StreamedSafetensorsTensor, writeSafetensorsStreamed } from '../checkpoint/safetensors';
import { isTorchTensorRef, readTorchCheckpoint, TorchTensorRef } from '../checkpoint/torch';
import { LabelIdTables, labelTablesToMetadata, resolveLabelIdTables } from '../labels/index';
import { randomWeights } from '../vqvae/init';
import { matchStateDict, ParameterRegistry, WeightMap } from '../vqvae/weights';
import { PriorConfig, validatePriorConfig } from './config';
import { hpsFromPriorConfig, priorConfigFromHps } from './hps';
import { PRIOR_PRESET_NAMES, priorPreset } from './presets';
import { Prior } from './prior';

/** Metadata `format` of the project's prior files. */
export const PRIOR_FORMAT = 'jukebox-ts/prior';
/** Metadata key of the reference `hps` (JSON). */
export const PRIOR_HPS_METADATA_KEY = 'hps';

/**
 * The largest model, in bytes of float32 weights, that the wasm backend takes: its heap is a
 * 32-bit memory of 4 GiB, and activations, attention and the KV cache need room beside the
 * weights. None of the published priors fits (1b_lyrics is 3.8 GB of float32, each upsampler 3.9 GB, 5b 20 GB); they need tfjs-node(-gpu).
 */
export const WASM_MAX_MODEL_BYTES = 3 * 1024 ** 3;

/** Bytes of a config's float32 weights. */
export function priorFloat32Bytes(config: PriorConfig): number {
  let n = 0;
  for (const shape of Prior.parameterSpec(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return 4 * n;
}

/**
 * Refuses, before anything is allocated, a model the active backend cannot hold: on wasm, more
 * than {@link WASM_MAX_MODEL_BYTES} of weights. `what` names the model or file.
 */
export function checkBackendCapacity(bytes: number, what: string, backend = tf.getBackend()): void {
  if (backend === 'wasm' && bytes > WASM_MAX_MODEL_BYTES) {
    const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;
    throw new JukeboxError(
      `the model needs ${gb(bytes)} of float32 weights, more than the wasm backend's 4 GiB heap can hold beside its activations ` +
        `(limit ${gb(WASM_MAX_MODEL_BYTES)}); install @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu) and run with JUKEBOX_BACKEND=node (or gpu)`,
      what,
    );
  }
}

/** One state-dict entry, read on demand so that only one tensor's bytes exist outside tfjs at a time. */
interface LazyTensor {
  shape: number[];
  read(): Float32Array;
}

/** An opened checkpoint: its state-dict entries (unread), config source and metadata. */
interface OpenedPrior {
  format: CheckpointFormat;
  entries: Map<string, LazyTensor>;
  hps: unknown;
  metadata: Record<string, string>;
  close(): void;
}

/** Other files of this project that are safetensors but not priors, and what to say about them. */
const NOT_A_PRIOR: Record<string, string> = {
  'jukebox-ts/vqvae': 'is a VQ-VAE checkpoint, not a prior',
  'jukebox-ts/codes': 'is a codes file (written by `jukebox encode` or `sample`), not a prior',
  'jukebox-ts/vqvae-train-state': 'is a VQ-VAE training state, not a prior',
};

function openSafetensorsPrior(path: string): OpenedPrior {
  const file = openSafetensors(path);
  try {
    const format = file.metadata.format;
    const kind = format === undefined ? undefined : NOT_A_PRIOR[format];
    if (kind !== undefined) throw new JukeboxError(kind, path);
    const entries = new Map<string, LazyTensor>();
    for (const [name, entry] of file.entries) entries.set(name, { shape: entry.shape, read: () => file.readFloat32(name) });
    let hps: unknown;
    const json = file.metadata[PRIOR_HPS_METADATA_KEY];
    if (json !== undefined) {
      try {
        hps = JSON.parse(json);
      } catch {
        throw new JukeboxError(`the '${PRIOR_HPS_METADATA_KEY}' metadata is not valid JSON`, path);
      }
    }
    return { format: 'safetensors', entries, hps, metadata: file.metadata, close: () => file.close() };
  } catch (err) {
    file.close();
    throw err;
  }
}

function openTorchPrior(path: string): OpenedPrior {
  const checkpoint = readTorchCheckpoint(path);
  try {
    const root = checkpoint.root;
    // Reference checkpoints are {'hps', 'model', 'opt', 'step', ...}; a bare state dict also loads.
    const wrapped = root instanceof Map && root.has('model');
    const stateDict = wrapped ? (root as Map<unknown, unknown>).get('model') : root;
    if (!(stateDict instanceof Map)) throw new JukeboxError('not a prior checkpoint: it holds no state dict', path);
    const entries = new Map<string, LazyTensor>();
    for (const [key, value] of stateDict) {
      if (!isTorchTensorRef(value)) throw new JukeboxError(`state dict entry '${String(key)}' is not a tensor`, path);
      const ref: TorchTensorRef = value;
      entries.set(String(key), { shape: [...ref.shape], read: () => ref.readFloat32() });
    }
    const hps = wrapped ? (root as Map<unknown, unknown>).get('hps') : undefined;
    return {
      format: checkpoint.format === 'legacy' ? 'torch-legacy' : 'torch-zip',
      entries,
      hps,
      metadata: {},
      close: () => checkpoint.close(),
    };
  } catch (err) {
    checkpoint.close();
    throw err;
  }
}

/** Names without DistributedDataParallel's `module.` prefix (the reference strips it too). */
function stripModule(entries: Map<string, LazyTensor>): Map<string, LazyTensor> {
  const out = new Map<string, LazyTensor>();
  for (const [k, v] of entries) out.set(k.startsWith('module.') ? k.slice(7) : k, v);
  return out;
}

/** A state dict with a model's keys but not a prior's: say what it is instead of listing keys. */
function checkIsPrior(entries: Map<string, LazyTensor>, path: string): void {
  const names = [...entries.keys()];
  if (names.some((n) => n.startsWith('prior.'))) return;
  if (names.some((n) => n.startsWith('encoders.') || n.startsWith('bottleneck.'))) {
    throw new JukeboxError('is a VQ-VAE checkpoint, not a prior', path);
  }
  throw new JukeboxError(`not a prior checkpoint: no 'prior.*' parameters (it has ${names.slice(0, 3).join(', ') || 'no tensors'}${names.length > 3 ? ', ...' : ''})`, path);
}

/** The preset whose keys and shapes a headerless state dict matches. */
function configFromShapes(entries: Map<string, LazyTensor>, path: string): { config: PriorConfig; source: string } {
  const withoutExtras = (config: PriorConfig) => {
    const { aliases, buffers } = Prior.stateDictExtras(config);
    return new Map([...entries].filter(([k]) => !aliases.has(k) && !buffers.has(k)));
  };
  for (const name of PRIOR_PRESET_NAMES) {
    const config = priorPreset(name);
    try {
      matchStateDict(Prior.parameterSpec(config), withoutExtras(config), path);
      return { config, source: `preset '${name}' (matched by shapes)` };
    } catch {
      // try the next preset
    }
  }
  throw new JukeboxError(
    `the checkpoint has no 'hps' and its parameters match no preset (${PRIOR_PRESET_NAMES.join(', ')}); pass the preset it was trained with`,
    path,
  );
}

export interface LoadPriorOptions {
  /** The config to use when the checkpoint carries no `hps` (a preset name). */
  preset?: string;
  /** Folder of the label id tables (`v2_artist_ids.txt`, ...); else the checkpoint's own, else $JUKEBOX_LABEL_IDS. */
  labelIds?: string;
  /** Where label warnings go. */
  warn?: (msg: string) => void;
}

export interface LoadedPrior {
  model: Prior;
  format: CheckpointFormat;
  /** 'hps' (the checkpoint's own), `preset 'NAME'`, or the preset matched by shapes. */
  configSource: string;
  /** The safetensors metadata (empty for torch checkpoints). */
  metadata: Record<string, string>;
}

/**
 * Loads a prior from a reference checkpoint (`.pth.tar`, legacy or zip, through the restricted
 * unpickler) or one of the project's safetensors files. The checkpoint's `hps` configures the
 * model when present; otherwise `opts.preset`, otherwise the preset its shapes match. Every key
 * and shape is checked first (one error lists all problems), and the model's float32 size is
 * checked against the backend before any tensor is made. Weights are then read and uploaded one
 * tensor at a time (fp16 and bf16 storages become float32), so loading needs little beyond the
 * model itself.
 */
export function loadPrior(path: string, opts: LoadPriorOptions = {}): LoadedPrior {
  const checked = openCheckedPrior(path, opts);
  const { opened, config, configSource, spec, params } = checked;
  try {
    checkBackendCapacity(checked.bytes, path);
    const weights = new WeightMap();
    try {
      for (const [name, shape] of spec) weights.set(name, tf.tensor(params.get(name)!.read(), shape, 'float32'));
      const model = new Prior(config, weights, { labelTables: checked.labelTables, warn: opts.warn });
      return { model, format: opened.format, configSource, metadata: opened.metadata };
    } catch (err) {
      weights.dispose();
      throw err;
    }
  } finally {
    opened.close();
  }
}

/** What `jukebox info` shows of a prior checkpoint: read from its header and hps, no weights. */
export interface PriorDescription {
  format: CheckpointFormat;
  config: PriorConfig;
  configSource: string;
  /** Scalar parameters (the tied output head counted once). */
  parameters: number;
  /** The label id tables it carries or `opts.labelIds` gives; null without labels or tables. */
  labelTables: LabelIdTables | null;
  metadata: Record<string, string>;
}

/**
 * Describes a prior checkpoint without reading its weights: the same checks as {@link loadPrior}
 * (keys, shapes, config), so a file it describes is a file that loads, given a backend large
 * enough.
 */
export function describePrior(path: string, opts: LoadPriorOptions = {}): PriorDescription {
  const { opened, config, configSource, bytes, labelTables } = openCheckedPrior(path, opts);
  opened.close();
  return { format: opened.format, config, configSource, parameters: bytes / 4, labelTables, metadata: opened.metadata };
}

/**
 * Converts a prior checkpoint (a published `.pth.tar` or another safetensors file) to the
 * project's safetensors format without building the model: each tensor is read, widened to
 * float32 (or kept as float16 with `dtype` F16, as the published weights are stored) and
 * written in turn, so even the 5B prior converts in about one tensor's memory. The label id
 * tables (`opts.labelIds`, the file's own, or $JUKEBOX_LABEL_IDS) go into the metadata, so the
 * converted file needs nothing more.
 */
export async function convertPrior(input: string, out: string, opts: LoadPriorOptions & { dtype?: 'F32' | 'F16'; metadata?: Record<string, string> } = {}): Promise<PriorDescription> {
  const { opened, config, configSource, spec, params, bytes, labelTables } = openCheckedPrior(input, opts);
  try {
    if (opts.labelIds !== undefined && !config.labels) {
      throw new JukeboxError('convert: --label-ids given, but this prior takes no artist or genre labels', input);
    }
    const dtype = opts.dtype ?? 'F32';
    const tensors = new Map<string, StreamedSafetensorsTensor>();
    for (const [name, shape] of spec) tensors.set(name, { dtype, shape, data: () => params.get(name)!.read() });
    const { aliases, buffers } = Prior.stateDictExtras(config);
    for (const [alias, target] of aliases) tensors.set(alias, tensors.get(target)!);
    for (const [name, b] of buffers) tensors.set(name, { dtype: 'I64', shape: b.shape, data: () => b.data });
    await writeSafetensorsStreamed(out, tensors, {
      ...opts.metadata,
      ...(labelTables !== null ? labelTablesToMetadata(labelTables, config.labels_v3 ? 'v3' : 'v2') : {}),
      format: PRIOR_FORMAT,
      [PRIOR_HPS_METADATA_KEY]: JSON.stringify(hpsFromPriorConfig(config)),
    });
    return { format: opened.format, config, configSource, parameters: bytes / 4, labelTables, metadata: opened.metadata };
  } finally {
    opened.close();
  }
}

/** True when `path` holds a prior rather than a VQ-VAE or another file (cheap: header and keys only). */
export function isPriorCheckpoint(path: string): boolean {
  let opened: OpenedPrior;
  try {
    opened = isSafetensors(path) ? openSafetensorsPrior(path) : openTorchPrior(path);
  } catch {
    return false;
  }
  try {
    return [...stripModule(opened.entries).keys()].some((n) => n.startsWith('prior.'));
  } finally {
    opened.close();
  }
}

/**
 * Opens a checkpoint and checks it is a prior whose every key and shape fits its config (the
 * checkpoint's `hps`, else `opts.preset`, else the preset its shapes match). The caller closes
 * `opened`.
 */
function openCheckedPrior(path: string, opts: LoadPriorOptions) {
  if (!fs.existsSync(path)) throw new JukeboxError('no such file', path);
  if (fs.statSync(path).isDirectory()) throw new JukeboxError('is a directory, not a checkpoint', path);
  const preset = opts.preset === undefined ? null : priorPreset(opts.preset);
  // Anything not safetensors goes to the torch reader, which says precisely what it is not.
  const opened = isSafetensors(path) ? openSafetensorsPrior(path) : openTorchPrior(path);
  try {
    const entries = stripModule(opened.entries);
    checkIsPrior(entries, path);
    let config: PriorConfig;
    let configSource: string;
    if (opened.hps !== undefined && opened.hps !== null) {
      config = priorConfigFromHps(opened.hps, path);
      configSource = 'hps';
    } else if (preset !== null) {
      config = preset;
      configSource = `preset '${opts.preset}'`;
    } else {
      ({ config, source: configSource } = configFromShapes(entries, path));
    }
    const spec = Prior.parameterSpec(config);
    const { aliases, buffers } = Prior.stateDictExtras(config);
    const params = new Map([...entries].filter(([k]) => !aliases.has(k) && !buffers.has(k)));
    matchStateDict(spec, params, path);
    let bytes = 0;
    for (const shape of spec.values()) bytes += 4 * shape.reduce((a, b) => a * b, 1);
    const labelTables = config.labels
      ? resolveLabelIdTables({ version: config.labels_v3 ? 'v3' : 'v2', dir: opts.labelIds ?? null, metadata: opened.metadata, metadataFile: path })
      : null;
    return { opened, config, configSource, spec, params, bytes, labelTables };
  } catch (err) {
    opened.close();
    throw err;
  }
}

/**
 * Saves a prior as the project's safetensors format: every tensor of the reference `state_dict`
 * under its reference name (the tied head's alias and the `pos_init` buffer included, so
 * `load_state_dict(safetensors.torch.load_file(path))` works on the reference SimplePrior), the
 * config as the reference `hps` and the label id tables in the metadata. Tensors are written one
 * at a time, so saving needs one tensor's bytes beyond the model. `dtype` F16 halves the file
 * (the published checkpoints store float16 weights; loading widens them to float32).
 */
export async function savePrior(path: string, model: Prior, metadata: Record<string, string> = {},
  options: { dtype?: 'F32' | 'F16' } = {}): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const tensors = new Map<string, StreamedSafetensorsTensor>();
  const weight = (name: string): StreamedSafetensorsTensor => {
    const t = model.weights.get(name);
    return { dtype, shape: t.shape, data: async () => (await t.data()) as Float32Array };
  };
  for (const name of model.spec.keys()) tensors.set(name, weight(name));
  const { aliases, buffers } = Prior.stateDictExtras(model.config);
  for (const [alias, target] of aliases) tensors.set(alias, weight(target));
  for (const [name, b] of buffers) tensors.set(name, { dtype: 'I64', shape: b.shape, data: () => b.data });
  const tables: LabelIdTables | null = model.labeller?.tables ?? null;
  await writeSafetensorsStreamed(path, tensors, {
    ...metadata,
    ...(tables !== null ? labelTablesToMetadata(tables, model.config.labels_v3 ? 'v3' : 'v2') : {}),
    format: PRIOR_FORMAT,
    [PRIOR_HPS_METADATA_KEY]: JSON.stringify(hpsFromPriorConfig(model.config)),
  });
}

/**
 * A freshly initialised prior whose random weights matter, reproducible from `seed`. Plain
 * variance-preserving weights leave a random prior nearly inert (attention close to uniform,
 * relative entropy 0.9, and greedy sampling stuck on one token), so, as the parity fixtures do:
 * attention query/key/value projections (`c_attn`, `c_enc_kv`) at 3x variance-preserving (sharp
 * attention), the residual output projections (`c_proj`) scaled by 1/sqrt(depth), embeddings at
 * std 0.1 (an untied input embedding at 1), LayerNorm gains at 1 ± 0.1, small random biases, and a
 * single encoder-decoder's lyric rows of the tied joint embedding at 0.7x (so that greedy music
 * sampling rarely picks a lyric token). The config is validated and its size checked against the
 * backend first.
 */
export function randomPrior(config: PriorConfig, seed = 0, opts: { labelTables?: LabelIdTables | null } = {}): Prior {
  const valid = validatePriorConfig(config);
  checkBackendCapacity(priorFloat32Bytes(valid), 'random prior');
  const registry = new ParameterRegistry();
  Prior.declare(valid, registry);
  const depthOf: Record<string, number> = { prior: valid.prior_depth, prime_prior: valid.prime_depth };
  for (const [name, std] of registry.initStd) {
    const m = /^(prior|prime_prior)\.transformer\._attn_mods\.\d+\.(attn|mlp)\.(c_attn|c_enc_kv|c_proj)\.w$/.exec(name);
    if (m === null) continue;
    registry.initStd.set(name, m[3] === 'c_proj' ? std / Math.sqrt(depthOf[m[1]]) : 3 * std);
  }
  const weights = randomWeights(registry, seed);
  if (valid.single_enc_dec) {
    const name = 'prior.x_emb.weight';
    const rows = tf.tidy(() => tf.concat([tf.fill([valid.n_vocab, 1], 0.7), tf.ones([valid.l_bins, 1])]));
    weights.set(name, tf.mul(weights.get(name), rows));
    rows.dispose();
  }
  return new Prior(valid, weights, { labelTables: opts.labelTables });
}
