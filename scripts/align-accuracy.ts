/**
 * `npm run align-accuracy`: how well the top prior's lyric attention times the words of held-out
 * songs, measured against the exact word onsets the corpus generator wrote in each sidecar.
 *
 *   npm run align-accuracy -- [--corpus runs/default/corpus/heldout] [--top FILE] [--vqvae FILE]
 *     [--out weights/default/alignment-accuracy.json] [--songs 24] [--seed 1001] [--seconds 30]
 *
 * Each song is encoded to top-level codes, aligned as `jukebox align` aligns it (alignLyrics with
 * the prior's own layer and head, or the head finder's when it has none), and scored: the median
 * absolute word-onset error and the shares of words within 0.2 s and 0.5 s, per song and pooled
 * over all words, beside the baseline that spreads the words evenly over the song's sung span;
 * and where the head looks while each word is sung (`headTracking`: the sung word, or only its
 * line), which tells a head that follows the words from one that only knows the line. Every
 * lyric head is scored the same way from the one capture, so the head finder's ranking can be
 * checked against the head that is truly most accurate. A corpus folder that is absent is
 * generated first (data/corpus, the held-out seed of scripts/train-default.ts, at the VQ-VAE's
 * sample rate).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { writeCorpus } from '../data/corpus/corpus';
import { alignLyrics } from '../src/align/align';
import { evenSpreadBaseline, headTracking, HeadTracking, matchWords, onsetAccuracy, OnsetAccuracy, pooledTracking } from '../src/align/accuracy';
import { headMap } from '../src/align/capture';
import { HeadScore } from '../src/align/heads';
import { alignWords, WordTiming } from '../src/align/words';
import { openAudioAsync } from '../src/audio/source';
import { initBackend } from '../src/backend';
import { loadVQVAE } from '../src/checkpoint/load';
import { JukeboxError } from '../src/errors';
import { SongMetadata } from '../src/labels';
import { loadPrior } from '../src/prior/load';
import { Prior } from '../src/prior/prior';
import { SongSidecar } from '../src/train/prior-data';
import { encodeChunked } from '../src/vqvae/streaming';
import { VQVAE } from '../src/vqvae/vqvae';

export interface AlignAccuracyOptions {
  /** Folder of held-out songs (`.wav` + `.json` sidecars with `words`); generated when absent. */
  corpus: string;
  /** Top prior with lyrics. */
  top: string;
  vqvae: string;
  /** Where the JSON report goes (null: nowhere). */
  out: string | null;
  /** Songs evaluated (the first in name order), and generated when the corpus is absent. */
  songs: number;
  /** Seed and length of a generated corpus. */
  seed: number;
  seconds: number;
}

export const DEFAULTS: AlignAccuracyOptions = {
  corpus: 'runs/default/corpus/heldout',
  top: 'weights/default/prior_level_2.safetensors',
  vqvae: 'weights/default/vqvae.safetensors',
  out: 'weights/default/alignment-accuracy.json',
  songs: 24,
  seed: 1001,
  seconds: 30,
};

/** A lyric head, as the head finder and the report name it. */
export interface HeadId { layer: number; head: number }

export interface HeadAccuracy extends HeadId {
  /** The head finder's score (mean over songs), and its rank by that (1: first). */
  score: number;
  finder_rank: number;
  /** The score's three factors, each a mean over songs (see rankHeads). */
  monotonicity: number;
  concentration: number;
  coverage: number;
  /** Songs where the head finder ranks this head first. */
  ranked_first_in: number;
  /** Onset accuracy of this head's alignment, over all words of all songs. */
  accuracy: OnsetAccuracy;
  /** Where the head looks while words are sung, over all songs' sung tokens. */
  tracking: HeadTracking;
}

