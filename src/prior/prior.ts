import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { BatchLabels, LabelIdTables, Labeller } from '../labels/index';
import { Rng } from '../rng';
import { ParameterRegistry, ParameterSpec, WeightMap } from '../vqvae/weights';
import { ConditionalAutoregressive2D, crossEntropyBits, SampleAttentionCapture } from './autoregressive';
import { hasLyrics, isTopLevel, levelDownsamples, PriorConfig, rawToTokens, validatePriorConfig } from './config';
import { Conditioner, LabelConditioner } from './conditioners';
import { Conv1D, LayerNorm } from './ops';

/**
 * The prior of one VQ-VAE level (reference `SimplePrior`, `jukebox/prior/prior.py`). Public API:
 *
 *   new Prior(config, weights, { labelTables?, warn? })
 *   Prior.parameterSpec(config): ParameterSpec
 *   prior.getY(labels: BatchLabels, start): { y: Tensor2D int32 [N, 4 + bow + n_tokens]; indices } | null
 *   prior.getZConds(zs: Tensor2D[] by level, start, end): [Tensor2D] | null
 *   prior.forward(z [N, n_ctx] int32, { zConds?, y?, getPreds?, recordAttention? }):
 *     { loss, genLoss, primeLoss (bits per token); preds? [N, T, V]; attention? Map<layer, [N, heads, q, k]> }
 *   prior.sample({ nSamples, z?, zConds?, y?, temperature?, topK?, topP?, chunkSize?, sampleTokens?, rng, onToken?, fastSampling? }):
 *     Promise<Tensor2D int32 [N, sampleTokens ?? n_ctx]>
 *   prior.sampleWithPreds(same options): Promise<{ tokens; sequence [N, L] (model vocabulary); preds [N, L, V] }>
 *   prior.sampleWithAttention(same options, { layers, heads? }): Promise<{ tokens; attention: layer → [N, heads, sampleTokens, n_tokens] }>
 *   Prior.stateDictExtras(config): { aliases (tied head), buffers (pos_init index) } of the reference state_dict
 *   prior.numParameters, prior.spec, prior.weights, prior.prior (the ConditionalAutoregressive2D)
 *   prior.dispose()
 *
 * Loading and saving: `loadPrior`, `savePrior`, `randomPrior` in ./load.
 *
 * Lyrics come in two designs:
 * - single encoder-decoder (1b_lyrics): the window's lyric tokens and its music tokens form one
 *   sequence over a joint vocabulary, lyrics `[0, n_vocab)` then music shifted by n_vocab
 *   (`prior_bins_shift`); the transformer's prime attention layers read the lyric prefix;
 * - separate encoder (5b_lyrics): `prime_prior` encodes the lyrics, `prime_state_proj` and
 *   `prime_state_ln` turn its activations into the keys and values the decoder's
 *   encoder-decoder layers attend to; `prime_x_out` predicts the lyrics from them (prime loss).
 *
 * Conditioning: the label conditioner gives the embedding at position 0 (artist and genre) and,
 * for the top level, the timing signal at every position; an upsampler instead adds the level
 * above's codes through its Conditioner.
 */

export interface PriorForwardOptions {
  /** `[codes of the level above for this window]`, int32 `[N, n_ctx / cond_downsample]` (upsamplers). */
  zConds?: tf.Tensor2D[] | null;
  /** Label rows of this window (`getY`), int32 `[N, 4 + max_bow_genre_size + n_tokens]`. */
  y?: tf.Tensor2D | null;
  /** Return the logits (caller disposes). */
  getPreds?: boolean;
  /** Capture the attention probabilities of these layers of the main transformer (true: all). */
  recordAttention?: Set<number> | boolean;
}

export interface PriorForwardResult {
  /** The training loss: gen loss and prime_loss_fraction × prime loss, weighted by their lengths. */
  loss: number;
  /** Bits per music token (reference `bpd`, `gen_loss`). */
  genLoss: number;
  /** Bits per lyric token (0 without lyrics). */
  primeLoss: number;
  /**
   * Logits `[N, T, V]`: T = n_ctx and V = l_bins, or for a single encoder-decoder prior the whole
   * sequence (n_tokens + n_ctx) over the joint vocabulary (music token k at column n_vocab + k).
   */
  preds?: tf.Tensor3D;
  /** Layer → attention probabilities `[N, heads, q, k]`, as the reference records them. */
  attention?: Map<number, tf.Tensor>;
}

