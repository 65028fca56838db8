import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { DecoderConvBlock } from '../vqvae/encdec';
import { ParameterRegistry, WeightMap } from '../vqvae/weights';
import { LayerNorm } from './ops';

/**
 * The prior's conditioners (reference `jukebox/prior/conditioners.py`): the upsamplers'
 * `Conditioner` over the codes of the level above, and the `LabelConditioner` over artist, genre
 * and timing. Fresh-init stds here are the ones that make a random prior respond to its inputs
 * (embeddings at std 0.1); loading a checkpoint replaces them all.
 */

/** Fresh-init std of every embedding table: large enough that conditioning changes the output. */
export const EMBEDDING_INIT_STD = 0.1;

/** Options of the upsamplers' conditioner (reference `x_cond_kwargs` of make_models.py). */
export interface ConditionerOptions {
  /** Codebook size of the level above (`l_bins`). */
  bins: number;
  /** Output width: the prior's width. */
  width: number;
  /** `downs_t` and `strides_t` of the level above: the upsampling from its rate to this level's. */
  downT: number;
  strideT: number;
  /** `cond_width`, `cond_depth`, `cond_m_conv`, `cond_dilation_growth_rate`, `cond_dilation_cycle`. */
  condWidth: number;
  condDepth: number;
  mConv: number;
  dilationGrowthRate: number;
  dilationCycle: number | null;
  /** `cond_res_scale`: residual branches scaled by 1/sqrt(depth). */
  resScale: boolean;
  /** `cond_c_res`: only renames the residual blocks (`blocks.{i}`), see ResnetOptions. */
  checkpointRes: boolean;
}

/**
 * `Conditioner`: embeds the level-above codes, upsamples them to this level's rate with a
 * DecoderConvBock (the VQ-VAE decoder's block: conv, then per step a dilated Resnet1D and a
 * transposed conv), and normalises. Keys `x_emb.weight`, `cond.model.…`, `ln.weight|bias`.
 */
export class Conditioner {
  private readonly xEmb: string;
  private readonly cond: DecoderConvBlock;
  private readonly ln: LayerNorm;

  constructor(registry: ParameterRegistry, prefix: string, readonly opts: ConditionerOptions) {
    this.xEmb = registry.declare(`${prefix}.x_emb.weight`, [opts.bins, opts.width], EMBEDDING_INIT_STD);
    this.cond = new DecoderConvBlock(registry, `${prefix}.cond`, opts.width, opts.width, opts.downT, opts.strideT, {
      width: opts.condWidth,
      depth: opts.condDepth,
      mConv: opts.mConv,
      dilationGrowthRate: opts.dilationGrowthRate,
      dilationCycle: opts.dilationCycle,
      resScale: opts.resScale,
      checkpointRes: opts.checkpointRes,
    }, false);
    this.ln = new LayerNorm(registry, `${prefix}.ln`, opts.width);
  }

  /** Level-above codes int32 `[N, T]` → `[N, T * stride_t^down_t, width]`. */
  apply(w: WeightMap, z: tf.Tensor2D): tf.Tensor3D {
    const codes = z.dataSync();
    for (let i = 0; i < codes.length; i++) {
      if (!(codes[i] >= 0 && codes[i] < this.opts.bins)) {
        throw new JukeboxError(`conditioning code ${codes[i]} is outside the codebook (0..${this.opts.bins - 1})`);
      }
    }
    const x = tf.tidy(() => tf.gather(w.get(this.xEmb), z) as tf.Tensor3D); // [N, T, width]
    const h = this.cond.apply(w, x);
    x.dispose();
    const out = this.ln.apply(w, h);
    h.dispose();
    return out;
  }
}

/** Options of the label conditioner (reference `y_cond_kwargs`). */
export interface LabelConditionerOptions {
  /** [genre ids, artist ids]. */
  yBins: [number, number];
  /** Bins of each timing embedding. */
  tBins: number;
  sr: number;
  /** Seconds; needed only with the time signal. */
  minDuration: number | null;
  maxDuration: number | null;
  /** Positions the timing covers: the window's n_ctx. */
  nTime: number;
  width: number;
  maxBowGenreSize: number;
  /** Top-level priors only: upsamplers take their timing from the level above. */
  includeTimeSignal: boolean;
}

