import { defaultConfig, Figure, Layout, MAGMA, matrixSpec, Trace } from './figures';

/**
 * Figures of lyric attention: how a prior's lyric heads attend from music tokens (time) to lyric
 * characters. Plain data in (the stitched `[tokens, characters]` maps of `src/align`'s
 * `LyricAttention`, or any object of the same shape), plotly figures out:
 *
 * - `attentionExplorerFigure`: every captured head, picked with a layer and a head dropdown, hover
 *   naming the character and the time (for notebooks);
 * - `alignmentFigure`: one head in the style of the Jukebox paper's alignment figure (music time
 *   along x, lyric characters along y), predicted and ground-truth word onsets overlaid;
 * - `headGridFigure`: all heads side by side, as the head finder ranks them.
 *
 * Maps are mean-pooled in time to a few hundred columns and stored as whole percent of the
 * head's peak, a high percentile (1 byte a cell, base64): a 4-minute song's head is then ~250 KB
 * of page instead of the ~4 MB of its float matrix, and a colour step of 1% is finer than the eye
 * sees.
 */

/** Stitched attention maps over a song: `LyricAttention` of src/align satisfies this. */
export interface AttentionMaps {
  /** The cleaned lyrics the prior saw, one character per column of every map. */
  characters: string | readonly string[];
  /** Top-level tokens of the song (rows of every map). */
  tokens: number;
  /** Seconds per top-level token (hop length / sample rate). */
  secondsPerToken: number;
  /** `${layer}/${head}` → `[tokens, characters]` row-major attention probabilities. */
  maps: ReadonlyMap<string, ArrayLike<number>>;
}

/** A word and when it is sung, in seconds (`WordTiming` of src/align). */
export interface TimedWord {
  word: string;
  start: number;
  end: number;
}

/** A head's place in the head finder's ranking (`HeadScore` of src/align, the fields drawn). */
export interface RankedHead {
  layer: number;
  head: number;
  score: number;
}

/** `'68/2'` → `{ layer: 68, head: 2 }`. */
export function parseHeadKey(key: string): { layer: number; head: number } {
  const m = /^(\d+)\/(\d+)$/.exec(key);
  if (m === null) throw new RangeError(`attention map key '${key}' is not 'layer/head'`);
  return { layer: Number(m[1]), head: Number(m[2]) };
}

/** The maps' keys in order of layer, then head. */
export function headKeys(attn: AttentionMaps): string[] {
  return [...attn.maps.keys()].sort((a, b) => {
    const p = parseHeadKey(a);
    const q = parseHeadKey(b);
    return p.layer - q.layer || p.head - q.head;
  });
}

/** The characters as an array, one per map column. */
export function characterList(characters: string | readonly string[]): string[] {
  return typeof characters === 'string' ? Array.from(characters) : [...characters];
}

/** A character as an axis label: spaces and line breaks made visible. */
function visibleCharacter(c: string): string {
  return c === ' ' ? '␣' : c === '\n' ? '⏎' : c === '\t' ? '⇥' : c;
}

/**
 * Category labels of the character axis, `"12 a"`: unique (plotly merges equal categories), so
 * the hover names both the position and the character.
 */
export function characterLabels(characters: string | readonly string[]): string[] {
  return characterList(characters).map((c, i) => `${i} ${visibleCharacter(c)}`);
}

/** One head's map pooled for drawing. */
export interface PooledAttention {
  /** `[characters][columns]`: whole percent (0..100) of the head's peak (see `poolAttention`). */
  z: number[][];
  /** Time of each column's centre, seconds. */
  x: number[];
  /** Tokens per column. */
  stride: number;
}

/**
 * Mean-pools a `[tokens, characters]` map in time to at most `maxColumns` columns and scales it
 * to whole percent of its peak (the 99.5th percentile of its non-zero cells; the few above it
 * show as 100), transposed to plotly's `z[row = character][column = time]`.
 */
export function poolAttention(matrix: ArrayLike<number>, tokens: number, characters: number, secondsPerToken: number, maxColumns = 600): PooledAttention {
  if (matrix.length !== tokens * characters) throw new RangeError(`attention map has ${matrix.length} values, expected ${tokens} tokens x ${characters} characters`);
  const stride = Math.max(1, Math.ceil(tokens / Math.max(1, maxColumns)));
  const cols = Math.ceil(tokens / stride);
  const sums = new Float64Array(characters * cols);
  for (let c = 0; c < cols; c++) {
    const a = c * stride;
    const b = Math.min(tokens, a + stride);
    for (let k = 0; k < characters; k++) {
      let s = 0;
      for (let t = a; t < b; t++) s += matrix[t * characters + k];
      sums[k * cols + c] = s / (b - a);
    }
  }
  // The peak is the 99.5th percentile of the non-zero cells, not the largest: a few very sharp
  // cells (a head fixing on one character for a moment) would otherwise leave the rest black.
  const nonzero = Float64Array.from(sums.filter((v) => v > 0)).sort();
  const robust = nonzero.length > 0 ? nonzero[Math.min(nonzero.length - 1, Math.floor(0.995 * nonzero.length))] : 0;
  const scale = robust > 0 ? 100 / robust : 0;
  const z = Array.from({ length: characters }, (_, k) => Array.from(sums.subarray(k * cols, (k + 1) * cols), (v) => Math.min(100, Math.round(v * scale))));
  const x = Array.from({ length: cols }, (_, c) => {
    const a = c * stride;
    const b = Math.min(tokens, a + stride);
    return Math.round(((a + b) / 2) * secondsPerToken * 1e4) / 1e4;
  });
  return { z, x, stride };
}

