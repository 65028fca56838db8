import * as tf from '@tensorflow/tfjs';
import type { Decoder, Encoder } from '../encdec';
import type { Conv1d, ConvTranspose1d, ResConv1DBlock, Resnet1D } from '../layers';
import type { VQVAE } from '../vqvae';
import type { WeightMap } from '../weights';
import { ConvArena, convArena } from './conv-arena';
import { ConvThreads, quantiseRows, SCORE_ROWS } from './conv-threads';

/**
 * The VQ-VAE's inference path in hand-written WebAssembly SIMD (conv-kernels.wat): a whole
 * encoder (with its codebook lookup) or decoder runs in one memory, activations `[T, C]` laid out
 * once per call, with no tfjs op in between. tfjs-wasm spends most of a residual block outside
 * its convolution (the ReLU, the residual add, padding copies, fresh tensors per op); here the
 * ReLUs, the bias and the residual add are folded into the convolutions, and each residual block
 * runs as one kernel call, its hidden rows kept in the cache. Encoding computes its same-length
 * 3-tap convolutions by Winograd's F(4,3) (half the multiply-adds). The tfjs path
 * (`Encoder.apply`, `Decoder.apply`) stays the reference: tests hold this path's latents and audio
 * to it, and its codes equal.
 *
 * Used by `VQVAE.encode`/`decode` on the CPU backends (wasm, cpu) unless `JUKEBOX_FAST_VQVAE=0`;
 * training never takes it (it has no gradient).
 */

/** The kernels' floor for no ReLU (0 would apply one). */
const NO_RELU = -Infinity;
/** Multiply-adds below which a convolution stays on the calling thread (about 0.1 ms of work). */
const MIN_SPLIT_MACS = 1 << 21;
/** Multiply-adds per block of rows the threads take in turn. */
const CONV_BLOCK_MACS = 1 << 22;
/** Tiles per product of the Winograd kernel (whole groups, about this many): 16, 32 and 64 measured within 5%. */
const WINOGRAD_TILES = 64;
/** Latents per block of a shared codebook lookup: 128 × 2048 codes × 64 is 16M multiply-adds. */
const QUANTISE_BLOCK_ROWS = 4 * SCORE_ROWS;

/** An activation `[rows, channels]` in the arena: row 0 at `ptr`, `margin` zero rows either side. */
interface Act {
  ptr: number;
  rows: number;
  channels: number;
  /** Bytes from one row to the next (channels padded to whole 8-column panels). */
  rowBytes: number;
}

/** Whether the VQ-VAE's encode/decode take the fast path: CPU backends, unless JUKEBOX_FAST_VQVAE=0. */
export function fastVQVAEWanted(): boolean {
  if (process.env.JUKEBOX_FAST_VQVAE === '0') return false;
  const backend = tf.getBackend();
  return (backend === 'wasm' || backend === 'cpu') && convArena() !== null;
}

/**
 * Why `model` cannot run on the fast path, or null when it can: the kernels write whole panels of
 * 8 channels, which a transposed convolution's interleaved phases and the codebook scores need
 * exactly, and the VQ-VAE never scales its residual branches.
 */
export function fastVQVAEUnsupported(model: VQVAE): string | null {
  if (model.config.l_bins % 8 !== 0) return `l_bins ${model.config.l_bins} is not a multiple of 8`;
  for (const decoder of model.decoders) {
    for (const block of decoder.blocks) {
      for (const { conv } of block.ups) if (conv.nOut % 8 !== 0) return `a transposed conv has ${conv.nOut} channels, not a multiple of 8`;
    }
  }
  const resnets = [
    ...model.encoders.flatMap((e) => e.blocks.flatMap((b) => b.downs.map((d) => d.resnet))),
    ...model.decoders.flatMap((d) => d.blocks.flatMap((b) => b.ups.map((u) => u.resnet))),
  ];
  if (resnets.some((r) => r.blocks.some((b) => b.resScale !== 1))) return 'a residual branch is scaled';
  return null;
}

