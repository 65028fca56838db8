import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { headerFor } from '../audio/wav-write';
import { Figure, formatColumns, tableColumns } from './figures';

/**
 * HTML rendering of figures, audio and tables, for standalone offline reports and notebooks.
 *
 * - `figureHtml` is a `<div>` plus a `<script>` calling `Plotly.newPlot`; it expects plotly.js to
 *   be on the page (it waits up to 10 s for `window.Plotly`, then says in the div what is
 *   missing).
 * - `plotlyBundleScript` is plotly.js itself (the installed plotly.js-dist) inlined in one
 *   `<script>`: no CDN, the page works offline. plotly.js-dist ships unminified (11 MB); when
 *   esbuild is installed (it comes with tsx) the bundle is minified once per process (~0.8 s,
 *   4.9 MB).
 * - `htmlPage` puts the bundle in the page's head exactly once, however many figures it has.
 */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * JSON that is safe inside an inline `<script>`: `<`, `>` and `&` are written as \u escapes (so
 * no `</script>` or `<!--` can appear), as are U+2028/U+2029; typed arrays become plain arrays
 * and non-finite numbers null.
 */
export function scriptJson(value: unknown): string {
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    if (typeof v === 'bigint') return Number(v);
    return v;
  });
  if (json === undefined) return 'null';
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

let figureCounter = 0;
const processTag = randomBytes(3).toString('hex');

/** A fresh element id: unique in this process and, by a random per-process tag, across processes. */
export function uniqueId(prefix = 'jbx-fig'): string {
  figureCounter++;
  return `${prefix}-${processTag}-${figureCounter}`;
}

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_:.-]*$/;

/** Marks figure divs; `htmlPage` includes the plotly bundle when a section has one. */
export const FIGURE_MARKER = 'data-jbx-plotly';

/** Marks the inlined plotly bundle's script tag. */
export const BUNDLE_MARKER = 'data-jbx-plotly-bundle';

export interface FigureHtmlOptions {
  /** Element id; default a fresh unique id. Letters, digits, `_ : . -`, starting with a letter. */
  id?: string;
  /** Height in pixels; default the figure's `layout.height`, else 450. */
  height?: number;
}

/**
 * A figure as HTML: `<div class="jbx-figure">` and a script that draws it with `Plotly.newPlot`
 * once plotly.js is loaded. The figure's JSON is embedded script-safe (a title containing
 * `</script>` cannot end the script).
 */
export function figureHtml(fig: Figure, options: FigureHtmlOptions = {}): string {
  const id = options.id ?? uniqueId();
  if (!ID_PATTERN.test(id)) throw new RangeError(`figure id ${JSON.stringify(id)} is not a plain HTML id (letters, digits, _ : . -)`);
  const layoutHeight = typeof fig.layout.height === 'number' && fig.layout.height > 0 ? fig.layout.height : undefined;
  const height = Math.round(options.height ?? layoutHeight ?? 450);
  const layout = { ...fig.layout, height };
  const payload = scriptJson({ data: fig.data, layout, config: fig.config ?? {} });
  const script =
    `(function(){var id=${scriptJson(id)},fig=${payload};` +
    'function draw(){var el=document.getElementById(id);if(el)window.Plotly.newPlot(el,fig.data,fig.layout,fig.config);}' +
    'if(window.Plotly){draw();return;}' +
    'var tries=0,timer=setInterval(function(){if(window.Plotly){clearInterval(timer);draw();}else if(++tries>100){clearInterval(timer);' +
    'var el=document.getElementById(id);if(el)el.textContent="plotly.js is not loaded on this page: include plotlyBundleScript() (htmlPage does), or in a notebook call injectPlotly() and re-run.";}},100);})();';
  return `<div class="jbx-figure" id="${id}" ${FIGURE_MARKER} style="height:${height}px"></div>\n<script>${script}</script>`;
}

let bundleCache: { key: string; code: string } | undefined;

/** Path of the installed plotly.js-dist bundle. */
export function plotlyBundlePath(): string {
  return require.resolve('plotly.js-dist');
}

