import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { ParameterRegistry, WeightMap } from '../vqvae/weights';
import { FactoredAttention } from './attention';
import { ActivationName, Conv1D, LayerNorm, activation } from './ops';

/**
 * The priors' transformer (reference transformer/transformer.py): a stack of pre-LayerNorm
 * residual blocks whose attention kinds follow `attn_order`. Keys mirror the reference's
 * state_dict: `<prefix>._attn_mods.<i>.{ln_0,attn,ln_1,mlp}...`.
 *
 * The reference's init options (`zero_out`, `init_scale`) are not taken: fresh weights here are
 * variance-preserving on purpose (see ops.ts), and loaded weights do not depend on them.
 */
export interface TransformerConfig {
  /** n_in: the residual width. */
  width: number;
  /** n_ctx: positions of a full pass. */
  nCtx: number;
  /** n_head. */
  heads: number;
  /** n_depth: residual blocks. */
  depth: number;
  /** attn_order, 0..12: which attention each layer does (see `attnFuncOf`). */
  attnOrder: number;
  /** blocks of the block-sparse attentions (n_ctx must be a multiple). */
  blocks?: number;
  /** spread of summary spread attention. */
  spread?: number;
  /** encoder_dims: encoder positions the encoder-decoder layers read (0: none). */
  encoderDims: number;
  /** prime_len: lyric positions for prime attention (single encoder-decoder priors). */
  primeLen?: number;
  /** m_attn: attention width as a fraction of `width` (n_state = int(m_attn · width)). */
  mAttn: number;
  /** m_mlp: MLP width as a multiple of `width`. */
  mMlp: number;
  /** res_scale: scale every residual branch by 1/depth. */
  resScale: boolean;
  /** afn: the MLP activation (the priors use quick_gelu). */
  afn: ActivationName;
}

/**
 * The attention function (0..7, see attention.ts) of layer `d` under `attnOrder`, as the
 * reference's table defines it. Row (1), column (2) and previous-row (3) attention alternate in
 * most orders; the lyric orders insert encoder-decoder (6) or prime (7) layers.
 */
export function attnFuncOf(attnOrder: number, d: number): number {
  const rowColPrev = [1, 2, 3][d % 3];
  switch (attnOrder) {
    case 0:
      return 0;
    case 1:
      return [1, 2][d % 2];
    case 2:
      return rowColPrev;
    case 3:
      return [1, 4][d % 2];
    case 4:
      return [1, 5][d % 2];
    case 5:
      return [1, 4, 1, 1][d % 4];
    case 6:
      return [1, 2, 3, 6][d % 4];
    case 7:
      // Five row/column/previous triples, then one encoder-decoder layer.
      return d % 16 === 15 ? 6 : [1, 2, 3][(d % 16) % 3];
    case 8:
      return d % 10 === 9 ? 6 : [1, 2, 3][(d % 10) % 3];
    case 9:
      return [1, 2, 3, 0][d % 4];
    case 10: {
      // 79 layers: three plain triples, then seven groups of three triples plus an encoder-decoder layer.
      const i = d % 79;
      if (i < 9) return [1, 2, 3][i % 3];
      const j = (i - 9) % 10;
      return j === 9 ? 6 : [1, 2, 3][j % 3];
    }
    case 11:
      return d % 16 === 15 ? [6, 6, 0][d % 3] : rowColPrev;
    case 12:
      return d % 16 === 15 ? [7, 7, 0][d % 3] : rowColPrev;
    default:
      throw new JukeboxError(`transformer config: attn_order must be 0..12, got ${attnOrder}`);
  }
}

/** Whether a layer reads lyrics: encoder-decoder (5b_lyrics design) or prime (1b_lyrics design) attention. */
export function isLyricLayer(layer: ResAttnBlock | undefined): boolean {
  return layer !== undefined && (layer.attnFunc === 6 || layer.attnFunc === 7);
}

/** The reference `MLP`: c_proj(act(c_fc(x))). */
export class MLP {
  readonly cFc: Conv1D;
  readonly cProj: Conv1D;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(registry: ParameterRegistry, prefix: string, nIn: number, nState: number, afn: ActivationName) {
    this.act = activation(afn);
    this.cFc = new Conv1D(registry, `${prefix}.c_fc`, nIn, nState);
    this.cProj = new Conv1D(registry, `${prefix}.c_proj`, nState, nIn);
  }

  apply(w: WeightMap, x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.cProj.apply(w, this.act(this.cFc.apply(w, x)) as tf.Tensor3D));
  }
}

/**
 * The reference `ResAttnBlock`: a = attn(ln_0(x)), m = mlp(ln_1(x + a)), and
 * x + a + m, or x + res_scale·(a + m) when res_scale ≠ 1.
 */