/** Zero rows either side of every activation: the widest padding any convolution reads. */
function marginRows(model: VQVAE): number {
  let margin = 1;
  const conv = (c: Conv1d) => (margin = Math.max(margin, c.padding));
  const resnet = (r: Resnet1D) => r.blocks.forEach((b) => (conv(b.conv3), conv(b.conv1)));
  for (const e of model.encoders) {
    for (const b of e.blocks) {
      b.downs.forEach((d) => (conv(d.conv), resnet(d.resnet)));
      conv(b.out);
    }
  }
  for (const d of model.decoders) {
    conv(d.out);
    for (const b of d.blocks) {
      conv(b.inConv);
      b.ups.forEach((u) => {
        resnet(u.resnet);
        margin = Math.max(margin, -u.conv.minOffset, u.conv.maxOffset + u.conv.stride + u.conv.kernel);
      });
    }
  }
  return margin;
}

/** One call's work in the arena: weights packed as needed, activations laid out as they come. */
export class ConvRun {
  constructor(
    readonly a: ConvArena,
    readonly w: WeightMap,
    readonly margin: number,
    readonly threads: ConvThreads | null = a.threads(),
    /**
     * Whether same-length 3-tap convolutions (residual blocks' included) go through Winograd's
     * F(4,3) (`winograd`). Its rounding of an output depends on the output's place in its tile of
     * four, which a chunk of a streamed call (encodeChunked, decodeChunked, `--workers`) starts
     * elsewhere than a whole pass does; the direct kernel rounds every row alike, so chunks give
     * the whole pass's bits. Encoding takes it: the codes absorb a relative difference of 1e-6 but
     * at near-ties (none in 480,000 tokens of held-out songs with the trained runs/default VQ-VAE,
     * chunked against whole; against the tfjs path 1 differed, 2 with the direct kernel). Decoding
     * does not: tests hold chunked and `--workers` audio to the whole decode's bits.
     */
    readonly useWinograd = true,
  ) {}

  /**
   * The `conv` kernel over `rows` rows (no ReLU, no residual), shared by row ranges with the worker
   * threads when it pays.
   */
  private kernel(w: number, b: number, x: number, xs: number, xd: number, taps: number, nIn: number, y: number, ys: number,
    panels: number, rows: number): void {
    const threads = this.threads;
    if (threads === null || rows * taps * nIn * panels * 8 < MIN_SPLIT_MACS) {
      this.a.k.conv(w, b, x, xs, xd, taps, nIn, y, ys, panels, rows, NO_RELU, 0);
      return;
    }
    // Blocks of about 4M multiply-adds (a fraction of a millisecond), whole 32-row kernel tiles.
    const block = Math.max(32, Math.ceil(CONV_BLOCK_MACS / (taps * nIn * panels * 8) / 32) * 32);
    threads.conv(this.a.k, w, b, x, xs, xd, taps, nIn, y, ys, panels, rows, NO_RELU, 0, block);
  }

  /** A fresh activation whose margins are zero (its rows are the caller's to write). */
  act(rows: number, channels: number, rowFloats = Math.ceil(channels / 8) * 8): Act {
    const rowBytes = rowFloats * 4;
    const base = this.a.alloc((rows + 2 * this.margin) * rowBytes);
    const ptr = base + this.margin * rowBytes;
    const f = this.a.f32;
    f.fill(0, base / 4, ptr / 4);
    f.fill(0, (ptr + rows * rowBytes) / 4, (ptr + (rows + this.margin) * rowBytes) / 4);
    return { ptr, rows, channels, rowBytes };
  }