export interface PriorSampleOptions {
  nSamples: number;
  /** Known tokens to continue, int32 `[N, context]`; null or empty for ancestral sampling. */
  z?: tf.Tensor2D | null;
  zConds?: tf.Tensor2D[] | null;
  y?: tf.Tensor2D | null;
  /** Default 1 (the reference's `sample` default; its scripts use 0.99). */
  temperature?: number;
  /** Default 0 (off); 1 is greedy. */
  topK?: number;
  /** Default 0 (off). */
  topP?: number;
  /** Tokens per KV-cache fill while priming (default: all at once). */
  chunkSize?: number;
  /** Music tokens of the result, context included (default n_ctx). */
  sampleTokens?: number;
  rng: Rng;
  onToken?: (done: number, total: number) => void;
  /**
   * Force (true) or refuse (false) the fast sampling path; by default it is taken on the CPU
   * backends where it covers the model, unless `JUKEBOX_FAST_SAMPLING=0`.
   */
  fastSampling?: boolean;
}

/** The modules of a config, declared in a registry (one parameter tree per model). */
interface PriorModules {
  conditioner: Conditioner | null;
  yEmb: LabelConditioner | null;
  prior: ConditionalAutoregressive2D;
  primePrior: ConditionalAutoregressive2D | null;
  primeStateProj: Conv1D | null;
  primeStateLn: LayerNorm | null;
  primeXOut: string | null;
}

function buildModules(c: PriorConfig, registry: ParameterRegistry): PriorModules {
  const top = isTopLevel(c);
  const conditioner = top ? null : new Conditioner(registry, 'conditioner_blocks.0', {
    bins: c.l_bins,
    width: c.prior_width,
    downT: c.downs_t[c.level + 1],
    strideT: c.strides_t[c.level + 1],
    condWidth: c.cond_width,
    condDepth: c.cond_depth,
    mConv: c.cond_m_conv,
    dilationGrowthRate: c.cond_dilation_growth_rate,
    dilationCycle: c.cond_dilation_cycle,
    resScale: c.cond_res_scale,
    checkpointRes: c.cond_c_res === 1,
  });
  const yEmb = !c.labels ? null : new LabelConditioner(registry, 'y_emb', {
    yBins: c.y_bins!,
    tBins: c.t_bins,
    sr: c.sr,
    minDuration: c.min_duration,
    maxDuration: c.max_duration,
    nTime: c.n_ctx,
    width: c.prior_width,
    maxBowGenreSize: c.max_bow_genre_size!,
    includeTimeSignal: top,
  });
  const transformerOpts = {
    width: c.prior_width,
    depth: c.prior_depth,
    heads: c.heads,
    attnOrder: c.attn_order,
    blocks: c.blocks,
    spread: c.spread,
    resScale: c.res_scale,
    posInit: c.pos_init,
    mAttn: c.m_attn,
    mMlp: c.m_mlp,
  };
  const conditioned = !top || c.labels;
  if (c.single_enc_dec) {
    const prior = new ConditionalAutoregressive2D(registry, 'prior', {
      ...transformerOpts,
      inputLength: c.n_tokens + c.n_ctx,
      bins: c.n_vocab + c.l_bins,
      xCond: conditioned,
      yCond: true,
      encoderDims: 0,
      onlyEncode: false,
      mergedDecoder: false,
      primeLen: c.n_tokens,
    });
    return { conditioner, yEmb, prior, primePrior: null, primeStateProj: null, primeStateLn: null, primeXOut: null };
  }
  const lyrics = hasLyrics(c);
  let primePrior: ConditionalAutoregressive2D | null = null;
  let primeStateProj: Conv1D | null = null;
  let primeStateLn: LayerNorm | null = null;
  let primeXOut: string | null = null;
  if (lyrics) {
    primePrior = new ConditionalAutoregressive2D(registry, 'prime_prior', {
      inputLength: c.n_tokens,
      bins: c.n_vocab,
      width: c.prime_width,
      depth: c.prime_depth,
      heads: c.prime_heads,
      attnOrder: c.prime_attn_order,
      blocks: c.prime_blocks,
      spread: c.prime_spread,
      resScale: c.prime_res_scale,
      posInit: c.prime_pos_init,
      mAttn: c.prime_m_attn,
      mMlp: c.prime_m_mlp,
      xCond: false,
      yCond: false,
      encoderDims: 0,
      onlyEncode: true,
      mergedDecoder: false,
      primeLen: null,
    });
    primeStateProj = new Conv1D(registry, 'prime_state_proj', c.prime_width, c.prior_width);
    primeStateLn = new LayerNorm(registry, 'prime_state_ln', c.prior_width);
    primeXOut = registry.declare('prime_x_out.weight', [c.n_vocab, c.prior_width], 1 / Math.sqrt(c.prior_width));
  }
  const prior = new ConditionalAutoregressive2D(registry, 'prior', {
    ...transformerOpts,
    inputLength: c.n_ctx,
    bins: c.l_bins,
    xCond: conditioned,
    yCond: c.labels,
    encoderDims: lyrics ? c.n_tokens : 0,
    onlyEncode: false,
    mergedDecoder: c.merged_decoder,
    primeLen: null,
  });
  return { conditioner, yEmb, prior, primePrior, primeStateProj, primeStateLn, primeXOut };
}

