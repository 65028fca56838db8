import * as tf from '@tensorflow/tfjs';
import { convFilterGradients, gradKernels, hostData } from '../train/fast/grad-kernels';

/**
 * A 1-D convolution with its own gradient. tfjs can neither differentiate dilated convolutions
 * nor compute filter gradients on the wasm backend (it has no Conv2DBackpropFilter kernel), so
 * the backward pass is written out here from operations every backend has:
 * - input gradient: the output gradient, zero padded, correlated with the kernel reversed in time
 *   and transposed in channels (a plain dilated conv);
 * - filter and bias gradients: `filterGradients` (a WebAssembly kernel, or one matrix product
 *   per tap between the time-shifted input and the output gradient).
 * Strides are folded away before this core runs (see `conv1d`), so it is always stride 1.
 */
type ConvCore = (x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor1D) => tf.Tensor3D;

const cores = new Map<string, ConvCore>();

function convCore(dilation: number, activation: 'linear' | 'relu', padding: number): ConvCore {
  const key = `${dilation}/${activation}/${padding}`;
  let core = cores.get(key);
  if (core !== undefined) return core;
  // x: [B, T_in, C_in], zero padded by `padding` on both sides inside the convolution (no padded
  // copy of x is made), w: [K, C_in, C_out], b: [C_out] → [B, T_in + 2p − d(K−1), C_out]
  core = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [batch, tIn, cIn] = x.shape as [number, number, number];
    const [k, , cOut] = w.shape as [number, number, number];
    const y4 = tf.fused.conv2d({
      x: x.reshape([batch, 1, tIn, cIn]) as tf.Tensor4D,
      filter: w.expandDims(0) as tf.Tensor4D,
      strides: 1,
      pad: [[0, 0], [0, 0], [padding, padding], [0, 0]],
      dilations: [1, dilation],
      bias: b,
      activation,
    });
    const y = y4.reshape([batch, y4.shape[2], cOut]) as tf.Tensor3D;
    save([x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved;
        const g = (activation === 'relu' ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor3D; // [B, T_out, C_out]
        const tOut = g.shape[1];
        const reach = (k - 1) * dilation;
        // dx[t] = Σ_k g[t + p − k·d] · w[k]ᵀ: the full correlation of g with the flipped kernel,
        // cropped by the forward padding.
        const flipped = tf.transpose(tf.reverse(ws, 0), [0, 2, 1]).expandDims(0) as tf.Tensor4D; // [1, K, C_out, C_in]
        const crop = reach - padding;
        const dx = tf.conv2d(g.reshape([batch, 1, tOut, cOut]) as tf.Tensor4D, flipped, 1, [[0, 0], [0, 0], [crop, crop], [0, 0]], 'NHWC', [1, dilation])
          .reshape([batch, tIn, cIn]);
        const [dw, db] = filterGradients(xs as tf.Tensor3D, g, k, dilation, padding);
        return [dx, dw, db];
      },
    };
  }) as unknown as ConvCore;
  cores.set(key, core);
  return core;
}

/**
 * A stride-1 conv's filter gradient [K, C_in, C_out] and bias gradient [C_out] from its input
 * `x` [B, T_in, C_in] and output gradient `g` [B, T_out, C_out]: by the WebAssembly kernel of
 * src/train/fast where the engine has SIMD128 (one pass per tap over the unpadded input, no
 * transposed copies), else by `tapFilterGradients`.
 */
function filterGradients(x: tf.Tensor3D, g: tf.Tensor3D, taps: number, dilation: number, padding: number): [tf.Tensor, tf.Tensor] {
  const kernels = gradKernels();
  if (kernels === null) return tapFilterGradients(x, g, taps, dilation, padding);
  return kernelFilterGradients(x, g, taps, dilation, padding);
}

/** `filterGradients` by the WebAssembly kernel (`gradKernels()` must not be null). */
export function kernelFilterGradients(x: tf.Tensor3D, g: tf.Tensor3D, taps: number, dilation: number, padding: number): [tf.Tensor, tf.Tensor] {
  const [batch, tIn, cIn] = x.shape;
  const [, tOut, cOut] = g.shape;
  const { dw, db } = convFilterGradients(gradKernels()!, hostData(x), hostData(g), { batch, tIn, cIn, tOut, cOut, taps, dilation, padding });
  return [tf.tensor3d(dw, [taps, cIn, cOut]), tf.tensor1d(db)];
}

