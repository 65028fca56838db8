import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { batchedMatMul } from '../train/fast/heap-gemm';
import { ParameterRegistry, WeightMap } from '../vqvae/weights';
import { Conv1D } from './ops';

/**
 * The reference's `FactoredAttention` (transformer/factored_attention.py): multi-head attention
 * whose keys are a structured subset of the positions, chosen by `attn_func`. The sequence of
 * `n_ctx` positions is seen as `blocks` rows of `block_ctx` positions:
 *
 * | attn_func | a query at position i attends to |
 * |---|---|
 * | 0 dense | every position ≤ i |
 * | 1 block | the positions of its own row up to i |
 * | 2 transpose block | the positions ≤ i in its own column (≡ i mod block_ctx) |
 * | 3 previous block | every position of the previous row; the first row sees `block_ctx` zero keys |
 * | 4 summary | one zero key, and the last position of each row 0..blocks−2 that is ≤ i |
 * | 5 summary spread | `spread` zero keys, and the last `spread` positions of each row 0..blocks−2 that are ≤ i |
 * | 6 encoder-decoder | every position of the encoder's output (`encoder_dims` keys), via `c_enc_kv` |
 * | 7 prime | the positions ≤ i among the first `_prime_len` (the lyrics of a 1b_lyrics sequence) |
 *
 * A zero key has logit 0 and a zero value: it takes part in the softmax and adds nothing.
 *
 * One code path serves the teacher-forced pass and sampling: a call computes the outputs of the
 * positions [start, start + T), from the new positions' keys plus, when sampling, the keys the
 * cache holds from earlier calls. The full pass is the same call at start 0 with nothing cached.
 * A single new position (the token loop) needs no mask; a chunk (priming) lays its queries and
 * keys out in rows as the reference's chunked path does and masks them as its `get_mask` does.
 *
 * The cache holds only what later positions need, in the head-split layout `[N, H, L, d_head]` so
 * a token step rearranges nothing: the current row (block), the previous and current rows
 * (previous block), the summary keys with their zero keys (summary, spread), the first
 * `_prime_len` positions (prime), the projected encoder output (encoder-decoder), or everything
 * (dense, transpose block).
 *
 * Logits are `(q · k) · scale²` with scale = 1/sqrt(sqrt(d_head)), the reference's evaluation-mode
 * order; masked logits become −1e9 exactly as its `w * mask + -1e9 * (1 - mask)` makes them.
 */
export interface FactoredAttentionConfig {
  /** n_in: the residual width. */
  nIn: number;
  /** n_ctx: the positions of a full pass (the reference's complete context). */
  nCtx: number;
  /** n_state: q, k and v width, int(m_attn · n_in). */
  nState: number;
  /** n_head. */
  nHead: number;
  /** attn_func, 0..7 (table above). */
  attnFunc: number;
  /** blocks: rows of the block-sparse layout (attn_func 1..5, and 7 for its `_prime_len`). */
  blocks?: number;
  /** spread: keys per row for summary spread (attn_func 5). */
  spread?: number;
  /** encoder_dims: encoder positions (attn_func 6). */
  encoderDims?: number;
  /** prime_len: lyric positions of a single encoder-decoder sequence (attn_func 7). */
  primeLen?: number;
}

const ATTN_FUNC_NAMES = [
  'dense',
  'block',
  'transpose block',
  'previous block',
  'summary',
  'summary spread',
  'encoder-decoder',
  'prime',
] as const;

type T4 = tf.Tensor4D;

/** Keys and values, head-split `[N, H, L, d_head]`. */
interface KeyValues {
  k: T4;
  v: T4;
}

