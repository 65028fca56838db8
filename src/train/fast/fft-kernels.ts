import * as fs from 'fs';
import * as path from 'path';
import { wasmApi, WasmMemory } from '../../prior/fast/wasm-api';

/** The exports of fft-kernels.wasm (see fft-kernels.wat). Pointers are byte offsets. */
interface FftExports {
  fft4(p: number, m: number, tw: number): void;
  split4(z: number, x: number, m: number, tw: number): void;
  merge4(x: number, z: number, m: number, tw: number, rev: number): void;
  load4(f: number, z: number, m: number, rev: number): void;
  store4(z: number, f: number, m: number): void;
  spectra4(x: number, bins: number, re: number, im: number): void;
  unspectra4(re: number, im: number, bins: number, x: number): void;
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
}

/** Where a group of frames lies in the kernels' memory (see `FrameFFT.laneGroups`), in floats. */
interface LaneLayout {
  t: Tables;
  m: number;
  bins: number;
  z: number;
  x: number;
  /** Four frames of n samples, one after another. */
  f: number;
  /** Four spectra's real and imaginary parts in float64, [4, bins] each. */
  re: number;
  im: number;
  view: Float32Array;
  view64: Float64Array;
}

/**
 * Real FFTs of float32 frames, four at a time (one per SIMD lane), over the kernels' own memory:
 * the tables of each size stay at the bottom, the frames of one call above them.
 */
export class FrameFFT {
  private readonly k: FftExports;
  private readonly memory: WasmMemory;
  private view: Float32Array;
  private view64: Float64Array;
  private readonly tables = new Map<number, Tables>();
  private top = 0;

  constructor(module: WebAssembly.Module) {
    this.memory = new wasmApi.Memory({ initial: 1, maximum: 65536 });
    this.k = new wasmApi.Instance(module, { env: { memory: this.memory } }).exports as unknown as FftExports;
    this.view = new Float32Array(this.memory.buffer);
    this.view64 = new Float64Array(this.memory.buffer);
  }

  /** The memory as floats with at least `floats` of them. */
  private ensure(floats: number): Float32Array {
    const need = Math.ceil((floats * 4) / PAGE) - this.view.length / (PAGE / 4);
    if (need > 0) {
      this.memory.grow(need);
      this.view = new Float32Array(this.memory.buffer);
      this.view64 = new Float64Array(this.memory.buffer);
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
    t = { forward: forward * 4, inverse: inverse * 4, split: split * 4, rev: rev * 4 };
    this.tables.set(n, t);
    return t;
  }

  /**
   * Runs `group` on the `count` frames of n samples in groups of up to 4 (the kernels' SIMD lanes:
   * the group's first frame `f0` and its `lanes`), with the layout in the kernels' memory (floats):
   * the m = n/2 complex points at `z` and the n/2 + 1 bins at `x`, 8 floats a point or bin (4 lanes'
   * real parts, then their imaginary parts); the group's frames at `f` and spectra at `re`, `im`
   * as the caller holds them, copied in and out whole.
   */
  private laneGroups(n: number, count: number, group: (g: LaneLayout, f0: number, lanes: number) => void): void {
    const t = this.tablesFor(n);
    const m = n / 2;
    const bins = m + 1;
    const z = this.top + (this.top % 2); // even: the float64 areas below stay 8-byte aligned
    const x = z + 8 * m;
    const f = x + 8 * bins;
    const re = f + 4 * n;
    const im = re + 8 * bins;
    const view = this.ensure(im + 8 * bins);
    const layout = { t, m, bins, z, x, f, re, im, view, view64: this.view64 };
    for (let f0 = 0; f0 < count; f0 += 4) group(layout, f0, Math.min(4, count - f0));
  }

  /**
   * X[f, k] = Σ_j frames[f, j] e^{−2πijk/n}, k ≤ n/2, for `count` frames of n samples
   * (`frames` [count, n]) → `re`, `im` [count, n/2 + 1].
   */
  forward(n: number, frames: Float32Array, count: number, re: Float64Array, im: Float64Array): void {
    this.laneGroups(n, count, (g, f0, lanes) => {
      g.view.set(frames.subarray(f0 * n, (f0 + lanes) * n), g.f);
      if (lanes < 4) g.view.fill(0, g.f + lanes * n, g.f + 4 * n);
      this.k.load4(g.f * 4, g.z * 4, g.m, g.t.rev);
      this.k.fft4(g.z * 4, g.m, g.t.forward);
      this.k.split4(g.z * 4, g.x * 4, g.m, g.t.split);
      this.k.spectra4(g.x * 4, g.bins, g.re * 4, g.im * 4);
      re.set(g.view64.subarray(g.re / 2, g.re / 2 + lanes * g.bins), f0 * g.bins);
      im.set(g.view64.subarray(g.im / 2, g.im / 2 + lanes * g.bins), f0 * g.bins);
    });
  }

  /**
   * frames[f, j] = Σ_{k<n} X[f, k] e^{+2πijk/n} (not divided by n) for spectra given by their
   * halves `re`, `im` [count, n/2 + 1] (X[n − k] = conj X[k]; the imaginary parts of X[0] and
   * X[n/2] taken as 0) → `frames` [count, n].
   */
  inverse(n: number, re: Float64Array, im: Float64Array, count: number, frames: Float32Array): void {
    this.laneGroups(n, count, (g, f0, lanes) => {
      g.view64.set(re.subarray(f0 * g.bins, (f0 + lanes) * g.bins), g.re / 2);
      g.view64.set(im.subarray(f0 * g.bins, (f0 + lanes) * g.bins), g.im / 2);
      if (lanes < 4) {
        g.view64.fill(0, g.re / 2 + lanes * g.bins, g.re / 2 + 4 * g.bins);
        g.view64.fill(0, g.im / 2 + lanes * g.bins, g.im / 2 + 4 * g.bins);
      }
      this.k.unspectra4(g.re * 4, g.im * 4, g.bins, g.x * 4);
      this.k.merge4(g.x * 4, g.z * 4, g.m, g.t.split, g.t.rev);
      this.k.fft4(g.z * 4, g.m, g.t.inverse);
      this.k.store4(g.z * 4, g.f * 4, g.m);
      frames.set(g.view.subarray(g.f, g.f + lanes * n), f0 * n);
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