/** float32 rounding, to bin positions exactly as the reference's float32 tensors do. */
const f32 = Math.fround;

/**
 * `RangeEmbedding`: maps positions interpolated over `[start, end)` (or a single value) to
 * `bins` equal bins of `[min, max)` and embeds the bins. The arithmetic is done on the host in
 * float32, operation by operation as in the reference, so a position on a bin edge lands in the
 * same bin.
 */
class RangeEmbedding {
  readonly emb: string;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    readonly nTime: number,
    readonly bins: number,
    readonly min: number,
    readonly max: number,
    width: number,
    readonly clamp = false,
  ) {
    this.emb = registry.declare(`${prefix}.emb.weight`, [bins, width], EMBEDDING_INIT_STD);
  }

  /**
   * Bin indices `[N * nTime]` for float32 starts (and ends, when nTime > 1); `describe` turns an
   * offending value into the error's words.
   */
  binIndices(starts: number[], ends: number[] | null, describe: (v: number, which: 'start' | 'end') => string): Int32Array {
    const n = starts.length;
    const out = new Int32Array(n * this.nTime);
    const lo = f32(this.min);
    const hi = f32(this.max);
    const span = f32(this.max - this.min);
    for (let i = 0; i < n; i++) {
      const start = starts[i];
      if (!(lo <= start && start < hi)) throw new JukeboxError(describe(start, 'start'));
      let end = start;
      if (this.nTime !== 1) {
        end = ends![i];
        if (this.clamp) end = Math.min(Math.max(end, lo), hi);
        if (!(lo <= end && end <= hi)) throw new JukeboxError(describe(end, 'end'));
      }
      for (let k = 0; k < this.nTime; k++) {
        const position = this.nTime === 1 ? start : f32(start + f32(f32(end - start) * f32(k / this.nTime)));
        const normalised = f32(f32(position - lo) / span);
        out[i * this.nTime + k] = Math.floor(f32(this.bins * normalised));
      }
    }
    return out;
  }
}

/**
 * `LabelConditioner`: the start embedding (artist plus the bag of genre words; empty genre slots
 * are -1 and masked out) that replaces the start token, and, for top-level priors, the timing
 * signal added at every position: total length, absolute position and relative position, each a
 * RangeEmbedding. Keys `artist_emb.emb.weight`, `bow_genre_emb.emb.weight`,
 * `{total_length,absolute_pos,relative_pos}_emb.emb.weight`.
 */
export class LabelConditioner {
  private readonly artistEmb: string;
  private readonly genreEmb: string;
  private readonly totalLength?: RangeEmbedding;
  private readonly absolutePos?: RangeEmbedding;
  private readonly relativePos?: RangeEmbedding;

  constructor(registry: ParameterRegistry, prefix: string, readonly opts: LabelConditionerOptions) {
    const [genreBins, artistBins] = opts.yBins;
    this.genreEmb = registry.declare(`${prefix}.bow_genre_emb.emb.weight`, [genreBins, opts.width], EMBEDDING_INIT_STD);
    this.artistEmb = registry.declare(`${prefix}.artist_emb.emb.weight`, [artistBins, opts.width], EMBEDDING_INIT_STD);
    if (opts.includeTimeSignal) {
      const sr = opts.sr;
      const minLength = opts.minDuration! * sr;
      const maxLength = opts.maxDuration! * sr;
      this.totalLength = new RangeEmbedding(registry, `${prefix}.total_length_emb`, 1, opts.tBins, minLength, maxLength, opts.width);
      this.absolutePos = new RangeEmbedding(registry, `${prefix}.absolute_pos_emb`, opts.nTime, opts.tBins, 0, maxLength, opts.width);
      this.relativePos = new RangeEmbedding(registry, `${prefix}.relative_pos_emb`, opts.nTime, opts.tBins, 0, 1, opts.width, true);
    }
  }

