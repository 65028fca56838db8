import { WeightMap } from '../../vqvae/weights';
import * as tf from '@tensorflow/tfjs';
import type { ConditionalAutoregressive2D } from '../autoregressive';
import { drawToken, SamplingSettings } from '../draw';
import { Arena, kernelModule, roundUp } from './arena';
import { PackedLinear, PANEL } from './packed';
import { MatmulPool, samplingThreads } from './threads';

/**
 * The fast sampling path: `ConditionalAutoregressive2D.sample`'s token loop as one fused step per
 * token, with no tfjs op dispatch. A tfjs token step of the medium prior is ~300 ops at 4-5 µs of
 * dispatch each, which caps it near 700 tokens/s before any arithmetic (FACTS.md); here each
 * layer is four matrix products over pre-packed weights in hand-written WebAssembly SIMD
 * (kernels.wat), attention read in place from the KV cache, and LayerNorm, quick_gelu, the
 * residuals, the output head and the draw in between.
 *
 * Rows: the N samples go through every product together (matrix × N vectors), so each weight
 * streamed from memory serves them all. Priming feeds a chunk of known tokens of every sample as
 * N × chunk rows; within a layer the rows of a sample then attend in position order, each writing
 * its keys to the cache just before it reads it, so a chunk equals that many single steps.
 *
 * The KV cache of a layer holds what its attention can still read, slot = position modulo its
 * size: one row of block_ctx positions (block), two rows (previous block), every position (dense,
 * transpose block), the first `_prime_len` (prime), or the projected encoder output
 * (encoder-decoder, computed once per call). Summary attentions (attn_func 4, 5) are not covered.
 *
 * The tfjs path stays the reference: test/prior/fast-sampling.test.ts checks the logits of every
 * step against it.
 */

/** Weights per arena before the next layer starts a new one, leaving room for per-call caches. */
const ARENA_WEIGHT_BYTES = 1024 ** 3;
/** LayerNorm's eps (ops.ts). */
const LN_EPS = 1e-5;

/** A LayerNorm's gain and bias in its layer's arena (byte offsets), zero past the width. */
interface Norm {
  g: number;
  b: number;
}

/** One residual block's weights and attention layout. */
interface FastLayer {
  arena: Arena;
  attnFunc: number;
  ln0: Norm;
  ln1: Norm;
  cAttn: PackedLinear;
  cEncKv: PackedLinear | null;
  cProj: PackedLinear;
  fc: PackedLinear;
  proj: PackedLinear;
  resScale: number;
  nState: number;
  nHead: number;
  headDim: number;
  blockCtx: number;
  primeKeys: number;
  encoderDims: number;
  scale2: number;
  /** Cache slots per sample (positions kept). */
  slots: number;
}

/** A run of `count` cache slots from `from`, `step` slots apart. */
interface KeyRun {
  from: number;
  step: number;
  count: number;
}

/** One arena's activation rows for a call (byte offsets), each row padded to whole panels. */
interface Scratch {
  x: number;
  ln: number;
  qkv: number;
  att: number;
  a: number;
  hid: number;
  m: number;
  probs: number;
}

/** A layer's caches for a call: keys and values `[N, slots, n_state]` (byte offsets). */
interface Cache {
  k: number;
  v: number;
}

/**
 * One lyric layer's attention capture for a sampling call: the probabilities of `heads` for the
 * queries at positions from `firstQuery` against the first `keys` keys, into `probs`
 * `[n, heads.length, rows, keys]` (row = position − firstQuery).
 */
export interface LayerCapture {
  layer: number;
  heads: readonly number[];
  firstQuery: number;
  keys: number;
  rows: number;
  probs: Float32Array;
}

/** A layer's capture as `attend` uses it: each head's slot in `heads`, −1 for a head not kept. */
interface HeadCapture {
  capture: LayerCapture;
  slots: Int32Array;
}

