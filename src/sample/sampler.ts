import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import type { Rng } from '../rng';
import type { LevelSettings, SampleProgress, SamplingPrior, SongCodes, WindowAttentionSink } from './types';
import { batchRanges, conditioningSpan, hopLength, partialWindow, planLevelWindows, SampleWindow } from './windows';

/** The reference's default hop fractions, indexed by level (`hop_fraction` 0.5, 0.5, 0.125). */
export const DEFAULT_HOP_FRACTIONS: readonly number[] = [0.5, 0.5, 0.125];

/**
 * The reference `sample.py` settings for a prior: temperature 0.99; for the top level chunk 16 and
 * batches of 3 (5b, 5b_lyrics) or chunk 32 and batches of 16 (1b_lyrics); below it chunk 32 and
 * batches of 16; the level's default hop fraction.
 */
export function defaultLevelSettings(prior: Pick<SamplingPrior, 'level' | 'condDownsample' | 'singleEncDec'>): LevelSettings {
  const top = prior.condDownsample === null;
  const joint = top && prior.singleEncDec;
  return {
    temperature: 0.99,
    topK: 0,
    topP: 0,
    chunkSize: top && !joint ? 16 : 32,
    maxBatchSize: top && !joint ? 3 : 16,
    hopFraction: DEFAULT_HOP_FRACTIONS[Math.min(prior.level, DEFAULT_HOP_FRACTIONS.length - 1)],
  };
}

export interface SampleLevelOptions<M> {
  /** Metadata of every item (one per song of the batch). */
  metas: M[];
  settings: LevelSettings;
  rng: Rng;
  onProgress?: (p: SampleProgress) => void;
  /**
   * Capture the lyric attention of every window sampled at this level (a `SampledLyricAttention`
   * for the prior and these metas): per song, `[tokens, characters]` per captured head.
   */
  lyricAttention?: WindowAttentionSink;
}

/** Rows [start, end) of a batch of equally long codes, as an int32 tensor [rows, end - start]. */
function windowTensor(rows: Int32Array[], from: number, to: number, start: number, end: number): tf.Tensor2D {
  const width = end - start;
  const data = new Int32Array((to - from) * width);
  for (let i = from; i < to; i++) data.set(rows[i].subarray(start, end), (i - from) * width);
  return tf.tensor2d(data, [to - from, width], 'int32');
}

/** The item count of a batch of song codes (every level holds the same). */
function itemCount(zs: SongCodes): number {
  const counts = new Set([...zs.values()].map((rows) => rows.length));
  if (counts.size !== 1) throw new JukeboxError(`every level must hold the same number of items, got ${[...counts].join(' and ')}`);
  return [...counts][0];
}

/** Appends `fresh` tokens per item to a level's codes. */
function appendTokens(rows: Int32Array[], fresh: Int32Array[]): Int32Array[] {
  return rows.map((row, i) => {
    const out = new Int32Array(row.length + fresh[i].length);
    out.set(row);
    out.set(fresh[i], row.length);
    return out;
  });
}

/** Rate and ETA bookkeeping for one level. */
function progressTracker(level: number, windows: number, total: number, items: number, onProgress?: (p: SampleProgress) => void) {
  const started = Date.now();
  let last = '';
  return (window: number, done: number) => {
    if (!onProgress || `${window}/${done}` === last) return;
    last = `${window}/${done}`;
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? (done * items) / seconds : 0;
    onProgress({ level, window, windows, done, total, tokensPerSecond: rate, etaSeconds: done > 0 && rate > 0 ? ((total - done) * items) / rate : NaN });
  };
}

/**
 * Samples one window at the prior's level (reference `sample_single_window`): the level's codes in
 * [start, start + context) prime it, the level above's codes in the window's span condition it,
 * and its labels come from `getY` at the window's start; items go through the prior in batches of
 * `maxBatchSize`. Returns each item's `fresh` new tokens. Every tensor made here is disposed
 * before it returns, so memory follows the window and the batch, not the song. With `attention`,
 * each item's lyric attention over the whole window (context rows included) goes to it.
 */
