import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';

/** Name → shape of every parameter a model declares, in the reference `state_dict` layout. */
export type ParameterSpec = Map<string, number[]>;

/**
 * Collects the parameters that modules declare while a model tree is built, so the tree itself
 * is the key map: a module named `encoders.0.level_blocks.0.model.0.0` declares exactly the keys
 * the reference `state_dict` holds for it.
 */
export class ParameterRegistry {
  readonly spec: ParameterSpec = new Map();
  /** Standard deviation of each parameter's fresh normal init (0: constant at its mean). */
  readonly initStd = new Map<string, number>();
  /** Mean of each parameter's fresh normal init: 0 except for scales such as LayerNorm gains. */
  readonly initMean = new Map<string, number>();

  /**
   * Records `name` with `shape` (reference layout) and the std (and mean) of its fresh init, and
   * returns the name for later lookup.
   */
  declare(name: string, shape: number[], initStd: number, initMean = 0): string {
    if (this.spec.has(name)) throw new Error(`parameter ${name} declared twice`);
    this.spec.set(name, shape);
    this.initStd.set(name, initStd);
    this.initMean.set(name, initMean);
    return name;
  }
}

/**
 * The one home of a model's long-lived tensors, keyed by the reference `state_dict` names and
 * stored in the reference layout (conv weights [out, in, kernel]). Modules look their tensors up
 * here on every call, so replacing or training a tensor needs no other bookkeeping, and
 * `dispose()` frees everything at once.
 */
export class WeightMap {
  private readonly tensors = new Map<string, tf.Tensor>();

  get(name: string): tf.Tensor {
    const t = this.tensors.get(name);
    if (t === undefined) throw new Error(`weight ${name} is not loaded`);
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Stores `tensor` under `name`, disposing the tensor it replaces. The map owns it from now on. */
  set(name: string, tensor: tf.Tensor): void {
    const old = this.tensors.get(name);
    if (old !== undefined && old !== tensor) old.dispose();
    this.tensors.set(name, tensor);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  entries(): IterableIterator<[string, tf.Tensor]> {
    return this.tensors.entries();
  }

  /** Total number of scalar parameters held. */
  size(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.size;
    return n;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

/**
 * Checks a checkpoint's state dict against what the model declares and throws one error that
 * lists every missing, unexpected and mis-shaped key. A leading `module.` (left by
 * DistributedDataParallel, which the reference strips too) is ignored.
 */
export function matchStateDict(
  expected: ParameterSpec,
  actual: Map<string, { shape: number[] }>,
  file: string,
): Map<string, string> {
  const byName = new Map<string, string>();
  for (const key of actual.keys()) byName.set(key.startsWith('module.') ? key.slice(7) : key, key);
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const [name, shape] of expected) {
    const key = byName.get(name);
    if (key === undefined) {
      missing.push(name);
      continue;
    }
    const got = actual.get(key)!.shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      misshaped.push(`${name} (expected [${shape}], got [${got}])`);
    }
  }
  const unexpected = [...byName.keys()].filter((name) => !expected.has(name));
  const problems: string[] = [];
  const list = (label: string, keys: string[]) => {
    if (keys.length === 0) return;
    const shown = keys.slice(0, 12).join(', ');
    problems.push(`${keys.length} ${label}: ${shown}${keys.length > 12 ? ', ...' : ''}`);
  };
  list('missing', missing);
  list('unexpected', unexpected);
  list('mis-shaped', misshaped);
  if (problems.length > 0) {
    throw new JukeboxError(
      `state dict does not fit the model (${expected.size} keys expected, ${actual.size} found): ${problems.join('; ')}`,
      file,
    );
  }
  return byName;
}
