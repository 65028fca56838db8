import * as tf from '@tensorflow/tfjs';
import { addReach, chain, Conv1d, ConvTranspose1d, Reach, Resnet1D, ResnetOptions } from './layers';
import { ParameterRegistry, WeightMap } from './weights';

/** Width and residual options of one level's encoder or decoder. */
export interface BlockOptions extends ResnetOptions {
  width: number;
}

/**
 * `EncoderConvBlock`: `down_t` times (strided conv, kernel 2s, then a dilated Resnet1D), then a
 * kernel-3 conv to `output_emb_width`. Divides time by `stride_t ** down_t`.
 * Keys: `model.{i}.0` (strided conv), `model.{i}.1` (Resnet1D), `model.{down_t}` (output conv).
 */
export class EncoderConvBlock {
  readonly downs: { conv: Conv1d; resnet: Resnet1D }[] = [];
  readonly out: Conv1d;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    inputEmbWidth: number,
    outputEmbWidth: number,
    downT: number,
    readonly strideT: number,
    opts: BlockOptions,
  ) {
    const filter = strideT * 2;
    const pad = Math.floor(strideT / 2);
    for (let i = 0; i < downT; i++) {
      const nIn = i === 0 ? inputEmbWidth : opts.width;
      this.downs.push({
        conv: new Conv1d(registry, `${prefix}.model.${i}.0`, nIn, opts.width, filter, strideT, pad),
        resnet: new Resnet1D(registry, `${prefix}.model.${i}.1`, opts.width, { ...opts, reverseDilation: false }),
      });
    }
    this.out = new Conv1d(registry, `${prefix}.model.${downT}`, opts.width, outputEmbWidth, 3, 1, 1);
  }

  /** `[B, T, C_in]` → `[B, T / stride_t^down_t, output_emb_width]`. */
  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return chain(x, [
      ...this.downs.flatMap(({ conv, resnet }) => [
        (h: tf.Tensor3D) => conv.apply(w, h),
        (h: tf.Tensor3D) => resnet.apply(w, h),
      ]),
      (h) => this.out.apply(w, h),
    ]);
  }

  /** Reach in input samples, for an input at `rate` samples per element; returns the output rate too. */
  reach(rate: number): { reach: Reach; rate: number } {
    let total: Reach = { left: 0, right: 0 };
    for (const { conv, resnet } of this.downs) {
      total = addReach(total, conv.reach(rate));
      rate *= this.strideT;
      total = addReach(total, resnet.reach(rate));
    }
    return { reach: addReach(total, this.out.reach(rate)), rate };
  }
}

/**
 * `DecoderConvBock` (sic, the reference's spelling of the class; the keys do not contain it):
 * a kernel-3 conv from the embedding to `width`, then `down_t` times (Resnet1D with reversed
 * dilations, transposed conv ×stride_t). Keys: `model.0`, `model.{i+1}.0`, `model.{i+1}.1`.
 */
export class DecoderConvBlock {
  readonly inConv: Conv1d;
  readonly ups: { resnet: Resnet1D; conv: ConvTranspose1d }[] = [];

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    inputEmbWidth: number,
    outputEmbWidth: number,
    downT: number,
    readonly strideT: number,
    opts: BlockOptions,
    reverseDilation: boolean,
  ) {
    const filter = strideT * 2;
    const pad = Math.floor(strideT / 2);
    this.inConv = new Conv1d(registry, `${prefix}.model.0`, outputEmbWidth, opts.width, 3, 1, 1);
    for (let i = 0; i < downT; i++) {
      const nOut = i === downT - 1 ? inputEmbWidth : opts.width;
      this.ups.push({
        resnet: new Resnet1D(registry, `${prefix}.model.${i + 1}.0`, opts.width, { ...opts, reverseDilation }),
        conv: new ConvTranspose1d(registry, `${prefix}.model.${i + 1}.1`, opts.width, nOut, filter, strideT, pad),
      });
    }
  }

  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return chain(x, [
      (h: tf.Tensor3D) => this.inConv.apply(w, h),
      ...this.ups.flatMap(({ resnet, conv }) => [
        (h: tf.Tensor3D) => resnet.apply(w, h),
        (h: tf.Tensor3D) => conv.apply(w, h),
      ]),
    ]);
  }

  /** Reach in output samples, for an output at `rate` samples per element; returns the input rate. */
  reach(rate: number): { reach: Reach; rate: number } {
    let total: Reach = { left: 0, right: 0 };
    for (const { resnet, conv } of [...this.ups].reverse()) {
      total = addReach(total, conv.reach(rate));
      rate *= this.strideT;
      total = addReach(total, resnet.reach(rate));
    }
    return { reach: addReach(total, this.inConv.reach(rate)), rate };
  }
}

/**
 * One level's `Encoder`: the level blocks of every level up to and including its own, each with
 * this level's width and depth, so level L downsamples by the product of the first L+1 strides.
 * Keys `level_blocks.{j}.…`.
 */
export class Encoder {
  readonly blocks: EncoderConvBlock[];

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    inputEmbWidth: number,
    embWidth: number,
    downsT: number[],
    stridesT: number[],
    opts: BlockOptions,
  ) {
    this.blocks = downsT.map(
      (down, j) =>
        new EncoderConvBlock(registry, `${prefix}.level_blocks.${j}`, j === 0 ? inputEmbWidth : embWidth, embWidth,
          down, stridesT[j], opts),
    );
  }

  /** `[B, T, 1]` → `[B, T / hop, emb_width]`: the last level block's output, as the VQ-VAE uses it. */
  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return chain(x, this.blocks.map((block) => (h: tf.Tensor3D) => block.apply(w, h)));
  }

  /** Input samples that reach a latent from beyond its own hop-long span. */
  reach(): Reach {
    let rate = 1;
    let total: Reach = { left: 0, right: 0 };
    for (const block of this.blocks) {
      const r = block.reach(rate);
      total = addReach(total, r.reach);
      rate = r.rate;
    }
    return total;
  }
}

/**
 * One level's `Decoder`: level blocks run from the top down, then `out`, a kernel-3 conv to the
 * audio channels. Decoding a single level (`all_levels=False` in the reference) adds no skip
 * inputs from the levels below. Keys `level_blocks.{j}.…` and `out.…`.
 */
export class Decoder {
  readonly blocks: DecoderConvBlock[];
  readonly out: Conv1d;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    inputEmbWidth: number,
    embWidth: number,
    downsT: number[],
    stridesT: number[],
    opts: BlockOptions,
    reverseDilation: boolean,
  ) {
    this.blocks = downsT.map(
      (down, j) =>
        new DecoderConvBlock(registry, `${prefix}.level_blocks.${j}`, embWidth, embWidth, down, stridesT[j], opts,
          reverseDilation),
    );
    this.out = new Conv1d(registry, `${prefix}.out`, embWidth, inputEmbWidth, 3, 1, 1);
  }

  /** `[B, T / hop, emb_width]` → `[B, T, 1]`. */
  apply(w: WeightMap, z: tf.Tensor3D): tf.Tensor3D {
    return chain(z, [
      ...[...this.blocks].reverse().map((block) => (h: tf.Tensor3D) => block.apply(w, h)),
      (h) => this.out.apply(w, h),
    ]);
  }

  /** Output samples beyond a latent's own span that it reaches (equivalently, that reach each sample). */
  reach(): Reach {
    let total = this.out.reach(1);
    let rate = 1;
    for (const block of this.blocks) {
      const r = block.reach(rate);
      total = addReach(total, r.reach);
      rate = r.rate;
    }
    return total;
  }
}
