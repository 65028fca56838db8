import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import type { ScoringPrior, SongCodes } from './types';
import { batchRanges, conditioningSpan, hopLength, planScoreWindows } from './windows';

export interface ScoreOptions<M> {
  /** Metadata of every item. */
  metas: M[];
  /** Also return the raw logits at every music position. */
  logits?: boolean;
  /** Window hop as a fraction of n_ctx for songs longer than one context; default 0.5. */
  hopFraction?: number;
  /** Items per forward pass; default 16. */
  maxBatchSize?: number;
  /** Called after each window with its number (from 1) and the count. */
  onProgress?: (window: number, windows: number) => void;
}

export interface ScoreResult {
  items: number;
  /** Tokens scored per item. */
  tokens: number;
  /** Natural-log probability of each token given those before it, [items, tokens] row-major. */
  logprob: Float32Array;
  /** Columns of the prior's output: l_bins, or the joint vocabulary of a 1b-style prior. */
  vocab: number;
  /** Column of music token 0 in the output (non-zero for a 1b-style prior's joint vocabulary). */
  shift: number;
  /** The prior's raw outputs at the music positions, [items, tokens, vocab] row-major, when asked. */
  logits?: Float32Array;
  /** Mean over all items and tokens of −log2 p. */
  bitsPerToken: number;
  /** The windows of the pass: the prior saw [start, end) and scored [scoreFrom, scoreTo). */
  windows: { start: number; end: number; scoreFrom: number; scoreTo: number }[];
  /** Each window's label rows ([items][4 + genres + lyric tokens]), or null for a prior without labels. */
  labelRows: number[][][] | null;
  /** Each window's lyric character indices per item (-1 for padding). */
  lyricIndices: number[][][];
}

/** Rows' codes over [start, end) as int32 [rows, end - start], zero past each row's end. */
function paddedWindow(rows: Int32Array[], from: number, to: number, start: number, end: number): tf.Tensor2D {
  const width = end - start;
  const data = new Int32Array((to - from) * width);
  for (let i = from; i < to; i++) data.set(rows[i].subarray(start, Math.min(end, rows[i].length)), (i - from) * width);
  return tf.tensor2d(data, [to - from, width], 'int32');
}

/**
 * Scores songs' codes at the prior's level under the prior (teacher forcing, reference `z_forward`
 * with `get_preds`): the log probability of every token given the ones before it, the labels at
 * each window's start and, for an upsampler, the level above's codes in the window's span.
 * Songs longer than n_ctx go window by window (`planScoreWindows`), each token scored once with at
 * least `n_ctx × (1 − hopFraction)` tokens of context; a song shorter than n_ctx is padded after
 * its end, which causal attention keeps out of its tokens (an upsampler's conditioning, a
 * convolution over the level above, sees the padding near the end). Tensors live one window.
 */