export async function sampleWindow<M, L>(
  prior: SamplingPrior<M, L>,
  zs: SongCodes,
  window: SampleWindow,
  labels: L | null,
  settings: LevelSettings,
  rng: Rng,
  onToken?: (done: number) => void,
  attention?: WindowAttentionSink,
): Promise<Int32Array[]> {
  const level = prior.level;
  if (attention !== undefined) {
    if (attention.level !== level) throw new JukeboxError(`lyric attention of level ${attention.level} cannot be captured while sampling level ${level}`);
    if (prior.sampleWithAttention === undefined || labels === null) throw new JukeboxError(`the level ${level} prior cannot capture lyric attention while sampling`);
  }
  const rows = zs.get(level) ?? [];
  const n = rows.length;
  const length = window.end - window.start;
  let cond: { rows: Int32Array[]; start: number; end: number } | null = null;
  if (prior.condDownsample !== null) {
    const above = zs.get(level + 1);
    if (above === undefined) throw new JukeboxError(`level ${level} is conditioned on level ${level + 1}, but there are no level ${level + 1} codes`);
    // The reference conditions every window, however short, on a full context of the level above.
    const span = conditioningSpan(window.start, window.start + prior.nCtx, prior.condDownsample);
    if (above[0].length < span.end) {
      throw new JukeboxError(`level ${level} window [${window.start}, ${window.start + prior.nCtx}) needs level ${level + 1} codes up to token ${span.end}, but they hold ${above[0].length}`);
    }
    cond = { rows: above, ...span };
  }
  const label = labels === null ? null : prior.getY(labels, window.start);
  const fresh: Int32Array[] = [];
  try {
    for (const batch of batchRanges(n, settings.maxBatchSize)) {
      const size = batch.end - batch.start;
      const z = window.context > 0 ? windowTensor(rows, batch.start, batch.end, window.start, window.start + window.context) : null;
      const zConds = cond ? [windowTensor(cond.rows, batch.start, batch.end, cond.start, cond.end)] : null;
      const y = label ? tf.slice(label.y, [batch.start, 0], [size, -1]) : null;
      let out: tf.Tensor2D | undefined;
      try {
        const sampleOptions = {
          nSamples: size,
          z,
          zConds,
          y,
          temperature: settings.temperature,
          topK: settings.topK,
          topP: settings.topP,
          chunkSize: settings.chunkSize,
          sampleTokens: length,
          rng,
          onToken: onToken && ((done: number, of: number) => onToken((batch.start + (of > 0 ? (done / of) * size : 0)) * window.fresh)),
        };
        let captured: Map<number, Float32Array> | null = null;
        if (attention !== undefined) {
          const got = await prior.sampleWithAttention!(sampleOptions, attention.capture);
          out = got.tokens;
          captured = got.attention;
        } else {
          out = await prior.sample(sampleOptions);
        }
        if (out.shape[0] !== size || out.shape[1] < window.fresh) {
          throw new Error(`prior.sample returned [${out.shape}] for ${size} items of a ${length}-token window`);
        }
        // The reference keeps the last `new_tokens` of what the prior returns.
        const data = (await out.data()) as Int32Array;
        const width = out.shape[1];
        for (let i = 0; i < size; i++) fresh.push(data.slice((i + 1) * width - window.fresh, (i + 1) * width));
        if (captured !== null) {
          // Each layer's [size, heads, length, n_tokens] split into the items' [heads, length, n_tokens].
          for (let i = 0; i < size; i++) {
            const item = new Map([...captured].map(([layer, probs]) => [layer, probs.subarray((i * probs.length) / size, ((i + 1) * probs.length) / size)]));
            attention!.take(window, batch.start + i, label!.indices[batch.start + i], item);
          }
        }
      } finally {
        tf.dispose([z ?? [], zConds ?? [], y ?? [], out ?? []].flat());
      }
      onToken?.(batch.end * window.fresh);
    }
  } finally {
    if (label) label.y.dispose();
  }
  return fresh;
}

/**
 * Checks a level can be sampled to `total` tokens: an upsampler conditions every window on a full
 * context of the level above (the reference asserts it), so it needs at least n_ctx tokens, a
 * whole number of level-above tokens.
 */
export function checkLevelLength(prior: Pick<SamplingPrior, 'level' | 'nCtx' | 'condDownsample' | 'rawToTokens'>, total: number): void {
  const d = prior.condDownsample;
  if (d === null) return;
  if (total < prior.nCtx) {
    throw new JukeboxError(`upsampling level ${prior.level} needs at least one context of ${prior.nCtx} tokens (${prior.nCtx / d} level ${prior.level + 1} tokens), got ${total} (${total / d} level ${prior.level + 1} tokens)`);
  }
  if (total % d !== 0) throw new JukeboxError(`level ${prior.level} length ${total} is not a multiple of its conditioning downsampling ${d}`);
}

/**
 * Samples a level up to `total` tokens per item (reference `sample_level`): the windows of
 * `planLevelWindows` at the level's hop, each appended to `zs` as it finishes, so a level that
 * already holds codes (primed, continued) carries on from where they end.
 */
export async function sampleLevel<M, L>(prior: SamplingPrior<M, L>, zs: SongCodes, total: number, options: SampleLevelOptions<M>): Promise<void> {
  const level = prior.level;
  const n = options.metas.length;
  if (!zs.has(level)) zs.set(level, Array.from({ length: n }, () => new Int32Array(0)));
  if (itemCount(zs) !== n) throw new JukeboxError(`${n} songs' labels for ${itemCount(zs)} songs' codes`);
  const have = zs.get(level)![0].length;
  checkLevelLength(prior, total);
  const hop = hopLength(options.settings.hopFraction, prior.nCtx, prior.condDownsample);
  const windows = planLevelWindows(total, have, prior.nCtx, hop);
  const labels = prior.labeller ? prior.labeller.getBatchLabels(options.metas) : null;
  const report = progressTracker(level, windows.length, total - have, n, options.onProgress);
  let done = 0;
  for (const [k, window] of windows.entries()) {
    report(k + 1, done);
    const fresh = await sampleWindow(prior, zs, window, labels, options.settings, options.rng, (tokensOfAll) => report(k + 1, done + tokensOfAll / n), options.lyricAttention);
    zs.set(level, appendTokens(zs.get(level)!, fresh));
    done += window.fresh;
    report(k + 1, done);
  }
}

