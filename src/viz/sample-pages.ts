import { codeTimelineFigure, defaultConfig, Figure, levelColor, levelLabel } from './figures';
import { escapeHtml, figureHtml, gridHtml, htmlPage, sectionHtml, tableHtml } from './html';

/**
 * The pages `jukebox sample`, `upsample` and `score` write next to their outputs: offline HTML
 * built from the shared page, table and figure helpers.
 */

/** One decoded item of one level: a WAV next to the page. */
export interface SampleAudioFile {
  /** Path relative to the page (e.g. `level_2/item_0.wav`). */
  file: string;
  seconds: number;
}

export interface SamplePageInput {
  title: string;
  /** A line under the title (mode, models). */
  subtitle?: string;
  sampleRate: number;
  hopLengths: number[];
  /** Decoded audio per level (empty when only codes were written). */
  audio: Map<number, SampleAudioFile[]>;
  /** Codes per level and item. */
  codes: Map<number, Int32Array[]>;
  /** Codebook size, for the timeline's code axis. */
  codebookSize?: number;
  /** Each item's labels (artist, genre, timing, lyrics), shown as a table. */
  labels: Record<string, string | number>[];
  /** Sampling settings and seed, shown as a table. */
  settings: Record<string, string | number>;
  /** At most this many items get a code timeline; default 8. */
  maxTimelines?: number;
  /** The lyrics sung, shown in full with their line breaks (the labels table shows only their start). */
  lyrics?: string;
  /** Each item's lyric alignment page relative to this page (`item_i/index.html`), null for an item without one. */
  alignmentPages?: (string | null)[];
}