  /**
   * Packs `value(tap, i, o)` for `nOut` outputs into the kernel's panels (8 outputs each, zero past
   * nOut) and `bias(o)` beside it; returns both pointers.
   */
  pack(taps: number, nIn: number, nOut: number, value: (tap: number, i: number, o: number) => number, bias: (o: number) => number): { w: number; b: number } {
    const panels = Math.ceil(nOut / 8);
    const w = this.a.alloc(panels * taps * nIn * 32);
    const b = this.a.alloc(panels * 32);
    const f = this.a.f32;
    let at = w / 4;
    for (let p = 0; p < panels; p++) {
      for (let tap = 0; tap < taps; tap++) {
        for (let i = 0; i < nIn; i++) {
          for (let c = 0; c < 8; c++) f[at++] = p * 8 + c < nOut ? value(tap, i, p * 8 + c) : 0;
        }
      }
    }
    for (let o = 0; o < panels * 8; o++) f[b / 4 + o] = o < nOut ? bias(o) : 0;
    return { w, b };
  }

  /**
   * `layer` on `x`, into a new activation. With `useWinograd`, a same-length 3-tap convolution of
   * whole 8-channel panels goes through Winograd's F(4,3) (`winograd`), all but a last partial
   * group of rows. (The residual blocks' convolutions, with their ReLUs and the residual add, run
   * fused: `resnet`.)
   */
  conv(layer: Conv1d, x: Act): Act {
    const { nIn, nOut, kernel, stride, padding, dilation } = layer;
    if (padding > this.margin) throw new Error(`fast VQ-VAE: padding ${padding} exceeds the margin ${this.margin}`);
    const rows = Math.floor((x.rows + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
    const wd = this.w.get(layer.weight).dataSync() as Float32Array; // [nOut, nIn, kernel]
    const bd = this.w.get(layer.bias).dataSync() as Float32Array;
    const y = this.act(rows, nOut);
    const x0 = x.ptr - padding * x.rowBytes;
    let done = 0;
    if (this.useWinograd && kernel === 3 && stride === 1 && padding === dilation && x.rowBytes === nIn * 4 && nOut % 8 === 0) {
      done = this.winograd(layer, wd, bd, x0, x.rowBytes, y, rows);
    }
    if (done < rows) {
      const packed = this.pack(kernel, nIn, nOut, (tap, i, o) => wd[(o * nIn + i) * kernel + tap], (o) => bd[o]);
      this.kernel(packed.w, packed.b, x0 + done * stride * x.rowBytes, stride * x.rowBytes, dilation * x.rowBytes, kernel, nIn,
        y.ptr + done * y.rowBytes, y.rowBytes, Math.ceil(nOut / 8), rows - done);
    }
    return y;
  }

  /**
   * The whole groups of 4·dilation rows of a same-length 3-tap convolution (weights `wd`, bias
   * `bd`, input rows from `x`, `xs` bytes apart, as the `conv` kernel reads them) by the `winograd`
   * kernel; returns how many rows it wrote.
   */
  private winograd(layer: Conv1d, wd: Float32Array, bd: Float32Array, x: number, xs: number, y: Act, rows: number): number {
    const d = layer.dilation;
    const groups = Math.floor(rows / (4 * d));
    if (groups === 0) return 0;
    const { v, b, zero, panels, per, scratch } = this.packWinograd(layer, wd, bd);
    const groupMacs = 4 * d * 3 * layer.nIn * panels * 8; // of the direct form
    const threads = this.threads;
    if (threads === null || groups * groupMacs < MIN_SPLIT_MACS) {
      this.a.k.winograd(v, zero, b, x, xs, d, layer.nIn, y.ptr, y.rowBytes, panels, groups, per, scratch[0], NO_RELU, NO_RELU);
    } else {
      const blockGroups = Math.max(per, Math.ceil(CONV_BLOCK_MACS / groupMacs / per) * per);
      threads.winograd(this.a.k, v, zero, b, x, xs, d, layer.nIn, y.ptr, y.rowBytes, panels, groups, per, scratch, NO_RELU, NO_RELU, blockGroups);
    }
    return groups * 4 * d;
  }

  /**
   * What the `winograd` kernel needs for `layer` (weights `wd`, bias `bd`): the transformed weights
   * V_k = G·g (Lavin & Gray 2016, F(4,3) at the points 0, ±1, ±2, ∞; computed in double precision
   * and rounded once), the bias and the products' zero bias, `per` groups at a time, and zeroed
   * scratch for this thread and each worker. Half the multiply-adds of the direct form, with about
   * twice its rounding error (test/vqvae/winograd.test.ts).
   */
  private packWinograd(layer: Conv1d, wd: Float32Array, bd: Float32Array): { v: number; b: number; zero: number; panels: number; per: number; scratch: number[] } {
    const { nIn, nOut, dilation: d } = layer;
    const panels = Math.ceil(nOut / 8);
    const block = panels * nIn * 8; // floats of one V_k
    const v = this.a.alloc(6 * block * 4);
    const b = this.a.alloc(panels * 32);
    const zero = this.a.alloc(panels * 32);
    const per = Math.max(1, Math.round(WINOGRAD_TILES / d));
    const tileRows = Math.ceil((per * d) / 4) * 4;
    const scratchBytes = 6 * tileRows * (nIn * 4 + panels * 32);
    const scratch = Array.from({ length: 1 + (this.threads?.count ?? 0) }, () => this.a.alloc(scratchBytes));
    const f = this.a.f32;
    for (const at of scratch) f.fill(0, at / 4, (at + scratchBytes) / 4);
    f.fill(0, zero / 4, zero / 4 + panels * 8);
    f.fill(0, v / 4, v / 4 + 6 * block);
    for (let o = 0; o < panels * 8; o++) f[b / 4 + o] = o < nOut ? bd[o] : 0;
    for (let o = 0; o < nOut; o++) {
      for (let i = 0; i < nIn; i++) {
        const at = v / 4 + (((o >> 3) * nIn + i) << 3) + (o & 7);
        const [g0, g1, g2] = wd.subarray((o * nIn + i) * 3, (o * nIn + i) * 3 + 3);
        f[at] = g0 / 4;
        f[at + block] = -(g0 + g1 + g2) / 6;
        f[at + 2 * block] = -(g0 - g1 + g2) / 6;
        f[at + 3 * block] = g0 / 24 + g1 / 12 + g2 / 6;
        f[at + 4 * block] = g0 / 24 - g1 / 12 + g2 / 6;
        f[at + 5 * block] = g2;
      }
    }
    return { v, b, zero, panels, per, scratch };
  }

  /**
   * A Resnet1D in place on `x`: x += conv1(relu(conv3(relu(x)))) per block, each block fused
   * (`winogradBlock` or `residualBlock`), from x to a second activation and back, the last result
   * copied into x.
   */
  resnet(resnet: Resnet1D, x: Act): void {
    if (resnet.blocks.length === 0) return;
    let from = x;
    let to = this.act(x.rows, x.channels);
    // A block's packed weights and scratch (megabytes at the widest dilations) die with it.
    const mark = this.a.used;
    for (const block of resnet.blocks) {
      const winograd = this.useWinograd && x.rowBytes === x.channels * 4 && block.conv3.nOut % 8 === 0;
      if (winograd) this.winogradBlock(block, from, to);
      else this.residualBlock(block, from, to);
      this.a.release(mark);
      [from, to] = [to, from];
    }
    if (from !== x) this.a.f32.copyWithin(x.ptr / 4, from.ptr / 4, (from.ptr + x.rows * x.rowBytes) / 4);
  }

  /**
   * One residual block, `y` = `x` + conv1(relu(conv3(relu(x)))), conv3 by Winograd's F(4,3) over
   * the whole groups of 4·dilation rows (`wresblock`), the rest by `residualBlock`.
   */
  winogradBlock(block: ResConv1DBlock, x: Act, y: Act): void {
    const { conv3, conv1 } = block;
    const d = conv3.dilation;
    const groups = Math.floor(x.rows / (4 * d));
    const done = groups * 4 * d;
    if (groups > 0) {
      const wd = this.w.get(conv3.weight).dataSync() as Float32Array;
      const bd = this.w.get(conv3.bias).dataSync() as Float32Array;
      const { v, b, zero, panels, per, scratch } = this.packWinograd(conv3, wd, bd);
      const w1 = this.w.get(conv1.weight).dataSync() as Float32Array; // [nOut, nIn, 1]
      const b1 = this.w.get(conv1.bias).dataSync() as Float32Array;
      const packed = this.pack(1, conv1.nIn, conv1.nOut, (_, i, o) => w1[o * conv1.nIn + i], (o) => b1[o]);
      const h = scratch.map(() => this.a.alloc(per * 4 * d * panels * 32));
      const args = [v, zero, b, packed.w, packed.b, x.ptr, x.rowBytes, d, conv3.nIn, conv3.nOut, y.ptr] as const;
      const groupMacs = 4 * d * (3 * conv3.nIn + conv1.nOut) * panels * 8; // of the direct form
      const threads = this.threads;
      if (threads === null || groups * groupMacs < MIN_SPLIT_MACS) {
        this.a.k.wresblock(...args, groups, per, scratch[0], h[0]);
      } else {
        const blockGroups = Math.max(per, Math.ceil(CONV_BLOCK_MACS / groupMacs / per) * per);
        threads.wresblock(this.a.k, ...args, groups, per, scratch, h, blockGroups);
      }
    }
    if (done < x.rows) {
      const rest = (a: Act): Act => ({ ...a, ptr: a.ptr + done * a.rowBytes, rows: a.rows - done });
      this.residualBlock(block, rest(x), rest(y));
    }
  }

  /** One residual block, `y` = `x` + conv1(relu(conv3(relu(x)))), by the `resblock` kernel. */
  residualBlock(block: ResConv1DBlock, x: Act, y: Act): void {
    const { conv3, conv1 } = block;
    const d = conv3.dilation;
    if (d > this.margin) throw new Error(`fast VQ-VAE: padding ${d} exceeds the margin ${this.margin}`);
    const packed = [conv3, conv1].map((layer) => {
      const wd = this.w.get(layer.weight).dataSync() as Float32Array; // [nOut, nIn, kernel]
      const bd = this.w.get(layer.bias).dataSync() as Float32Array;
      return this.pack(layer.kernel, layer.nIn, layer.nOut, (tap, i, o) => wd[(o * layer.nIn + i) * layer.kernel + tap], (o) => bd[o]);
    });
    const nState = conv3.nOut;
    const threads = this.threads;
    const macs = x.rows * (3 * conv3.nIn + conv1.nOut) * Math.ceil(nState / 8) * 8;
    const shared = threads !== null && macs >= MIN_SPLIT_MACS;
    // Per thread: three tap blocks of 32 input rows, then 32 hidden rows.
    const scratchBytes = 3 * 32 * x.rowBytes + 32 * Math.ceil(nState / 8) * 32;
    const scratch = Array.from({ length: shared ? 1 + threads.count : 1 }, () => this.a.alloc(scratchBytes));
    const args = [packed[0].w, packed[0].b, packed[1].w, packed[1].b, x.ptr, x.rowBytes, d, conv3.nIn, nState, y.ptr] as const;
    if (!shared) {
      this.a.k.resblock(...args, scratch[0], x.rows);
      return;
    }
    // Blocks of about 4M multiply-adds, whole 32-row tiles.
    const block32 = Math.max(32, Math.ceil((CONV_BLOCK_MACS * x.rows) / macs / 32) * 32);
    threads.resblock(this.a.k, ...args, scratch, x.rows, block32);
  }

  /**
   * A transposed convolution as the tfjs path computes it (`ConvTranspose1d.apply`): a plain
   * convolution per output phase, the `stride` phases of a row side by side, which channels-last
   * is already the interleaved output.
   */
  convTranspose(layer: ConvTranspose1d, x: Act): Act {
    const { nIn, nOut, kernel, stride, minOffset, maxOffset, tapKernelIndex } = layer;
    const outLen = layer.outputLength(x.rows);
    const rows = Math.ceil(outLen / stride);
    if (-minOffset > this.margin || rows - 1 + maxOffset - (x.rows - 1) > this.margin) {
      throw new Error('fast VQ-VAE: a transposed conv reads past the margin');
    }
    const wd = this.w.get(layer.weight).dataSync() as Float32Array; // [nIn, nOut, kernel]
    const bd = this.w.get(layer.bias).dataSync() as Float32Array;
    const y = this.act(rows * stride, nOut);
    // Phase by phase (its 8-column panels never straddle two), over only the taps that reach it:
    // kernel / stride of the `taps`, so the zero blocks of the phase kernel are never multiplied.
    for (let r = 0; r < stride; r++) {
      const used = tapKernelIndex.flatMap((phases, tap) => (phases[r] < 0 ? [] : [tap]));
      if (used.length === 0) {
        for (let m = 0; m < rows; m++) this.a.f32.set(bd.subarray(0, nOut), (y.ptr + (m * stride + r) * y.rowBytes) / 4);
        continue;
      }
      const first = used[0];
      const count = used[used.length - 1] - first + 1;
      const packed = this.pack(count, nIn, nOut, (tap, i, o) => {
        const k = tapKernelIndex[first + tap][r];
        return k < 0 ? 0 : wd[(i * nOut + o) * kernel + k];
      }, (o) => bd[o]);
      this.kernel(packed.w, packed.b, x.ptr + (minOffset + first) * x.rowBytes, x.rowBytes, x.rowBytes, count, nIn,
        y.ptr + r * y.rowBytes, stride * y.rowBytes, nOut / 8, rows);
    }
    if (outLen < rows * stride) {
      this.a.f32.fill(0, (y.ptr + outLen * y.rowBytes) / 4, (y.ptr + rows * stride * y.rowBytes) / 4);
      y.rows = outLen;
    }
    return y;
  }

  /** The encoder's latents `[T / hop, emb_width]` of the audio in `x`. */
  encode(encoder: Encoder, x: Act): Act {
    let h = x;
    for (const block of encoder.blocks) {
      for (const { conv, resnet } of block.downs) {
        h = this.conv(conv, h);
        this.resnet(resnet, h);
      }
      h = this.conv(block.out, h);
    }
    return h;
  }

  /** The codes of the latents in `z`: the largest x·k − |k|²/2 of the codebook, as `BottleneckBlock.quantise`. */
  quantise(codebook: string, z: Act): Int32Array {
    const kd = this.w.get(codebook).dataSync() as Float32Array; // [bins, width]
    const [bins, width] = this.w.get(codebook).shape as [number, number];
    const half = new Float32Array(bins);
    for (let j = 0; j < bins; j++) {
      let s = 0;
      for (let i = 0; i < width; i++) s = Math.fround(s + Math.fround(kd[j * width + i] * kd[j * width + i]));
      half[j] = Math.fround(s * -0.5);
    }
    const packed = this.pack(1, width, bins, (_, i, o) => kd[o * width + i], (o) => half[o]);
    const codes = this.a.alloc(z.rows * 4);
    const threads = this.threads;
    // One score buffer per thread: this one's first, then each worker's.
    const scores = Array.from({ length: 1 + (threads?.count ?? 0) }, () => this.a.alloc(SCORE_ROWS * bins * 4));
    if (threads !== null && z.rows * width * bins >= MIN_SPLIT_MACS) {
      threads.quantise(this.a.k, packed.w, packed.b, z.ptr, z.rowBytes, width, bins, z.rows, scores, codes, QUANTISE_BLOCK_ROWS);
    } else {
      quantiseRows(this.a.k, packed.w, packed.b, z.ptr, z.rowBytes, width, bins, z.rows, scores[0], codes);
    }
    return this.a.i32.slice(codes / 4, codes / 4 + z.rows);
  }

  /** The decoder's audio `[T, 1]` (in an 8-float row stride) from the latents in `z`. */
  decode(decoder: Decoder, z: Act): Act {
    let h = z;
    for (const block of [...decoder.blocks].reverse()) {
      h = this.conv(block.inConv, h);
      for (const { resnet, conv } of block.ups) {
        this.resnet(resnet, h);
        h = this.convTranspose(conv, h);
      }
    }
    return this.conv(decoder.out, h);
  }
}

/** Runs `body` with a fresh `ConvRun` over this thread's arena, releasing the arena after. */
function withRun<T>(model: VQVAE, useWinograd: boolean, body: (run: ConvRun) => T): T {
  const arena = convArena();
  if (arena === null) throw new Error('fast VQ-VAE: WebAssembly SIMD is not available');
  const mark = arena.used;
  try {
    return body(new ConvRun(arena, model.weights, marginRows(model), arena.threads(), useWinograd));
  } finally {
    arena.release(mark);
  }
}

/** `VQVAE.encode` on the fast path: `[B, T, 1]` audio → `[B, T / hop_L]` int32 codes per level. */
export function encodeFast(model: VQVAE, x: tf.Tensor3D, levels: number[]): tf.Tensor2D[] {
  const [batch, length] = x.shape;
  const audio = x.dataSync() as Float32Array;
  const codes = levels.map(() => [] as Int32Array[]);
  withRun(model, true, (run) => {
    for (let b = 0; b < batch; b++) {
      const input = run.act(length, 1, 1);
      run.a.f32.set(audio.subarray(b * length, (b + 1) * length), input.ptr / 4);
      const mark = run.a.used;
      levels.forEach((level, i) => {
        codes[i].push(run.quantise(model.bottleneck[level].codebook, run.encode(model.encoders[level], input)));
        run.a.release(mark);
      });
    }
  });
  return codes.map((items) => {
    const n = items[0].length;
    const all = new Int32Array(batch * n);
    items.forEach((c, b) => all.set(c, b * n));
    return tf.tensor2d(all, [batch, n], 'int32');
  });
}

/** `VQVAE.decode` on the fast path: `[B, N]` codes → `[B, N · hop, 1]` audio. */
export function decodeFast(model: VQVAE, codes: tf.Tensor2D, level: number): tf.Tensor3D {
  const [batch, tokens] = codes.shape;
  const ids = codes.dataSync();
  const codebook = model.weights.get(model.bottleneck[level].codebook);
  const kd = codebook.dataSync() as Float32Array;
  const [bins, width] = codebook.shape as [number, number];
  let out: Float32Array | undefined;
  let samples = 0;
  withRun(model, false, (run) => {
    for (let b = 0; b < batch; b++) {
      const mark = run.a.used;
      const z = run.act(tokens, width);
      for (let t = 0; t < tokens; t++) {
        const id = ids[b * tokens + t];
        if (!(id >= 0 && id < bins)) throw new Error(`code ${id} is outside the codebook (0..${bins - 1})`);
        run.a.f32.set(kd.subarray(id * width, (id + 1) * width), (z.ptr + t * z.rowBytes) / 4);
      }
      const y = run.decode(model.decoders[level], z);
      if (out === undefined) {
        samples = y.rows;
        out = new Float32Array(batch * samples);
      }
      const f = run.a.f32;
      const stride = y.rowBytes / 4;
      for (let t = 0, at = y.ptr / 4; t < samples; t++, at += stride) out[b * samples + t] = f[at];
      run.a.release(mark);
    }
  });
  return tf.tensor3d(out ?? new Float32Array(0), [batch, samples, 1]);
}
