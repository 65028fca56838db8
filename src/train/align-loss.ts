import * as tf from '@tensorflow/tfjs';
import { lyricLayers } from '../align/capture';
import type { WordTiming } from '../align/words';
import { JukeboxError } from '../errors';
import type { Prior } from '../prior/prior';

/**
 * Guided alignment loss: an opt-in training term, NOT part of the reference's procedure, that
 * supervises the prior's alignment head (`alignment_layer`/`alignment_head`) with the word timings
 * of the training songs' sidecars. The idea is guided attention (Tachibana, Uenoyama and Aihara
 * 2017, "Efficiently Trainable Text-to-Speech System Based on Deep Convolutional Networks with
 * Guided Attention"), which pushes a TTS model's text attention towards the diagonal; here the
 * targets are exact: for each music token sung inside a word, the lyric keys that hold that word's
 * characters. The term is the mean over such tokens of −log(attention mass on the word's keys +
 * 1e-6). Why: the reference learns alignment late and by chance (a head that specialises after
 * many thousands of steps); with timings at hand the head can be told where to look.
 */

/** Added inside the log so that a token whose word's keys get no attention has a finite loss. */
export const ALIGN_LOSS_EPSILON = 1e-6;

/** Which head is supervised and how much its term weighs in the training loss. */
export interface AlignLossSettings {
  weight: number;
  layer: number;
  head: number;
}

/**
 * The targets of one training window, `[n_ctx × n_tokens]` row-major: 1 where lyric key k belongs
 * to the word sung at music token t. Token t of a window starting `start` tokens into the song is
 * at the time of its centre, `(start + t + 0.5) × secondsPerToken`, and is sung inside word w when
 * `w.start ≤ time < w.end`. `indices` are the window's lyric keys as indices into the cleaned
 * lyrics (the Labeller's `yForWindow`; -1 for padding), `owner` is `characterWords`
 * (src/align/accuracy.ts). Tokens in gaps, and tokens whose word has no key in this window's
 * lyrics, get an empty row. Returns the rows and how many tokens have a target.
 */
export function windowTargets(
  words: readonly WordTiming[],
  owner: Int32Array,
  indices: readonly number[],
  start: number,
  nCtx: number,
  secondsPerToken: number,
): { targets: Uint8Array; tokens: number } {
  const nTokens = indices.length;
  const keyWord = indices.map((c) => (c >= 0 && c < owner.length ? owner[c] : -1));
  const targets = new Uint8Array(nCtx * nTokens);
  let tokens = 0;
  for (let t = 0; t < nCtx; t++) {
    const time = (start + t + 0.5) * secondsPerToken;
    const w = words.findIndex((word) => word.start <= time && time < word.end);
    if (w < 0) continue;
    let any = false;
    keyWord.forEach((kw, k) => {
      if (kw === w) {
        targets[t * nTokens + k] = 1;
        any = true;
      }
    });
    if (any) tokens++;
  }
  return { targets, tokens };
}

/**
 * A batch's alignment targets (`PriorBatch.align`): `targets` `[items × n_ctx × n_tokens]`, and the
 * batch's targeted tokens per row, so that a micro-batch's term, scaled by its share of the batch
 * as every loss term is, sums to the mean over the whole batch's targeted tokens.
 */
export interface AlignTargets {
  targets: Uint8Array;
  tokensPerRow: number;
}

/**
 * The guided alignment term of one pass: `attention` is the alignment layer's recorded
 * probabilities `[N, heads, n_ctx, n_tokens]` (in the gradient tape when training), `head` the
 * supervised head. Σ over targeted tokens of −log(Σ_{k ∈ word's keys} p[t, k] + ε), divided by
 * N × `tokensPerRow`.
 */
export function alignmentTerm(attention: tf.Tensor, head: number, align: AlignTargets): tf.Scalar {
  return tf.tidy(() => {
    const [n, heads, t, k] = attention.shape as number[];
    if (align.targets.length !== n * t * k) {
      throw new Error(`align loss: targets hold ${align.targets.length} values, the attention is [${attention.shape}] (expected ${n} × ${t} × ${k})`);
    }
    if (head >= heads) throw new Error(`align loss: head ${head} of a layer with ${heads} heads`);
    const p = attention.slice([0, head, 0, 0], [n, 1, t, k]).reshape([n, t, k]);
    const mask = tf.tensor3d(align.targets, [n, t, k], 'float32');
    const mass = tf.sum(tf.mul(p, mask), -1);
    const targeted = tf.cast(tf.greater(tf.sum(mask, -1), 0), 'float32');
    const nll = tf.mul(tf.neg(tf.log(tf.add(mass, ALIGN_LOSS_EPSILON))), targeted);
    return tf.div(tf.sum(nll), n * align.tokensPerRow) as tf.Scalar;
  });
}

/**
 * The supervised head of `--align-loss`: the prior's `alignment_layer`/`alignment_head` (which
 * `--align-head` sets), checked to be a lyric layer (encoder-decoder or prime) of a top prior with
 * lyrics and a head it has.
 */
export function alignLossHead(prior: Prior, preset: string): { layer: number; head: number } {
  const layers = lyricLayers(prior);
  if (layers.length === 0 || prior.condDownsample !== null) {
    throw new JukeboxError(`train-prior: --align-loss needs a top-level prior with lyrics; preset '${preset}' has none`);
  }
  const c = prior.config;
  const { alignment_layer: layer, alignment_head: head } = c;
  if (layer === null || head === null) {
    throw new JukeboxError(`train-prior: --align-loss needs an alignment head: preset '${preset}' names none; pass --align-head L/H (lyric layers: ${layers.join(', ')})`);
  }
  if (!layers.includes(layer)) throw new JukeboxError(`train-prior: alignment layer ${layer} is not a lyric layer of preset '${preset}' (lyric layers: ${layers.join(', ')})`);
  if (!(Number.isInteger(head) && head >= 0 && head < c.heads)) throw new JukeboxError(`train-prior: alignment head ${head} is outside 0..${c.heads - 1}`);
  return { layer, head };
}

/** The prior's own alignment head when it names one on a lyric layer of a top prior, else null. */
export function configuredAlignHead(prior: Prior): { layer: number; head: number } | null {
  const { alignment_layer: layer, alignment_head: head, heads } = prior.config;
  if (layer === null || head === null || prior.condDownsample !== null || head >= heads || !lyricLayers(prior).includes(layer)) return null;
  return { layer, head };
}