export class ResAttnBlock {
  readonly attn: FactoredAttention;
  readonly ln0: LayerNorm;
  readonly mlp: MLP;
  readonly ln1: LayerNorm;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    cfg: TransformerConfig,
    readonly attnFunc: number,
    readonly resScale: number,
  ) {
    const { width } = cfg;
    this.attn = new FactoredAttention(registry, `${prefix}.attn`, {
      nIn: width,
      nCtx: cfg.nCtx,
      nState: Math.trunc(cfg.mAttn * width),
      nHead: cfg.heads,
      attnFunc,
      blocks: cfg.blocks,
      spread: cfg.spread,
      encoderDims: cfg.encoderDims,
      primeLen: cfg.primeLen,
    });
    this.ln0 = new LayerNorm(registry, `${prefix}.ln_0`, width);
    this.mlp = new MLP(registry, `${prefix}.mlp`, width, Math.trunc(cfg.mMlp * width), cfg.afn);
    this.ln1 = new LayerNorm(registry, `${prefix}.ln_1`, width);
  }

  /** `[N, T, width]` → `[N, T, width]`; `encoderKv` reaches encoder-decoder attention only. */
  forward(w: WeightMap, x: tf.Tensor3D, encoderKv: tf.Tensor3D | undefined, sample: boolean): tf.Tensor3D {
    return tf.tidy(() => {
      const a = this.attn.forward(w, this.ln0.apply(w, x), { encoderKv: this.attnFunc === 6 ? encoderKv : undefined, sample });
      const xa = tf.add(x, a) as tf.Tensor3D;
      const m = this.mlp.apply(w, this.ln1.apply(w, xa));
      if (this.resScale === 1) return tf.add(xa, m) as tf.Tensor3D;
      return tf.add(x, tf.mul(tf.add(a, m), this.resScale)) as tf.Tensor3D;
    });
  }
}

export class Transformer {
  readonly cfg: TransformerConfig;
  /** The residual blocks (reference `_attn_mods`). */
  readonly attnMods: ResAttnBlock[];
  private recorded = new Map<number, tf.Tensor>();

  constructor(registry: ParameterRegistry, prefix: string, cfg: TransformerConfig) {
    if (!Number.isInteger(cfg.depth) || cfg.depth < 1) {
      throw new JukeboxError(`transformer config: depth must be a whole number ≥ 1, got ${cfg.depth}`);
    }
    this.cfg = cfg;
    const resScale = cfg.resScale ? 1 / cfg.depth : 1;
    this.attnMods = Array.from(
      { length: cfg.depth },
      (_, d) => new ResAttnBlock(registry, `${prefix}._attn_mods.${d}`, cfg, attnFuncOf(cfg.attnOrder, d), resScale),
    );
  }

  /**
   * `[N, T, width]` → `[N, T, width]`. Without `sample`, positions 0..T−1 (T ≤ n_ctx), nothing
   * cached. With `sample`, the T positions follow those already in the KV cache (T may be a
   * priming chunk) and join it. `encoderKv` `[N, encoder_dims, width]` feeds the encoder-decoder
   * layers. `recordAttention` keeps the attention probabilities of every layer (`true`) or of the
   * listed layers, for `takeAttention`: the reference's `set_record_attn`. While sampling it may
   * list only lyric layers (encoder-decoder, prime), which record the call's positions.
   */
  forward(
    w: WeightMap,
    x: tf.Tensor3D,
    opts: { encoderKv?: tf.Tensor3D; sample?: boolean; recordAttention?: Set<number> | boolean } = {},
  ): tf.Tensor3D {
    const sample = opts.sample ?? false;
    const record = opts.recordAttention ?? false;
    if (sample && (record === true || (record instanceof Set && [...record].some((i) => !isLyricLayer(this.attnMods[i]))))) {
      throw new JukeboxError('transformer: while sampling, recordAttention takes only lyric layers (encoder-decoder, prime)');
    }
    const hasEncoder = this.attnMods.some((l) => l.attnFunc === 6);
    if (hasEncoder && opts.encoderKv === undefined && !(sample && this.cacheLength > 0)) {
      throw new JukeboxError('transformer: encoder-decoder layers need encoderKv');
    }
    let h = x;
    this.attnMods.forEach((layer, i) => {
      layer.attn.recordAttn = record === true || (record instanceof Set && record.has(i));
      try {
        const next = layer.forward(w, h, opts.encoderKv, sample);
        if (h !== x) h.dispose();
        h = next;
      } finally {
        layer.attn.recordAttn = false;
      }
      if (layer.attn.w !== null) {
        this.recorded.get(i)?.dispose();
        this.recorded.set(i, layer.attn.w);
        layer.attn.w = null;
      }
    });
    return h;
  }

  /**
   * The attention probabilities the last recording passes kept, by layer, in the reference's
   * layout (`[N, H, T, keys]`; row-wise attentions `[N·rows, H, ...]`; prime layers only music
   * queries against lyric keys). The caller owns and disposes them.
   */
  takeAttention(): Map<number, tf.Tensor> {
    const taken = this.recorded;
    this.recorded = new Map();
    return taken;
  }

  /** Positions in the KV cache (reference `sample_t`), the same in every layer. */
  get cacheLength(): number {
    return this.attnMods[0].attn.cacheLength;
  }

  /** Frees every layer's KV cache (reference `del_cache`). */
  resetCache(): void {
    for (const layer of this.attnMods) layer.attn.resetCache();
  }

  /** Frees the caches and any attention not taken (the weights belong to the WeightMap). */
  dispose(): void {
    this.resetCache();
    for (const t of this.recorded.values()) t.dispose();
    this.recorded.clear();
  }
}