export async function scoreCodes<M, L>(prior: ScoringPrior<M, L>, zs: SongCodes, options: ScoreOptions<M>): Promise<ScoreResult> {
  const level = prior.level;
  const rows = zs.get(level);
  if (rows === undefined) throw new JukeboxError(`no level ${level} codes to score (the prior models level ${level})`);
  const n = rows.length;
  if (options.metas.length !== n) throw new JukeboxError(`${options.metas.length} songs' labels for ${n} songs' codes`);
  const total = rows[0].length;
  if (total === 0) throw new JukeboxError(`level ${level} holds no tokens to score`);
  for (const [i, row] of rows.entries()) {
    const bad = row.findIndex((c) => !(c >= 0 && c < prior.lBins));
    if (bad >= 0) throw new JukeboxError(`code ${row[bad]} at token ${bad} of item ${i} is outside the prior's vocabulary (0..${prior.lBins - 1})`);
  }
  const above = prior.condDownsample === null ? null : zs.get(level + 1);
  if (above === undefined) throw new JukeboxError(`the level ${level} prior is conditioned on level ${level + 1}, but there are no level ${level + 1} codes`);
  // Audio encoded at each level has floor(samples / hop) tokens, so the level above may end up to
  // one token short of covering this level's last tokens; that token is padded like a short song.
  if (above !== null && above[0].length < Math.floor(total / prior.condDownsample!)) {
    throw new JukeboxError(`level ${level + 1} holds ${above[0].length} tokens, fewer than the ${Math.floor(total / prior.condDownsample!)} that ${total} level ${level} tokens need`);
  }
  const hop = hopLength(options.hopFraction ?? 0.5, prior.nCtx, prior.condDownsample);
  const windows = planScoreWindows(total, prior.nCtx, hop, prior.condDownsample ?? 1);
  const labels = prior.labeller ? prior.labeller.getBatchLabels(options.metas) : null;
  const logprob = new Float32Array(n * total);
  let logits: Float32Array | undefined;
  let vocab = 0;
  let shift = 0;
  const labelRows: number[][][] | null = labels === null ? null : [];
  const lyricIndices: number[][][] = [];
  for (const [k, w] of windows.entries()) {
    const label = labels === null ? null : prior.getY(labels, w.start);
    try {
      if (label) {
        labelRows!.push(label.y.arraySync() as number[][]);
        lyricIndices.push(label.indices);
      }
      for (const batch of batchRanges(n, options.maxBatchSize ?? 16)) {
        const size = batch.end - batch.start;
        const z = paddedWindow(rows, batch.start, batch.end, w.start, w.end);
        const span = above === null ? null : conditioningSpan(w.start, w.end, prior.condDownsample!);
        const zConds = span === null ? null : [paddedWindow(above!, batch.start, batch.end, span.start, span.end)];
        const y = label ? tf.slice(label.y, [batch.start, 0], [size, -1]) : null;
        let preds: tf.Tensor3D | undefined;
        try {
          preds = prior.forward(z, { zConds, y, getPreds: true }).preds;
          if (preds === undefined) throw new Error('prior.forward returned no preds');
          const [, positions, v] = preds.shape;
          if (positions < prior.nCtx || v < prior.lBins) throw new Error(`prior.forward returned preds [${preds.shape}] for a ${prior.nCtx}-token window`);
          vocab = v;
          // A joint vocabulary puts the lyric symbols first: music token k is column k + shift.
          shift = v - prior.lBins;
          if (options.logits && logits === undefined) logits = new Float32Array(n * total * vocab);
          const from = w.scoreFrom - w.start;
          const count = w.scoreTo - w.scoreFrom;
          // Lyric positions (if any) come first: the music positions are the last n_ctx.
          const music = tf.slice(preds, [0, positions - prior.nCtx + from, 0], [size, count, v]);
          const logp = tf.logSoftmax(music);
          const [raw, lp] = await Promise.all([options.logits ? music.data() : Promise.resolve(null), logp.data()]);
          tf.dispose([music, logp]);
          for (let i = 0; i < size; i++) {
            const item = batch.start + i;
            for (let t = 0; t < count; t++) {
              const token = rows[item][w.scoreFrom + t];
              logprob[item * total + w.scoreFrom + t] = lp[(i * count + t) * v + token + shift];
            }
            if (raw) logits!.set((raw as Float32Array).subarray(i * count * v, (i + 1) * count * v), (item * total + w.scoreFrom) * v);
          }
        } finally {
          tf.dispose([z, zConds ?? [], y ?? [], preds ?? []].flat());
        }
      }
    } finally {
      label?.y.dispose();
    }
    options.onProgress?.(k + 1, windows.length);
  }
  let sum = 0;
  for (const lp of logprob) sum -= lp;
  return { items: n, tokens: total, logprob, vocab, shift, ...(logits ? { logits } : {}), bitsPerToken: sum / logprob.length / Math.LN2, windows, labelRows, lyricIndices };
}

/**
 * Surprise over time: bits per token (−log2 p) averaged over a centred window of `smooth`
 * tokens, per item. What the score page plots to find unexpected passages.
 */
export function smoothedBits(logprob: Float32Array, items: number, tokens: number, smooth: number): Float32Array[] {
  const half = Math.max(0, Math.floor(smooth / 2));
  return Array.from({ length: items }, (_, i) => {
    const bits = new Float64Array(tokens + 1);
    for (let t = 0; t < tokens; t++) bits[t + 1] = bits[t] - logprob[i * tokens + t] / Math.LN2;
    const out = new Float32Array(tokens);
    for (let t = 0; t < tokens; t++) {
      const a = Math.max(0, t - half);
      const b = Math.min(tokens, t + half + 1);
      out[t] = (bits[b] - bits[a]) / (b - a);
    }
    return out;
  });
}