export class FactoredAttention {
  readonly cAttn: Conv1D;
  readonly cEncKv: Conv1D | null;
  readonly cProj: Conv1D;
  readonly attnFunc: number;
  readonly nCtx: number;
  readonly nState: number;
  readonly nHead: number;
  readonly headDim: number;
  /** block_ctx = n_ctx / blocks (0 without blocks). */
  readonly blockCtx: number;
  readonly blocks: number;
  readonly spread: number;
  readonly encoderDims: number;
  readonly primeLen: number;
  /** `_prime_len`: the reference rounds prime_len up past a multiple of `blocks` (not of block_ctx). */
  readonly primeKeys: number;
  /**
   * Whether the next call keeps its attention probabilities (reference `record_attn`): any layer
   * on a full pass, a lyric layer (encoder-decoder, prime) also while sampling.
   */
  recordAttn = false;
  /** The probabilities the last recording pass kept (reference `self.w`); owned by whoever takes it. */
  w: tf.Tensor | null = null;

  private readonly scale2: number;
  private sampleT = 0;
  private cache: KeyValues | null = null;

  constructor(registry: ParameterRegistry, prefix: string, cfg: FactoredAttentionConfig) {
    const where = `attention ${prefix}`;
    const { nIn, nCtx, nState, nHead, attnFunc } = cfg;
    if (!Number.isInteger(attnFunc) || attnFunc < 0 || attnFunc > 7) {
      throw new JukeboxError(`${where}: attn_func must be 0..7, got ${attnFunc}`);
    }
    if (!(nHead >= 1 && nState % nHead === 0)) {
      throw new JukeboxError(`${where}: n_state ${nState} is not a multiple of n_head ${nHead}`);
    }
    this.attnFunc = attnFunc;
    this.nCtx = nCtx;
    this.nState = nState;
    this.nHead = nHead;
    this.headDim = nState / nHead;
    const scale = 1 / Math.sqrt(Math.sqrt(this.headDim));
    this.scale2 = scale * scale;

    const needsBlocks = (attnFunc >= 1 && attnFunc <= 5) || attnFunc === 7;
    this.blocks = cfg.blocks ?? 0;
    if (needsBlocks && !(this.blocks >= 1 && nCtx % this.blocks === 0)) {
      throw new JukeboxError(`${where}: ${ATTN_FUNC_NAMES[attnFunc]} attention needs blocks dividing n_ctx ${nCtx}, got ${cfg.blocks}`);
    }
    this.blockCtx = this.blocks > 0 && nCtx % this.blocks === 0 ? nCtx / this.blocks : 0;
    this.spread = cfg.spread ?? 0;
    if (attnFunc === 5 && !(Number.isInteger(this.spread) && this.spread >= 1 && this.spread <= this.blockCtx)) {
      throw new JukeboxError(`${where}: summary spread attention needs 1 ≤ spread ≤ block_ctx ${this.blockCtx}, got ${cfg.spread}`);
    }
    this.encoderDims = cfg.encoderDims ?? 0;
    if (attnFunc === 6 && !(this.encoderDims >= 1)) {
      throw new JukeboxError(`${where}: encoder-decoder attention needs encoder_dims ≥ 1, got ${cfg.encoderDims}`);
    }
    this.primeLen = cfg.primeLen ?? 0;
    this.primeKeys = 0;
    if (attnFunc === 7) {
      if (!(Number.isInteger(this.primeLen) && this.primeLen >= 1 && this.primeLen < nCtx)) {
        throw new JukeboxError(`${where}: prime attention needs 1 ≤ prime_len < n_ctx ${nCtx}, got ${cfg.primeLen}`);
      }
      this.primeKeys = (Math.floor(this.primeLen / this.blocks) + 1) * this.blocks;
    }

    if (attnFunc === 6) {
      this.cAttn = new Conv1D(registry, `${prefix}.c_attn`, nIn, nState);
      this.cEncKv = new Conv1D(registry, `${prefix}.c_enc_kv`, nIn, nState * 2);
    } else {
      this.cAttn = new Conv1D(registry, `${prefix}.c_attn`, nIn, nState * 3);
      this.cEncKv = null;
    }
    this.cProj = new Conv1D(registry, `${prefix}.c_proj`, nState, nIn);
  }

  /** Positions consumed since the cache was last reset (reference `sample_t`). */
  get cacheLength(): number {
    return this.sampleT;
  }

