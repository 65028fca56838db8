import { chosenLyricLayers, headKey, type LyricAttention } from '../align/capture';
import { JukeboxError } from '../errors';
import type { SongMetadata } from '../labels/index';
import type { SampleAttentionCapture } from '../prior/autoregressive';
import type { Prior } from '../prior/prior';
import type { WindowAttentionSink } from './types';
import type { SampleWindow } from './windows';

/** Which lyric attention to capture while sampling. */
export interface SampledLyricAttentionOptions {
  /** Lyric layers (default all of `lyricLayers`). */
  layers?: readonly number[];
  /** Heads of each layer (default all). `rankHeads` needs all of them; `alignWords` only its own. */
  heads?: readonly number[];
}

/** One song's stitched maps, grown a window at a time. */
interface ItemMaps {
  characters: string;
  nChars: number;
  /** `headKey` → `[capacity, nChars]` row-major. */
  maps: Map<string, Float32Array>;
  /** 1 where a window has written the cell: the earliest window covering a token wins. */
  written: Uint8Array;
  capacity: number;
}

/**
 * Lyric attention captured while a level is sampled, one `LyricAttention` per song of the batch:
 * pass it as `lyricAttention` to `sampleLevel`, `sampleLevels` (or a mode), `extendLevel` or
 * `sampleWindow`, then read `result()`. Every sampled window's probabilities (its context rows
 * included) are stitched as `captureLyricAttention` stitches windows (the reference's
 * `get_alignment`): where windows overlap, the earliest window covering a token wins each
 * character column it reads. Sampling windows are `get_starts` at the level's hop, as those of
 * `captureLyricAttention`, so with the same hop fraction (the top level's default 0.5 for both)
 * the result equals `captureLyricAttention` over the sampled codes and saves its teacher-forced
 * passes. It does not when the level held codes before (a primed or continued song): windows
 * wholly inside those codes are not sampled, so the rows before the first sampled window are
 * zero and the first window alone covers its context rows. Partial windows (a short song,
 * `extendLevel`) stitch the same way; `windowStarts` lists the windows sampled.
 *
 * Memory: `[tokens, characters]` floats per captured head and song, as `captureLyricAttention`,
 * plus one byte per cell and song.
 */
export class SampledLyricAttention implements WindowAttentionSink {
  readonly level: number;
  readonly capture: SampleAttentionCapture & { heads: readonly number[] };
  private readonly items: ItemMaps[];
  private readonly starts: number[] = [];
  private rows = 0;

  /** For sampling `prior`'s level with these songs' labels (the metas given to the sampling call). */
  constructor(private readonly prior: Prior, metas: readonly SongMetadata[], opts: SampledLyricAttentionOptions = {}) {
    const { layers, labeller } = chosenLyricLayers(prior, opts.layers, 'sample', 'no lyric layers to capture');
    const nHead = prior.config.heads;
    const heads = [...new Set(opts.heads ?? Array.from({ length: nHead }, (_, h) => h))].sort((a, b) => a - b);
    if (heads.length === 0) throw new JukeboxError('sample: no heads to capture');
    for (const h of heads) {
      if (!(Number.isInteger(h) && h >= 0 && h < nHead)) throw new JukeboxError(`sample: head ${h} is out of range (this prior has ${nHead} heads per layer)`);
    }
    this.level = prior.level;
    this.capture = { layers, heads };
    const labels = labeller.getBatchLabels([...metas]);
    this.items = labels.info.map((info) => ({ characters: info.lyrics, nChars: info.fullTokens.length, maps: new Map(), written: new Uint8Array(0), capacity: 0 }));
  }

  /**
   * One song's attention in one window: layer → `[heads, window length, n_tokens]` (heads as
   * `capture.heads`), `indices` the window's lyric character of each of the n_tokens keys
   * (`getY`'s, −1 for padding). Windows come in start order.
   */
  take(window: SampleWindow, item: number, indices: readonly number[], attention: ReadonlyMap<number, Float32Array>): void {
    const it = this.items[item];
    if (it === undefined) throw new Error(`sample: attention of item ${item}, but ${this.items.length} songs are captured`);
    if (this.starts.at(-1) !== window.start) this.starts.push(window.start);
    this.rows = Math.max(this.rows, window.end);
    this.grow(it, window.end);
    const { nChars, written } = it;
    const length = window.end - window.start;
    const nTokens = indices.length;
    const targets: { map: Float32Array; probs: Float32Array }[] = [];
    for (const layer of this.capture.layers) {
      const probs = attention.get(layer);
      if (probs === undefined || probs.length !== this.capture.heads.length * length * nTokens) {
        throw new Error(`sample: layer ${layer} captured ${probs?.length ?? 0} values, expected [${this.capture.heads.length}, ${length}, ${nTokens}]`);
      }
      this.capture.heads.forEach((h, slot) => targets.push({ map: it.maps.get(headKey(layer, h))!, probs: probs.subarray(slot * length * nTokens, (slot + 1) * length * nTokens) }));
    }
    for (let r = 0; r < length; r++) {
      const row = (window.start + r) * nChars;
      for (let j = 0; j < nTokens; j++) {
        const c = indices[j];
        if (c < 0 || written[row + c] === 1) continue;
        written[row + c] = 1;
        for (const t of targets) t.map[row + c] = t.probs[r * nTokens + j];
      }
    }
  }

  /** The stitched attention of each song, rows the tokens up to the last window's end. */
  result(): LyricAttention[] {
    const hopLength = this.prior.rawToTokens;
    return this.items.map((it) => ({
      characters: it.characters,
      tokens: this.rows,
      secondsPerToken: hopLength / this.prior.sampleRate,
      hopLength,
      sampleRate: this.prior.sampleRate,
      lyricWindow: this.prior.nTokens,
      heads: this.prior.config.heads,
      layers: [...this.capture.layers],
      windowStarts: [...this.starts],
      maps: new Map([...it.maps].map(([key, map]) => [key, map.length === this.rows * it.nChars ? map : map.slice(0, this.rows * it.nChars)])),
    }));
  }

  /** Room for `rows` rows in an item's maps, doubling so a song of many windows copies little. */
  private grow(it: ItemMaps, rows: number): void {
    if (rows <= it.capacity) return;
    const capacity = Math.max(rows, 2 * it.capacity);
    const resized = (old: Float32Array | Uint8Array | undefined, make: (n: number) => Float32Array | Uint8Array) => {
      const next = make(capacity * it.nChars);
      if (old !== undefined) next.set(old);
      return next;
    };
    for (const layer of this.capture.layers) {
      for (const h of this.capture.heads) {
        const key = headKey(layer, h);
        it.maps.set(key, resized(it.maps.get(key), (n) => new Float32Array(n)) as Float32Array);
      }
    }
    it.written = resized(it.written, (n) => new Uint8Array(n)) as Uint8Array;
    it.capacity = capacity;
  }
}