export interface SongAccuracy {
  song: string;
  words: number;
  /** The head the alignment used. */
  layer: number;
  head: number;
  model: OnsetAccuracy;
  baseline: OnsetAccuracy;
  /** Where the head looks while each word is sung: the word, or only its line. */
  tracking: HeadTracking;
  /** The model's median onset error is below the baseline's. */
  beats_baseline: boolean;
  /** The head the head finder ranks first on this song. */
  finder_first: HeadId & { score: number };
  /** The head with the lowest median onset error on this song, and where the finder ranks it (1: first). */
  most_accurate: HeadId & { median_abs_error: number; finder_rank: number };
}

export interface AlignAccuracyReport {
  top: string;
  vqvae: string;
  corpus: string;
  method: string;
  songs: number;
  words: number;
  /** Over all words of all songs. */
  overall: { model: OnsetAccuracy; baseline: OnsetAccuracy; songs_beating_baseline: number; tracking: HeadTracking };
  /** Every lyric head, best first by the head finder's mean score over songs. */
  heads: HeadAccuracy[];
  head_finder: {
    /** The head with the best mean score over songs. */
    first: HeadId;
    /** The head with the lowest median onset error over all words, and the finder's rank of it. */
    most_accurate: HeadId & { finder_rank: number };
  };
  per_song: SongAccuracy[];
  wall_seconds: number;
  load_average: number[];
}

type Log = (line: string) => void;

/** The corpus's songs with their sidecars, in name order. */
function corpusSongs(dir: string): { name: string; file: string; meta: SongSidecar }[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.wav')).sort().map((f) => {
    const file = path.join(dir, f);
    const sidecar = file.replace(/\.wav$/, '.json');
    if (!fs.existsSync(sidecar)) throw new JukeboxError('align-accuracy: --corpus: a song has no JSON sidecar', sidecar);
    return { name: f.replace(/\.wav$/, ''), file, meta: JSON.parse(fs.readFileSync(sidecar, 'utf8')) as SongSidecar };
  });
}

const key = (h: HeadId) => `${h.layer}/${h.head}`;

/**
 * Onset accuracy over all words of several songs, pooled (each word counts once, whatever its
 * song), with the words paired per song as onsetAccuracy pairs them.
 */
function pooled(predicted: WordTiming[][], truth: WordTiming[][]): OnsetAccuracy {
  const errors = predicted.flatMap((p, i) => matchWords(p, truth[i]).map(([a, b]) => Math.abs(p[a].start - truth[i][b].start))).sort((a, b) => a - b);
  const n = errors.length;
  const words = truth.reduce((k, t) => k + t.length, 0);
  const share = (limit: number) => (words === 0 ? 0 : errors.filter((e) => e <= limit).length / words);
  const median = n === 0 ? NaN : n % 2 === 1 ? errors[(n - 1) / 2] : (errors[n / 2 - 1] + errors[n / 2]) / 2;
  return { words: n, median_abs_error: median, within_0_2: share(0.2), within_0_5: share(0.5) };
}

/**
 * The head `jukebox align` uses by default: the prior's alignment_layer/alignment_head when it
 * names a captured head, else the head finder's first (alignLyrics' rule).
 */
function defaultHead(prior: Prior, ranked: HeadScore[]): HeadId {
  const { alignment_layer: layer, alignment_head: head } = prior.config;
  if (layer !== null && head !== null && ranked.some((h) => h.layer === layer && h.head === head)) return { layer, head };
  return { layer: ranked[0].layer, head: ranked[0].head };
}

/** Top-level codes of a song. */
async function encodeTop(vqvae: VQVAE, file: string, level: number): Promise<Int32Array> {
  const source = await openAudioAsync(file, vqvae.config.sr);
  try {
    return (await encodeChunked(vqvae, source, [level]))[0];
  } finally {
    source.close();
  }
}