/**
 * `filterGradients` as tfjs operations: dw[k] = Σ_b,t x̃[b, t + k·d]ᵀ g[b, t] with x̃ the padded
 * input, one matrix product per tap of x transposed once ([B, C_in, T_in]), padded and sliced;
 * db = Σ_b,t g[b, t] as a product with a row of ones.
 */
export function tapFilterGradients(x: tf.Tensor3D, g: tf.Tensor3D, taps: number, dilation: number, padding: number): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const [batch, , cIn] = x.shape;
    const [, tOut, cOut] = g.shape;
    let xT = tf.transpose(x, [0, 2, 1]) as tf.Tensor3D;
    if (padding > 0) xT = tf.pad(xT, [[0, 0], [0, 0], [padding, padding]]);
    const products: tf.Tensor[] = [];
    for (let tap = 0; tap < taps; tap++) {
      const xTap = xT.slice([0, 0, tap * dilation], [batch, cIn, tOut]);
      const product = tf.matMul(xTap, g); // [B, C_in, C_out]
      products.push(batch === 1 ? product.reshape([cIn, cOut]) : tf.sum(product, 0));
    }
    // Σ over batch and time as a matrix product: tfjs sums over leading axes by transposing first.
    const db = tf.matMul(tf.ones([1, batch * tOut]), g.reshape([batch * tOut, cOut])).reshape([cOut]);
    return [tf.stack(products), db];
  });
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  activation?: 'linear' | 'relu';
}

/**
 * `torch.nn.functional.conv1d` on channels-last input: `x` [B, T, C_in], `weight` in the reference
 * layout [C_out, C_in, K], `bias` [C_out] → [B, floor((T + 2p − d(K−1) − 1) / s) + 1, C_out],
 * differentiable with respect to all three on every backend.
 *
 * A stride s > 1 becomes a stride-1 conv over "phases": time is grouped in blocks of s
 * ([B, T/s, s·C_in]) and the kernel regrouped to ceil(K/s) taps of s·C_in channels, which
 * computes the same sums.
 */
export function conv1d(x: tf.Tensor3D, weight: tf.Tensor, bias: tf.Tensor, options: Conv1dOptions = {}): tf.Tensor3D {
  return tf.tidy(() => conv1dTaps(x, tf.transpose(weight, [2, 1, 0]) as tf.Tensor3D, bias, options));
}

/** `conv1d` with the kernel already tap-major: `kernel` [K, C_in, C_out]. */
export function conv1dTaps(x: tf.Tensor3D, kernel: tf.Tensor3D, bias: tf.Tensor, options: Conv1dOptions = {}): tf.Tensor3D {
  const { stride = 1, padding = 0, dilation = 1, activation = 'linear' } = options;
  return tf.tidy(() => {
    const [batch, t, cIn] = x.shape;
    const [k, , cOut] = kernel.shape;
    if (stride === 1) {
      // The core's gradient crops its full correlation by the padding, which needs padding ≤ d(K−1).
      if (padding <= dilation * (k - 1)) return convCore(dilation, activation, padding)(x, kernel, bias as tf.Tensor1D);
      return convCore(dilation, activation, 0)(tf.pad(x, [[0, 0], [padding, padding], [0, 0]]), kernel, bias as tf.Tensor1D);
    }
    if (dilation !== 1) throw new Error('conv1d: a stride and a dilation together are not supported');
    const outLen = Math.floor((t + 2 * padding - (k - 1) - 1) / stride) + 1;
    const taps = Math.ceil(k / stride);
    // Output o reads padded inputs o·s … o·s + K − 1, i.e. phase blocks o … o + taps − 1.
    const blocks = outLen + taps - 1;
    const needed = blocks * stride;
    const right = needed - t - padding;
    let padded: tf.Tensor3D = tf.pad(x, [[0, 0], [padding, Math.max(0, right)], [0, 0]]);
    if (right < 0) padded = padded.slice([0, 0, 0], [batch, needed, cIn]);
    const phased = padded.reshape([batch, blocks, stride * cIn]) as tf.Tensor3D;
    const kPadded = tf.pad(kernel, [[0, taps * stride - k], [0, 0], [0, 0]]); // [taps·s, C_in, C_out]
    const kPhased = kPadded.reshape([taps, stride * cIn, cOut]) as tf.Tensor3D;
    return convCore(1, activation, 0)(phased, kPhased, bias as tf.Tensor1D);
  });
}
