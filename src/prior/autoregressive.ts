import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { ParameterRegistry, WeightMap } from '../vqvae/weights';
import { EMBEDDING_INIT_STD } from './conditioners';
import { FastSampler, fastSamplingWanted, LayerCapture } from './fast/sampler';
import { drawToken, SamplingSettings } from './draw';
import { isLyricLayer, Transformer } from './transformer';

/**
 * The reference's `ConditionalAutoregressive2D` (`jukebox/prior/autoregressive.py`): token and
 * position embeddings, a start token or the label embedding at position 0, conditioning added at
 * every position, the transformer, and the output head; plus the token loops that sample from it
 * with the transformer's KV cache (`sample`, `primed_sample`).
 *
 * Shapes: tokens int32 `[N, D]`, activations `[N, D, width]`, logits `[N, D, bins]`, where D is
 * the sequence length (`input_dims`).
 */

/** Options of one autoregressive model (reference constructor arguments). */
export interface AutoregressiveOptions {
  /** Sequence length D (reference `input_shape`, 1-D here as in every Jukebox prior). */
  inputLength: number;
  /** Vocabulary size. */
  bins: number;
  width: number;
  depth: number;
  heads: number;
  attnOrder: number;
  blocks: number | null;
  spread: number | null;
  resScale: boolean;
  /** Per-axis position embeddings (`_pos_embs.{i}`) instead of one `pos_emb` matrix. */
  posInit: boolean;
  mAttn: number;
  mMlp: number;
  /** Conditioning is added at every position (`x_cond`). */
  xCond: boolean;
  /** Position 0 holds the label embedding instead of a learnt start token (`y_cond`). */
  yCond: boolean;
  /** Length of the encoder's keys and values for encoder-decoder layers (0: none). */
  encoderDims: number;
  /** The lyrics encoder of 5b_lyrics: no output head, returns the activations. */
  onlyEncode: boolean;
  /** Separate output head and no conditioning added after the transformer. */
  mergedDecoder: boolean;
  /** Lyric prefix length of a single encoder-decoder sequence (prime attention). */
  primeLen: number | null;
}

/**
 * Lyric attention to capture while sampling: the attention probabilities of some lyric layers
 * (encoder-decoder or prime attention), as a teacher-forced pass over the sampled sequence records
 * them (`forward`'s `recordAttention`).
 */
export interface SampleAttentionCapture {
  /** Transformer layers, each an encoder-decoder (attn_func 6) or prime (7) layer. */
  layers: readonly number[];
  /** Heads kept of each layer (default all), in the order given. */
  heads?: readonly number[];
}

/** Per-call sampling inputs (conditioning as `forward` takes it). */
export interface AutoregressiveSampleOptions extends SamplingSettings {
  /** `[N, D, width]` or `[N, 1, width]`; null when the model has no `x_cond`. */
  xCond: tf.Tensor3D | null;
  /** `[N, 1, width]`; null when the model has no `y_cond`. */
  yCond: tf.Tensor3D | null;
  /** `[N, encoderDims, width]` for encoder-decoder layers, else null. */
  encoderKv: tf.Tensor3D | null;
  /** Total tokens of the result, primed ones included (default D). */
  sampleTokens?: number;
  /** Priming runs the known tokens through the transformer this many at a time (default all at once). */
  chunkSize?: number;
  /** Also return the logits of every position (for checking the cache against a full pass). */
  getPreds?: boolean;
  /** Called after each sampled token with (tokens done, tokens to do). */
  onToken?: (done: number, total: number) => void;
  /**
   * Capture these lyric layers' attention probabilities at every position, primed ones (from the
   * chunked cache fills) included; see `sample`'s `attention`. Off, it costs nothing.
   */
  attention?: SampleAttentionCapture;
  /**
   * The fast sampling path (fast/sampler.ts) where it covers the model: true or false forces the
   * choice; by default it is taken on the CPU backends unless `JUKEBOX_FAST_SAMPLING=0`.
   */
  fastSampling?: boolean;
}

/**
 * Mean cross entropy in bits of `logits` `[M, V]` against `targets` int32 `[M]`, as a scalar
 * tensor so that training can differentiate it. The gradient is stated, (softmax − one-hot) / (M ln 2):
 * tfjs would differentiate the log-sum-exp's max and the pick of each target logit through a
 * broadcast comparison and a scatter over all M × V logits, which costs more than the rest of
 * the backward pass of a small prior on wasm.
 */