  /** Number of label columns this conditioner reads: total, offset, length, artist, genres. */
  get labelColumns(): number {
    return 4 + this.opts.maxBowGenreSize;
  }

  /**
   * Label rows `[N, 4 + max_bow_genre_size]` (samples and ids, as the Labeller builds them) →
   * the start embedding `[N, 1, width]` and, with the time signal, the timing `[N, n_time, width]`.
   */
  apply(w: WeightMap, y: tf.Tensor2D): { start: tf.Tensor3D; timing: tf.Tensor3D | null } {
    const [n, cols] = y.shape;
    if (cols !== this.labelColumns) {
      throw new JukeboxError(`label rows have ${cols} columns, this prior reads ${this.labelColumns} (4 + max_bow_genre_size)`);
    }
    const rows = y.dataSync();
    const [genreBins, artistBins] = this.opts.yBins;
    const g = this.opts.maxBowGenreSize;
    const artists = new Int32Array(n);
    const genres = new Int32Array(n * g);
    const mask = new Float32Array(n * g);
    for (let i = 0; i < n; i++) {
      const artist = rows[i * cols + 3];
      if (!(artist >= 0 && artist < artistBins)) throw new JukeboxError(`artist id ${artist} is outside this prior's ${artistBins} artists`);
      artists[i] = artist;
      for (let j = 0; j < g; j++) {
        const genre = rows[i * cols + 4 + j];
        if (!(genre < genreBins && genre >= -1)) throw new JukeboxError(`genre id ${genre} is outside this prior's ${genreBins} genres`);
        genres[i * g + j] = Math.max(genre, 0);
        mask[i * g + j] = genre >= 0 ? 1 : 0;
      }
    }
    const start = tf.tidy(() => {
      const artistEmb = tf.gather(w.get(this.artistEmb), tf.tensor2d(artists, [n, 1], 'int32')); // [N, 1, W]
      const genreEmb = tf
        .mul(tf.gather(w.get(this.genreEmb), tf.tensor2d(genres, [n, g], 'int32')), tf.tensor3d(mask, [n, g, 1]))
        .sum(1, true); // [N, 1, W]
      return tf.add(genreEmb, artistEmb) as tf.Tensor3D;
    });
    if (!this.opts.includeTimeSignal) return { start, timing: null };

    const sr = this.opts.sr;
    const seconds = (v: number) => `${+(v / sr).toFixed(3)} s`;
    const totals: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const relStarts: number[] = [];
    const relEnds: number[] = [];
    for (let i = 0; i < n; i++) {
      const total = f32(rows[i * cols]);
      const offset = rows[i * cols + 1];
      const length = rows[i * cols + 2];
      totals.push(total);
      starts.push(f32(offset));
      ends.push(f32(offset + length));
      relStarts.push(f32(f32(offset) / total));
      relEnds.push(f32(f32(offset + length) / total));
    }
    const minD = this.opts.minDuration!;
    const maxD = this.opts.maxDuration!;
    const totalIdx = this.totalLength!.binIndices(totals, null,
      (v) => `total length ${seconds(v)} is outside this prior's range [${minD} s, ${maxD} s)`);
    const absIdx = this.absolutePos!.binIndices(starts, ends,
      (v, which) => `window ${which} ${seconds(v)} is outside this prior's range [0 s, ${maxD} s)`);
    const relIdx = this.relativePos!.binIndices(relStarts, relEnds,
      (v) => `window offset ${seconds(v)} is past the song's total length`);
    const nTime = this.opts.nTime;
    const timing = tf.tidy(() => {
      const total = tf.gather(w.get(this.totalLength!.emb), tf.tensor2d(totalIdx, [n, 1], 'int32'));
      const abs = tf.gather(w.get(this.absolutePos!.emb), tf.tensor2d(absIdx, [n, nTime], 'int32'));
      const rel = tf.gather(w.get(this.relativePos!.emb), tf.tensor2d(relIdx, [n, nTime], 'int32'));
      return tf.add(tf.add(total, abs), rel) as tf.Tensor3D;
    });
    return { start, timing };
  }
}