/**
 * Adds `tokens` to the prior's level with one window (reference `sample_partial_window`): the
 * co-composition step, which continues a short song by a few seconds at a time and slides the
 * context along once the song outgrows it.
 */
export async function extendLevel<M, L>(prior: SamplingPrior<M, L>, zs: SongCodes, tokens: number, options: SampleLevelOptions<M>): Promise<void> {
  const level = prior.level;
  const n = options.metas.length;
  if (!zs.has(level)) zs.set(level, Array.from({ length: n }, () => new Int32Array(0)));
  if (prior.condDownsample !== null) throw new JukeboxError(`extending by partial windows is for the top level; level ${level} is an upsampler (use sampleLevel)`);
  const window = partialWindow(zs.get(level)![0].length, tokens, prior.nCtx);
  const labels = prior.labeller ? prior.labeller.getBatchLabels(options.metas) : null;
  const report = progressTracker(level, 1, tokens, n, options.onProgress);
  report(1, 0);
  const fresh = await sampleWindow(prior, zs, window, labels, options.settings, options.rng, (all) => report(1, all / n), options.lyricAttention);
  zs.set(level, appendTokens(zs.get(level)!, fresh));
  report(1, tokens);
}

export interface SampleLevelsOptions<M> {
  metas: M[];
  /** Settings per level (default `defaultLevelSettings` of each prior). */
  settings?: Map<number, LevelSettings>;
  rng: Rng;
  onProgress?: (p: SampleProgress) => void;
  /** Called after each level is complete (to decode or save it before the next one starts). */
  onLevel?: (level: number, zs: SongCodes) => void | Promise<void>;
  /** Capture the lyric attention while its level is sampled (see `SampleLevelOptions`). */
  lyricAttention?: WindowAttentionSink;
}

/**
 * Samples several levels top down (reference `_sample`): each prior's level to `lengthSamples`
 * of audio, i.e. `lengthSamples / raw_to_tokens` tokens, conditioned on the level above as it has
 * just been sampled (or as given). Covers every mode: ancestral (`zs` empty), primed and continued
 * (`zs` holds a prompt's codes at the levels sampled), upsampling (`zs` holds the top level and
 * only the upsamplers are passed).
 */
export async function sampleLevels<M, L>(priors: SamplingPrior<M, L>[], zs: SongCodes, lengthSamples: number, options: SampleLevelsOptions<M>): Promise<SongCodes> {
  const ordered = [...priors].sort((a, b) => b.level - a.level);
  // Every level's length is checked before any is sampled: a bad one should not cost the hours
  // the levels above it take.
  for (const prior of ordered) {
    if (lengthSamples % prior.rawToTokens !== 0) {
      throw new JukeboxError(`a length of ${lengthSamples} samples is not a whole number of level ${prior.level} tokens (${prior.rawToTokens} samples each)`);
    }
    checkLevelLength(prior, lengthSamples / prior.rawToTokens);
  }
  const captured = options.lyricAttention?.level;
  if (captured !== undefined && !ordered.some((p) => p.level === captured)) throw new JukeboxError(`lyric attention of level ${captured} asked, but level ${captured} is not sampled`);
  for (const prior of ordered) {
    const settings = options.settings?.get(prior.level) ?? defaultLevelSettings(prior);
    const lyricAttention = options.lyricAttention?.level === prior.level ? options.lyricAttention : undefined;
    await sampleLevel(prior, zs, lengthSamples / prior.rawToTokens, { metas: options.metas, settings, rng: options.rng, onProgress: options.onProgress, lyricAttention });
    await options.onLevel?.(prior.level, zs);
  }
  return zs;
}

/**
 * Codes of a batch built from stored codes: item `take` repeated `samples` times (the notebook's
 * `zs[2][my_choice].repeat(n_samples, 1)`), or, without `take`, the stored items as they are
 * (their count must then be `samples`, or 1, which is repeated). `keepTokens(level)` cuts each
 * level (a prompt length); levels not in `levels` are dropped.
 */
export function codesForBatch(stored: SongCodes, samples: number, levels: number[], take?: number, keepTokens?: (level: number) => number): SongCodes {
  const out: SongCodes = new Map();
  const items = itemCount(stored);
  if (take !== undefined && (take < 0 || take >= items)) throw new JukeboxError(`--take ${take}: the codes hold items 0..${items - 1}`);
  if (take === undefined && items !== 1 && items !== samples) {
    throw new JukeboxError(`the codes hold ${items} items but ${samples} samples were asked; choose one item with --take K or ask for --samples ${items}`);
  }
  for (const level of levels) {
    const rows = stored.get(level);
    if (rows === undefined) continue;
    const cut = Math.min(rows[0].length, keepTokens?.(level) ?? Infinity);
    out.set(level, Array.from({ length: samples }, (_, i) => rows[take ?? (items === 1 ? 0 : i)].slice(0, cut)));
  }
  return out;
}
