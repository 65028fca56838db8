/**
 * Figure builders: pure functions from the toolkit's plain data (typed arrays, matrices, records)
 * to plotly.js figure objects `{ data, layout, config }`. Nothing here touches a DOM or plotly
 * itself, so the figures can be rendered by `figureHtml` (pages, notebooks), serialised, or
 * tested as data.
 *
 * Conventions shared by every builder:
 * - one colour per VQ-VAE level ({@link LEVEL_COLORS}), the same in every figure;
 * - axis titles carry units; compact margins; system UI font; light grid;
 * - typed arrays are copied to plain arrays and values rounded to what a screen can show, so the
 *   JSON embedded in a page or a notebook stays small (a 4-minute song's waveform is ~4000 points,
 *   a spectrogram at most `maxFrames` columns, packed as int8).
 * - titles and labels are plotly text, so its small HTML subset (<b>, <i>, <br>) applies; table
 *   cells are data and are shown literally.
 */

/** One plotly trace (`type` is 'scatter', 'heatmap', 'bar', 'table', ...). */
export interface Trace {
  type: string;
  [key: string]: unknown;
}

/** A plotly layout object. */
export type Layout = Record<string, unknown>;

/** A plotly config object (`responsive`, `displaylogo`, ...). */
export type Config = Record<string, unknown>;

/** What `Plotly.newPlot(div, data, layout, config)` takes. */
export interface Figure {
  data: Trace[];
  layout: Layout;
  config?: Config;
}

/** Level colours: level 0 (bottom, finest) blue, 1 orange, 2 green, then red, purple, ... */
export const LEVEL_COLORS: readonly string[] = ['#4C72B0', '#DD8452', '#55A868', '#C44E52', '#8172B3', '#937860', '#DA8BC3', '#8C8C8C'];

/** Colour of the original (input) audio wherever it is drawn next to the levels. */
export const ORIGINAL_COLOR = '#34495E';

/** The colour of `level`, cycling when there are more levels than colours. */
export function levelColor(level: number): string {
  return LEVEL_COLORS[((level % LEVEL_COLORS.length) + LEVEL_COLORS.length) % LEVEL_COLORS.length];
}

/** "Level 0" or, when the hop length is known, "Level 0 · 8×". */
export function levelLabel(level: number, hopLength?: number): string {
  return hopLength ? `Level ${level} · ${hopLength}×` : `Level ${level}`;
}

/** A magma colour scale (plotly.js ships viridis but not magma, the usual spectrogram map). */
export const MAGMA: ReadonlyArray<[number, string]> = [
  [0, '#000004'],
  [0.125, '#1c1044'],
  [0.25, '#4f127b'],
  [0.375, '#812581'],
  [0.5, '#b5367a'],
  [0.625, '#e55064'],
  [0.75, '#fb8761'],
  [0.875, '#fec287'],
  [1, '#fcfdbf'],
];

const FONT_FAMILY = 'Inter, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const TEXT_COLOR = '#2b2f36';
const GRID_COLOR = '#eceff3';
const LINE_COLOR = '#c5cad3';

/** The config every builder returns: responsive width, no plotly logo, crisp PNG export. */
export function defaultConfig(): Config {
  return {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ['lasso2d', 'select2d'],
    toImageButtonOptions: { format: 'png', scale: 2 },
  };
}

function baseLayout(title: string | undefined, height: number): Layout {
  const layout: Layout = {
    height,
    autosize: true,
    font: { family: FONT_FAMILY, size: 12, color: TEXT_COLOR },
    margin: { l: 64, r: 24, t: title ? 48 : 18, b: 48, pad: 0 },
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    hoverlabel: { font: { family: FONT_FAMILY, size: 12 }, bordercolor: LINE_COLOR },
    showlegend: false,
  };
  if (title) layout.title = { text: title, x: 0.01, xanchor: 'left', y: 0.98, yanchor: 'top', font: { size: 15 } };
  return layout;
}

function axis(title: string | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...(title ? { title: { text: title, standoff: 6, font: { size: 12 } } } : {}),
    gridcolor: GRID_COLOR,
    zeroline: false,
    showline: true,
    linecolor: LINE_COLOR,
    ticks: 'outside',
    tickcolor: LINE_COLOR,
    ticklen: 4,
    automargin: true,
    ...extra,
  };
}