/** The installed plotly.js version ("3.7.0"). */
export function plotlyVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(require.resolve('plotly.js-dist/package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export interface BundleOptions {
  /** Minify with esbuild when it is installed (4.9 MB instead of 11 MB); default true. */
  minify?: boolean;
}

/** The plotly.js source, minified with esbuild when asked and available; cached per process. */
export function plotlyBundleSource(options: BundleOptions = {}): string {
  const minify = options.minify ?? true;
  const key = `minify=${minify}`;
  if (bundleCache?.key === key) return bundleCache.code;
  let code = fs.readFileSync(plotlyBundlePath(), 'utf8');
  if (minify) {
    let esbuild: { transformSync(src: string, o: Record<string, unknown>): { code: string } } | undefined;
    try {
      esbuild = require('esbuild');
    } catch {
      esbuild = undefined; // not installed: inline the bundle as shipped
    }
    if (esbuild) code = esbuild.transformSync(code, { minify: true, legalComments: 'inline', charset: 'utf8' }).code;
  }
  // An inline script ends at the first "</script" and "<!--" can start an escape state: neither
  // occurs in plotly.js 3.7, but escape them in case a later version has them in a string.
  code = code.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');
  bundleCache = { key, code };
  return code;
}

/**
 * plotly.js inlined as one `<script>` (no CDN: the page works offline). 4.9 MB minified, 11 MB
 * as shipped; a page or a notebook needs it once.
 */
export function plotlyBundleScript(options: BundleOptions = {}): string {
  return `<script ${BUNDLE_MARKER}="${plotlyVersion()}">\n${plotlyBundleSource(options)}\n</script>`;
}

/** Base-64 of a byte array. */
function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * A mono 16-bit PCM WAV file in memory: the 44-byte RIFF header and the samples, clipped to
 * [-1, 1], scaled by 32767 and rounded half away from zero (non-finite samples become 0).
 */
export function encodeWav16(samples: ArrayLike<number>, sampleRate: number): Uint8Array {
  if (!(Number.isInteger(sampleRate) && sampleRate > 0)) throw new RangeError(`sampleRate must be a positive integer, got ${sampleRate}`);
  const n = samples.length;
  const header = headerFor({ sampleRate, channels: 1, frames: n, format: 'pcm16' });
  const out = new Uint8Array(header.length + 2 * n);
  out.set(header);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = samples[i];
    const c = Number.isFinite(v) ? Math.max(-1, Math.min(1, v)) : 0;
    view.setInt16(header.length + 2 * i, Math.sign(c) * Math.round(Math.abs(c) * 32767), true); // symmetric rounding
  }
  return out;
}

/** A WAV as a `data:audio/wav;base64,...` URI (about 117 KB per second at 44.1 kHz). */
export function wavDataUri(samples: ArrayLike<number>, sampleRate: number): string {
  return `data:audio/wav;base64,${base64(encodeWav16(samples, sampleRate))}`;
}

export interface AudioPlayerOptions {
  /** Caption above the player. */
  label?: string;
}

/**
 * An `<audio controls>` player with the samples embedded as a 16-bit mono WAV data URI (no file
 * next to the page). Size: 4/3 × 2 bytes per sample, ~117 KB per second at 44.1 kHz, so
 * prefer clips of seconds in reports.
 */
export function audioPlayerHtml(samples: ArrayLike<number>, sampleRate: number, options: AudioPlayerOptions = {}): string {
  const seconds = samples.length / sampleRate;
  const caption = `${options.label ? `<span class="jbx-audio-label">${escapeHtml(options.label)}</span>` : ''}<span class="jbx-audio-meta">${seconds.toFixed(2)} s · ${sampleRate} Hz</span>`;
  return `<figure class="jbx-audio"><figcaption>${caption}</figcaption><audio controls preload="metadata" src="${wavDataUri(samples, sampleRate)}"></audio></figure>`;
}

export interface TableHtmlOptions {
  /** Decimals for non-integer numbers; default 4. */
  digits?: number;
  /** Caption above the table. */
  caption?: string;
  /** Columns and their order; default every key in order of first appearance. */
  columns?: string[];
}