/**
 * Where each word starts among the characters: the words are found in order, each searched from
 * where the previous one ended, case-insensitively; a word that cannot be found gets -1 (and the
 * search goes on from the same place).
 */
export function wordCharacterStarts(characters: string | readonly string[], words: readonly { word: string }[]): number[] {
  const text = characterList(characters).join('').toLowerCase();
  let from = 0;
  return words.map((w) => {
    const at = w.word === '' ? -1 : text.indexOf(w.word.toLowerCase(), from);
    if (at >= 0) from = at + w.word.length;
    return at;
  });
}

const FONT = { family: 'Inter, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', size: 12, color: '#2b2f36' };

function baseLayout(title: string | undefined, height: number): Layout {
  return {
    height,
    autosize: true,
    font: FONT,
    margin: { l: 72, r: 24, t: title ? 64 : 40, b: 48, pad: 0 },
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    showlegend: false,
    ...(title ? { title: { text: title, x: 0.01, xanchor: 'left', y: 0.98, yanchor: 'top', font: { size: 15 } } } : {}),
  };
}

function axis(title: string | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...(title ? { title: { text: title, standoff: 6, font: { size: 12 } } } : {}),
    showgrid: false,
    zeroline: false,
    showline: true,
    linecolor: '#c5cad3',
    ticks: 'outside',
    tickcolor: '#c5cad3',
    ticklen: 4,
    automargin: true,
    ...extra,
  };
}

/** The colour bar of every attention figure: percent of the head's peak. */
const COLORBAR = { title: { text: '% of peak', side: 'top' }, thickness: 12, outlinewidth: 0, ticks: 'outside', ticklen: 3 };

export interface AttentionHeatmapOptions {
  /** Most time columns (tokens are mean-pooled beyond that); default 600. */
  maxColumns?: number;
  /** Plotly colour scale; default magma. */
  colorscale?: string | ReadonlyArray<[number, string]>;
}

/**
 * One head as a heatmap trace over a categorical character axis (`characterLabels`) and time in
 * seconds; the hover names the character, the time and the weight.
 */
export function attentionHeatmapTrace(attn: AttentionMaps, key: string, options: AttentionHeatmapOptions = {}): Trace {
  return headHeatmap(attn, key, options, characterLabels).trace;
}

/**
 * Head `key`'s map pooled to at most `options.maxColumns` time columns as a heatmap trace, its
 * rows labelled by `rows` of the song's characters (also returned).
 */
function headHeatmap(
  attn: AttentionMaps, key: string, options: AttentionHeatmapOptions, rows: (chars: string[]) => (string | number)[],
): { trace: Trace; chars: string[] } {
  const map = attn.maps.get(key);
  if (map === undefined) throw new RangeError(`no attention map for head ${key} (have ${headKeys(attn).join(', ')})`);
  const chars = characterList(attn.characters);
  const pooled = poolAttention(map, attn.tokens, chars.length, attn.secondsPerToken, options.maxColumns ?? 600);
  const { layer, head } = parseHeadKey(key);
  const trace: Trace = {
    type: 'heatmap',
    name: `layer ${layer} head ${head}`,
    x: pooled.x,
    y: rows(chars),
    z: matrixSpec(pooled.z, true),
    zmin: 0,
    zmax: 100,
    zsmooth: false,
    colorscale: options.colorscale ?? MAGMA,
    colorbar: COLORBAR,
    hovertemplate: 'character %{y}<br>%{x:.2f} s<br>%{z}% of peak<extra></extra>',
  };
  return { trace, chars };
}

export interface AttentionExplorerOptions extends AttentionHeatmapOptions {
  title?: string;
  /** The head shown first; default the first layer's first head. */
  initial?: { layer: number; head: number };
  /** Figure height in pixels; default 520. */
  height?: number;
}

