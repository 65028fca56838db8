import * as tf from '@tensorflow/tfjs';
import { lyricLayers } from '../align/capture';
import { wordSpans } from '../align/accuracy';
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
 * characters, and optionally, in instrumental breaks, the characters between the lines
 * (`windowTargets`). The term is the mean over targeted tokens of −log(attention mass on the
 * target keys + 1e-6). Why: the reference learns alignment late and by chance (a head that specialises after
 * many thousands of steps); with timings at hand the head can be told where to look.
 */

/** Added inside the log so that a token whose word's keys get no attention has a finite loss. */
export const ALIGN_LOSS_EPSILON = 1e-6;

/**
 * Which breaks also target every separator key of the window (the spaces, line breaks and
 * punctuation): `none`; `edges`, an intro or outro whose window has no key of its own
 * (`train-prior --align-edges`); `breaks`, every break (`--align-separators`).
 */
export type SeparatorTargets = 'none' | 'edges' | 'breaks';

/** Which head is supervised and how much its term weighs in the training loss. */
export interface AlignLossSettings {
  weight: number;
  layer: number;
  head: number;
}

/**
 * The targets of one training window, `[n_ctx × n_tokens]` row-major. Token t of a window starting
 * `start` tokens into the song is at the time of its centre, `(start + t + 0.5) × secondsPerToken`.
 * - Sung inside word w (`w.start ≤ time < w.end`): the window's keys of w's characters.
 * - With `breakSeconds` set, in a break: a gap of at least `breakSeconds` between words w−1 and w,
 *   the stretch before the first word, or the one after the last. Between two words the targets are
 *   the keys of the characters that separate them (the spaces, line breaks and punctuation between
 *   them in the lyrics); before the first word, the Labeller's padding keys (index -1, which precede
 *   the lyrics) and any characters before the word; after the last word, the characters after it.
 * - With `separators` `edges`, a token before the first word or after the last whose window
 *   holds none of those keys (lyrics longer than the lyric window have no padding, and they seldom
 *   begin or end with a separator) targets every separator key of the window instead: the spaces,
 *   line breaks and punctuation (`owner` −1). The head is told that nothing is sung yet, not where.
 * - With `separators` `breaks`, every break token targets every separator key of the window, as
 *   well as its own keys above (which are separators or padding).
 * - Anything else (a shorter gap; every gap when `breakSeconds` is null): no target.
 *
 * `indices` are the window's lyric keys as indices into the cleaned lyrics (the Labeller's
 * `yForWindow`; -1 for padding), `owner` is `characterWords` (src/align/accuracy.ts). A token whose
 * target has no key in this window's lyrics gets an empty row. Returns the rows and how many
 * tokens have a target.
 *
 * Why breaks can have targets: without them the head learned to read the coming line all through
 * an instrumental break (the next token's best predictor), so singing seemed to resume as soon as
 * a line ended and line onsets came early by the length of the break (a median of −1.5 s on the
 * default top prior's held-out songs). Told to look at the separators instead, the head marks the
 * breaks itself, which `alignWords` decodes as its gap states. Shorter gaps (rests between the
 * words of a line) get no target: a run that targeted every gap learned to read the separators
 * within lines too (1.33 s median onset error after 8000 steps, against 1.25 s without gap targets).
 *
 * Why the edges: with breaks targeted but not the edges of long lyrics, the head read the first
 * line all through the intro of such songs (its first character, the window's first key, served
 * as a sink), and the song's first word came 2.1 s early (median over the held-out songs). The
 * default top prior's second fine-tune (`--align-edges`, 1500 steps) brought it to 0.15 s, and the
 * median onset error of all words from 0.66 to 0.44 s.
 *
 * Why every break: a line still ran on into the break after it. The separators between two lines
 * are a key or two beside the line's last characters, and a token just past the line's end could
 * keep reading that line at little cost. Told that any separator of the window is right in a
 * break, the head moves off the lyrics altogether. The default top prior's third fine-tune
 * (`--align-separators`, 2000 steps) brought the median onset error on 24 held-out songs of
 * seed 1003 from 0.53 to 0.29 s (decoded as before), and 23 of them beat the baseline (19 before).
 */
export function windowTargets(
  words: readonly WordTiming[],
  owner: Int32Array,
  indices: readonly number[],
  start: number,
  nCtx: number,
  secondsPerToken: number,
  breakSeconds: number | null = null,
  separators: SeparatorTargets = 'none',
): { targets: Uint8Array; tokens: number } {
  const nTokens = indices.length;
  const { from, to } = wordSpans(owner, words.length);
  const firstLyricKey = indices.findIndex((c) => c >= 0);
  /** Whether the gap before word `next` (words.length: after the last) is a break. */
  const isBreak = (next: number): boolean =>
    breakSeconds !== null && (next === 0 || next === words.length || words[next].start - words[next - 1].end >= breakSeconds);
  const targets = new Uint8Array(nCtx * nTokens);
  let tokens = 0;
  for (let t = 0; t < nCtx; t++) {
    const time = (start + t + 0.5) * secondsPerToken;
    const sung = words.findIndex((word) => word.start <= time && time < word.end);
    // In a break: the lyric characters [lo, hi) between the words around it (none when either is
    // unpaired), and before the first word also the padding keys ahead of the lyrics.
    let lo = 0;
    let hi = 0;
    let padding = false;
    let edge = false;
    if (sung < 0) {
      let next = words.findIndex((word) => word.start > time);
      if (next < 0) next = words.length;
      if (!isBreak(next)) continue;
      const after = next === 0 ? 0 : to[next - 1];
      const before = next === words.length ? owner.length : from[next];
      if (after >= 0 && before >= 0) [lo, hi] = [after, before];
      padding = next === 0;
      edge = next === 0 || next === words.length;
    }
    let any = false;
    indices.forEach((c, k) => {
      const hit = sung >= 0 ? c >= 0 && c < owner.length && owner[c] === sung
        : c < 0 ? padding && (firstLyricKey < 0 || k < firstLyricKey)
        : lo <= c && c < hi;
      if (hit) {
        targets[t * nTokens + k] = 1;
        any = true;
      }
    });
    if ((sung < 0 && separators === 'breaks') || (!any && edge && separators === 'edges')) {
      indices.forEach((c, k) => {
        if (c >= 0 && c < owner.length && owner[c] < 0) {
          targets[t * nTokens + k] = 1;
          any = true;
        }
      });
    }
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