export function crossEntropyBits(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return crossEntropy(logits, targets.toInt()) as tf.Scalar;
}

const crossEntropy = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [logits, targets, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const [m, v] = logits.shape;
  const value = tf.tidy(() => {
    const flatIndex = tf.add(tf.mul(tf.range(0, m, 1, 'int32'), tf.scalar(v, 'int32')), targets);
    const picked = tf.gather(logits.reshape([-1]), flatIndex);
    return tf.div(tf.sub(tf.logSumExp(logits, 1), picked).mean(), Math.LN2);
  });
  save([logits, targets]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [x, t] = saved as [tf.Tensor2D, tf.Tensor1D];
      // An int32 one-hot cast to float: wasm's OneHot writes integer bits into a float32 output.
      const dLogits = tf.mul(tf.sub(tf.softmax(x), tf.cast(tf.oneHot(t, v), 'float32')), tf.div(dy, m * Math.LN2));
      return [dLogits, tf.zerosLike(t)];
    },
  };
});

/** One autoregressive model; parameters under `prefix` (`prior`, `prime_prior`). */
export class ConditionalAutoregressive2D {
  readonly transformer: Transformer;
  /** Reference `state_dict` names that alias another parameter of this model (the tied head). */
  readonly aliases = new Map<string, string>();
  /** Reference buffers saved in the `state_dict` that are not parameters: name → contents. */
  readonly buffers = new Map<string, { shape: number[]; data: BigInt64Array }>();
  private readonly xEmb: string;
  private readonly startToken?: string;
  private readonly posEmb: string;
  private readonly xOut?: string;
  /** The fast path's packed copy of the weights, made at the first fast sample. */
  private fast: FastSampler | null = null;
  /** The reference adds `x_cond` after the transformer too, except with `merged_decoder`. */
  readonly addCondAfterTransformer: boolean;
  private headCache: { source: tf.Tensor; transposed: tf.Tensor2D } | null = null;

  constructor(registry: ParameterRegistry, readonly prefix: string, readonly opts: AutoregressiveOptions) {
    const { width, bins, inputLength } = opts;
    // An untied input embedding (merged_decoder) starts at unit scale: at 0.1 the residual stream
    // of a deep random model forgets the token, and greedy sampling repeats one token.
    this.xEmb = registry.declare(`${prefix}.x_emb.weight`, [bins, width], opts.mergedDecoder ? 1 : EMBEDDING_INIT_STD);
    if (!opts.yCond) this.startToken = registry.declare(`${prefix}.start_token`, [1, width], EMBEDDING_INIT_STD);
    if (opts.posInit) {
      // input_shape is 1-D, so the per-axis sum is one embedding indexed by position.
      this.posEmb = registry.declare(`${prefix}.pos_emb._pos_embs.0.weight`, [inputLength, width], EMBEDDING_INIT_STD);
      const pos = new BigInt64Array(inputLength);
      for (let i = 0; i < inputLength; i++) pos[i] = BigInt(i);
      this.buffers.set(`${prefix}.pos_emb.pos`, { shape: [inputLength, 1], data: pos });
    } else {
      this.posEmb = registry.declare(`${prefix}.pos_emb.pos_emb`, [inputLength, width], EMBEDDING_INIT_STD);
    }
    this.transformer = new Transformer(registry, `${prefix}.transformer`, {
      width,
      nCtx: inputLength,
      heads: opts.heads,
      depth: opts.depth,
      attnOrder: opts.attnOrder,
      blocks: opts.blocks ?? undefined,
      spread: opts.spread ?? undefined,
      encoderDims: opts.encoderDims,
      primeLen: opts.primeLen ?? undefined,
      mAttn: opts.mAttn,
      mMlp: opts.mMlp,
      resScale: opts.resScale,
      afn: 'quick_gelu',
    });
    this.addCondAfterTransformer = !opts.mergedDecoder;
    if (!opts.onlyEncode) {
      if (opts.mergedDecoder) {
        this.xOut = registry.declare(`${prefix}.x_out.weight`, [bins, width], 1 / Math.sqrt(width));
      } else {
        // Tied: the state dict holds the same tensor under both names.
        this.xOut = this.xEmb;
        this.aliases.set(`${prefix}.x_out.weight`, this.xEmb);
      }
    }
  }