/** What one sampling call gives the fast path (the arrays of the tensors `sample` was given). */
export interface FastSampleInput extends SamplingSettings {
  n: number;
  /** Row-major `[n, total]`, the first `primed` of each row known; the rest is filled in. */
  tokens: Int32Array;
  primed: number;
  total: number;
  /** Known tokens per priming pass. */
  chunk: number;
  /** `[n, rows, width]` with rows D or 1, or null. */
  xCond: Float32Array | null;
  xCondRows: number;
  /** `[n, width]`, or null (then the start token). */
  yCond: Float32Array | null;
  /** `[n, encoderDims, width]` for encoder-decoder layers, or null. */
  encoderKv: Float32Array | null;
  getPreds: boolean;
  /** Lyric layers whose attention probabilities to keep, filled in as each row attends. */
  attention?: LayerCapture[];
  onToken?: (done: number, total: number) => void;
}

/**
 * Whether sampling takes the fast path where it applies: `option` when given, else the
 * environment (`JUKEBOX_FAST_SAMPLING=0` forces the tfjs path), and only on the CPU backends (wasm,
 * cpu): on a GPU backend the tfjs path runs on the GPU.
 */
export function fastSamplingWanted(option?: boolean): boolean {
  if (option !== undefined) return option;
  if (process.env.JUKEBOX_FAST_SAMPLING === '0') return false;
  const backend = tf.getBackend();
  return backend === 'wasm' || backend === 'cpu';
}

export class FastSampler {
  private readonly arenas: Arena[] = [];
  private readonly layers: FastLayer[] = [];
  private readonly head: PackedLinear;
  private readonly xEmb: Float32Array;
  private readonly posEmb: Float32Array;
  private readonly startToken: Float32Array | null;
  private readonly width: number;
  private readonly widthP: number;
  private readonly bins: number;
  private readonly addCondAfter: boolean;
  /** The tensors packed, by name. */
  private readonly sources: [string, tf.Tensor][] = [];
  /** Worker threads sharing the products, started at the first call (undefined: not yet tried). */
  private pool: MatmulPool | null | undefined;

  /**
   * Why `ar` cannot sample on the fast path, or null when it can. Checked before packing
   * anything, so an unsupported model costs nothing.
   */
  static unsupported(ar: ConditionalAutoregressive2D): string | null {
    if (kernelModule() === null) return 'this WebAssembly engine has no SIMD128';
    if (ar.opts.onlyEncode) return 'an encoder has no output head';
    for (const layer of ar.transformer.attnMods) {
      const a = layer.attn;
      if (a.attnFunc === 4 || a.attnFunc === 5) return 'summary attention (attn_func 4, 5) is not covered';
      if (a.headDim % 4 !== 0) return `head width ${a.headDim} is not a multiple of 4`;
    }
    if (ar.opts.width % 4 !== 0) return `width ${ar.opts.width} is not a multiple of 4`;
    return null;
  }

  /**
   * Packs `ar`'s weights from `w` (call `unsupported` first), starting a new arena whenever the
   * next layer would take one past `arenaWeightBytes`.
   */
  constructor(ar: ConditionalAutoregressive2D, w: WeightMap, arenaWeightBytes = ARENA_WEIGHT_BYTES) {
    const module = kernelModule()!;
    const data = (name: string) => {
      const t = w.get(name);
      this.sources.push([name, t]);
      return t.dataSync() as Float32Array;
    };
    const { width, bins } = ar.opts;
    this.width = width;
    this.widthP = roundUp(width, PANEL);
    this.bins = bins;
    this.addCondAfter = ar.addCondAfterTransformer;
    let arena = new Arena(module);
    this.arenas.push(arena);
    const arenaFor = (bytes: number) => {
      if (arena.used + bytes > arenaWeightBytes && arena.used > 64) {
        arena = new Arena(module);
        this.arenas.push(arena);
      }
      return arena;
    };
    const linear = (at: Arena, c: { w: string; b: string; nIn: number; nOut: number }) =>
      new PackedLinear(at, data(c.w), data(c.b), c.nIn, c.nOut);
    const norm = (at: Arena, ln: { weight: string; bias: string }): Norm => {
      const g = at.alloc(this.widthP);
      const b = at.alloc(this.widthP);
      at.f32.set(data(ln.weight), g / 4);
      at.f32.set(data(ln.bias), b / 4);
      return { g, b };
    };
    for (const block of ar.transformer.attnMods) {
      const a = block.attn;
      const convs = [a.cAttn, a.cProj, block.mlp.cFc, block.mlp.cProj, ...(a.cEncKv ? [a.cEncKv] : [])];
      const at = arenaFor(convs.reduce((s, c) => s + PackedLinear.bytes(c.nIn, c.nOut), 4 * 4 * this.widthP));
      const scale = 1 / Math.sqrt(Math.sqrt(a.headDim));
      const slots = [a.nCtx, a.blockCtx, a.nCtx, 2 * a.blockCtx, 0, 0, a.encoderDims, a.primeKeys][a.attnFunc];
      this.layers.push({
        arena: at,
        attnFunc: a.attnFunc,
        ln0: norm(at, block.ln0),
        ln1: norm(at, block.ln1),
        cAttn: linear(at, a.cAttn),
        cEncKv: a.cEncKv ? linear(at, a.cEncKv) : null,
        cProj: linear(at, a.cProj),
        fc: linear(at, block.mlp.cFc),
        proj: linear(at, block.mlp.cProj),
        resScale: block.resScale,
        nState: a.nState,
        nHead: a.nHead,
        headDim: a.headDim,
        blockCtx: a.blockCtx,
        primeKeys: a.primeKeys,
        encoderDims: a.encoderDims,
        scale2: Math.fround(scale * scale),
        slots,
      });
    }
    const names = ar.weightNames;
    this.head = new PackedLinear(arenaFor(PackedLinear.bytes(width, bins)), data(names.xOut!), null, width, bins, true);
    this.xEmb = data(names.xEmb).slice();
    this.posEmb = data(names.posEmb).slice();
    this.startToken = names.startToken === undefined ? null : data(names.startToken).slice();
  }