function checkModels(prior: Prior, vqvae: VQVAE, o: AlignAccuracyOptions): void {
  if (prior.condDownsample !== null) throw new JukeboxError(`align-accuracy: --top must be a top-level prior; this one is a level-${prior.level} upsampler`, o.top);
  if (!prior.hasLyrics) throw new JukeboxError('align-accuracy: --top has no lyrics (n_tokens 0): nothing to align', o.top);
  const hop = vqvae.hopLengths[prior.level];
  if (vqvae.config.sr !== prior.sampleRate || hop !== prior.rawToTokens || vqvae.config.l_bins !== prior.lBins) {
    throw new JukeboxError(`align-accuracy: --vqvae does not match the prior: ${vqvae.config.sr} Hz, hop ${hop}, ${vqvae.config.l_bins} codes at level ${prior.level}; the prior expects ${prior.sampleRate} Hz, hop ${prior.rawToTokens}, ${prior.lBins} codes`, o.vqvae);
  }
}

/** Aligns every song and scores the alignment, the baseline and every lyric head. */
export async function alignAccuracy(o: AlignAccuracyOptions, log: Log = console.log): Promise<AlignAccuracyReport> {
  const started = Date.now();
  await initBackend();
  for (const [flag, file] of [['top', o.top], ['vqvae', o.vqvae]] as const) {
    if (!fs.existsSync(file)) throw new JukeboxError(`align-accuracy: --${flag}: no such file`, file);
  }
  const { model: vqvae } = loadVQVAE(o.vqvae);
  let prior: Prior | undefined;
  try {
    prior = loadPrior(o.top).model;
    checkModels(prior, vqvae, o);
    if (!fs.existsSync(o.corpus) || fs.readdirSync(o.corpus).filter((f) => f.endsWith('.json')).length === 0) {
      log(`corpus: ${o.corpus} is absent; generating ${o.songs} songs of ${o.seconds} s, seed ${o.seed}, at ${vqvae.config.sr} Hz`);
      await writeCorpus({ songs: o.songs, seed: o.seed, seconds: o.seconds, sampleRate: vqvae.config.sr, out: o.corpus });
    }
    const songs = corpusSongs(o.corpus).slice(0, o.songs);
    if (songs.length === 0) throw new JukeboxError('align-accuracy: --corpus holds no songs', o.corpus);
    for (const s of songs) {
      if (!Array.isArray(s.meta.words) || s.meta.words.length === 0) throw new JukeboxError('align-accuracy: --corpus: the sidecar has no "words" (exact word timings) to measure against', s.file.replace(/\.wav$/, '.json'));
    }

    const perSong: SongAccuracy[] = [];
    const predicted: WordTiming[][] = [];
    const baselines: WordTiming[][] = [];
    const truths: WordTiming[][] = [];
    const byHead = new Map<string, { id: HeadId; words: WordTiming[][]; scores: HeadScore[]; tracking: HeadTracking[]; first: number }>();
    let method = '';
    for (const [i, s] of songs.entries()) {
      const songStarted = Date.now();
      const zTop = await encodeTop(vqvae, s.file, prior.level);
      const seconds = (zTop.length * prior.rawToTokens) / prior.sampleRate;
      const meta: SongMetadata = { artist: s.meta.artist, genre: s.meta.genre, lyrics: s.meta.lyrics, totalSeconds: seconds, offsetSeconds: 0 };
      // Every lyric layer is captured (findHead), so every head can be scored from this one pass.
      const result = await alignLyrics(prior, zTop, meta, { findHead: true });
      method = result.method;
      const ranked = result.heads!;
      const used = defaultHead(prior, ranked);
      const truth: WordTiming[] = s.meta.words!.map((w) => ({ word: w.word, start: w.start, end: w.end }));
      const baseline = evenSpreadBaseline(truth);
      let words = result.words;
      let tracking: HeadTracking | undefined;
      const { attention } = result;
      const headAccuracy = ranked.map((h) => {
        const timed = alignWords(attention, h.layer, h.head, { decoding: result.decoding });
        const tracked = headTracking(headMap(attention, h.layer, h.head), attention.tokens, attention.characters, attention.secondsPerToken, truth);
        if (h.layer === used.layer && h.head === used.head) {
          words = timed;
          tracking = tracked;
        }
        const entry = byHead.get(key(h)) ?? { id: { layer: h.layer, head: h.head }, words: [], scores: [], tracking: [], first: 0 };
        entry.words.push(timed);
        entry.scores.push(h);
        entry.tracking.push(tracked);
        byHead.set(key(h), entry);
        return { ...h, accuracy: onsetAccuracy(timed, truth) };
      });
      byHead.get(key(ranked[0]))!.first++;
      const best = headAccuracy.reduce((a, b) => (b.accuracy.median_abs_error < a.accuracy.median_abs_error ? b : a));
      const model = onsetAccuracy(words, truth);
      const base = onsetAccuracy(baseline, truth);
      perSong.push({
        song: s.name,
        words: truth.length,
        layer: used.layer,
        head: used.head,
        model,
        baseline: base,
        tracking: tracking!,
        beats_baseline: model.median_abs_error < base.median_abs_error,
        finder_first: { layer: ranked[0].layer, head: ranked[0].head, score: ranked[0].score },
        most_accurate: { layer: best.layer, head: best.head, median_abs_error: best.accuracy.median_abs_error, finder_rank: headAccuracy.indexOf(best) + 1 },
      });
      predicted.push(words);
      baselines.push(baseline);
      truths.push(truth);
      log(`${i + 1}/${songs.length} ${s.name}: median onset error ${model.median_abs_error.toFixed(3)} s (baseline ${base.median_abs_error.toFixed(3)} s), head ${key(used)} (${((Date.now() - songStarted) / 1000).toFixed(1)} s)`);
    }

    const heads: HeadAccuracy[] = [...byHead.values()]
      .map((h) => {
        const mean = (k: 'score' | 'monotonicity' | 'concentration' | 'coverage') => h.scores.reduce((a, b) => a + b[k], 0) / h.scores.length;
        return {
          ...h.id, score: mean('score'), finder_rank: 0, monotonicity: mean('monotonicity'), concentration: mean('concentration'), coverage: mean('coverage'),
          ranked_first_in: h.first, accuracy: pooled(h.words, truths), tracking: pooledTracking(h.tracking),
        };
      })
      .sort((a, b) => b.score - a.score)
      .map((h, i) => ({ ...h, finder_rank: i + 1 }));
    const mostAccurate = heads.reduce((a, b) => (b.accuracy.median_abs_error < a.accuracy.median_abs_error ? b : a));
    return {
      top: o.top,
      vqvae: o.vqvae,
      corpus: o.corpus,
      method,
      songs: songs.length,
      words: truths.reduce((n, t) => n + t.length, 0),
      overall: { model: pooled(predicted, truths), baseline: pooled(baselines, truths), songs_beating_baseline: perSong.filter((s) => s.beats_baseline).length, tracking: pooledTracking(perSong.map((s) => s.tracking)) },
      heads,
      head_finder: { first: { layer: heads[0].layer, head: heads[0].head }, most_accurate: { layer: mostAccurate.layer, head: mostAccurate.head, finder_rank: mostAccurate.finder_rank } },
      per_song: perSong,
      wall_seconds: (Date.now() - started) / 1000,
      load_average: os.loadavg().map((l) => +l.toFixed(2)),
    };
  } finally {
    prior?.dispose();
    vqvae.dispose();
  }
}