/**
 * An interactive attention explorer: one heatmap of music time against lyric characters, with a
 * dropdown for the layer and one for the head. Picking a layer shows its first head and swaps the
 * head dropdown's entries for that layer's heads, so the two menus never disagree.
 */
export function attentionExplorerFigure(attn: AttentionMaps, options: AttentionExplorerOptions = {}): Figure {
  const keys = headKeys(attn);
  if (keys.length === 0) throw new RangeError('attentionExplorerFigure needs at least one attention map');
  const byLayer = new Map<number, number[]>();
  for (const k of keys) {
    const { layer, head } = parseHeadKey(k);
    byLayer.set(layer, [...(byLayer.get(layer) ?? []), head]);
  }
  const first = options.initial ? `${options.initial.layer}/${options.initial.head}` : keys[0];
  if (!attn.maps.has(first)) throw new RangeError(`no attention map for head ${first} (have ${keys.join(', ')})`);
  const traces = new Map(keys.map((k) => [k, attentionHeatmapTrace(attn, k, options)]));
  const title = (layer: number, head: number) => `${options.title ? `${options.title} · ` : ''}layer ${layer}, head ${head}`;
  const show = (layer: number, head: number) => {
    const t = traces.get(`${layer}/${head}`)!;
    return { z: [t.z], name: [t.name] };
  };
  const headButtons = (layer: number) =>
    byLayer.get(layer)!.map((head) => ({ label: `head ${head}`, method: 'update', args: [show(layer, head), { 'title.text': title(layer, head) }] }));
  const { layer: layer0, head: head0 } = parseHeadKey(first);
  const layers = [...byLayer.keys()];
  const menu = (x: number, buttons: unknown[], active: number) => ({
    type: 'dropdown', direction: 'down', x, xanchor: 'left', y: 1.0, yanchor: 'bottom', pad: { t: 0, b: 6 }, showactive: true, active, buttons,
    bgcolor: '#ffffff', bordercolor: '#c5cad3', font: { size: 12 },
  });
  const layout = baseLayout(title(layer0, head0), options.height ?? 520);
  (layout.margin as Record<string, number>).t = 96;
  layout.title = { text: title(layer0, head0), x: 0.01, xanchor: 'left', y: 0.99, yanchor: 'top', font: { size: 15 } };
  layout.xaxis = axis('Time (s)');
  layout.yaxis = axis('Lyric character', { type: 'category', nticks: 40 });
  layout.updatemenus = [
    menu(0, layers.map((layer) => ({
      label: `layer ${layer}`,
      method: 'update',
      args: [show(layer, byLayer.get(layer)![0]), { 'title.text': title(layer, byLayer.get(layer)![0]), 'updatemenus[1].buttons': headButtons(layer), 'updatemenus[1].active': 0 }],
    })), layers.indexOf(layer0)),
    menu(0.16, headButtons(layer0), byLayer.get(layer0)!.indexOf(head0)),
  ];
  return { data: [traces.get(first)!], layout, config: defaultConfig() };
}

export interface AlignmentFigureOptions extends AttentionHeatmapOptions {
  title?: string;
  /** Word timings predicted from the head (drawn as open circles at each word's first character). */
  words?: readonly TimedWord[];
  /** Ground-truth word timings (drawn as white diamonds at each true onset). */
  truth?: readonly TimedWord[];
  /** Figure height in pixels; default 460. */
  height?: number;
}

/**
 * One head in the style of the Jukebox paper's alignment figure: music time along x, the lyric
 * characters along y (first character at the bottom), attention as brightness. Ground-truth word
 * onsets, when known, are white diamonds at (true start, the word's first character): where the
 * bright path passes through them the head has learnt the alignment.
 */
export function alignmentFigure(attn: AttentionMaps, layer: number, head: number, options: AlignmentFigureOptions = {}): Figure {
  const { trace, chars } = headHeatmap(attn, `${layer}/${head}`, options, (c) => c.map((_, i) => i));
  const data: Trace[] = [trace];
  const overlay = (words: readonly TimedWord[], name: string, marker: Record<string, unknown>): Trace => {
    const starts = wordCharacterStarts(chars, words);
    const kept = words.map((w, i) => ({ w, at: starts[i] })).filter((p) => p.at >= 0);
    return {
      type: 'scatter',
      mode: 'markers',
      name,
      x: kept.map((p) => Math.round(p.w.start * 1e4) / 1e4),
      y: kept.map((p) => p.at),
      text: kept.map((p) => p.w.word),
      marker,
      hovertemplate: `${name}: %{text}<br>%{x:.2f} s<extra></extra>`,
    };
  };
  if (options.words) data.push(overlay(options.words, 'predicted', { symbol: 'circle-open', size: 8, color: '#4fd1ff', line: { width: 2 } }));
  if (options.truth) data.push(overlay(options.truth, 'truth', { symbol: 'diamond', size: 7, color: '#ffffff', line: { width: 1, color: '#000000' } }));
  const title = options.title ?? `Lyric alignment · layer ${layer}, head ${head}`;
  const layout = baseLayout(title, options.height ?? 460);
  const ticks = chars.map((c, i) => ({ c, i })).filter((_, i) => i % Math.max(1, Math.ceil(chars.length / 40)) === 0);
  layout.xaxis = axis('Music time (s)', { range: [0, attn.tokens * attn.secondsPerToken] });
  layout.yaxis = axis('Lyric characters', { range: [-0.5, chars.length - 0.5], tickmode: 'array', tickvals: ticks.map((t) => t.i), ticktext: ticks.map((t) => visibleCharacter(t.c)) });
  layout.showlegend = data.length > 1;
  layout.legend = { orientation: 'h', x: 1, xanchor: 'right', y: 1.02, yanchor: 'bottom' };
  return { data, layout, config: defaultConfig() };
}