  /** Arenas (wasm memories) the packed model spans. */
  get arenaCount(): number {
    return this.arenas.length;
  }

  /** Whether this packing holds these weights (a WeightMap's tensors may be replaced, as in training). */
  packedFrom(w: WeightMap): boolean {
    return this.sources.every(([name, t]) => w.has(name) && w.get(name) === t);
  }

  /**
   * Primes the cache with the known tokens and samples the rest, as the tfjs loop does; fills
   * `input.tokens` and returns the logits `[n, total, bins]` of every position when asked.
   */
  sample(input: FastSampleInput): Float32Array | null {
    this.startThreads();
    const { n, total, primed, tokens } = input;
    const chunk = Math.max(1, Math.min(input.chunk, primed));
    const marks = this.arenas.map((a) => a.used);
    try {
      const scratch = new Map<Arena, Scratch>();
      for (const arena of this.arenas) scratch.set(arena, this.allocScratch(arena, n * chunk));
      const caches = this.layers.map((l) => this.allocCache(l, n));
      const captures = this.layers.map((l, i) => headCapture(input.attention?.find((c) => c.layer === i), l.nHead));
      this.layers.forEach((l, i) => {
        if (l.attnFunc === 6) this.encodeKeys(l, caches[i], input);
      });
      const preds = input.getPreds ? new Float32Array(n * total * this.bins) : null;
      const headArena = this.head.arena;
      const hs = scratch.get(headArena)!;
      const logits = headArena.alloc(n * chunk * this.head.outWidth);
      const logitsStride = this.head.outWidth;
      const run = (start: number, len: number) => {
        let x = this.layers[0].arena;
        this.embed(x, scratch.get(x)!.x, input, start, len);
        this.layers.forEach((l, i) => {
          if (l.arena !== x) this.moveRows(x, scratch.get(x)!.x, l.arena, scratch.get(l.arena)!.x, n * len);
          x = l.arena;
          this.block(l, caches[i], scratch.get(x)!, n, start, len, captures[i]);
        });
        if (x !== headArena) this.moveRows(x, scratch.get(x)!.x, headArena, hs.x, n * len);
        if (this.addCondAfter && input.xCond !== null) this.addCond(headArena, hs.x, input, start, len);
        this.head.apply(hs.x, this.widthP, logits, logitsStride, n * len);
      };
      const mem = () => headArena.f32;
      const keepPreds = (start: number, len: number) => {
        if (preds === null) return;
        const f = mem();
        for (let s = 0; s < n; s++) {
          for (let i = 0; i < len; i++) {
            const from = logits / 4 + (s * len + i) * logitsStride;
            preds.set(f.subarray(from, from + this.bins), (s * total + start + i) * this.bins);
          }
        }
      };
      for (let start = 0; start < primed; start += chunk) {
        const len = Math.min(chunk, primed - start);
        run(start, len);
        keepPreds(start, len);
      }
      for (let t = primed; t < total; t++) {
        run(t, 1);
        keepPreds(t, 1);
        const f = mem();
        for (let s = 0; s < n; s++) {
          const from = logits / 4 + s * logitsStride;
          tokens[s * total + t] = draw(f.subarray(from, from + this.bins), input);
        }
        input.onToken?.(t - primed + 1, total - primed);
      }
      return preds;
    } finally {
      this.arenas.forEach((a, i) => a.release(marks[i]));
    }
  }

