import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { JukeboxError } from './errors';

/**
 * The backends a user can ask for with `JUKEBOX_BACKEND`: `gpu` (tfjs-node-gpu: TensorFlow with
 * CUDA), `node` (tfjs-node: TensorFlow on the CPU), `tensorflow` (whichever of those two is
 * installed, gpu first), `webgpu` (tfjs's WebGPU backend on Dawn, the `webgpu` npm package),
 * `wasm` and `cpu`. None but wasm and cpu is a dependency: the user installs them (README, GPU).
 */
export const BACKEND_CHOICES = ['gpu', 'node', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * Tried in this order without JUKEBOX_BACKEND: the TensorFlow bindings when installed, then wasm.
 * WebGPU is only taken when asked for: it is untested on a GPU here, and on the CPU the wasm
 * backend's hand-written paths (VQ-VAE, sampling) beat it.
 */
const AUTO_ORDER: readonly BackendChoice[] = ['gpu', 'node', 'wasm', 'cpu'];

/** What to install for each optional backend, for the one-line error when it is missing. */
const INSTALL_HINT: Partial<Record<BackendChoice, string>> = {
  gpu: 'npm install @tensorflow/tfjs-node-gpu@4.22.0 (Linux x64, CUDA 11.2 and cuDNN 8.1)',
  node: 'npm install @tensorflow/tfjs-node@4.22.0',
  tensorflow: 'npm install @tensorflow/tfjs-node-gpu@4.22.0 or @tensorflow/tfjs-node@4.22.0',
  webgpu: 'npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0, and a GPU driver with Vulkan, Metal or D3D12',
};

/** What was picked, for `jukebox info` and benchmark reports. */
export interface BackendInfo {
  /** The choice that won: `gpu` (tfjs-node-gpu), `node` (tfjs-node), `webgpu`, `wasm` or `cpu`. */
  choice: BackendChoice;
  /** The tfjs backend name (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfName: string;
  /** Why it was picked: the env override or the fallback order. */
  reason: string;
}

let picked: Promise<BackendInfo> | undefined;

/** Loads an optional package by name, or returns false when it is not installed. */
function tryRequire(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * tfjs clones every tensor a gradient will need (Identity kernels), and the wasm backend's
 * Identity copies the data, where the cpu backend shares it by reference count (tensors are
 * immutable). On long training windows the copies double the memory a gradient tape holds, so
 * Identity on wasm shares too, as Reshape already does there.
 */
function shareIdentityOnWasm(): void {
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

/**
 * tfjs-node and tfjs-node-gpu register the 'tensorflow' backend on import. A package of that name
 * that registers nothing (danfojs-node's install maps tfjs-node to plain tfjs) counts as absent.
 */
async function activateTensorflow(name: string): Promise<boolean> {
  if (!tryRequire(name) || tf.findBackendFactory('tensorflow') === null) return false;
  return tf.setBackend('tensorflow');
}

/**
 * WebGPU in Node: Dawn's bindings (the `webgpu` package, an ES module) provide `navigator.gpu` and
 * the WebGPU globals that tfjs's webgpu backend looks for; the backend registers itself on import.
 * Its factory fails when Dawn finds no adapter, and then setBackend returns false.
 */
async function activateWebGPU(): Promise<boolean> {
  let dawn: { create(options: string[]): unknown; globals: Record<string, unknown> };
  try {
    // A real dynamic import: `webgpu` is ESM only, which require() cannot load in Node 20.
    dawn = await (new Function('name', 'return import(name)') as (name: string) => Promise<typeof dawn>)('webgpu');
    require('@tensorflow/tfjs-backend-webgpu');
  } catch {
    return false;
  }
  if (tf.findBackendFactory('webgpu') === null) return false;
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) g.navigator = {};
  g.navigator.gpu ??= dawn.create([]);
  try {
    return await tf.setBackend('webgpu');
  } catch {
    return false;
  }
}

async function activate(choice: BackendChoice): Promise<string | undefined> {
  switch (choice) {
    case 'gpu':
      return (await activateTensorflow('@tensorflow/tfjs-node-gpu')) ? 'tensorflow' : undefined;
    case 'node':
      return (await activateTensorflow('@tensorflow/tfjs-node')) ? 'tensorflow' : undefined;
    case 'tensorflow':
      return (await activate('gpu')) ?? (await activate('node'));
    case 'webgpu':
      return (await activateWebGPU()) ? 'webgpu' : undefined;
    case 'wasm': {
      let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
      try {
        wasm = require('@tensorflow/tfjs-backend-wasm');
      } catch {
        return undefined;
      }
      // In Node the .wasm binaries are loaded from disk; point tfjs at the installed copies.
      const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(dist + path.sep);
      // The threaded build spawns its worker from a blob: URL, which Node cannot load.
      wasm.setThreadsCount(1);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      if (!(await tf.setBackend('wasm'))) return undefined;
      shareIdentityOnWasm();
      return 'wasm';
    }
    case 'cpu':
      return (await tf.setBackend('cpu')) ? 'cpu' : undefined;
  }
}

async function pick(): Promise<BackendInfo> {
  const requested = process.env.JUKEBOX_BACKEND?.trim().toLowerCase();
  if (requested) {
    if (!(BACKEND_CHOICES as readonly string[]).includes(requested)) {
      throw new JukeboxError(
        `JUKEBOX_BACKEND='${requested}' is not a backend (choose one of ${BACKEND_CHOICES.join(', ')})`,
      );
    }
    const choice = requested as BackendChoice;
    const tfName = await activate(choice);
    if (tfName === undefined) {
      const hint = INSTALL_HINT[choice];
      throw new JukeboxError(
        `JUKEBOX_BACKEND=${choice} was asked for, but that backend is not installed or failed to start${hint ? `: ${hint}` : ''}`,
      );
    }
    return { choice, tfName, reason: 'JUKEBOX_BACKEND' };
  }
  for (const choice of AUTO_ORDER) {
    const tfName = await activate(choice);
    if (tfName !== undefined) return { choice, tfName, reason: 'fastest installed' };
  }
  throw new JukeboxError('no tfjs backend could be started');
}

/**
 * Picks and initialises the tfjs backend once per process: `JUKEBOX_BACKEND=gpu|node|tensorflow|
 * webgpu|wasm|cpu` when set, otherwise the fastest installed of tfjs-node-gpu, tfjs-node, wasm, cpu. Every entry
 * point awaits this before touching tensors; nothing else in the toolkit looks at the backend.
 */
export function initBackend(): Promise<BackendInfo> {
  picked ??= pick().then(async (info) => {
    await tf.ready();
    return info;
  });
  return picked;
}