export interface HeadGridOptions {
  title?: string;
  /** The head finder's ranking: heads are drawn best first, each titled with its rank and score. */
  ranking?: readonly RankedHead[];
  /** Panels per row; default 4. */
  columns?: number;
  /** Most time columns per panel; default 160. */
  maxColumns?: number;
  /** Height of a row of panels in pixels; default 200. */
  rowHeight?: number;
}

/**
 * Every head's map as a small panel, for spotting the heads that align (a bright diagonal) at a
 * glance: best first when a ranking is given, else by layer and head. One colour scale (percent of
 * each head's own peak).
 */
export function headGridFigure(attn: AttentionMaps, options: HeadGridOptions = {}): Figure {
  const keys = headKeys(attn);
  if (keys.length === 0) throw new RangeError('headGridFigure needs at least one attention map');
  const rank = new Map((options.ranking ?? []).map((r, i) => [`${r.layer}/${r.head}`, { i, score: r.score }]));
  const ordered = options.ranking ? [...keys].sort((a, b) => (rank.get(a)?.i ?? Infinity) - (rank.get(b)?.i ?? Infinity)) : keys;
  const columns = Math.max(1, Math.min(options.columns ?? 4, ordered.length));
  const rows = Math.ceil(ordered.length / columns);
  const hgap = 0.03;
  const vgap = rows > 1 ? 0.12 / rows + 0.04 : 0;
  const w = (1 - hgap * (columns - 1)) / columns;
  const h = (1 - vgap * (rows - 1)) / rows;
  const chars = characterList(attn.characters);
  const layout = baseLayout(options.title, (options.rowHeight ?? 200) * rows + (options.title ? 70 : 40));
  (layout.margin as Record<string, number>).t = options.title ? 80 : 40;
  const annotations: Record<string, unknown>[] = [];
  const data: Trace[] = ordered.map((key, i) => {
    const { layer, head } = parseHeadKey(key);
    const row = Math.floor(i / columns);
    const col = i % columns;
    const x0 = col * (w + hgap);
    const y1 = 1 - row * (h + vgap);
    const suffix = i === 0 ? '' : String(i + 1);
    const pooled = poolAttention(attn.maps.get(key)!, attn.tokens, chars.length, attn.secondsPerToken, options.maxColumns ?? 160);
    layout[`xaxis${suffix}`] = axis(row === rows - 1 ? 'Time (s)' : undefined, { domain: [x0, x0 + w], anchor: `y${suffix}`, showticklabels: row === rows - 1 });
    layout[`yaxis${suffix}`] = axis(col === 0 ? 'Character' : undefined, { domain: [y1 - h, y1], anchor: `x${suffix}`, showticklabels: col === 0 });
    const r = rank.get(key);
    annotations.push({
      text: `${r ? `#${r.i + 1} · ` : ''}L${layer} H${head}${r ? ` · ${r.score.toFixed(3)}` : ''}`,
      xref: 'paper', yref: 'paper', x: x0 + w / 2, xanchor: 'center', y: y1, yanchor: 'bottom', yshift: 2, showarrow: false, font: { size: 12 },
    });
    return {
      type: 'heatmap',
      name: `layer ${layer} head ${head}`,
      x: pooled.x,
      y: chars.map((_, k) => k),
      z: matrixSpec(pooled.z, true),
      xaxis: `x${suffix}`,
      yaxis: `y${suffix}`,
      coloraxis: 'coloraxis',
      zsmooth: false,
      hovertemplate: `L${layer} H${head}<br>character %{y}<br>%{x:.2f} s<br>%{z}% of peak<extra></extra>`,
    };
  });
  layout.annotations = annotations;
  layout.coloraxis = { colorscale: MAGMA, cmin: 0, cmax: 100, colorbar: COLORBAR };
  return { data, layout, config: defaultConfig() };
}