/** Rounds to `decimals` places (keeps the JSON short); non-finite values become null (a gap). */
function round(v: number, decimals: number): number | null {
  if (!Number.isFinite(v)) return null;
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** 'x', 'x2', ... for the i-th (0-based) subplot. */
function axisRef(letter: 'x' | 'y', i: number): string {
  return i === 0 ? letter : `${letter}${i + 1}`;
}

/** 'xaxis', 'xaxis2', ... for the i-th (0-based) subplot. */
function axisKey(letter: 'x' | 'y', i: number): string {
  return i === 0 ? `${letter}axis` : `${letter}axis${i + 1}`;
}

interface Cell {
  x: [number, number];
  y: [number, number];
  row: number;
  col: number;
}

/** Paper-coordinate domains of a rows × columns grid, row-major from the top. */
function gridCells(n: number, columns: number, hgap: number, vgap: number): Cell[] {
  const cols = Math.max(1, Math.min(columns, n));
  const rows = Math.ceil(n / cols);
  const w = (1 - hgap * (cols - 1)) / cols;
  const h = (1 - vgap * (rows - 1)) / rows;
  const cells: Cell[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const x0 = col * (w + hgap);
    const y1 = 1 - row * (h + vgap);
    cells.push({ x: [x0, x0 + w], y: [y1 - h, y1], row, col });
  }
  return cells;
}

/** A subplot title: an annotation centred above (or at the left of) a cell. */
function cellTitle(text: string, cell: Cell, align: 'center' | 'left' = 'center'): Record<string, unknown> {
  return {
    text,
    xref: 'paper',
    yref: 'paper',
    x: align === 'center' ? (cell.x[0] + cell.x[1]) / 2 : cell.x[0],
    xanchor: align,
    y: cell.y[1],
    yanchor: 'bottom',
    yshift: 4,
    showarrow: false,
    font: { size: 12.5, color: TEXT_COLOR },
  };
}

// ---------------------------------------------------------------------------------------------
// Waveform

/**
 * Min/max envelope of a long signal in at most `maxPoints` points: the samples are cut into
 * `floor(maxPoints / 2)` equal runs and each run contributes its minimum and its maximum, in the
 * order they occur. Drawn as one line this looks exactly like the full waveform at screen
 * resolution, and every peak survives (unlike striding). Short signals come back unchanged.
 */
export function minMaxEnvelope(samples: ArrayLike<number>, maxPoints: number): { index: number[]; value: number[] } {
  const n = samples.length;
  if (!(maxPoints >= 2)) throw new RangeError(`maxPoints must be at least 2, got ${maxPoints}`);
  if (n <= maxPoints) {
    return { index: Array.from({ length: n }, (_, i) => i), value: Array.from(samples) };
  }
  const buckets = Math.floor(maxPoints / 2);
  const index: number[] = [];
  const value: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets);
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if (samples[i] < samples[lo]) lo = i;
      if (samples[i] > samples[hi]) hi = i;
    }
    if (lo === hi) {
      index.push(lo);
      value.push(samples[lo]);
    } else {
      const [a, c] = lo < hi ? [lo, hi] : [hi, lo];
      index.push(a, c);
      value.push(samples[a], samples[c]);
    }
  }
  return { index, value };
}

export interface WaveformOptions {
  title?: string;
  /** Most points drawn (min/max envelope beyond that); default 4000. */
  maxPoints?: number;
  /** Line colour; default the original-audio colour. */
  color?: string;
  /** Figure height in pixels; default 240. */
  height?: number;
}

/** A waveform against time; long signals are reduced to their min/max envelope. */
export function waveformFigure(samples: ArrayLike<number>, sampleRate: number, options: WaveformOptions = {}): Figure {
  if (!(sampleRate > 0)) throw new RangeError(`sampleRate must be positive, got ${sampleRate}`);
  const { index, value } = minMaxEnvelope(samples, options.maxPoints ?? 4000);
  const duration = samples.length / sampleRate;
  const timeDecimals = Math.max(3, Math.ceil(Math.log10(sampleRate)) + 1);
  const layout = baseLayout(options.title, options.height ?? 240);
  layout.xaxis = axis('Time (s)', { range: [0, duration], showgrid: true });
  layout.yaxis = axis('Amplitude', { showgrid: true, zeroline: true, zerolinecolor: LINE_COLOR, zerolinewidth: 1 });
  return {
    data: [
      {
        type: 'scatter',
        mode: 'lines',
        name: options.title ?? 'waveform',
        x: index.map((i) => round(i / sampleRate, timeDecimals)),
        y: value.map((v) => round(v, 4)),
        line: { color: options.color ?? ORIGINAL_COLOR, width: 1 },
        hovertemplate: '%{x:.3f} s<br>%{y:.3f}<extra></extra>',
      },
    ],
    layout,
    config: defaultConfig(),
  };
}

// ---------------------------------------------------------------------------------------------
// Spectrograms

export interface SpectrogramPanel {
  title: string;
  /** Log-mel spectrogram in dB, `[frames][nMels]` (frame-major, as `logMelSpectrogram` returns). */
  db: ArrayLike<number>[];
  /** Seconds between frames (hop length / sample rate). */
  hopSeconds: number;
  /** Centre frequency in Hz of each mel band (labels the frequency axis in Hz). */
  melFrequencies?: ArrayLike<number>;
}