/** A path relative to the page as a URL: each segment percent-encoded, the slashes kept. */
export function relativeUrl(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

/**
 * An `<audio>` player for a WAV beside the page (a relative link, so the page stays small and
 * works from the folder offline), in the markup of `audioPlayerHtml`.
 */
export function filePlayerHtml(file: string, seconds: number, sampleRate: number, label: string): string {
  const src = relativeUrl(file);
  const caption = `<span class="jbx-audio-label">${escapeHtml(label)}</span><span class="jbx-audio-meta">${seconds.toFixed(2)} s · ${sampleRate} Hz</span>`;
  return `<figure class="jbx-audio"><figcaption>${caption}</figcaption><audio controls preload="metadata" src="${escapeHtml(src)}"></audio></figure>`;
}

/**
 * The sample page (`DIR/index.html`): a player per level and item (the WAVs beside it), the
 * labels and settings, and each item's codes over time at every level sampled.
 */
export function samplePage(input: SamplePageInput): string {
  const levels = [...input.codes.keys()].sort((a, b) => b - a);
  const items = input.codes.get(levels[0])?.length ?? 0;
  const sections: string[] = [];
  sections.push(sectionHtml('Settings', tableHtml([input.settings], { digits: 4 })));
  if (input.labels.length > 0) sections.push(sectionHtml('Labels', tableHtml(input.labels.map((l, i) => ({ item: i, ...l })), { digits: 2 })));
  if (input.lyrics !== undefined && input.lyrics.trim() !== '') {
    sections.push(sectionHtml('Lyrics', `<pre class="jbx-lyrics" style="white-space:pre-wrap;font:inherit;margin:0">${escapeHtml(input.lyrics.trim())}</pre>`));
  }
  for (const level of [...input.audio.keys()].sort((a, b) => b - a)) {
    const files = input.audio.get(level)!;
    sections.push(
      sectionHtml(`Listen: ${levelLabel(level, input.hopLengths[level])}`, gridHtml(files.map((f, i) => filePlayerHtml(f.file, f.seconds, input.sampleRate, `item ${i}`)), { minWidth: 260 }), {
        description: level === 0 ? 'The finest level: the final audio.' : `Decoded from level ${level} alone: coarser than the level below it.`,
      }),
    );
  }
  const pages = (input.alignmentPages ?? []).map((p, i) => ({ p, i })).filter((x): x is { p: string; i: number } => x.p !== null);
  if (pages.length > 0) {
    const links = pages.map(({ p, i }) => `<li><a href="${escapeHtml(relativeUrl(p))}">item ${i}</a></li>`).join('');
    sections.push(sectionHtml('Lyric alignment', `<ul class="jbx-alignment-links">${links}</ul>`, {
      description: 'Each item\'s lyrics aligned to its music by the top prior\'s lyric attention: a karaoke page with the word being sung highlighted.',
    }));
  }
  const timelines = Math.min(items, input.maxTimelines ?? 8);
  const figures: string[] = [];
  for (let i = 0; i < timelines; i++) {
    figures.push(
      figureHtml(
        codeTimelineFigure(
          levels.map((l) => input.codes.get(l)![i]),
          levels.map((l) => input.hopLengths[l]),
          input.sampleRate,
          { title: `Item ${i}`, bins: input.codebookSize, levelLabels: levels.map((l) => levelLabel(l, input.hopLengths[l])), rowHeight: 130 },
        ),
      ),
    );
  }
  if (figures.length > 0) {
    sections.push(sectionHtml('Codes', figures, { description: `Which code each level chose over time${timelines < items ? ` (the first ${timelines} of ${items} items)` : ''}.` }));
  }
  return htmlPage({ title: input.title, subtitle: input.subtitle, sections });
}

export interface SurpriseFigureOptions {
  title?: string;
  /** Most points per item (mean-pooled beyond that); default 4000. */
  maxPoints?: number;
  height?: number;
}

/** Means of consecutive groups of `stride` values. */
function pooled(values: ArrayLike<number>, stride: number): number[] {
  const out: number[] = [];
  for (let a = 0; a < values.length; a += stride) {
    const b = Math.min(values.length, a + stride);
    let s = 0;
    for (let i = a; i < b; i++) s += values[i];
    out.push(Math.round((s / (b - a)) * 1000) / 1000);
  }
  return out;
}

/**
 * Surprise over time: one line of bits per token per item against seconds (token t at
 * t · secondsPerToken), so unexpected passages stand out as peaks.
 */
export function surpriseFigure(bits: ArrayLike<number>[], secondsPerToken: number, options: SurpriseFigureOptions = {}): Figure {
  const maxPoints = options.maxPoints ?? 4000;
  const data = bits.map((b, i) => {
    const stride = Math.max(1, Math.ceil(b.length / maxPoints));
    const y = pooled(b, stride);
    return {
      type: 'scatter',
      mode: 'lines',
      name: `item ${i}`,
      x: y.map((_, j) => Math.round(j * stride * secondsPerToken * 1e4) / 1e4),
      y,
      line: { color: levelColor(i), width: 1.4 },
      hovertemplate: `item ${i}<br>%{x:.2f} s<br>%{y:.2f} bits/token<extra></extra>`,
    };
  });
  const axis = (title: string) => ({ title: { text: title, standoff: 6 }, gridcolor: '#eceff3', zeroline: false, showline: true, linecolor: '#c5cad3', ticks: 'outside', automargin: true });
  return {
    data,
    layout: {
      height: options.height ?? 360,
      autosize: true,
      ...(options.title ? { title: { text: options.title, x: 0.01, xanchor: 'left' } } : {}),
      margin: { l: 64, r: 24, t: options.title ? 48 : 18, b: 48 },
      xaxis: axis('Time (s)'),
      yaxis: axis('Surprise (bits/token)'),
      showlegend: bits.length > 1,
      paper_bgcolor: '#ffffff',
      plot_bgcolor: '#ffffff',
    },
    config: defaultConfig(),
  };
}

export interface ScoresPageInput {
  /** What was scored (a file name). */
  source: string;
  /** The prior's file name. */
  prior: string;
  level: number;
  sampleRate: number;
  hopLength: number;
  /** Smoothed bits per token per item. */
  smoothed: ArrayLike<number>[];
  /** Tokens in the smoothing window. */
  smoothTokens: number;
  /** Mean bits per token per item. */
  meanBits: number[];
  /** Mean over all items. */
  bitsPerToken: number;
}

/** The score page (`scores.html`): surprise over time per item, and each item's mean. */
export function scoresPage(input: ScoresPageInput): string {
  const secondsPerToken = input.hopLength / input.sampleRate;
  const tokens = input.smoothed[0]?.length ?? 0;
  const rows = input.meanBits.map((b, i) => ({ item: i, tokens, seconds: tokens * secondsPerToken, 'bits/token': b }));
  return htmlPage({
    title: `Surprise of ${input.source}`,
    subtitle: `prior ${input.prior} · level ${input.level} · ${(1 / secondsPerToken).toFixed(1)} tokens/s · mean ${input.bitsPerToken.toFixed(3)} bits/token`,
    sections: [
      sectionHtml('Surprise over time', figureHtml(surpriseFigure(input.smoothed, secondsPerToken)), {
        description: `Bits per token (−log2 of the probability the prior gave each token, given the ones before it), averaged over ${input.smoothTokens} tokens (${(input.smoothTokens * secondsPerToken).toFixed(2)} s). Peaks are passages the prior did not expect.`,
      }),
      sectionHtml('Per item', tableHtml(rows, { digits: 3 })),
    ],
  });
}
