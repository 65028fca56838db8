import * as tf from '@tensorflow/tfjs';
import { conv1d, conv1dTaps } from './ops';
import { ParameterRegistry, WeightMap } from './weights';

/**
 * Building blocks of the VQ-VAE, one class per reference module. Activations are channels-last
 * `[B, T, C]` (tfjs's native conv layout); weights stay in the reference layout in the WeightMap
 * and are rearranged inside each call, which costs nothing next to the convolution itself.
 *
 * Each module also reports its *reach*: how many input samples to the left and right of an output
 * element's own span can influence it. Chunked encoding and decoding sum these to know how much
 * context makes a chunk's result identical to the whole-file result.
 */
export interface Reach {
  left: number;
  right: number;
}

/**
 * Fresh weights are variance-preserving (std 1/sqrt(fan_in)) with small biases. PyTorch's default
 * init makes the deep encoders collapse to near-constant latents, where every token is a near-tie
 * between codes; this init keeps latents spread out.
 */
const BIAS_INIT_STD = 0.01;

export function addReach(a: Reach, b: Reach): Reach {
  return { left: a.left + b.left, right: a.right + b.right };
}

/**
 * Applies `steps` in order, disposing each intermediate result as soon as the next step has
 * consumed it (never `x` itself). A plain `tf.tidy` would keep every intermediate of a deep stack
 * alive until the end: for the 5b level-0 encoder that is eight full-length 64-channel tensors.
 */
export function chain<T extends tf.Tensor>(x: T, steps: ((h: T) => T)[]): T;
export function chain(x: tf.Tensor, steps: ((h: tf.Tensor) => tf.Tensor)[]): tf.Tensor {
  let h = x;
  for (const step of steps) {
    const next = step(h);
    if (h !== x && h !== next) h.dispose();
    h = next;
  }
  return h;
}

/** A 1-D convolution: `nn.Conv1d(n_in, n_out, kernel, stride, padding, dilation)`. */
export class Conv1d {
  readonly weight: string;
  readonly bias: string;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    readonly nIn: number,
    readonly nOut: number,
    readonly kernel: number,
    readonly stride = 1,
    readonly padding = 0,
    readonly dilation = 1,
  ) {
    this.weight = registry.declare(`${prefix}.weight`, [nOut, nIn, kernel], 1 / Math.sqrt(nIn * kernel));
    this.bias = registry.declare(`${prefix}.bias`, [nOut], BIAS_INIT_STD);
  }

  /** `[B, T, nIn]` → `[B, floor((T + 2p - d(k-1) - 1) / s) + 1, nOut]`, with an optional fused ReLU. */
  apply(w: WeightMap, x: tf.Tensor3D, activation: 'linear' | 'relu' = 'linear'): tf.Tensor3D {
    return conv1d(x, w.get(this.weight), w.get(this.bias), {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      activation,
    });
  }

  /** Input samples beyond an output element's span that reach it, at input rate `rate`. */
  reach(rate: number): Reach {
    const extent = (this.kernel - 1) * this.dilation;
    return { left: this.padding * rate, right: (extent - this.padding + 1 - this.stride) * rate };
  }
}

/**
 * `nn.ConvTranspose1d(n_in, n_out, kernel, stride, padding)`, computed as a plain convolution
 * that produces all `stride` output phases at once (`[B, T, stride * n_out]`), then interleaved by
 * a reshape. This avoids the scatter-style kernels tfjs uses for transposed convolutions and gives
 * the same sums: output `m*s + r` is `sum_k x[m + (r + p - k)/s] · W[:, :, k]` over the k for which
 * the index is whole.
 */