/** The report as a plain-text table: per song, overall, and the heads. */
export function reportTable(r: AlignAccuracyReport): string {
  const s = (x: number) => x.toFixed(3);
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const head = (h: HeadId) => `${h.layer}/${h.head}`;
  const rows: string[][] = [
    ['song', 'words', 'head', 'median err (s)', '<=0.2 s', '<=0.5 s', 'baseline median', '<=0.2 s', '<=0.5 s', 'beats baseline', 'looks at word', 'at line', 'finder first', 'most accurate (finder rank)'],
    ...r.per_song.map((p) => [
      p.song, String(p.words), head(p), s(p.model.median_abs_error), pct(p.model.within_0_2), pct(p.model.within_0_5),
      s(p.baseline.median_abs_error), pct(p.baseline.within_0_2), pct(p.baseline.within_0_5), p.beats_baseline ? 'yes' : 'no',
      pct(p.tracking.word), pct(p.tracking.line), head(p.finder_first), `${head(p.most_accurate)} (${p.most_accurate.finder_rank})`,
    ]),
    [
      'overall', String(r.words), '', s(r.overall.model.median_abs_error), pct(r.overall.model.within_0_2), pct(r.overall.model.within_0_5),
      s(r.overall.baseline.median_abs_error), pct(r.overall.baseline.within_0_2), pct(r.overall.baseline.within_0_5),
      `${r.overall.songs_beating_baseline}/${r.songs}`, pct(r.overall.tracking.word), pct(r.overall.tracking.line), head(r.head_finder.first), `${head(r.head_finder.most_accurate)} (${r.head_finder.most_accurate.finder_rank})`,
    ],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const headRows = [
    ['head', 'finder score', 'monotonic', 'concentrated', 'coverage', 'finder rank', 'ranked first in', 'median err (s)', '<=0.2 s', '<=0.5 s', 'looks at word', 'at line'],
    ...r.heads.map((h) => [
      head(h), h.score.toFixed(3), h.monotonicity.toFixed(3), h.concentration.toFixed(3), h.coverage.toFixed(3), String(h.finder_rank), `${h.ranked_first_in}/${r.songs}`,
      s(h.accuracy.median_abs_error), pct(h.accuracy.within_0_2), pct(h.accuracy.within_0_5), pct(h.tracking.word), pct(h.tracking.line),
    ]),
  ];
  const hw = headRows[0].map((_, c) => Math.max(...headRows.map((row) => row[c].length)));
  const hline = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(hw[c]) : cell.padStart(hw[c]))).join('  ');
  return [line(rows[0]), ...rows.slice(1, -1).map(line), line(rows[rows.length - 1]), '', `lyric heads (${r.method}), best first by the head finder's mean score:`, ...headRows.map(hline)].join('\n');
}