  /**
   * Starts the worker threads once (samplingThreads() − 1 of them). Without them, as when a worker
   * cannot start, every product runs on the calling thread with the same results.
   */
  private startThreads(): void {
    if (this.pool !== undefined) return;
    this.pool = null;
    const workers = samplingThreads() - 1;
    if (workers < 1) return;
    try {
      this.pool = new MatmulPool(kernelModule()!, this.arenas.map((a) => a.memory), workers);
    } catch {
      return;
    }
    this.arenas.forEach((a, index) => (a.pool = { workers: this.pool!, index }));
  }

  /** Stops the worker threads (the packed weights go with this object). */
  close(): void {
    this.pool?.close();
    this.pool = null;
    for (const a of this.arenas) a.pool = null;
  }

  private allocScratch(arena: Arena, rows: number): Scratch {
    const here = this.layers.filter((l) => l.arena === arena);
    const widest = (f: (l: FastLayer) => number) => Math.max(PANEL, ...here.map(f));
    return {
      x: arena.alloc(rows * this.widthP),
      ln: arena.alloc(rows * this.widthP),
      qkv: arena.alloc(rows * widest((l) => l.cAttn.outWidth)),
      att: arena.alloc(rows * widest((l) => roundUp(l.nState, PANEL))),
      a: arena.alloc(rows * this.widthP),
      hid: arena.alloc(rows * widest((l) => l.fc.outWidth)),
      m: arena.alloc(rows * this.widthP),
      probs: arena.alloc(widest((l) => l.slots)),
    };
  }

  private allocCache(l: FastLayer, n: number): Cache {
    const floats = n * l.slots * l.nState;
    return { k: l.arena.alloc(floats), v: l.arena.alloc(floats) };
  }

  /** Encoder-decoder keys and values: c_enc_kv over the encoder output, once per call. */
  private encodeKeys(l: FastLayer, cache: Cache, input: FastSampleInput): void {
    const { arena } = l;
    const e = l.encoderDims;
    const rows = input.n * e;
    const enc = l.cEncKv!;
    const mark = arena.used;
    const x = arena.alloc(rows * this.widthP);
    const y = arena.alloc(rows * enc.outWidth);
    const f = arena.f32;
    for (let r = 0; r < rows; r++) f.set(input.encoderKv!.subarray(r * this.width, (r + 1) * this.width), x / 4 + r * this.widthP);
    enc.apply(x, this.widthP, y, enc.outWidth, rows);
    const g = arena.f32;
    for (let r = 0; r < rows; r++) {
      const from = y / 4 + r * enc.outWidth;
      g.set(g.subarray(from, from + l.nState), cache.k / 4 + r * l.nState);
      g.set(g.subarray(from + l.nState, from + 2 * l.nState), cache.v / 4 + r * l.nState);
    }
    arena.release(mark);
  }

  private moveRows(from: Arena, src: number, to: Arena, dst: number, rows: number): void {
    to.f32.set(from.f32.subarray(src / 4, src / 4 + rows * this.widthP), dst / 4);
  }