/** A plain HTML table of records (numbers right-aligned in tabular figures, text escaped). */
export function tableHtml(rows: Record<string, string | number>[], options: TableHtmlOptions = {}): string {
  const columns = options.columns ?? tableColumns(rows);
  const { text, numeric } = formatColumns(rows, columns, options.digits ?? 4);
  const head = columns.map((c, i) => `<th${numeric[i] ? ' class="num"' : ''}>${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((_, r) => `<tr>${columns.map((_c, j) => `<td${numeric[j] ? ' class="num"' : ''}>${escapeHtml(text[j][r])}</td>`).join('')}</tr>`)
    .join('\n');
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : '';
  return `<div class="jbx-table-wrap"><table class="jbx-table">${caption}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

export interface SectionOptions {
  /** A paragraph under the heading (plain text, escaped). */
  description?: string;
}

/** A report section: an `<h2>` heading, an optional description, and its content. */
export function sectionHtml(title: string, content: string | string[], options: SectionOptions = {}): string {
  const body = Array.isArray(content) ? content.join('\n') : content;
  const description = options.description ? `<p class="jbx-description">${escapeHtml(options.description)}</p>` : '';
  return `<section class="jbx-section"><h2>${escapeHtml(title)}</h2>${description}\n${body}\n</section>`;
}

export interface GridOptions {
  /** Fixed number of columns; default as many as fit at `minWidth`. */
  columns?: number;
  /** Narrowest a cell gets before the grid wraps, in pixels; default 360. */
  minWidth?: number;
}

/** Items side by side in a responsive CSS grid (each item in a card). */
export function gridHtml(items: string[], options: GridOptions = {}): string {
  const template = options.columns
    ? `repeat(${Math.max(1, Math.floor(options.columns))}, minmax(0, 1fr))`
    : `repeat(auto-fit, minmax(${Math.max(120, Math.floor(options.minWidth ?? 360))}px, 1fr))`;
  return `<div class="jbx-grid" style="grid-template-columns:${template}">${items.map((h) => `<div class="jbx-cell">${h}</div>`).join('\n')}</div>`;
}

/** The stylesheet of `htmlPage` (also usable on its own). */
export const PAGE_CSS = `
:root { --fg: #1f2328; --muted: #59636e; --line: #d8dee4; --bg: #f6f8fa; --card: #ffffff; --accent: #4C72B0; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.55 Inter, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 28px 56px; }
header.jbx-header { margin-bottom: 8px; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; font-weight: 650; letter-spacing: -0.01em; }
.jbx-subtitle { color: var(--muted); margin: 0 0 8px; }
h2 { font-size: 18px; margin: 0 0 6px; font-weight: 620; }
.jbx-section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px 16px; margin: 18px 0; box-shadow: 0 1px 2px rgba(31,35,40,.04); }
.jbx-description { color: var(--muted); margin: 0 0 12px; max-width: 80ch; }
.jbx-figure { width: 100%; min-height: 120px; }
.jbx-grid { display: grid; gap: 14px; align-items: start; }
.jbx-cell { min-width: 0; }
.jbx-grid > .jbx-cell > .jbx-audio { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.jbx-audio { margin: 0; }
.jbx-audio figcaption { display: flex; gap: 10px; align-items: baseline; margin-bottom: 6px; font-size: 14px; }
.jbx-audio-label { font-weight: 600; }
.jbx-audio-meta { color: var(--muted); font-size: 12.5px; font-variant-numeric: tabular-nums; }
.jbx-audio audio { width: 100%; height: 40px; }
.jbx-table-wrap { overflow-x: auto; }
.jbx-table { border-collapse: collapse; font-size: 13.5px; min-width: 50%; }
.jbx-table caption { text-align: left; color: var(--muted); padding: 0 0 6px; }
.jbx-table th, .jbx-table td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
.jbx-table thead th { background: #2f3b4c; color: #fff; font-weight: 600; border-bottom: 0; }
.jbx-table thead th:first-child { border-top-left-radius: 6px; }
.jbx-table thead th:last-child { border-top-right-radius: 6px; }
.jbx-table tbody tr:nth-child(even) { background: #f4f6f9; }
.jbx-table .num { text-align: right; font-variant-numeric: tabular-nums; }
footer.jbx-footer { color: var(--muted); font-size: 12.5px; margin-top: 24px; }
@media print { body { background: #fff; } .jbx-section { box-shadow: none; break-inside: avoid; } }
`;

export interface PageOptions {
  title: string;
  /** Section HTML, in order (`sectionHtml`, `figureHtml`, `gridHtml`, ... or any HTML). */
  sections: string[];
  /** A line under the title (plain text). */
  subtitle?: string;
  /** Footer text (plain text); default the generator and plotly.js version. */
  footer?: string;
  /** Bundle options for the inlined plotly.js. */
  bundle?: BundleOptions;
}

/**
 * A complete standalone HTML page: the CSS, the sections, and plotly.js inlined once in the head
 * when any section has a figure (none if no section has one, or a section already carries the
 * bundle). No network access: it opens from a file, offline.
 */
export function htmlPage(options: PageOptions): string {
  const hasFigure = options.sections.some((s) => s.includes(FIGURE_MARKER));
  const hasBundle = options.sections.some((s) => s.includes(BUNDLE_MARKER));
  const bundle = hasFigure && !hasBundle ? plotlyBundleScript(options.bundle) : '';
  const footer = options.footer ?? `Generated by jukebox-ts${hasFigure ? ` with plotly.js ${plotlyVersion()}` : ''} on ${new Date().toISOString().slice(0, 10)}.`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(options.title)}</title>`,
    `<style>${PAGE_CSS}</style>`,
    bundle,
    '</head>',
    '<body>',
    '<main>',
    `<header class="jbx-header"><h1>${escapeHtml(options.title)}</h1>${options.subtitle ? `<p class="jbx-subtitle">${escapeHtml(options.subtitle)}</p>` : ''}</header>`,
    ...options.sections,
    `<footer class="jbx-footer">${escapeHtml(footer)}</footer>`,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
