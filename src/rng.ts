/**
 * A small seeded random number generator (xoshiro128**) whose whole state is four 32-bit words,
 * so a training run can save it in a checkpoint and resume exactly where it stopped. JS's
 * Math.random can be neither seeded nor saved.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number | Uint32Array = 0) {
    if (seed instanceof Uint32Array) {
      if (seed.length !== 4 || seed.every((v) => v === 0)) throw new Error('Rng state must be four words, not all zero');
      this.s = Uint32Array.from(seed);
      return;
    }
    // splitmix32 spreads any seed (0 included) over the four words.
    let z = seed >>> 0;
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** A copy of the state, for checkpoints. */
  get state(): Uint32Array {
    return Uint32Array.from(this.s);
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller, one value per two uniforms, so the state stays four words). */
  normal(): number {
    const u = 1 - this.uniform(); // (0, 1]
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** The first `take` entries of a uniform random permutation of 0..n-1 (partial Fisher–Yates). */
  permutation(n: number, take = n): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    const m = Math.min(take, n);
    for (let i = 0; i < m; i++) {
      const j = i + this.int(n - i);
      const tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
    }
    return p.subarray(0, m);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