  /**
   * Input rows of positions [start, start + len) of every sample: token embedding (the label
   * embedding or start token at position 0) + position embedding + x_cond, rounded to float32
   * after each sum as the tfjs path adds them.
   */
  private embed(arena: Arena, x: number, input: FastSampleInput, start: number, len: number): void {
    const f = arena.f32;
    const wd = this.width;
    for (let s = 0; s < input.n; s++) {
      for (let i = 0; i < len; i++) {
        const pos = start + i;
        const out = x / 4 + (s * len + i) * this.widthP;
        let tok: Float32Array;
        let tokAt: number;
        if (pos === 0) {
          tok = input.yCond ?? this.startToken!;
          tokAt = input.yCond !== null ? s * wd : 0;
        } else {
          tok = this.xEmb;
          tokAt = input.tokens[s * input.total + pos - 1] * wd;
        }
        const cond = input.xCond;
        const condAt = cond === null ? 0 : (s * input.xCondRows + (input.xCondRows === 1 ? 0 : pos)) * wd;
        for (let c = 0; c < wd; c++) {
          const v = Math.fround(tok[tokAt + c] + this.posEmb[pos * wd + c]);
          f[out + c] = cond === null ? v : v + cond[condAt + c];
        }
      }
    }
  }

  /** x += x_cond of those positions (after the transformer, as the tfjs path adds it). */
  private addCond(arena: Arena, x: number, input: FastSampleInput, start: number, len: number): void {
    const f = arena.f32;
    const cond = input.xCond!;
    const wd = this.width;
    for (let s = 0; s < input.n; s++) {
      for (let i = 0; i < len; i++) {
        const pos = start + i;
        const out = x / 4 + (s * len + i) * this.widthP;
        const condAt = (s * input.xCondRows + (input.xCondRows === 1 ? 0 : pos)) * wd;
        for (let c = 0; c < wd; c++) f[out + c] += cond[condAt + c];
      }
    }
  }

  /**
   * One residual block over rows [N × len] (sample-major) at positions [start, start + len):
   * x + a + m with a = attn(ln_0(x)) and m = mlp(ln_1(x + a)), or x + res_scale·(a + m).
   */
  private block(l: FastLayer, cache: Cache, s: Scratch, n: number, start: number, len: number, capture: HeadCapture | null): void {
    const rows = n * len;
    const wp = this.widthP;
    const { arena } = l;
    const k = arena.k;
    k.layernorm(s.x, s.ln, l.ln0.g, l.ln0.b, this.width, rows, wp * 4, LN_EPS);
    l.cAttn.apply(s.ln, wp, s.qkv, l.cAttn.outWidth, rows);
    const attW = roundUp(l.nState, PANEL);
    arena.f32.fill(0, s.att / 4, s.att / 4 + rows * attW);
    for (let smp = 0; smp < n; smp++) {
      for (let i = 0; i < len; i++) this.attend(l, cache, s, smp, smp * len + i, start + i, attW, capture);
    }
    l.cProj.apply(s.att, attW, s.a, wp, rows);
    // m = x + a; ln_1 of it into `ln`; the MLP's output back into `ln` (its input is consumed by then).
    k.add(s.x, s.a, s.m, rows * wp);
    k.layernorm(s.m, s.ln, l.ln1.g, l.ln1.b, this.width, rows, wp * 4, LN_EPS);
    l.fc.apply(s.ln, wp, s.hid, l.fc.outWidth, rows);
    k.quickGelu(s.hid, rows * l.fc.outWidth);
    l.proj.apply(s.hid, l.fc.outWidth, s.ln, wp, rows);
    if (l.resScale === 1) k.add(s.m, s.ln, s.x, rows * wp);
    else k.addScaled(s.x, s.a, s.ln, rows * wp, l.resScale);
  }

