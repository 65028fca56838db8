import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { JukeboxError } from './errors';

/** The backends a user can ask for with `JUKEBOX_BACKEND`, fastest first. */
export const BACKEND_CHOICES = ['gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What was picked, for `jukebox info` and benchmark reports. */
export interface BackendInfo {
  /** The choice that won: `gpu` (tfjs-node-gpu), `node` (tfjs-node), `wasm` or `cpu`. */
  choice: BackendChoice;
  /** The tfjs backend name (`tensorflow`, `wasm`, `cpu`). */
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

async function activate(choice: BackendChoice): Promise<string | undefined> {
  switch (choice) {
    case 'gpu':
      return (await activateTensorflow('@tensorflow/tfjs-node-gpu')) ? 'tensorflow' : undefined;
    case 'node':
      return (await activateTensorflow('@tensorflow/tfjs-node')) ? 'tensorflow' : undefined;
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
      throw new JukeboxError(`JUKEBOX_BACKEND=${choice} was asked for, but that backend is not installed or failed to start`);
    }
    return { choice, tfName, reason: 'JUKEBOX_BACKEND' };
  }
  for (const choice of BACKEND_CHOICES) {
    const tfName = await activate(choice);
    if (tfName !== undefined) return { choice, tfName, reason: 'fastest installed' };
  }
  throw new JukeboxError('no tfjs backend could be started');
}

/**
 * Picks and initialises the tfjs backend once per process: `JUKEBOX_BACKEND=gpu|node|wasm|cpu`
 * when set, otherwise the fastest installed of tfjs-node-gpu, tfjs-node, wasm, cpu. Every entry
 * point awaits this before touching tensors; nothing else in the toolkit looks at the backend.
 */
export function initBackend(): Promise<BackendInfo> {
  picked ??= pick().then(async (info) => {
    await tf.ready();
    return info;
  });
  return picked;
}