  private checkTokens(x: Int32Array | Uint8Array | Float32Array): void {
    for (let i = 0; i < x.length; i++) {
      if (!(x[i] >= 0 && x[i] < this.opts.bins)) {
        throw new JukeboxError(`token ${x[i]} is outside ${this.prefix}'s vocabulary (0..${this.opts.bins - 1})`);
      }
    }
  }

  private checkConds(n: number, d: number, xCond: tf.Tensor3D | null, yCond: tf.Tensor3D | null): void {
    const { width, xCond: wantX, yCond: wantY } = this.opts;
    if (wantY !== (yCond !== null)) throw new Error(`${this.prefix}: y_cond ${wantY ? 'missing' : 'given but not used'}`);
    if (yCond !== null && (yCond.shape[0] !== n || yCond.shape[1] !== 1 || yCond.shape[2] !== width)) {
      throw new Error(`${this.prefix}: y_cond has shape [${yCond.shape}], expected [${n}, 1, ${width}]`);
    }
    if (wantX !== (xCond !== null)) throw new Error(`${this.prefix}: x_cond ${wantX ? 'missing' : 'given but not used'}`);
    if (xCond !== null && (xCond.shape[0] !== n || (xCond.shape[1] !== d && xCond.shape[1] !== 1) || xCond.shape[2] !== width)) {
      throw new Error(`${this.prefix}: x_cond has shape [${xCond.shape}], expected [${n}, ${d} or 1, ${width}]`);
    }
  }

  /** Parameter names of the embeddings and the output head, for the fast path's packing. */
  get weightNames(): { xEmb: string; startToken?: string; posEmb: string; xOut?: string } {
    return { xEmb: this.xEmb, startToken: this.startToken, posEmb: this.posEmb, xOut: this.xOut };
  }

  /** The fast sampler for `w` when it is wanted and covers this model, else null (the tfjs loop). */
  private fastSampler(w: WeightMap, option?: boolean): FastSampler | null {
    if (!fastSamplingWanted(option) || FastSampler.unsupported(this) !== null) return null;
    if (this.fast === null || !this.fast.packedFrom(w)) {
      this.fast?.close();
      this.fast = new FastSampler(this, w);
    }
    return this.fast;
  }

  /** The embedding of position 0: the label embedding or the start token, `[N, 1, width]`. */
  private startEmbedding(w: WeightMap, n: number, yCond: tf.Tensor3D | null): tf.Tensor3D {
    return yCond !== null ? yCond : (tf.tile(w.get(this.startToken!).expandDims(0), [n, 1, 1]) as tf.Tensor3D);
  }

  /**
   * `x_cond` over positions [t0, t0 + len): those rows of a per-position condition, else the
   * broadcast row. Rows are gathered, not sliced: on wasm a slice costs time in proportion to the
   * whole source tensor (48 ms per token step from a [3, 8192, 1024] condition, against 0.1 ms).
   */
  private condSlice(xCond: tf.Tensor3D, t0: number, len: number): tf.Tensor3D {
    if (xCond.shape[1] === 1) return xCond;
    if (t0 === 0 && len === xCond.shape[1]) return xCond;
    return tf.tidy(() => tf.gather(xCond, tf.range(t0, t0 + len, 1, 'int32'), 1) as tf.Tensor3D);
  }

  /**
   * Input embeddings of positions [t0, t0 + len) given the tokens before them (`prev[t]` is the
   * token at position t - 1 for t > 0): token embedding (start at position 0) + position
   * embedding + condition, summed in the reference's order.
   */
  private embed(w: WeightMap, n: number, t0: number, len: number, prev: tf.Tensor2D | null, xCond: tf.Tensor3D | null,
    yCond: tf.Tensor3D | null): tf.Tensor3D {
    return tf.tidy(() => {
      const parts: tf.Tensor3D[] = [];
      if (t0 === 0) parts.push(this.startEmbedding(w, n, yCond));
      if (prev !== null && prev.shape[1] > 0) parts.push(tf.gather(w.get(this.xEmb), prev) as tf.Tensor3D);
      let x: tf.Tensor3D = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
      const pos = w.get(this.posEmb);
      x = tf.add(x, t0 === 0 && len === pos.shape[0] ? pos : tf.gather(pos, tf.range(t0, t0 + len, 1, 'int32')));
      if (xCond !== null) x = tf.add(x, this.condSlice(xCond, t0, len));
      return x;
    });
  }