export interface SpectrogramsOptions {
  title?: string;
  /**
   * Most time columns per panel (frames are mean-pooled beyond that); default 1600 / columns
   * (about two columns per screen pixel of a 1200-px-wide figure: 400 each for 4 panels).
   */
  maxFrames?: number;
  /** Colour range: top of the scale; default the loudest value over all panels. */
  zmax?: number;
  /** Colour range: bottom of the scale; default `zmax - dynamicRangeDb` (or the quietest value). */
  zmin?: number;
  /** Dynamic range shown when `zmin` is not given; default 80 dB. */
  dynamicRangeDb?: number;
  /** Panels per row; default all panels in one row up to 4. */
  columns?: number;
  /** Height of one row of panels in pixels; default 300. */
  rowHeight?: number;
  /** Zoom and pan all panels together; default true. */
  linkAxes?: boolean;
  /** Plotly colour scale; default magma. */
  colorscale?: string | ReadonlyArray<[number, string]>;
}

/**
 * A matrix as plotly's typed-array spec `{ dtype, bdata, shape }` (base-64 of the row-major
 * values; plotly.js ≥ 2.28 decodes it): whole numbers as int8 or int16 when they fit (1 or 2
 * bytes a value instead of ~5 characters of JSON), else float32 (non-finite values as NaN).
 */