export class ConvTranspose1d {
  readonly weight: string;
  readonly bias: string;
  /** Input offsets δ (output phase r at m uses x[m + δ]) span [minOffset, maxOffset]. */
  readonly minOffset: number;
  readonly maxOffset: number;
  /** For each tap t and phase r, the reference kernel index k, or -1 when none lands there. */
  readonly tapKernelIndex: number[][];

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    readonly nIn: number,
    readonly nOut: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
  ) {
    // Each output phase sums kernel / stride taps of every input channel.
    this.weight = registry.declare(`${prefix}.weight`, [nIn, nOut, kernel], 1 / Math.sqrt((nIn * kernel) / stride));
    this.bias = registry.declare(`${prefix}.bias`, [nOut], BIAS_INIT_STD);
    const offsets: number[] = [];
    for (let r = 0; r < stride; r++) {
      for (let k = 0; k < kernel; k++) {
        if ((r + padding - k) % stride === 0) offsets.push((r + padding - k) / stride);
      }
    }
    this.minOffset = Math.min(...offsets);
    this.maxOffset = Math.max(...offsets);
    const taps = this.maxOffset - this.minOffset + 1;
    this.tapKernelIndex = Array.from({ length: taps }, (_, t) =>
      Array.from({ length: stride }, (_, r) => {
        const k = r + padding - (t + this.minOffset) * stride;
        return k >= 0 && k < kernel ? k : -1;
      }),
    );
  }

  outputLength(t: number): number {
    return (t - 1) * this.stride - 2 * this.padding + this.kernel;
  }

  /** The phase kernel `[taps, nIn, stride * nOut]` built from the reference `[nIn, nOut, kernel]`. */
  private phaseKernel(w: tf.Tensor): tf.Tensor3D {
    const zeros = tf.zeros([this.nIn, this.nOut]);
    const slices = w.unstack(2); // kernel × [nIn, nOut]
    const taps = this.tapKernelIndex.map((phases) =>
      tf.concat(phases.map((k) => (k < 0 ? zeros : slices[k])), 1),
    ); // taps × [nIn, stride * nOut]
    return tf.stack(taps) as tf.Tensor3D;
  }

  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const taps = this.maxOffset - this.minOffset + 1;
      const outLen = this.outputLength(t);
      const rows = Math.ceil(outLen / this.stride);
      // Conv output row m reads x[m + t + minOffset] for taps t: pad so rows 0..rows-1 exist.
      const padLeft = -this.minOffset;
      const padRight = rows - t - padLeft + taps - 1;
      let input: tf.Tensor3D = x;
      if (padLeft < 0) input = input.slice([0, -padLeft, 0], [-1, -1, -1]);
      if (padRight < 0) input = input.slice([0, 0, 0], [-1, input.shape[1] + padRight, -1]);
      input = input.pad([[0, 0], [Math.max(padLeft, 0), Math.max(padRight, 0)], [0, 0]]);
      const bias = tf.tile(w.get(this.bias), [this.stride]);
      const y = conv1dTaps(input, this.phaseKernel(w.get(this.weight)), bias); // [B, rows, stride * nOut]
      const interleaved = y.reshape([b, rows * this.stride, this.nOut]) as tf.Tensor3D;
      return outLen === rows * this.stride ? interleaved : interleaved.slice([0, 0, 0], [-1, outLen, -1]);
    });
  }

  /** Output `m*s + r` reads inputs m + minOffset … m + maxOffset; in output samples at output `rate`. */
  reach(rate: number): Reach {
    const inRate = rate * this.stride;
    return { left: -this.minOffset * inRate, right: this.maxOffset * inRate };
  }
}

/** `ResConv1DBlock`: x + res_scale · conv1x1(relu(conv3_dilated(relu(x)))). Keys `model.1` and `model.3`. */
export class ResConv1DBlock {
  readonly conv3: Conv1d;
  readonly conv1: Conv1d;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    nIn: number,
    nState: number,
    readonly dilation: number,
    readonly resScale: number,
  ) {
    this.conv3 = new Conv1d(registry, `${prefix}.model.1`, nIn, nState, 3, 1, dilation, dilation);
    this.conv1 = new Conv1d(registry, `${prefix}.model.3`, nState, nIn, 1);
  }

  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    const h = chain(x, [
      (t) => tf.relu(t) as tf.Tensor3D,
      (t) => this.conv3.apply(w, t, 'relu'),
      (t) => this.conv1.apply(w, t),
      (t) => (this.resScale === 1 ? t : (tf.mul(t, this.resScale) as tf.Tensor3D)),
    ]);
    const out = tf.add(x, h) as tf.Tensor3D;
    h.dispose();
    return out;
  }

  reach(rate: number): Reach {
    return this.conv3.reach(rate);
  }
}

/** Options shared by every Resnet1D in a level, as the reference's block kwargs. */
export interface ResnetOptions {
  depth: number;
  mConv: number;
  dilationGrowthRate: number;
  dilationCycle: number | null;
  resScale: boolean;
  reverseDilation?: boolean;
  /**
   * The reference's gradient checkpointing of the stack (`checkpoint_res=1`, the upsamplers'
   * conditioner): numerically the same, but its blocks are named `blocks.{i}` instead of `model.{i}`.
   */
  checkpointRes?: boolean;
}

/**
 * `Resnet1D`: `depth` residual blocks whose dilation grows geometrically (1, 3, 9, … for rate 3),
 * optionally cycling, optionally reversed (the decoder runs the widest dilation first).
 */
export class Resnet1D {
  readonly blocks: ResConv1DBlock[];

  constructor(registry: ParameterRegistry, prefix: string, nIn: number, opts: ResnetOptions) {
    const exponent = (i: number) => (opts.dilationCycle === null ? i : i % opts.dilationCycle);
    const resScale = opts.resScale ? 1 / Math.sqrt(opts.depth) : 1;
    const dilations = Array.from({ length: opts.depth }, (_, i) => opts.dilationGrowthRate ** exponent(i));
    if (opts.reverseDilation) dilations.reverse();
    const nState = Math.trunc(opts.mConv * nIn);
    const container = opts.checkpointRes ? 'blocks' : 'model';
    this.blocks = dilations.map(
      (d, i) => new ResConv1DBlock(registry, `${prefix}.${container}.${i}`, nIn, nState, d, resScale),
    );
  }

  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return chain(x, this.blocks.map((block) => (h: tf.Tensor3D) => block.apply(w, h)));
  }

  reach(rate: number): Reach {
    return this.blocks.reduce((r, b) => addReach(r, b.reach(rate)), { left: 0, right: 0 });
  }
}