  /**
   * The output head's weight as `[width, bins]`. The reference layout `[bins, width]` would need
   * a transposed matmul, which on wasm re-transposes the whole matrix on every token step (4-5x
   * the cost of the product itself); the transpose is kept until the weight is replaced.
   */
  private headWeight(w: WeightMap): tf.Tensor2D {
    const source = w.get(this.xOut!);
    if (this.headCache?.source !== source) {
      this.headCache?.transposed.dispose();
      this.headCache = { source, transposed: tf.keep(source.transpose() as tf.Tensor2D) };
    }
    return this.headCache.transposed;
  }

  /** Builds what the model keeps beside its weights (the transposed head), so calls allocate nothing lasting. */
  prepare(w: WeightMap): void {
    if (!this.opts.onlyEncode) this.headWeight(w);
  }

  /**
   * Output head: `[N, T, width]` → `[N, T, bins]`. `differentiable` transposes the weight itself:
   * the kept transpose was made outside any gradient tape, so no gradient would reach the weight
   * (and a product with a transposed operand is many times slower on wasm).
   */
  private head(w: WeightMap, h: tf.Tensor3D, differentiable = false): tf.Tensor3D {
    const weight = differentiable ? null : this.headWeight(w);
    return tf.tidy(() => {
      const [n, t, width] = h.shape;
      const flat = h.reshape([n * t, width]);
      const logits = tf.matMul(flat, weight ?? tf.transpose(w.get(this.xOut!)));
      return logits.reshape([n, t, this.opts.bins]) as tf.Tensor3D;
    });
  }

  /** Frees the transformer's caches and the transposed head (weights belong to the WeightMap). */
  dispose(): void {
    this.transformer.dispose();
    this.headCache?.transposed.dispose();
    this.headCache = null;
    this.fast?.close();
    this.fast = null;
  }

  /**
   * Teacher-forced pass (reference `forward`): tokens int32 `[N, D]` → logits `[N, D, bins]`, or
   * the activations `[N, D, width]` for an encoder. The transformer records attention as asked;
   * read it with `transformer.takeAttention()`. `differentiable`: called on a gradient tape.
   */
  forward(w: WeightMap, x: tf.Tensor2D, opts: { xCond: tf.Tensor3D | null; yCond: tf.Tensor3D | null;
    encoderKv: tf.Tensor3D | null; recordAttention?: Set<number> | boolean; differentiable?: boolean }): tf.Tensor3D {
    const [n, d] = x.shape;
    if (d !== this.opts.inputLength) throw new JukeboxError(`${this.prefix} models ${this.opts.inputLength} tokens, got ${d}`);
    this.checkTokens(x.dataSync() as Int32Array);
    this.checkConds(n, d, opts.xCond, opts.yCond);
    const prev = x.slice([0, 0], [-1, d - 1]);
    const emb = this.embed(w, n, 0, d, prev, opts.xCond, opts.yCond);
    prev.dispose();
    let h = this.transformer.forward(w, emb, { encoderKv: opts.encoderKv ?? undefined, recordAttention: opts.recordAttention });
    emb.dispose();
    if (this.addCondAfterTransformer && opts.xCond !== null) {
      const sum = tf.add(h, opts.xCond) as tf.Tensor3D;
      h.dispose();
      h = sum;
    }
    if (this.opts.onlyEncode) return h;
    const logits = this.head(w, h, opts.differentiable);
    h.dispose();
    return logits;
  }

