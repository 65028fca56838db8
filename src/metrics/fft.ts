/**
 * A real-input FFT in float64 for power-of-two sizes: the spectral losses' STFTs take
 * O(n log n) per frame with it, where a DFT matrix takes O(n²) (the multi-scale spectral loss's
 * matrix products were a fifth of a VQ-VAE training step). Plans are cached per size.
 */
export class RealFFT {
  /** Half the transform size: the complex FFT that does the work has this many points. */
  private readonly half: number;
  private readonly bitReverse: Uint32Array;
  /** cos/sin(2πj / half), j < half / 2: the complex FFT's twiddles. */
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  /** cos/sin(2πk / n), k ≤ half: the twiddles that split the packed transform into the real one. */
  private readonly splitCos: Float64Array;
  private readonly splitSin: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  /** `n`: the transform size, a power of two ≥ 4. */
  constructor(readonly n: number) {
    if (!isPowerOfTwo(n) || n < 4) throw new Error(`fft: size ${n} is not a power of two ≥ 4`);
    const half = n / 2;
    this.half = half;
    const bits = Math.log2(half);
    this.bitReverse = new Uint32Array(half);
    for (let i = 0; i < half; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.bitReverse[i] = r;
    }
    this.cos = Float64Array.from({ length: half / 2 }, (_, j) => Math.cos((2 * Math.PI * j) / half));
    this.sin = Float64Array.from({ length: half / 2 }, (_, j) => Math.sin((2 * Math.PI * j) / half));
    this.splitCos = Float64Array.from({ length: half + 1 }, (_, k) => Math.cos((2 * Math.PI * k) / n));
    this.splitSin = Float64Array.from({ length: half + 1 }, (_, k) => Math.sin((2 * Math.PI * k) / n));
    this.re = new Float64Array(half);
    this.im = new Float64Array(half);
  }

  /**
   * X[k] = Σ_m x[m] e^{−2πikm/n} for k = 0 … n/2 of the `n` samples `x`:
   * the even and odd samples are packed as one complex signal of n/2 points, transformed, and
   * split apart.
   */
  forward(x: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    const { half, re, im, bitReverse } = this;
    for (let j = 0; j < half; j++) {
      const r = bitReverse[j];
      re[r] = x[2 * j];
      im[r] = x[2 * j + 1];
    }
    this.complex(-1);
    for (let k = 0; k <= half; k++) {
      const a = k === half ? 0 : k;
      const b = k === 0 ? 0 : half - k;
      // E = (Z[k] + conj Z[half − k]) / 2 and O = (Z[k] − conj Z[half − k]) / 2i: the transforms
      // of the even and of the odd samples.
      const er = 0.5 * (re[a] + re[b]);
      const ei = 0.5 * (im[a] - im[b]);
      const or = 0.5 * (im[a] + im[b]);
      const oi = -0.5 * (re[a] - re[b]);
      const c = this.splitCos[k];
      const s = this.splitSin[k];
      // X[k] = E + e^{−2πik/n} · O
      outRe[k] = er + c * or + s * oi;
      outIm[k] = ei + c * oi - s * or;
    }
  }

  /**
   * x[m] = Σ_{k<n} X[k] e^{+2πikm/n} (not divided by n) for a spectrum given by its half
   * X[0 … n/2], the rest being conjugates (X[n − k] = conj X[k]); the imaginary parts of X[0]
   * and X[n/2] are taken as 0.
   */
  inverse(inRe: Float64Array, inIm: Float64Array, x: Float64Array): void {
    const { half, re, im, bitReverse } = this;
    for (let k = 0; k < half; k++) {
      const b = half - k;
      const xr = inRe[k];
      const xi = k === 0 ? 0 : inIm[k];
      const yr = inRe[b];
      const yi = b === half ? 0 : inIm[b];
      // A = X[k] + conj X[half − k] and B = (X[k] − conj X[half − k]) e^{+2πik/n} transform
      // back to the even and the odd samples; Z = A + iB packs them.
      const ar = xr + yr;
      const ai = xi - yi;
      const dr = xr - yr;
      const di = xi + yi;
      const c = this.splitCos[k];
      const s = this.splitSin[k];
      const br = dr * c - di * s;
      const bi = dr * s + di * c;
      const r = bitReverse[k];
      re[r] = ar - bi;
      im[r] = ai + br;
    }
    this.complex(1);
    for (let j = 0; j < half; j++) {
      x[2 * j] = re[j];
      x[2 * j + 1] = im[j];
    }
  }

  /** In-place radix-2 transform of the bit-reversed `re`/`im` with e^{sign·2πi jk / half}. */
  private complex(sign: number): void {
    const { half, re, im, cos, sin } = this;
    for (let size = 2; size <= half; size *= 2) {
      const span = size / 2;
      const step = half / size;
      for (let j = 0; j < span; j++) {
        const wr = cos[j * step];
        const wi = sign * sin[j * step];
        for (let a = j; a < half; a += size) {
          const b = a + span;
          const tr = wr * re[b] - wi * im[b];
          const ti = wr * im[b] + wi * re[b];
          re[b] = re[a] - tr;
          im[b] = im[a] - ti;
          re[a] += tr;
          im[a] += ti;
        }
      }
    }
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

const plans = new Map<number, RealFFT>();

/** The cached plan for size `n`. */
export function realFFT(n: number): RealFFT {
  let plan = plans.get(n);
  if (plan === undefined) plans.set(n, (plan = new RealFFT(n)));
  return plan;
}
