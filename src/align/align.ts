import { JukeboxError } from '../errors';
import type { SongMetadata } from '../labels/index';
import type { Prior } from '../prior/prior';
import { captureLyricAttention, lyricLayers, type LyricAttention } from './capture';
import { rankHeads, type HeadScore } from './heads';
import { ALIGNMENT_METHODS, alignWords, type AlignmentDecoding, type AlignWordsOptions, type WordTiming } from './words';

/** What `alignLyrics` found: alignment.json's fields, the captured attention and the head ranking. */
export interface AlignmentResult {
  layer: number;
  head: number;
  sample_rate: number;
  /** Audio samples per top-level token. */
  hop_length: number;
  /** The cleaned lyrics the model saw, one entry per column of the attention maps. */
  characters: string[];
  words: WordTiming[];
  method: string;
  /** How the words were decoded from the head's attention (`method` names it). */
  decoding: AlignmentDecoding;
  /** Every head of the captured layers (all lyric layers when the head was searched for). */
  attention: LyricAttention;
  /** The head finder's ranking, best first, when it ran. */
  heads?: HeadScore[];
}

export interface AlignLyricsOptions extends AlignWordsOptions {
  /** Layer to align with (a lyric layer); default the prior's `alignment_layer`. */
  layer?: number;
  /** Head of that layer; default the prior's `alignment_head`. */
  head?: number;
  /** Rank every head of every lyric layer (`rankHeads`) and align with the first. */
  findHead?: boolean;
  /** Hop between windows as a fraction of n_ctx (default 0.5). */
  hopFraction?: number;
  /** Windows per forward pass (default 4). */
  maxBatchSize?: number;
  onWindow?: (done: number, total: number) => void;
}

/**
 * Checks a requested `layer` (a lyric layer of `prior`) and `head` (an index below the prior's
 * heads per layer), either of which may be absent: `alignLyrics` calls it, and `jukebox align`
 * before the labels are checked (whose warnings would precede the error).
 */
export function checkHeadChoice(prior: Prior, layer: number | undefined, head: number | undefined): void {
  const available = lyricLayers(prior);
  const heads = prior.config.heads;
  if (layer !== undefined && !available.includes(layer)) {
    throw new JukeboxError(`align: layer ${layer} is not a lyric layer of this prior (lyric layers: ${available.join(', ')})`);
  }
  if (head !== undefined && !(Number.isInteger(head) && head >= 0 && head < heads)) {
    throw new JukeboxError(`align: head ${head} is out of range (this prior has ${heads} heads per layer)`);
  }
}

/**
 * Aligns a song's lyrics to its top-level codes `zTop` with `prior`: captures the lyric attention
 * (`captureLyricAttention`), picks the head, and times the words (`alignWords`). The head is, in
 * order: `layer`/`head` when given (a `layer` alone ranks that layer's heads); the head finder's
 * first with `findHead`; the prior's `alignment_layer`/`alignment_head` (the published 5b_lyrics
 * 68/2 and 1b_lyrics 63/0); otherwise the head finder's first, since for a prior trained here which
 * head specialises is only known after training. Only the layers needed are captured: the chosen
 * layer's heads, or every lyric layer when ranking. The words are decoded as `decoding` says,
 * else as the prior's `alignment_decoding` (whichever head was chosen). Times are seconds from
 * `zTop`'s first token.
 */
export async function alignLyrics(prior: Prior, zTop: Int32Array, meta: SongMetadata, opts: AlignLyricsOptions = {}): Promise<AlignmentResult> {
  const available = lyricLayers(prior);
  if (available.length === 0) throw new JukeboxError('align: this prior does not read lyrics (no encoder-decoder or prime layers)');
  const heads = prior.config.heads;
  if (opts.head !== undefined && opts.layer === undefined) throw new JukeboxError('align: --head needs --layer');
  if (opts.findHead && opts.layer !== undefined && opts.head !== undefined) throw new JukeboxError('align: give --layer/--head or --find-head, not both');
  checkHeadChoice(prior, opts.layer, opts.head);
  let layer = opts.layer;
  let head = opts.head;
  const c = prior.config;
  if (layer === undefined && !opts.findHead && c.alignment_layer !== null && c.alignment_head !== null
    && available.includes(c.alignment_layer) && c.alignment_head < heads) {
    layer = c.alignment_layer;
    head = c.alignment_head;
  }
  const layers = layer !== undefined ? [layer] : available;
  const attention = await captureLyricAttention(prior, zTop, meta, {
    layers, hopFraction: opts.hopFraction, maxBatchSize: opts.maxBatchSize, onWindow: opts.onWindow,
  });
  let ranking: HeadScore[] | undefined;
  if (head === undefined) {
    ranking = rankHeads(attention);
    layer = ranking[0].layer;
    head = ranking[0].head;
  }
  const decoding = opts.decoding ?? c.alignment_decoding;
  const words = alignWords(attention, layer!, head, { gapLevel: opts.gapLevel, decoding });
  return {
    layer: layer!,
    head,
    sample_rate: attention.sampleRate,
    hop_length: attention.hopLength,
    characters: [...attention.characters],
    words,
    method: ALIGNMENT_METHODS[decoding],
    decoding,
    attention,
    ...(ranking ? { heads: ranking } : {}),
  };
}