  /**
   * Ancestral sampling (reference `sample`) when `x` is null or empty, primed sampling
   * (`primed_sample`) otherwise: the known tokens fill the KV cache in chunks of `chunkSize`, then
   * one token at a time is drawn until `sampleTokens`. Returns int32 `[N, sampleTokens]`, the
   * primed tokens included, and with `getPreds` the logits of every position `[N, sampleTokens, bins]`
   * (the primed positions' from the chunked passes). With `opts.attention`, `attention` maps each
   * captured layer to its probabilities `[N, heads, positions, keys]` (heads as asked): for an
   * encoder-decoder layer every position against the encoder_dims keys; for a prime layer the
   * positions from prime_len on (the music) against the first prime_len keys (the lyrics), as the
   * teacher-forced record slices it. A row is a probability distribution only for the
   * encoder-decoder layer: a prime layer's music queries also attend to the music positions below
   * `_prime_len`, and those columns are dropped, as in the reference.
   */
  sample(w: WeightMap, n: number, x: tf.Tensor2D | null, opts: AutoregressiveSampleOptions):
    { tokens: tf.Tensor2D; preds?: tf.Tensor3D; attention?: Map<number, Float32Array> } {
    const d = this.opts.inputLength;
    const total = opts.sampleTokens ?? d;
    const primed = x === null ? 0 : x.shape[1];
    if (!Number.isInteger(total) || total < 1 || total > d) {
      throw new JukeboxError(`sample tokens must be in 1..${d} for ${this.prefix}, got ${total}`);
    }
    if (x !== null && x.shape[0] !== n) throw new JukeboxError(`the prompt has ${x.shape[0]} rows for ${n} samples`);
    if (primed >= total) throw new JukeboxError(`the prompt (${primed} tokens) must be shorter than the tokens to sample (${total})`);
    this.checkConds(n, d, opts.xCond, opts.yCond);
    if (opts.temperature <= 0 || !Number.isFinite(opts.temperature)) throw new JukeboxError(`temperature must be positive, got ${opts.temperature}`);
    const tokens = new Int32Array(n * total);
    if (x !== null && primed > 0) {
      const known = x.dataSync() as Int32Array;
      this.checkTokens(known);
      for (let i = 0; i < n; i++) tokens.set(known.subarray(i * primed, (i + 1) * primed), i * total);
    }
    const chunk = opts.chunkSize ?? Math.max(primed, 1);
    if (!Number.isInteger(chunk) || chunk < 1) throw new JukeboxError(`chunk size must be a positive integer, got ${chunk}`);
    const captures = opts.attention === undefined ? null : this.attentionCaptures(opts.attention, n, total);
    const capturedAttention = () => (captures === null ? {} : { attention: new Map(captures.map((c) => [c.layer, c.probs])) });
    const fast = this.fastSampler(w, opts.fastSampling);
    if (fast !== null) {
      const predsData = fast.sample({
        ...opts,
        n,
        tokens,
        primed,
        total,
        chunk,
        xCond: opts.xCond?.dataSync() as Float32Array ?? null,
        xCondRows: opts.xCond?.shape[1] ?? 0,
        yCond: opts.yCond?.dataSync() as Float32Array ?? null,
        encoderKv: opts.encoderKv?.dataSync() as Float32Array ?? null,
        getPreds: opts.getPreds ?? false,
        attention: captures ?? undefined,
      });
      const result: ReturnType<ConditionalAutoregressive2D['sample']> = { tokens: tf.tensor2d(tokens, [n, total], 'int32'), ...capturedAttention() };
      if (predsData !== null) result.preds = tf.tensor3d(predsData, [n, total, this.opts.bins]);
      return result;
    }
    const preds: tf.Tensor3D[] = [];
    const kv = opts.encoderKv ?? undefined;
    const record = captures === null ? undefined : new Set(captures.map((c) => c.layer));
    this.transformer.resetCache();
    try {
      // Priming: positions [0, primed) in chunks; the cache ends holding all of them.
      for (let start = 0; start < primed; start += chunk) {
        const len = Math.min(chunk, primed - start);
        const out = tf.tidy(() => {
          const prev = this.tokenColumns(tokens, n, total, Math.max(start - 1, 0), start === 0 ? len - 1 : len);
          const emb = this.embed(w, n, start, len, prev, opts.xCond, opts.yCond);
          const h = this.transformer.forward(w, emb, { encoderKv: kv, sample: true, recordAttention: record });
          if (!opts.getPreds) return h;
          const hc = this.addCondAfterTransformer && opts.xCond !== null ? tf.add(h, this.condSlice(opts.xCond, start, len)) as tf.Tensor3D : h;
          return this.head(w, hc);
        });
        if (opts.getPreds) preds.push(out);
        else out.dispose();
        if (captures !== null) this.keepRecorded(captures, n, start);
      }
      const row = new Float32Array(this.opts.bins);
      for (let t = primed; t < total; t++) {
        const logits = tf.tidy(() => {
          const prev = t === 0 ? null : this.tokenColumns(tokens, n, total, t - 1, 1);
          const emb = this.embed(w, n, t, 1, prev, opts.xCond, opts.yCond);
          let h = this.transformer.forward(w, emb, { encoderKv: kv, sample: true, recordAttention: record });
          if (this.addCondAfterTransformer && opts.xCond !== null) h = tf.add(h, this.condSlice(opts.xCond, t, 1));
          return this.head(w, h); // [N, 1, bins]
        });
        const values = logits.dataSync() as Float32Array;
        for (let i = 0; i < n; i++) {
          row.set(values.subarray(i * this.opts.bins, (i + 1) * this.opts.bins));
          tokens[i * total + t] = drawToken(row, opts);
        }
        if (opts.getPreds) preds.push(logits);
        else logits.dispose();
        if (captures !== null) this.keepRecorded(captures, n, t);
        opts.onToken?.(t - primed + 1, total - primed);
      }
    } finally {
      this.transformer.resetCache();
      // What a failed step recorded and did not hand over.
      if (captures !== null) tf.dispose([...this.transformer.takeAttention().values()]);
    }
    const result: ReturnType<ConditionalAutoregressive2D['sample']> = { tokens: tf.tensor2d(tokens, [n, total], 'int32'), ...capturedAttention() };
    if (opts.getPreds) {
      result.preds = tf.concat(preds, 1);
      preds.forEach((p) => p.dispose());
    }
    return result;
  }