  /**
   * `[N, T, n_in]` → `[N, T, n_in]`. Without `sample` the T positions are 0..T−1 of a sequence
   * (T ≤ n_ctx) and nothing is cached. With `sample` they follow the positions already cached,
   * and their keys are cached in turn. `encoderKv` `[N, encoder_dims, n_in]` feeds an
   * encoder-decoder layer (while sampling only the first call reads it, as in the reference).
   */
  forward(w: WeightMap, x: tf.Tensor3D, opts: { encoderKv?: tf.Tensor3D; sample?: boolean } = {}): tf.Tensor3D {
    const sample = opts.sample ?? false;
    const [n, t] = x.shape;
    const start = sample ? this.sampleT : 0;
    if (start + t > this.nCtx) {
      throw new JukeboxError(
        `attention: positions ${start}..${start + t - 1} run past n_ctx ${this.nCtx}` + (sample ? ' (reset the cache between windows)' : ''),
      );
    }
    if (sample && this.recordAttn && this.attnFunc !== 6 && this.attnFunc !== 7) {
      throw new JukeboxError('attention: while sampling, only the lyric layers (encoder-decoder, prime) record attention');
    }
    const past = sample ? this.cache : null;
    if (past !== null && past.k.shape[0] !== n) {
      throw new JukeboxError(`attention: ${n} samples given to a cache that holds ${past.k.shape[0]}`);
    }
    let kept: KeyValues | null = null;
    const out = tf.tidy(() => {
      let q: T4;
      let k: T4;
      let v: T4;
      const h = this.cAttn.apply(w, x);
      if (this.attnFunc === 6) {
        q = this.splitHeads(h);
        const kv = past ?? this.encoderKeyValues(w, opts.encoderKv, n);
        k = kv.k;
        v = kv.v;
      } else {
        [q, k, v] = this.splitQkv(h);
      }
      const { a, keep } = this.attend(q, k, v, start, past);
      if (sample && keep !== null) {
        kept = { k: tf.keep(keep.k), v: tf.keep(keep.v) };
      }
      return this.cProj.apply(w, this.mergeHeads(a));
    });
    if (sample) {
      const next = kept as KeyValues | null;
      if (past !== null) {
        if (past.k !== next?.k) past.k.dispose();
        if (past.v !== next?.v) past.v.dispose();
      }
      this.cache = next;
      this.sampleT += t;
    }
    return out;
  }

  /** Frees the cache and starts again at position 0 (reference `del_cache`). */
  resetCache(): void {
    if (this.cache !== null) {
      this.cache.k.dispose();
      this.cache.v.dispose();
    }
    this.cache = null;
    this.sampleT = 0;
  }

  /** `[N, T, n_state]` → `[N, H, T, d_head]`. */
  private splitHeads(x: tf.Tensor3D): T4 {
    const [n, t] = x.shape;
    const split = x.reshape([n, t, this.nHead, this.headDim]);
    return (t === 1 || this.nHead === 1 ? split.reshape([n, this.nHead, t, this.headDim]) : split.transpose([0, 2, 1, 3])) as T4;
  }

  /** c_attn's `[N, T, 3·n_state]` → q, k, v `[N, H, T, d_head]` (the reference's chunk(3)). */
  private splitQkv(h: tf.Tensor3D): [T4, T4, T4] {
    const [n, t] = h.shape;
    const byHead = (
      t === 1
        ? h.reshape([n, 3 * this.nHead, 1, this.headDim])
        : h.reshape([n, t, 3 * this.nHead, this.headDim]).transpose([0, 2, 1, 3])
    ) as T4;
    return tf.split(byHead, 3, 1) as [T4, T4, T4];
  }

  /** `[N, H, T, d_head]` → `[N, T, n_state]`. */
  private mergeHeads(a: T4): tf.Tensor3D {
    const [n, , t] = a.shape;
    const merged = t === 1 || this.nHead === 1 ? a : a.transpose([0, 2, 1, 3]);
    return merged.reshape([n, t, this.nState]);
  }