export class Prior {
  readonly config: PriorConfig;
  readonly level: number;
  /** Music tokens per window. */
  readonly nCtx: number;
  /** Audio samples per token at this level. */
  readonly rawToTokens: number;
  /** Audio sample rate of the VQ-VAE the prior models (reference `sr`). */
  readonly sampleRate: number;
  /** The window in audio samples (n_ctx × raw_to_tokens). */
  readonly sampleLength: number;
  /** This level's tokens per token of the level above; null for the top level. */
  readonly condDownsample: number | null;
  readonly labeller: Labeller | null;
  readonly singleEncDec: boolean;
  /** Lyric tokens per window (0: no lyrics in the label rows). */
  readonly nTokens: number;
  readonly lBins: number;
  /** Lyric vocabulary (the joint vocabulary's first n_vocab entries for single_enc_dec). */
  readonly nVocab: number;
  /** Whether the model reads lyrics. */
  readonly hasLyrics: boolean;
  /** Reference `state_dict` names and shapes of the parameters, in declaration order. */
  readonly spec: ParameterSpec;
  /** The main autoregressive model (reference `prior.prior`). */
  readonly prior: ConditionalAutoregressive2D;
  private readonly modules: PriorModules;
  private disposed = false;

  /** @param weights every tensor of `spec`; the model owns and disposes it. */
  constructor(config: PriorConfig, readonly weights: WeightMap, opts: { labelTables?: LabelIdTables | null; warn?: (msg: string) => void } = {}) {
    this.config = validatePriorConfig(config);
    const c = this.config;
    const registry = new ParameterRegistry();
    this.modules = buildModules(c, registry);
    this.prior = this.modules.prior;
    this.spec = registry.spec;
    for (const [name, shape] of this.spec) {
      if (!weights.has(name)) throw new Error(`weight ${name} [${shape}] is missing`);
      const got = weights.get(name).shape;
      if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
        throw new Error(`weight ${name} has shape [${got}], expected [${shape}]`);
      }
    }
    this.prior.prepare(weights);
    this.level = c.level;
    this.nCtx = c.n_ctx;
    this.rawToTokens = rawToTokens(c, c.level);
    this.sampleRate = c.sr;
    this.sampleLength = this.nCtx * this.rawToTokens;
    this.condDownsample = isTopLevel(c) ? null : levelDownsamples(c)[c.level + 1];
    this.singleEncDec = c.single_enc_dec;
    this.nTokens = c.labels ? c.n_tokens : 0;
    this.lBins = c.l_bins;
    this.nVocab = c.n_vocab;
    this.hasLyrics = hasLyrics(c);
    this.labeller = !c.labels ? null : new Labeller({
      maxBowGenreSize: c.max_bow_genre_size!,
      nTokens: this.nTokens,
      sampleLength: this.sampleLength,
      v3: c.labels_v3,
      sr: c.sr,
      tables: opts.labelTables ?? null,
      minDuration: isTopLevel(c) ? c.min_duration : null,
      maxDuration: isTopLevel(c) ? c.max_duration : null,
      warn: opts.warn,
    });
  }

  /** The parameter names and shapes a config implies, without allocating any tensor. */
  static parameterSpec(config: PriorConfig): ParameterSpec {
    const registry = new ParameterRegistry();
    Prior.declare(config, registry);
    return registry.spec;
  }

  /** Declares a config's parameters (names, shapes, fresh-init stds and means) in `registry`. */
  static declare(config: PriorConfig, registry: ParameterRegistry): void {
    buildModules(validatePriorConfig(config), registry);
  }

  /**
   * What the reference's `state_dict` holds besides the parameters: alias → parameter (the tied
   * output head) and buffers (the position index of `pos_init`), so checkpoints load and save
   * key for key.
   */
  static stateDictExtras(config: PriorConfig): { aliases: Map<string, string>; buffers: Map<string, { shape: number[]; data: BigInt64Array }> } {
    const m = buildModules(validatePriorConfig(config), new ParameterRegistry());
    const aliases = new Map<string, string>();
    const buffers = new Map<string, { shape: number[]; data: BigInt64Array }>();
    for (const ar of [m.prior, m.primePrior]) {
      if (ar === null) continue;
      ar.aliases.forEach((v, k) => aliases.set(k, v));
      ar.buffers.forEach((v, k) => buffers.set(k, v));
    }
    return { aliases, buffers };
  }

  /** Number of scalar parameters (a tied head counted once). */
  get numParameters(): number {
    let n = 0;
    for (const shape of this.spec.values()) n += shape.reduce((a, b) => a * b, 1);
    return n;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this Prior has been disposed');
  }

  /**
   * The label rows of the window starting `start` tokens into the audio (reference `get_y` with
   * indices): offset moved to the window, sample_length this prior's, the window's lyrics. Null
   * for a prior without labels.
   */
  getY(labels: BatchLabels, start: number): { y: tf.Tensor2D; indices: number[][] } | null {
    if (this.labeller === null) return null;
    const { y, indices } = this.labeller.yForWindow(labels, start, this.rawToTokens);
    const cols = this.labeller.labelLength;
    const flat = new Int32Array(y.length * cols);
    y.forEach((row, i) => flat.set(row, i * cols));
    return { y: tf.tensor2d(flat, [y.length, cols], 'int32'), indices };
  }

  /**
   * The level above's codes for window [start, end) of this level (reference `get_z_conds`);
   * `zs` is indexed by level. Null for the top level. Both ends must be multiples of the
   * conditioning downsampling.
   */
  getZConds(zs: tf.Tensor2D[], start: number, end: number): tf.Tensor2D[] | null {
    if (this.condDownsample === null) return null;
    const ds = this.condDownsample;
    if (start % ds !== 0 || end % ds !== 0) {
      throw new JukeboxError(`window [${start}, ${end}) of level ${this.level} must start and end on multiples of ${ds} (the level above's downsampling)`);
    }
    const above = zs[this.level + 1];
    if (above === undefined) throw new JukeboxError(`level ${this.level} needs the codes of level ${this.level + 1}`);
    const from = start / ds;
    const len = (end - start) / ds;
    if (len !== this.nCtx / ds) throw new JukeboxError(`window [${start}, ${end}) is not one context of ${this.nCtx} tokens`);
    if (from + len > above.shape[1]) {
      throw new JukeboxError(`level ${this.level + 1} holds ${above.shape[1]} tokens, the window needs up to ${from + len}`);
    }
    return [above.slice([0, from], [-1, len])];
  }

  /**
   * Reference `get_cond`: the label row split into labels and lyric tokens, the start embedding
   * (`y_cond`), and the per-position conditioning (`x_cond`: the level above through the
   * Conditioner, or for the top level the timing signal).
   */
  private getCond(zConds: tf.Tensor2D[] | null | undefined, y: tf.Tensor2D | null | undefined, n: number):
    { xCond: tf.Tensor3D | null; yCond: tf.Tensor3D | null; prime: tf.Tensor2D | null } {
    const { conditioner, yEmb } = this.modules;
    let xCond: tf.Tensor3D | null = null;
    let yCond: tf.Tensor3D | null = null;
    let prime: tf.Tensor2D | null = null;
    if (yEmb !== null) {
      if (y === null || y === undefined) throw new JukeboxError('this prior is conditioned on labels: pass y (getY)');
      const want = yEmb.labelColumns + this.nTokens;
      if (y.shape[0] !== n || y.shape[1] !== want) {
        throw new JukeboxError(`label rows have shape [${y.shape}], expected [${n}, ${want}] (4 + max_bow_genre_size + n_tokens)`);
      }
      const labels = y.slice([0, 0], [-1, yEmb.labelColumns]);
      const { start, timing } = yEmb.apply(this.weights, labels);
      labels.dispose();
      yCond = start;
      xCond = timing;
      if (this.nTokens > 0) prime = y.slice([0, yEmb.labelColumns], [-1, this.nTokens]);
    }
    if (conditioner !== null) {
      if (!zConds || zConds.length < 1) throw new JukeboxError(`level ${this.level} is conditioned on level ${this.level + 1}: pass zConds (getZConds)`);
      const z = zConds[0];
      const want = this.nCtx / this.condDownsample!;
      if (z.shape[0] !== n || z.shape[1] !== want) {
        throw new JukeboxError(`level ${this.level + 1} codes have shape [${z.shape}], expected [${n}, ${want}]`);
      }
      xCond?.dispose();
      xCond = conditioner.apply(this.weights, z);
    }
    return { xCond, yCond, prime };
  }

  /** Checks that codes are music tokens `[N, len]` in [0, l_bins). */
  private checkCodes(z: tf.Tensor2D, what: string): void {
    const data = z.dataSync();
    for (let i = 0; i < data.length; i++) {
      if (!(data[i] >= 0 && data[i] < this.lBins)) throw new JukeboxError(`${what} hold token ${data[i]}, outside 0..${this.lBins - 1}`);
    }
  }

  /** Checks that lyric tokens are in [0, n_vocab). */
  private checkLyrics(prime: tf.Tensor2D): void {
    const data = prime.dataSync();
    for (let i = 0; i < data.length; i++) {
      if (!(data[i] >= 0 && data[i] < this.nVocab)) throw new JukeboxError(`lyric token ${data[i]} is outside 0..${this.nVocab - 1}`);
    }
  }

  /**
   * Reference `prior_preprocess` for the single encoder-decoder: lyrics then music shifted into
   * the joint vocabulary, and the conditioning with zeros over the lyric positions.
   */
  private joinSequence(prime: tf.Tensor2D, z: tf.Tensor2D | null, xCond: tf.Tensor3D):
    { tokens: tf.Tensor2D; cond: tf.Tensor3D } {
    return tf.tidy(() => {
      const [n] = prime.shape;
      const tokens = z === null || z.shape[1] === 0 ? prime.clone() : tf.concat([prime, tf.add(z, tf.scalar(this.nVocab, 'int32'))], 1) as tf.Tensor2D;
      const cond = tf.concat([tf.zeros([n, this.nTokens, this.config.prior_width]), xCond], 1) as tf.Tensor3D;
      return { tokens, cond };
    });
  }

  /** Reference `get_encoder_kv`: the lyrics encoder's keys/values `[N, n_tokens, width]`, or null. */
  private encoderKv(prime: tf.Tensor2D | null): tf.Tensor3D | null {
    const { primePrior, primeStateProj, primeStateLn } = this.modules;
    if (primePrior === null || prime === null) return null;
    this.checkLyrics(prime);
    const acts = primePrior.forward(this.weights, prime, { xCond: null, yCond: null, encoderKv: null });
    const proj = primeStateProj!.apply(this.weights, acts);
    acts.dispose();
    const kv = primeStateLn!.apply(this.weights, proj);
    proj.dispose();
    return kv;
  }

  /**
   * Teacher-forced pass (reference `z_forward`): logits of every position given the tokens
   * before it, the losses in bits per token, and optionally attention probabilities.
   */
  forward(z: tf.Tensor2D, opts: PriorForwardOptions = {}): PriorForwardResult {
    const terms = this.lossTerms(z, opts);
    const result: PriorForwardResult = { loss: terms.loss.dataSync()[0], genLoss: terms.genLoss.dataSync()[0], primeLoss: terms.primeLoss.dataSync()[0] };
    tf.dispose([terms.loss, terms.genLoss, terms.primeLoss]);
    if (terms.attention) result.attention = terms.attention;
    if (terms.preds) result.preds = terms.preds;
    return result;
  }

  /**
   * `forward` with the losses as scalar tensors, for a gradient tape (`differentiable`): the
   * reference's training loss (prime_loss_fraction × prime loss and gen loss, weighted by their
   * lengths), the gen loss and the prime loss, all in bits per token. The caller disposes them.
   */
  lossTerms(z: tf.Tensor2D, opts: PriorForwardOptions & { differentiable?: boolean } = {}):
    { loss: tf.Scalar; genLoss: tf.Scalar; primeLoss: tf.Scalar; preds?: tf.Tensor3D; attention?: Map<number, tf.Tensor> } {
    this.checkAlive();
    const c = this.config;
    if (z.rank !== 2 || z.shape[1] !== this.nCtx) {
      throw new JukeboxError(`codes for a forward pass must be [N, ${this.nCtx}] (one context), got [${z.shape}]`);
    }
    this.checkCodes(z, 'codes');
    const n = z.shape[0];
    const { xCond, yCond, prime } = this.getCond(opts.zConds, opts.y, n);
    const owned = [xCond, yCond, prime].filter((t) => t !== null) as tf.Tensor[];
    const passOpts = { recordAttention: opts.recordAttention, differentiable: opts.differentiable };
    try {
      let primeLoss: tf.Scalar;
      let genLoss: tf.Scalar;
      let preds: tf.Tensor3D;
      const primeDims = this.hasLyrics ? this.nTokens : 0;
      if (this.singleEncDec) {
        this.checkLyrics(prime!);
        const { tokens, cond } = this.joinSequence(prime!, z, xCond!);
        owned.push(tokens, cond);
        preds = this.prior.forward(this.weights, tokens, { xCond: cond, yCond, encoderKv: null, ...passOpts });
        const v = preds.shape[2];
        const d = this.nTokens + this.nCtx;
        const part = (from: number, len: number) => tf.tidy(() => crossEntropyBits(
          preds.slice([0, from, 0], [-1, len, -1]).reshape([n * len, v]) as tf.Tensor2D,
          tokens.slice([0, from], [-1, len]).reshape([n * len]) as tf.Tensor1D,
        ));
        primeLoss = part(0, this.nTokens);
        genLoss = part(this.nTokens, d - this.nTokens);
      } else {
        const kv = this.encoderKv(prime);
        if (kv !== null) {
          owned.push(kv);
          primeLoss = tf.tidy(() => {
            // An explicit transpose: wasm multiplies by a transposed operand many times slower.
            const logits = tf.matMul(kv.reshape([n * this.nTokens, c.prior_width]), tf.transpose(this.weights.get(this.modules.primeXOut!))) as tf.Tensor2D;
            return crossEntropyBits(logits, prime!.reshape([-1]) as tf.Tensor1D);
          });
        } else {
          primeLoss = tf.scalar(0);
        }
        preds = this.prior.forward(this.weights, z, { xCond, yCond, encoderKv: kv, ...passOpts });
        genLoss = tf.tidy(() => crossEntropyBits(preds.reshape([n * this.nCtx, this.lBins]) as tf.Tensor2D, z.reshape([-1]) as tf.Tensor1D));
      }
      const genDims = this.nCtx;
      const totalDims = primeDims + genDims;
      const loss = tf.tidy(() => tf.add(
        tf.mul(primeLoss, (c.prime_loss_fraction * primeDims) / totalDims),
        tf.mul(genLoss, genDims / totalDims),
      ) as tf.Scalar);
      const result: ReturnType<Prior['lossTerms']> = { loss, genLoss, primeLoss };
      if (opts.recordAttention) result.attention = this.prior.transformer.takeAttention();
      if (opts.getPreds) result.preds = preds;
      else preds.dispose();
      return result;
    } finally {
      tf.dispose(owned);
    }
  }

  /**
   * Reference `SimplePrior.sample`: ancestral when `z` is null or empty, primed (continuing `z`)
   * otherwise. Returns the music tokens int32 `[N, sampleTokens ?? n_ctx]`, context included.
   * A single encoder-decoder prior samples after its lyric prefix and, as the reference does,
   * clamps any lyric-vocabulary token it drew at a music position to 0 (it does not mask them).
   */
  async sample(opts: PriorSampleOptions): Promise<tf.Tensor2D> {
    const { tokens, sequence } = this.runSample(opts, false);
    if (sequence !== tokens) sequence.dispose();
    return tokens;
  }

  /**
   * `sample`, also returning what the model saw and said: `sequence`, the model's own tokens
   * `[N, L]` (for a single encoder-decoder prior the lyric prefix and the music in the joint
   * vocabulary, before clamping; otherwise the same tensor as `tokens`), and `preds`, the logits
   * at every position of it `[N, L, V]` (primed positions from the chunked cache fills, sampled
   * ones from their steps). A teacher-forced pass over `sequence` gives the same logits.
   */
  async sampleWithPreds(opts: PriorSampleOptions): Promise<{ tokens: tf.Tensor2D; sequence: tf.Tensor2D; preds: tf.Tensor3D }> {
    const { tokens, sequence, preds } = this.runSample(opts, true);
    return { tokens, sequence, preds: preds! };
  }

  /**
   * `sample`, also capturing the attention probabilities of lyric layers (encoder-decoder or
   * prime) while it samples: layer → `[N, heads, sampleTokens, n_tokens]` Float32Array, heads as
   * `capture.heads` lists them (default all), rows the music positions of the result (context
   * included), columns the window's lyric tokens. These are the values a teacher-forced `forward`
   * over the result records (`recordAttention`), the prime layers sliced to music queries × lyric
   * keys as there; for a single encoder-decoder prior, of the sequence before clamping (a stray
   * lyric token drawn at a music position differs from the 0 `tokens` holds). Capturing changes
   * no token.
   */
  async sampleWithAttention(opts: PriorSampleOptions, capture: SampleAttentionCapture): Promise<{ tokens: tf.Tensor2D; attention: Map<number, Float32Array> }> {
    const { tokens, sequence, attention } = this.runSample(opts, false, capture);
    if (sequence !== tokens) sequence.dispose();
    return { tokens, attention: attention! };
  }

  private runSample(opts: PriorSampleOptions, getPreds: boolean, attention?: SampleAttentionCapture):
    { tokens: tf.Tensor2D; sequence: tf.Tensor2D; preds?: tf.Tensor3D; attention?: Map<number, Float32Array> } {
    this.checkAlive();
    const n = opts.nSamples;
    if (!Number.isInteger(n) || n < 1) throw new JukeboxError(`nSamples must be a positive integer, got ${n}`);
    const z = opts.z ?? null;
    if (z !== null) {
      if (z.rank !== 2 || z.shape[0] !== n) throw new JukeboxError(`the context codes must be [${n}, tokens], got [${z.shape}]`);
      this.checkCodes(z, 'context codes');
    }
    const settings = {
      temperature: opts.temperature ?? 1,
      topK: opts.topK ?? 0,
      topP: opts.topP ?? 0,
      rng: opts.rng,
      chunkSize: opts.chunkSize,
      onToken: opts.onToken,
      fastSampling: opts.fastSampling,
      getPreds,
      attention,
    };
    const sampleTokens = opts.sampleTokens ?? this.nCtx;
    if (!Number.isInteger(sampleTokens) || sampleTokens < 1 || sampleTokens > this.nCtx) {
      throw new JukeboxError(`sampleTokens must be in 1..${this.nCtx}, got ${sampleTokens}`);
    }
    const { xCond, yCond, prime } = this.getCond(opts.zConds, opts.y, n);
    const owned = [xCond, yCond, prime].filter((t) => t !== null) as tf.Tensor[];
    try {
      if (this.singleEncDec) {
        this.checkLyrics(prime!);
        const { tokens, cond } = this.joinSequence(prime!, z, xCond!);
        owned.push(tokens, cond);
        const out = this.prior.sample(this.weights, n, tokens, {
          ...settings, xCond: cond, yCond, encoderKv: null, sampleTokens: sampleTokens + this.nTokens,
        });
        // Reference prior_postprocess: drop the lyrics, unshift, clamp stray lyric tokens to 0.
        const music = tf.tidy(() => tf.relu(tf.sub(out.tokens.slice([0, this.nTokens], [-1, sampleTokens]), tf.scalar(this.nVocab, 'int32'))) as tf.Tensor2D);
        return { tokens: music, sequence: out.tokens, preds: out.preds, attention: out.attention };
      }
      const kv = this.encoderKv(prime);
      if (kv !== null) owned.push(kv);
      const context = z !== null && z.shape[1] > 0 ? z : null;
      const out = this.prior.sample(this.weights, n, context, { ...settings, xCond, yCond, encoderKv: kv, sampleTokens });
      return { tokens: out.tokens, sequence: out.tokens, preds: out.preds, attention: out.attention };
    } finally {
      tf.dispose(owned);
    }
  }

  dispose(): void {
    this.prior.dispose();
    this.modules.primePrior?.dispose();
    this.weights.dispose();
    this.disposed = true;
  }
}