  /**
   * The buffers of an attention capture for n samples of `total` positions: per layer, the
   * positions it records (from prime_len for a prime layer, all for an encoder-decoder layer)
   * against its lyric keys (prime_len or encoder_dims).
   */
  private attentionCaptures(capture: SampleAttentionCapture, n: number, total: number): LayerCapture[] {
    const nHead = this.opts.heads;
    const heads = [...new Set(capture.heads ?? Array.from({ length: nHead }, (_, h) => h))];
    for (const h of heads) {
      if (!(Number.isInteger(h) && h >= 0 && h < nHead)) throw new JukeboxError(`attention capture: head ${h} is out of range (${this.prefix} has ${nHead} heads per layer)`);
    }
    return [...new Set(capture.layers)].map((layer) => {
      const block = this.transformer.attnMods[layer];
      if (!isLyricLayer(block)) throw new JukeboxError(`attention capture: layer ${layer} of ${this.prefix} is not a lyric layer (encoder-decoder or prime attention)`);
      const a = block.attn;
      const prime = a.attnFunc === 7;
      const firstQuery = prime ? a.primeLen : 0;
      const keys = prime ? a.primeLen : a.encoderDims;
      const rows = Math.max(total - firstQuery, 0);
      return { layer, heads, firstQuery, keys, rows, probs: new Float32Array(n * heads.length * rows * keys) };
    });
  }

  /**
   * Copies what the lyric layers recorded in the tfjs pass over positions from `start`
   * (`[N, H, positions from max(start, firstQuery), keys]` each) into their captures, and frees it.
   */
  private keepRecorded(captures: LayerCapture[], n: number, start: number): void {
    const recorded = this.transformer.takeAttention();
    try {
      for (const c of captures) {
        const p = recorded.get(c.layer)!;
        const [, nHead, rows, kv] = p.shape;
        const data = p.dataSync() as Float32Array;
        const first = Math.max(start, c.firstQuery) - c.firstQuery;
        for (let smp = 0; smp < n; smp++) {
          c.heads.forEach((h, slot) => {
            for (let r = 0; r < rows; r++) {
              const from = ((smp * nHead + h) * rows + r) * kv;
              c.probs.set(data.subarray(from, from + c.keys), ((smp * c.heads.length + slot) * c.rows + first + r) * c.keys);
            }
          });
        }
      }
    } finally {
      tf.dispose([...recorded.values()]);
    }
  }

  /** Columns [t0, t0 + len) of row-major int32 tokens `[n, total]` as a tensor, or null when len is 0. */
  private tokenColumns(tokens: Int32Array, n: number, total: number, t0: number, len: number): tf.Tensor2D | null {
    if (len <= 0) return null;
    const out = new Int32Array(n * len);
    for (let i = 0; i < n; i++) out.set(tokens.subarray(i * total + t0, i * total + t0 + len), i * len);
    return tf.tensor2d(out, [n, len], 'int32');
  }
}
