import * as fs from 'fs';
import * as path from 'path';
import { wasmApi, WasmMemory } from '../../prior/fast/wasm-api';

/** The exports of fft-kernels.wasm (see fft-kernels.wat). Pointers are byte offsets. */
interface FftExports {
  fft4(p: number, m: number, tw: number): void;
  split4(z: number, x: number, m: number, tw: number): void;
  merge4(x: number, z: number, m: number, tw: number, rev: number): void;
}

const PAGE = 65536;

/** Byte offsets of one transform size's tables in the kernels' memory. */
interface Tables {
  /** (cos, −sin)(2πt/m) and (cos, +sin)(2πt/m), t < m/2: forward and inverse twiddles. */
  forward: number;
  inverse: number;
  /** (cos, sin)(πk/m), k ≤ m: the real transform's split twiddles. */
  split: number;
  /** Bit reversal of m indices (int32). */
  rev: number;
  /** Bit reversal on the host. */
  reverse: Uint32Array;
}

/** Where a group of frames lies in the kernels' memory (see `FrameFFT.laneGroups`). */
interface LaneLayout {
  t: Tables;
  m: number;
  bins: number;
  z: number;
  x: number;
  view: Float32Array;
}

/**
 * Real FFTs of float32 frames, four at a time (one per SIMD lane), over the kernels' own memory:
 * the tables of each size stay at the bottom, the frames of one call above them.
 */
export class FrameFFT {
  private readonly k: FftExports;
  private readonly memory: WasmMemory;
  private view: Float32Array;
  private readonly tables = new Map<number, Tables>();
  private top = 0;

  constructor(module: WebAssembly.Module) {
    this.memory = new wasmApi.Memory({ initial: 1, maximum: 65536 });
    this.k = new wasmApi.Instance(module, { env: { memory: this.memory } }).exports as unknown as FftExports;
    this.view = new Float32Array(this.memory.buffer);
  }

  /** The memory as floats with at least `floats` of them. */
  private ensure(floats: number): Float32Array {
    const need = Math.ceil((floats * 4) / PAGE) - this.view.length / (PAGE / 4);
    if (need > 0) {
      this.memory.grow(need);
      this.view = new Float32Array(this.memory.buffer);
    }
    return this.view;
  }

  private tablesFor(n: number): Tables {
    let t = this.tables.get(n);
    if (t !== undefined) return t;
    const m = n / 2;
    const bits = Math.log2(m);
    const reverse = new Uint32Array(m);
    for (let i = 0; i < m; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      reverse[i] = r;
    }
    const at = this.top; // in floats
    const forward = at;
    const inverse = forward + m;
    const split = inverse + m;
    const rev = split + 2 * (m + 1);
    this.top = rev + m + 16;
    const view = this.ensure(this.top);
    for (let i = 0; i < m / 2; i++) {
      const angle = (2 * Math.PI * i) / m;
      view[forward + 2 * i] = Math.cos(angle);
      view[forward + 2 * i + 1] = -Math.sin(angle);
      view[inverse + 2 * i] = Math.cos(angle);
      view[inverse + 2 * i + 1] = Math.sin(angle);
    }
    for (let k = 0; k <= m; k++) {
      view[split + 2 * k] = Math.cos((Math.PI * k) / m);
      view[split + 2 * k + 1] = Math.sin((Math.PI * k) / m);
    }
    new Int32Array(this.memory.buffer, rev * 4, m).set(reverse);
    t = { forward: forward * 4, inverse: inverse * 4, split: split * 4, rev: rev * 4, reverse };
    this.tables.set(n, t);
    return t;
  }

  /**
   * Runs `group` on the `count` frames of n samples in groups of up to 4 (the kernels' SIMD lanes:
   * the group's first frame `f0` and its `lanes`), with the layout in the kernels' memory (floats):
   * the m = n/2 complex points at `z` and the n/2 + 1 bins at `x`, 8 floats a point or bin (4 lanes'
   * real parts, then their imaginary parts).
   */
  private laneGroups(n: number, count: number, group: (g: LaneLayout, f0: number, lanes: number) => void): void {
    const t = this.tablesFor(n);
    const m = n / 2;
    const bins = m + 1;
    const z = this.top;
    const x = z + 8 * m;
    const layout = { t, m, bins, z, x, view: this.ensure(x + 8 * bins) };
    for (let f0 = 0; f0 < count; f0 += 4) group(layout, f0, Math.min(4, count - f0));
  }

  /**
   * X[f, k] = Σ_j frames[f, j] e^{−2πijk/n}, k ≤ n/2, for `count` frames of n samples
   * (`frames` [count, n]) → `re`, `im` [count, n/2 + 1].
   */
  forward(n: number, frames: Float32Array, count: number, re: Float64Array, im: Float64Array): void {
    this.laneGroups(n, count, ({ t, m, bins, z, x, view }, f0, lanes) => {
      view.fill(0, z, z + 8 * m);
      for (let lane = 0; lane < lanes; lane++) {
        const frame = (f0 + lane) * n;
        for (let j = 0; j < m; j++) {
          const o = z + 8 * t.reverse[j] + lane;
          view[o] = frames[frame + 2 * j];
          view[o + 4] = frames[frame + 2 * j + 1];
        }
      }
      this.k.fft4(z * 4, m, t.forward);
      this.k.split4(z * 4, x * 4, m, t.split);
      for (let lane = 0; lane < lanes; lane++) {
        const o = (f0 + lane) * bins;
        for (let k = 0; k < bins; k++) {
          re[o + k] = view[x + 8 * k + lane];
          im[o + k] = view[x + 8 * k + 4 + lane];
        }
      }
    });
  }

  /**
   * frames[f, j] = Σ_{k<n} X[f, k] e^{+2πijk/n} (not divided by n) for spectra given by their
   * halves `re`, `im` [count, n/2 + 1] (X[n − k] = conj X[k]; the imaginary parts of X[0] and
   * X[n/2] taken as 0) → `frames` [count, n].
   */
  inverse(n: number, re: Float64Array, im: Float64Array, count: number, frames: Float32Array): void {
    this.laneGroups(n, count, ({ t, m, bins, z, x, view }, f0, lanes) => {
      if (lanes < 4) view.fill(0, x, x + 8 * bins);
      for (let lane = 0; lane < lanes; lane++) {
        const o = (f0 + lane) * bins;
        for (let k = 0; k < bins; k++) {
          view[x + 8 * k + lane] = re[o + k];
          view[x + 8 * k + 4 + lane] = im[o + k];
        }
      }
      this.k.merge4(x * 4, z * 4, m, t.split, t.rev);
      this.k.fft4(z * 4, m, t.inverse);
      for (let lane = 0; lane < lanes; lane++) {
        const frame = (f0 + lane) * n;
        for (let j = 0; j < m; j++) {
          frames[frame + 2 * j] = view[z + 8 * j + lane];
          frames[frame + 2 * j + 1] = view[z + 8 * j + 4 + lane];
        }
      }
    });
  }
}

let instance: FrameFFT | null | undefined;

/** The frame FFT kernels, or null where this WebAssembly engine lacks SIMD128. */
export function frameFFT(): FrameFFT | null {
  if (instance === undefined) {
    try {
      instance = new FrameFFT(new wasmApi.Module(fs.readFileSync(path.join(__dirname, 'fft-kernels.wasm'))));
    } catch {
      instance = null;
    }
  }
  return instance;
}