function parseOptions(argv: string[]): AlignAccuracyOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      corpus: { type: 'string' }, top: { type: 'string' }, vqvae: { type: 'string' }, out: { type: 'string' },
      songs: { type: 'string' }, seed: { type: 'string' }, seconds: { type: 'string' },
    },
  });
  const whole = (flag: 'songs' | 'seed' | 'seconds', min: number): number => {
    const text = values[flag];
    if (text === undefined) return DEFAULTS[flag];
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new JukeboxError(`align-accuracy: --${flag} must be a whole number >= ${min}, got '${text}'`);
    return n;
  };
  return {
    corpus: values.corpus ?? DEFAULTS.corpus,
    top: values.top ?? DEFAULTS.top,
    vqvae: values.vqvae ?? DEFAULTS.vqvae,
    out: values.out ?? DEFAULTS.out,
    songs: whole('songs', 1),
    seed: whole('seed', 0),
    seconds: whole('seconds', 5),
  };
}

if (require.main === module) {
  (async () => {
    const o = parseOptions(process.argv.slice(2));
    const report = await alignAccuracy(o);
    console.log(reportTable(report));
    if (o.out !== null) {
      fs.mkdirSync(path.dirname(o.out), { recursive: true });
      fs.writeFileSync(o.out, JSON.stringify(report, null, 1) + '\n');
      console.log(`wrote ${o.out}`);
    }
    console.log(`align-accuracy: ${report.songs} songs in ${report.wall_seconds.toFixed(1)} s (load average ${report.load_average.join(', ')})`);
  })().catch((err) => {
    console.error(`align-accuracy: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