  /**
   * Attention of one row (sample `smp`, position `pos`): its keys and values join the cache, then
   * each head attends over the runs of slots its attention kind reads. A captured head's
   * probabilities are copied as they are: a lyric layer's slots are key positions from 0 (the
   * encoder's, or the sequence's first `_prime_len`), so its first `keys` probabilities are the
   * lyric keys' (the teacher-forced record's columns); no extra attention pass is needed.
   */
  private attend(l: FastLayer, cache: Cache, s: Scratch, smp: number, row: number, pos: number, attW: number, capture: HeadCapture | null): void {
    const { arena, nState, headDim: dh } = l;
    const f = arena.f32;
    const q = s.qkv + row * l.cAttn.outWidth * 4;
    const base = smp * l.slots;
    const slot = this.slotOf(l, pos);
    if (slot >= 0) {
      const from = q / 4 + nState;
      f.set(f.subarray(from, from + nState), cache.k / 4 + (base + slot) * nState);
      f.set(f.subarray(from + nState, from + 2 * nState), cache.v / 4 + (base + slot) * nState);
    }
    const runs = this.keyRuns(l, pos);
    const out = s.att + row * attW * 4;
    for (let h = 0; h < l.nHead; h++) {
      let count = 0;
      for (const r of runs) {
        const k = cache.k + ((base + r.from) * nState + h * dh) * 4;
        arena.k.scores(q + h * dh * 4, k, r.step * nState * 4, r.count, s.probs + count * 4, dh, l.scale2);
        count += r.count;
      }
      if (count === 0) continue;
      softmaxInPlace(f, s.probs / 4, count);
      if (capture !== null && capture.slots[h] >= 0 && pos >= capture.capture.firstQuery) {
        const c = capture.capture;
        const at = ((smp * c.heads.length + capture.slots[h]) * c.rows + pos - c.firstQuery) * c.keys;
        c.probs.set(f.subarray(s.probs / 4, s.probs / 4 + c.keys), at);
      }
      count = 0;
      for (const r of runs) {
        const v = cache.v + ((base + r.from) * nState + h * dh) * 4;
        arena.k.weighted(s.probs + count * 4, v, r.step * nState * 4, r.count, out + h * dh * 4, dh);
        count += r.count;
      }
    }
  }

  /** The cache slot that keeps position `pos`'s keys, or −1 when no later position reads them. */
  private slotOf(l: FastLayer, pos: number): number {
    switch (l.attnFunc) {
      case 1:
        return pos % l.blockCtx;
      case 3:
        return pos % (2 * l.blockCtx);
      case 6:
        return -1;
      case 7:
        return pos < l.primeKeys ? pos : -1;
      default:
        return pos;
    }
  }

  /** The slots position `pos` attends to (its own included where its kind sees itself). */
  private keyRuns(l: FastLayer, pos: number): KeyRun[] {
    const bc = l.blockCtx;
    switch (l.attnFunc) {
      case 0:
        return [{ from: 0, step: 1, count: pos + 1 }];
      case 1:
        return [{ from: 0, step: 1, count: (pos % bc) + 1 }];
      case 2:
        return [{ from: pos % bc, step: bc, count: Math.floor(pos / bc) + 1 }];
      case 3: {
        // Row 0 sees block_ctx zero keys: equal weights on zero values, an output of exactly 0.
        const row = Math.floor(pos / bc);
        return row === 0 ? [] : [{ from: ((row - 1) % 2) * bc, step: 1, count: bc }];
      }
      case 6:
        return [{ from: 0, step: 1, count: l.encoderDims }];
      default:
        return [{ from: 0, step: 1, count: Math.min(pos + 1, l.primeKeys) }];
    }
  }
}

/** A layer's capture with each of its `nHead` heads' slot, or null when the layer is not captured. */
function headCapture(capture: LayerCapture | undefined, nHead: number): HeadCapture | null {
  if (capture === undefined) return null;
  const slots = new Int32Array(nHead).fill(-1);
  capture.heads.forEach((h, slot) => (slots[h] = slot));
  return { capture, slots };
}

/**
 * `drawToken`, with greedy settings (top-k 1, no top-p) done in one pass: the largest of
 * logits / temperature when it is unique, after taking the one uniform draw `drawToken` would
 * take, so the caller's random stream advances exactly as on the tfjs path. Ties, and every
 * other setting, go through `drawToken` itself.
 */
function draw(logits: Float32Array, s: SamplingSettings): number {
  if (s.topK !== 1 || s.topP !== 0) return drawToken(logits, s);
  let best = 0;
  let max = -Infinity;
  let ties = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = Math.fround(logits[i] / s.temperature);
    if (v > max) {
      max = v;
      best = i;
      ties = 1;
    } else if (v === max) {
      ties++;
    }
  }
  if (ties !== 1) return drawToken(logits, s);
  s.rng.uniform();
  return best;
}

function softmaxInPlace(f: Float32Array, at: number, count: number): void {
  let max = -Infinity;
  for (let j = 0; j < count; j++) max = Math.max(max, f[at + j]);
  let sum = 0;
  for (let j = 0; j < count; j++) {
    const e = Math.exp(f[at + j] - max);
    f[at + j] = e;
    sum += e;
  }
  for (let j = 0; j < count; j++) f[at + j] /= sum;
}