export function matrixSpec(rows: ArrayLike<number | null>[], integers: boolean): { dtype: string; bdata: string; shape: string } {
  const h = rows.length;
  const w = h ? rows[0].length : 0;
  let lo = Infinity;
  let hi = -Infinity;
  let finite = true;
  for (const r of rows) {
    for (let j = 0; j < w; j++) {
      const v = r[j];
      if (v === null || !Number.isFinite(v)) finite = false;
      else {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  const T = integers && finite && lo >= -128 && hi <= 127 ? Int8Array : integers && finite && lo >= -32768 && hi <= 32767 ? Int16Array : Float32Array;
  const out = new T(h * w);
  rows.forEach((r, i) => {
    for (let j = 0; j < w; j++) {
      const v = r[j];
      out[i * w + j] = v === null ? NaN : integers && T !== Float32Array ? Math.round(v) : v;
    }
  });
  const dtype = T === Int8Array ? 'i1' : T === Int16Array ? 'i2' : 'f4';
  return { dtype, bdata: Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('base64'), shape: `${h},${w}` };
}

/** Decodes {@link matrixSpec}'s output back to rows of numbers (NaN where a value was missing). */
export function decodeMatrixSpec(spec: { dtype: string; bdata: string; shape: string }): number[][] {
  const [h, w] = spec.shape.split(',').map(Number);
  const bytes = Buffer.from(spec.bdata, 'base64');
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const T = spec.dtype === 'i1' ? Int8Array : spec.dtype === 'i2' ? Int16Array : spec.dtype === 'f4' ? Float32Array : undefined;
  if (!T) throw new RangeError(`unsupported dtype ${spec.dtype}`);
  const flat = new T(buf);
  return Array.from({ length: h }, (_, i) => Array.from(flat.subarray(i * w, (i + 1) * w)));
}

/** Mean-pools frames so that at most `maxFrames` columns remain; returns z as [mel][column]. */
function poolFrames(db: ArrayLike<number>[], maxFrames: number): { z: (number | null)[][]; stride: number } {
  const frames = db.length;
  const mels = frames ? db[0].length : 0;
  const stride = Math.max(1, Math.ceil(frames / Math.max(1, maxFrames)));
  const cols = Math.ceil(frames / stride);
  const z: (number | null)[][] = Array.from({ length: mels }, () => new Array<number | null>(cols));
  for (let c = 0; c < cols; c++) {
    const start = c * stride;
    const end = Math.min(frames, start + stride);
    for (let m = 0; m < mels; m++) {
      let sum = 0;
      let count = 0;
      for (let f = start; f < end; f++) {
        const v = db[f][m];
        if (Number.isFinite(v)) {
          sum += v;
          count++;
        }
      }
      z[m][c] = count ? sum / count : null;
    }
  }
  return { z, stride };
}

function formatHz(hz: number): string {
  return hz >= 1000 ? `${+(hz / 1000).toFixed(1)}k` : `${Math.round(hz)}`;
}

/**
 * Tick positions (fractional band indices) for round frequencies within the bands' range, from
 * the top down, skipping any closer than 1/14 of the axis to the previous one (low frequencies
 * crowd together on a mel axis).
 */
function melTicks(freqs: ArrayLike<number>): { tickvals: number[]; ticktext: string[] } {
  const candidates = [16000, 8000, 4000, 2000, 1000, 500, 200, 100, 50];
  const minGap = freqs.length / 14;
  const tickvals: number[] = [];
  const ticktext: string[] = [];
  for (const hz of candidates) {
    for (let i = 0; i + 1 < freqs.length; i++) {
      const a = freqs[i];
      const b = freqs[i + 1];
      if (hz >= a && hz <= b && b > a) {
        const at = round(i + (hz - a) / (b - a), 2) as number;
        if (tickvals.length === 0 || tickvals[tickvals.length - 1] - at >= minGap) {
          tickvals.push(at);
          ticktext.push(formatHz(hz));
        }
        break;
      }
    }
  }
  return { tickvals: tickvals.reverse(), ticktext: ticktext.reverse() };
}

/**
 * Log-mel spectrograms side by side (the original and each level's reconstruction, say) as
 * heatmaps with one shared colour scale (one colour bar, in dB), so equal colours mean equal
 * levels across panels. Time runs along x in seconds; the frequency axis is labelled in Hz when
 * `melFrequencies` is given, else by mel band. Long spectrograms are mean-pooled in time to at
 * most `maxFrames` columns.
 */
export function spectrogramsFigure(panels: SpectrogramPanel[], options: SpectrogramsOptions = {}): Figure {
  if (panels.length === 0) throw new RangeError('spectrogramsFigure needs at least one panel');
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of panels) {
    if (!(p.hopSeconds > 0)) throw new RangeError(`panel "${p.title}": hopSeconds must be positive`);
    for (const frame of p.db) {
      for (let m = 0; m < frame.length; m++) {
        const v = frame[m];
        if (Number.isFinite(v)) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
  }
  if (!Number.isFinite(hi)) {
    lo = -80;
    hi = 0;
  }
  const zmax = options.zmax ?? hi;
  const zmin = options.zmin ?? Math.max(lo, zmax - (options.dynamicRangeDb ?? 80));
  const columns = options.columns ?? Math.min(panels.length, 4);
  const cells = gridCells(panels.length, columns, 0.035, 0.16);
  const rows = cells[cells.length - 1].row + 1;
  const link = options.linkAxes ?? true;
  const layout = baseLayout(options.title, (options.rowHeight ?? 300) * rows + (options.title ? 40 : 10));
  (layout.margin as Record<string, number>).t = options.title ? 70 : 34;
  (layout.margin as Record<string, number>).r = 16;
  layout.coloraxis = {
    colorscale: options.colorscale ?? MAGMA,
    cmin: round(zmin, 1),
    cmax: round(zmax, 1),
    colorbar: { title: { text: 'dB', side: 'top' }, thickness: 12, len: 1, outlinewidth: 0, ticks: 'outside', ticklen: 3, x: 1.01 },
  };
  const annotations: Record<string, unknown>[] = [];
  const data: Trace[] = panels.map((p, i) => {
    const cell = cells[i];
    const { z, stride } = poolFrames(p.db, options.maxFrames ?? Math.round(1600 / Math.max(1, Math.min(columns, panels.length))));
    const cols = z.length ? z[0].length : 0;
    const x = Array.from({ length: cols }, (_, c) => round((c * stride + (stride - 1) / 2) * p.hopSeconds, 4));
    const freqs = p.melFrequencies;
    const yAxis: Record<string, unknown> = axis(cell.col === 0 ? (freqs ? 'Frequency (Hz, mel scale)' : 'Mel band') : undefined, {
      domain: cell.y,
      anchor: axisRef('x', i),
      showgrid: false,
      showticklabels: cell.col === 0 || !link,
      ...(link && i > 0 ? { matches: 'y' } : {}),
    });
    if (freqs && freqs.length > 1) Object.assign(yAxis, melTicks(freqs), { tickmode: 'array' });
    layout[axisKey('y', i)] = yAxis;
    layout[axisKey('x', i)] = axis(cell.row === rows - 1 || !link ? 'Time (s)' : undefined, {
      domain: cell.x,
      anchor: axisRef('y', i),
      showgrid: false,
      ...(link && i > 0 ? { matches: 'x' } : {}),
    });
    annotations.push(cellTitle(p.title, cell));
    return {
      type: 'heatmap',
      name: p.title,
      x,
      // Whole dB: 1 byte a value, base64; a finer step changes no colour (80 dB over the scale).
      z: matrixSpec(z, true),
      xaxis: axisRef('x', i),
      yaxis: axisRef('y', i),
      coloraxis: 'coloraxis',
      zsmooth: false,
      hovertemplate: '%{x:.2f} s · mel band %{y}<br>%{z:.0f} dB<extra></extra>',
    };
  });
  layout.annotations = annotations;
  return { data, layout, config: defaultConfig() };
}

// ---------------------------------------------------------------------------------------------
// Codebook usage

/** Usage counts of one level: the counts themselves, or a `CodebookUsage`-like record. */
export type LevelCounts = ArrayLike<number> | { counts: ArrayLike<number>; level?: number };

function countsOf(c: LevelCounts): ArrayLike<number> {
  return 'counts' in c ? c.counts : c;
}

/** Codes used, entropy-based perplexity and tokens of a count vector. */
export function usageStats(counts: ArrayLike<number>): { used: number; bins: number; tokens: number; perplexity: number } {
  let tokens = 0;
  let used = 0;
  for (let i = 0; i < counts.length; i++) {
    tokens += counts[i];
    if (counts[i] > 0) used++;
  }
  let entropy = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0) entropy -= (counts[i] / tokens) * Math.log2(counts[i] / tokens);
  }
  return { used, bins: counts.length, tokens, perplexity: tokens > 0 ? 2 ** entropy : 0 };
}

export interface UsageHistogramOptions {
  title?: string;
  /** Logarithmic count axis (unused codes then leave gaps); default false. */
  log?: boolean;
  /** Sort codes by count (a rank-frequency plot) instead of by code id; default false. */
  sort?: boolean;
  /** Hop length of each level, for the panel titles ("Level 0 · 8×"). */
  hopLengths?: number[];
  /** Panel titles instead of "Level i". */
  levelLabels?: string[];
  /** Height of one level's panel in pixels; default 170. */
  rowHeight?: number;
}

/**
 * Tokens per code, one panel per level stacked vertically with a shared code axis; each panel's
 * title gives the codes used and the perplexity (2^entropy).
 */
export function usageHistogramFigure(countsPerLevel: LevelCounts[], options: UsageHistogramOptions = {}): Figure {
  if (countsPerLevel.length === 0) throw new RangeError('usageHistogramFigure needs at least one level');
  const cells = gridCells(countsPerLevel.length, 1, 0, 0.2 / countsPerLevel.length + 0.04);
  const layout = baseLayout(options.title, (options.rowHeight ?? 170) * countsPerLevel.length + (options.title ? 60 : 30));
  (layout.margin as Record<string, number>).t = options.title ? 72 : 34;
  layout.bargap = 0.05;
  const annotations: Record<string, unknown>[] = [];
  const data: Trace[] = countsPerLevel.map((entry, i) => {
    const counts = countsOf(entry);
    const level = 'counts' in entry && entry.level !== undefined ? entry.level : i;
    const cell = cells[i];
    const stats = usageStats(counts);
    let ids = Array.from({ length: counts.length }, (_, k) => k);
    if (options.sort) ids = ids.sort((a, b) => counts[b] - counts[a] || a - b);
    const label = options.levelLabels?.[i] ?? levelLabel(level, options.hopLengths?.[i]);
    const last = i === countsPerLevel.length - 1;
    layout[axisKey('x', i)] = axis(last ? (options.sort ? 'Rank (codes by use)' : 'Code') : undefined, {
      domain: [0, 1],
      anchor: axisRef('y', i),
      showgrid: false,
      range: [-0.5, counts.length - 0.5],
      ...(i > 0 ? { matches: 'x' } : {}),
      showticklabels: last,
    });
    let top = 1;
    for (let k = 0; k < counts.length; k++) top = Math.max(top, counts[k]);
    layout[axisKey('y', i)] = axis('Tokens', {
      domain: cell.y,
      anchor: axisRef('x', i),
      // Log: decades only ("1, 10, 100, 1k"), from just under 1 so single uses show as bars.
      ...(options.log
        ? { type: 'log', dtick: 1, tickformat: '~s', range: [round(Math.log10(LOG_FLOOR), 3), round(Math.log10(top * 1.4), 3)] }
        : { rangemode: 'tozero', tickformat: '~s' }),
    });
    annotations.push(
      cellTitle(
        `<b>${escapeText(label)}</b>  ·  ${stats.used} of ${stats.bins} codes used  ·  perplexity ${stats.perplexity.toFixed(1)}  ·  ${stats.tokens} tokens`,
        cell,
        'left',
      ),
    );
    const x = options.sort ? ids.map((_, r) => r) : ids;
    const hover = options.sort ? 'rank %{x}: code %{customdata[0]}<br>%{customdata[1]} tokens<extra></extra>' : 'code %{x}<br>%{customdata[1]} tokens<extra></extra>';
    const customdata = ids.map((k) => [k, counts[k]]);
    const common = { name: label, x, customdata, xaxis: axisRef('x', i), yaxis: axisRef('y', i), hovertemplate: hover };
    if (counts.length <= BAR_LIMIT) {
      return { type: 'bar', ...common, y: ids.map((k) => counts[k]), marker: { color: levelColor(level), line: { width: 0 } } };
    }
    // Thousands of codes are narrower than a pixel each: bars that thin fade out, so draw a filled
    // step line instead (its 1-px stroke keeps every peak visible). On a log axis unused codes go
    // to the bottom of the axis (below 1), leaving gaps.
    return {
      type: 'scatter',
      mode: 'lines',
      ...common,
      y: ids.map((k) => (options.log && counts[k] <= 0 ? LOG_FLOOR : counts[k])),
      line: { color: levelColor(level), width: 1, shape: 'hvh' },
      fill: 'tozeroy',
      fillcolor: withAlpha(levelColor(level), 0.55),
    };
  });
  layout.annotations = annotations;
  return { data, layout, config: defaultConfig() };
}

/** Most codes drawn as bars; bigger codebooks are drawn as a filled step line. */
const BAR_LIMIT = 256;

/** Where a log axis starts (unused codes are drawn down to it). */
const LOG_FLOOR = 0.7;

/** '#rrggbb' as 'rgba(r,g,b,alpha)'. */
function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Plotly renders annotation text as (a subset of) HTML: escape user text put into it. */
function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---------------------------------------------------------------------------------------------
// Projections of code vectors

/** One level's 2-D projection: a point per code. */
export interface ProjectionPoints {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Tokens per code (colours the points; unused codes are drawn as grey crosses). */
  usage?: ArrayLike<number>;
  /** Code id of each point; default the point's index. */
  ids?: ArrayLike<number>;
  /** Panel title; default "Level i". */
  label?: string;
  /** Level number for the colour; default the panel index. */
  level?: number;
}

export interface ProjectionScatterOptions {
  title?: string;
  /** 'usage' (log colour scale of tokens per code, shared by all panels) or 'level' colours; default 'usage' when usage is given. */
  colorBy?: 'usage' | 'level';
  /** Axis titles; default ['Component 1', 'Component 2']. */
  axisTitles?: [string, string];
  /** Panels per row; default all levels in one row up to 3. */
  columns?: number;
  /** Marker diameter in pixels; default 5. */
  markerSize?: number;
  /** Height of one row in pixels; default 380. */
  rowHeight?: number;
}

/**
 * Code vectors projected to 2-D (PCA, UMAP), one panel per level. Coloured by usage, points use
 * one log scale over all levels (log10(1 + tokens), labelled in tokens) and codes never used are
 * grey crosses, so dead and rarely used regions of the codebook stand out.
 */
export function projectionScatterFigure(levels: ProjectionPoints[], options: ProjectionScatterOptions = {}): Figure {
  if (levels.length === 0) throw new RangeError('projectionScatterFigure needs at least one level');
  const byUsage = (options.colorBy ?? 'usage') === 'usage' && levels.every((l) => l.usage !== undefined);
  const columns = options.columns ?? Math.min(levels.length, 3);
  const cells = gridCells(levels.length, columns, 0.06, 0.16);
  const rows = cells[cells.length - 1].row + 1;
  const layout = baseLayout(options.title, (options.rowHeight ?? 380) * rows + (options.title ? 40 : 10));
  (layout.margin as Record<string, number>).t = options.title ? 72 : 34;
  layout.showlegend = false;
  const [xTitle, yTitle] = options.axisTitles ?? ['Component 1', 'Component 2'];
  const size = options.markerSize ?? 5;
  let maxUse = 1;
  if (byUsage) for (const l of levels) for (let i = 0; i < l.usage!.length; i++) maxUse = Math.max(maxUse, l.usage![i]);
  if (byUsage) {
    const tickvals: number[] = [];
    const ticktext: string[] = [];
    for (let v = 1; v <= maxUse * 10; v *= 10) {
      tickvals.push(round(Math.log10(1 + v), 3) as number);
      ticktext.push(v >= 1000 ? `${v / 1000}k` : `${v}`);
    }
    layout.coloraxis = {
      colorscale: 'Viridis',
      cmin: 0,
      cmax: round(Math.log10(1 + maxUse), 3),
      colorbar: { title: { text: 'tokens', side: 'top' }, tickmode: 'array', tickvals, ticktext, thickness: 12, len: 1, outlinewidth: 0, x: 1.01 },
    };
  }
  const annotations: Record<string, unknown>[] = [];
  const data: Trace[] = [];
  levels.forEach((l, i) => {
    if (l.x.length !== l.y.length) throw new RangeError(`level ${i}: x has ${l.x.length} points, y ${l.y.length}`);
    const cell = cells[i];
    const level = l.level ?? i;
    const label = l.label ?? levelLabel(level);
    layout[axisKey('x', i)] = axis(cell.row === rows - 1 ? xTitle : undefined, { domain: cell.x, anchor: axisRef('y', i) });
    layout[axisKey('y', i)] = axis(cell.col === 0 ? yTitle : undefined, { domain: cell.y, anchor: axisRef('x', i) });
    annotations.push(cellTitle(label, cell));
    const used: number[] = [];
    const dead: number[] = [];
    for (let k = 0; k < l.x.length; k++) (byUsage && !(l.usage![k] > 0) ? dead : used).push(k);
    const id = (k: number) => (l.ids ? l.ids[k] : k);
    const common = { type: 'scatter', mode: 'markers', xaxis: axisRef('x', i), yaxis: axisRef('y', i) };
    // Unused codes first, so the used ones are drawn over them.
    if (dead.length) {
      data.push({
        ...common,
        name: `${label}: unused`,
        x: dead.map((k) => round(l.x[k], 4)),
        y: dead.map((k) => round(l.y[k], 4)),
        customdata: dead.map((k) => [id(k)]),
        marker: { size: size - 1, symbol: 'x-thin', color: '#a3a9b3', line: { width: 1, color: '#a3a9b3' } },
        hovertemplate: 'code %{customdata[0]}<br>unused<extra></extra>',
      });
    }
    data.push({
      ...common,
      name: label,
      x: used.map((k) => round(l.x[k], 4)),
      y: used.map((k) => round(l.y[k], 4)),
      customdata: used.map((k) => (l.usage ? [id(k), l.usage[k]] : [id(k)])),
      marker: byUsage
        ? { size, color: used.map((k) => round(Math.log10(1 + l.usage![k]), 3)), coloraxis: 'coloraxis', opacity: 0.9, line: { width: 0 } }
        : { size, color: levelColor(level), opacity: 0.75, line: { width: 0 } },
      hovertemplate: l.usage ? 'code %{customdata[0]}<br>%{customdata[1]} tokens<extra></extra>' : 'code %{customdata[0]}<extra></extra>',
    });
  });
  layout.annotations = annotations;
  return { data, layout, config: defaultConfig() };
}

// ---------------------------------------------------------------------------------------------
// Code timelines

export interface CodeTimelineOptions {
  title?: string;
  /** Codebook size (fixes the code axis range); default the largest code + 1. */
  bins?: number;
  /** Most tokens drawn per level (every k-th token beyond that, noted in the panel title); default 4000. */
  maxPointsPerLevel?: number;
  /** Panel titles instead of "Level i · hop×". */
  levelLabels?: string[];
  /** Height of one level's panel in pixels; default 170. */
  rowHeight?: number;
}

/**
 * Code id against time, one panel per level stacked with a shared time axis (token t of a level
 * with hop h starts at t·h / sampleRate seconds), so the coarser levels line up with the finer.
 */
export function codeTimelineFigure(codesPerLevel: ArrayLike<number>[], hopLengths: number[], sampleRate: number, options: CodeTimelineOptions = {}): Figure {
  if (codesPerLevel.length === 0) throw new RangeError('codeTimelineFigure needs at least one level');
  if (hopLengths.length < codesPerLevel.length) throw new RangeError(`need a hop length per level: ${codesPerLevel.length} levels, ${hopLengths.length} hop lengths`);
  if (!(sampleRate > 0)) throw new RangeError(`sampleRate must be positive, got ${sampleRate}`);
  const n = codesPerLevel.length;
  const cells = gridCells(n, 1, 0, 0.2 / n + 0.04);
  const layout = baseLayout(options.title, (options.rowHeight ?? 170) * n + (options.title ? 60 : 30));
  (layout.margin as Record<string, number>).t = options.title ? 72 : 34;
  const maxPoints = options.maxPointsPerLevel ?? 4000;
  let top = 0;
  for (const codes of codesPerLevel) for (let i = 0; i < codes.length; i++) top = Math.max(top, codes[i] + 1);
  const bins = options.bins ?? top;
  const annotations: Record<string, unknown>[] = [];
  const data: Trace[] = codesPerLevel.map((codes, i) => {
    const hop = hopLengths[i];
    const stride = Math.max(1, Math.ceil(codes.length / maxPoints));
    const picked = Math.ceil(codes.length / stride);
    const x = new Array<number | null>(picked);
    const y = new Array<number>(picked);
    for (let j = 0; j < picked; j++) {
      x[j] = round((j * stride * hop) / sampleRate, 5);
      y[j] = codes[j * stride];
    }
    const cell = cells[i];
    const last = i === n - 1;
    const label = options.levelLabels?.[i] ?? levelLabel(i, hop);
    const note = stride > 1 ? `  ·  every ${stride}${ordinalSuffix(stride)} of ${codes.length} tokens shown` : `  ·  ${codes.length} tokens`;
    annotations.push(cellTitle(`<b>${escapeText(label)}</b>  ·  ${round(sampleRate / hop, 2)} tokens/s${note}`, cell, 'left'));
    layout[axisKey('x', i)] = axis(last ? 'Time (s)' : undefined, {
      domain: [0, 1],
      anchor: axisRef('y', i),
      showticklabels: last,
      ...(i > 0 ? { matches: 'x' } : {}),
    });
    layout[axisKey('y', i)] = axis('Code', { domain: cell.y, anchor: axisRef('x', i), range: [-0.5, Math.max(1, bins) - 0.5] });
    return {
      type: 'scatter',
      mode: 'markers',
      name: label,
      x,
      y,
      xaxis: axisRef('x', i),
      yaxis: axisRef('y', i),
      marker: { size: 3, color: levelColor(i), opacity: 0.8, line: { width: 0 } },
      hovertemplate: '%{x:.3f} s<br>code %{y}<extra></extra>',
    };
  });
  layout.annotations = annotations;
  return { data, layout, config: defaultConfig() };
}

function ordinalSuffix(k: number): string {
  const t = k % 100;
  if (t >= 11 && t <= 13) return 'th';
  return ['th', 'st', 'nd', 'rd'][k % 10] ?? 'th';
}

// ---------------------------------------------------------------------------------------------
// Tables

/**
 * Formats a table cell: integers as they are, other numbers to `digits` decimals (scientific
 * notation when very small or very large), non-finite numbers as text ("NaN", "∞").
 */
export function formatCell(v: string | number, digits = 4): string {
  if (typeof v === 'string') return v;
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 10 ** -Math.min(digits, 3) || a >= 1e7)) return v.toExponential(Math.max(0, digits - 1));
  return v.toFixed(digits);
}