  /** c_enc_kv over the encoder's output: keys and values `[N, H, encoder_dims, d_head]`. */
  private encoderKeyValues(w: WeightMap, encoderKv: tf.Tensor3D | undefined, n: number): KeyValues {
    if (encoderKv === undefined) {
      throw new JukeboxError('attention: an encoder-decoder layer needs encoderKv');
    }
    const [en, el] = encoderKv.shape;
    if (en !== n || el !== this.encoderDims) {
      throw new JukeboxError(`attention: encoderKv is [${encoderKv.shape}], expected [${n}, ${this.encoderDims}, n_in]`);
    }
    const [k, v] = tf.split(this.cEncKv!.apply(w, encoderKv), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
    return { k: this.splitHeads(k), v: this.splitHeads(v) };
  }

  /**
   * The outputs `[N, H, T, d_head]` of positions start..start+T−1 from their q, k, v and the
   * cached keys of earlier positions, and the keys to cache for the positions after them.
   */
  private attend(q: T4, k: T4, v: T4, start: number, past: KeyValues | null): { a: T4; keep: KeyValues | null } {
    const t = q.shape[2];
    const end = start + t;
    const bc = this.blockCtx;
    switch (this.attnFunc) {
      case 0: {
        const all = append(past, k, v);
        const mask = t === 1 ? null : trilMask(t, end, start);
        return { a: this.softmaxAttend(q, all.k, all.v, mask), keep: all };
      }
      case 1: {
        // The cache holds the current row's earlier positions; keep the last row's for later.
        const row = append(past, k, v);
        const a = t === 1 ? this.softmaxAttend(q, row.k, row.v, null) : this.rowAttend(q, row, start % bc);
        return { a, keep: end % bc === 0 ? null : sliceKv(row, row.k.shape[2] - (end % bc)) };
      }
      case 2: {
        const all = append(past, k, v);
        return { a: this.columnAttend(q, all, start), keep: all };
      }
      case 3:
        return this.previousRowAttend(q, k, v, start, past);
      case 4:
      case 5:
        return this.summaryAttend(q, k, v, start, past);
      case 6:
        return { a: this.softmaxAttend(q, k, v, null), keep: { k, v } };
      default: {
        // Prime: the first _prime_len positions are the keys of every later position.
        let keys = past ?? { k, v };
        if (past !== null && past.k.shape[2] < this.primeKeys) keys = append(past, k, v);
        if (keys.k.shape[2] > this.primeKeys) keys = sliceKv(keys, 0, this.primeKeys);
        const mask = t === 1 ? null : trilMask(t, keys.k.shape[2], start);
        // Recorded: music queries (positions from prime_len on) against lyric keys only, as the
        // reference slices `self.w`; a sampling call records those of its positions that are music.
        const lyrics = this.primeLen;
        const firstMusic = Math.min(Math.max(lyrics - start, 0), t);
        const a = this.softmaxAttend(q, keys.k, keys.v, mask, (p) => {
          const [n, h, , kv] = p.shape as number[];
          return p.slice([0, 0, firstMusic, 0], [n, h, t - firstMusic, Math.min(lyrics, kv)]);
        });
        return { a, keep: keys };
      }
    }
  }

  /**
   * softmax(q·kᵀ·scale² masked) · v over the last two axes (any leading batch axes), recording
   * the probabilities when asked; `record` rearranges them into the reference's layout.
   */
  private softmaxAttend<R extends tf.Rank>(
    q: tf.Tensor<R>,
    k: tf.Tensor<R>,
    v: tf.Tensor<R>,
    mask: Mask | null,
    record: (p: tf.Tensor) => tf.Tensor = (p) => p,
  ): tf.Tensor<R> {
    // q·kᵀ stays tfjs's: its probabilities are what alignment records, and through the heap
    // kernel the 1b-like fixture's lyric head came to 4.23e-4 from float64 against the parity
    // bound of 4.22e-4 (twice the reference's own float32 error), where tfjs's order is within it.
    let logits = tf.mul(tf.matMul(q, k, false, true), this.scale2);
    if (mask !== null) logits = tf.add(tf.mul(logits, mask.keep), mask.fill);
    const probs = tf.softmax(logits);
    if (this.recordAttn) {
      this.w?.dispose();
      this.w = tf.keep(record(probs));
    }
    return batchedMatMul(probs as tf.Tensor<R>, v);
  }

  /** The reference's layout of row-wise probabilities `[N, H, rows, bc, bc]`: `[N·rows, H, bc, bc]`. */
  private static rowsRecord(p: tf.Tensor): tf.Tensor {
    const [n, h, rows, bq, bk] = p.shape as number[];
    return p.transpose([0, 2, 1, 3, 4]).reshape([n * rows, h, bq, bk]);
  }

  /** `[N, H, T, d]` zero padded by `front` positions and then to whole rows: `[N, H, rows, bc, d]`. */
  private toRows(x: T4, front: number, rows: number): tf.Tensor5D {
    const [n, h, t, d] = x.shape;
    const bc = this.blockCtx;
    return x.pad([[0, 0], [0, 0], [front, rows * bc - front - t], [0, 0]]).reshape([n, h, rows, bc, d]);
  }

  /** `[N, H, rows, bc, d]` back to the T positions from `offset` on: `[N, H, T, d]`. */
  private fromRows(a: tf.Tensor5D, offset: number, t: number): T4 {
    const [n, h, rows, bc, d] = a.shape;
    return a.reshape([n, h, rows * bc, d]).slice([0, 0, offset, 0], [n, h, t, d]) as T4;
  }

  /**
   * Block attention over whole rows (its chunked and full paths): `row` holds the keys from the
   * start of the first query's row, `offset` positions before the first query. Queries and keys
   * are zero padded to whole rows; a padded key comes after every real query, so it is masked.
   */
  private rowAttend(q: T4, row: KeyValues, offset: number): T4 {
    const rows = Math.ceil((offset + q.shape[2]) / this.blockCtx);
    const bc = this.blockCtx;
    const a = this.softmaxAttend(
      this.toRows(q, offset, rows),
      this.toRows(row.k, 0, rows),
      this.toRows(row.v, 0, rows),
      trilMask(bc, bc, 0),
      FactoredAttention.rowsRecord,
    );
    return this.fromRows(a, offset, q.shape[2]);
  }

  /**
   * Transpose block attention: the positions ≡ i mod block_ctx. A single query takes that column
   * with one strided slice; a chunk lays queries and keys out in rows and attends column by
   * column, the queries' rows being the last rows of the keys'.
   */
  private columnAttend(q: T4, all: KeyValues, start: number): T4 {
    const bc = this.blockCtx;
    const [n, h, t, d] = q.shape;
    const end = start + t;
    if (t === 1) {
      const column = (x: T4) => tf.stridedSlice(x, [0, 0, start % bc, 0], [n, h, end, d], [1, 1, bc, 1]) as T4;
      return this.softmaxAttend(q, column(all.k), column(all.v), null);
    }
    const offset = start % bc;
    const qRows = Math.ceil((offset + t) / bc);
    const kRows = Math.ceil(end / bc);
    const toColumns = (x: T4, front: number, rows: number) => this.toRows(x, front, rows).transpose([0, 1, 3, 2, 4]);
    const a = this.softmaxAttend(
      toColumns(q, offset, qRows),
      toColumns(all.k, 0, kRows),
      toColumns(all.v, 0, kRows),
      trilMask(qRows, kRows, kRows - qRows),
      (p) => p.transpose([0, 2, 1, 3, 4]).reshape([n * bc, h, qRows, kRows]),
    );
    return this.fromRows(a.transpose([0, 1, 3, 2, 4]), offset, t);
  }

  /**
   * Previous block attention: row r attends to all of row r − 1, row 0 to block_ctx zero keys.
   * The cache holds the previous row and the current one.
   */
  private previousRowAttend(q: T4, k: T4, v: T4, start: number, past: KeyValues | null): { a: T4; keep: KeyValues } {
    const bc = this.blockCtx;
    const [n, h, t, d] = q.shape;
    const row = Math.floor(start / bc);
    const keys = append(past, k, v); // positions max(0, (row − 1)·bc) .. end − 1
    const keysFrom = Math.max(0, (row - 1) * bc);
    const keep = sliceKv(keys, Math.max(0, (Math.floor((start + t) / bc) - 1) * bc) - keysFrom);
    if (t === 1) {
      // Zero keys get equal weights and zero values: row 0's output is exactly zero.
      if (row === 0) return { a: tf.zeros([n, h, 1, d]), keep };
      const previous = sliceKv(keys, 0, bc);
      return { a: this.softmaxAttend(q, previous.k, previous.v, null), keep };
    }
    const offset = start % bc;
    const rows = Math.ceil((offset + t) / bc);
    const shifted = (x: T4) => {
      const from = row === 0 ? tf.concat([tf.zeros([n, h, bc, d]), x], 2) : x;
      return from.slice([0, 0, 0, 0], [n, h, rows * bc, d]).reshape([n, h, rows, bc, d]) as tf.Tensor5D;
    };
    const a = this.softmaxAttend(this.toRows(q, offset, rows), shifted(keys.k), shifted(keys.v), null, FactoredAttention.rowsRecord);
    return { a: this.fromRows(a, offset, t), keep };
  }

  /**
   * Summary (spread 1) and summary spread attention: `per` zero keys, then the last `per`
   * positions of every row but the last, each visible from its own position on. The cache holds
   * exactly these keys, the zero ones first.
   */
  private summaryAttend(q: T4, k: T4, v: T4, start: number, past: KeyValues | null): { a: T4; keep: KeyValues } {
    const bc = this.blockCtx;
    const [n, h, t, d] = q.shape;
    const per = this.attnFunc === 4 ? 1 : this.spread;
    const fresh: number[] = [];
    for (let p = start; p < start + t; p++) {
      if (p % bc >= bc - per && Math.floor(p / bc) <= this.blocks - 2) fresh.push(p - start);
    }
    let keys = past ?? { k: tf.zeros([n, h, per, d]) as T4, v: tf.zeros([n, h, per, d]) as T4 };
    if (fresh.length === t) {
      keys = append(keys, k, v);
    } else if (fresh.length > 0) {
      const index = tf.tensor1d(fresh, 'int32');
      keys = append(keys, tf.gather(k, index, 2), tf.gather(v, index, 2));
    }
    // Key slot j ≥ per is the (j − per)-th summary key: row ⌊(j − per) / per⌋, per-th from its end.
    const position = (j: number) => Math.floor((j - per) / per) * bc + bc - per + ((j - per) % per);
    const mask = t === 1 ? null : makeMask(t, keys.k.shape[2], (r, j) => j < per || position(j) <= start + r);
    return { a: this.softmaxAttend(q, keys.k, keys.v, mask), keep: keys };
  }
}

/** A mask as the reference applies it: logits · keep + fill, with fill = −1e9 where keep is 0. */
interface Mask {
  keep: tf.Tensor2D;
  fill: tf.Tensor2D;
}

/** mask[r][j] = visible(r, j) for r < rows, j < cols. */
function makeMask(rows: number, cols: number, visible: (r: number, j: number) => boolean): Mask {
  const keep = new Float32Array(rows * cols);
  const fill = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const on = visible(r, j);
      keep[r * cols + j] = on ? 1 : 0;
      fill[r * cols + j] = on ? 0 : -1e9;
    }
  }
  return { keep: tf.tensor2d(keep, [rows, cols]), fill: tf.tensor2d(fill, [rows, cols]) };
}

/** The reference's `ones(rows, cols).tril(offset)`: key j visible to query r when j ≤ r + offset. */
function trilMask(rows: number, cols: number, offset: number): Mask {
  return makeMask(rows, cols, (r, j) => j <= r + offset);
}

function append(past: KeyValues | null, k: T4, v: T4): KeyValues {
  if (past === null) return { k, v };
  return { k: tf.concat([past.k, k], 2), v: tf.concat([past.v, v], 2) };
}

/** Positions from..to (default: to the end) of the position axis. */
function sliceKv(kv: KeyValues, from: number, to = kv.k.shape[2]): KeyValues {
  if (from === 0 && to === kv.k.shape[2]) return kv;
  const [n, h, , d] = kv.k.shape;
  return { k: kv.k.slice([0, 0, from, 0], [n, h, to - from, d]), v: kv.v.slice([0, 0, from, 0], [n, h, to - from, d]) };
}