/**
 * A table's cells as text, column by column: a numeric column with any non-integer shows all its
 * numbers to `digits` decimals (so 6 and 14.2 read 6.000 and 14.200 in one column); all-integer
 * columns stay integers. Also says which columns are numeric (for right alignment).
 */
export function formatColumns(rows: Record<string, string | number>[], columns: string[], digits = 4): { text: string[][]; numeric: boolean[] } {
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === undefined || typeof r[c] === 'number'));
  const text = columns.map((c, j) => {
    const fractional = numeric[j] && rows.some((r) => typeof r[c] === 'number' && Number.isFinite(r[c]) && !Number.isInteger(r[c]));
    return rows.map((r) => {
      const v = r[c];
      if (v === undefined) return '';
      if (fractional && typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 1e7) return v.toFixed(digits);
      return formatCell(v, digits);
    });
  });
  return { text, numeric };
}

/** The columns of a list of records: every key, in order of first appearance. */
export function tableColumns(rows: Record<string, string | number>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

export interface MetricsTableOptions {
  title?: string;
  /** Decimals for non-integer numbers; default 4. */
  digits?: number;
  /** Columns and their order; default every key in order of first appearance. */
  columns?: string[];
}

/** A metric table as a plotly table: dark header, banded rows, numbers right-aligned. */
export function metricsTableFigure(rows: Record<string, string | number>[], options: MetricsTableOptions = {}): Figure {
  const columns = options.columns ?? tableColumns(rows);
  const { text, numeric } = formatColumns(rows, columns, options.digits ?? 4);
  const band = rows.map((_, i) => (i % 2 === 0 ? '#ffffff' : '#f4f6f9'));
  // Column widths follow their longest text, so headers rarely wrap; a header that still may
  // (long names) gets a second line of height.
  const widths = columns.map((c, j) => Math.max(1.15 * c.length, ...text[j].map((t) => t.length)) + 4);
  const total = widths.reduce((a, b) => a + b, 0);
  const headerHeight = total > 110 ? 46 : 30;
  const cellHeight = 26;
  const layout = baseLayout(options.title, 0);
  layout.margin = { l: 8, r: 8, t: options.title ? 44 : 8, b: 8, pad: 0 };
  layout.height = (layout.margin as { t: number }).t + 8 + headerHeight + cellHeight * rows.length + 12;
  return {
    data: [
      {
        type: 'table',
        columnorder: columns.map((_, i) => i),
        columnwidth: widths.map((w) => round(w / total, 4)),
        header: {
          values: columns.map((c) => `<b>${escapeText(c)}</b>`),
          align: numeric.map((n) => (n ? 'right' : 'left')),
          fill: { color: '#2f3b4c' },
          font: { color: '#ffffff', size: 12, family: FONT_FAMILY },
          line: { color: '#2f3b4c', width: 1 },
          height: headerHeight,
        },
        cells: {
          values: text.map((col) => col.map(escapeText)), // cells are data: shown literally
          align: numeric.map((n) => (n ? 'right' : 'left')),
          fill: { color: columns.map(() => band) },
          font: { color: TEXT_COLOR, size: 12, family: FONT_FAMILY },
          line: { color: '#e3e6ea', width: 1 },
          height: cellHeight,
        },
      },
    ],
    layout,
    config: { ...defaultConfig(), displayModeBar: false },
  };
}
