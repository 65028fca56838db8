import * as path from 'path';
import { Figure } from './figures';
import { AudioPlayerOptions, audioPlayerHtml, figureHtml, FigureHtmlOptions, plotlyBundleScript, tableHtml, TableHtmlOptions } from './html';
import { figurePng, StaticImageOptions } from './static';

/**
 * Display in tslab notebooks (Jupyter kernels for TypeScript).
 *
 * Interactive figures (`show`) need plotly.js in the page. It is 4.9 MB (minified), so it is
 * sent once per kernel session: the first `show` (or `injectPlotly`) puts the bundle in its own
 * output, before the figure; later figures are only their `<div>` and a `Plotly.newPlot` call
 * (the size of their data: a few KB to a few hundred KB). Jupyter runs scripts of trusted
 * outputs and all outputs share one window, so the later figures find `window.Plotly`.
 *
 * What a saved notebook weighs: each output stores its HTML in the .ipynb, so a notebook with N
 * interactive figures is ≈ 4.9 MB (the bundle, once, in the first figure's output) + the N
 * figures' data. Sending the bundle with every figure would cost 4.9 MB × N. The caveats of
 * "once": the outputs of that first cell must stay (clear it, or re-run only that cell in a
 * running session, and the saved notebook has no bundle: its figures then say "plotly.js is not
 * loaded" when reopened; `injectPlotly()` puts it back), and renderers that run no scripts
 * (GitHub, nbviewer without trust) show none of these figures.
 *
 * For notebooks committed with outputs use `showStatic`: a PNG rendered by plotly.js in a
 * headless Chromium (tens of KB per figure, no script, shows everywhere, not interactive). The
 * project strips outputs before committing anyway (nbstripout in CI), so the default is
 * interactive.
 *
 * Outside tslab (plain Node, tests, scripts) nothing is displayed: the `show*` functions return
 * the HTML they would have displayed (a figure's without the bundle: put it in `htmlPage`).
 */

/** The part of tslab's `Display` these helpers use. */
export interface NotebookDisplay {
  html(s: string): void;
  png(b: Uint8Array): void;
}

let override: NotebookDisplay | null | undefined;

/**
 * Sets where `show*` display: a display object (another kernel, a test), null (never display:
 * always return HTML), or undefined (the default: tslab's display when running in tslab).
 */
export function setNotebookDisplay(display: NotebookDisplay | null | undefined): void {
  override = display;
}

const JUPYTER_MODULE = `${path.sep}tslab${path.sep}dist${path.sep}jupyter.js`;

/**
 * tslab's `display` when this process is a tslab kernel, else null. Detected from the kernel's
 * own modules (`tslab/dist/jupyter.js` in the module cache with a display writer set), so it
 * works whichever tslab installation runs the kernel and never loads tslab otherwise.
 */
export function tslabDisplay(): NotebookDisplay | null {
  const cache: NodeJS.Dict<NodeModule> = typeof require !== 'undefined' && require.cache ? require.cache : {};
  for (const [file, mod] of Object.entries(cache)) {
    if (!file.endsWith(JUPYTER_MODULE) || !mod) continue;
    const jupyter = mod.exports as { lastWriteDisplayData?: unknown };
    if (typeof jupyter.lastWriteDisplayData !== 'function') continue;
    const pub = require(path.join(path.dirname(file), 'public.js')) as { display?: NotebookDisplay };
    if (pub.display && typeof pub.display.html === 'function') return pub.display;
  }
  return null;
}

/** The display `show*` use now: the override if set, else tslab's, else null. */
function currentDisplay(): NotebookDisplay | null {
  return override === undefined ? tslabDisplay() : override;
}

/** True when `show*` display (running in tslab, or a display was set). */
export function inNotebook(): boolean {
  return currentDisplay() !== null;
}

interface SessionState {
  bundleSent: boolean;
}

/**
 * Per-process state, kept on globalThis so it survives tslab re-loading this module (it
 * re-evaluates changed local modules): one kernel process is one session.
 */
function session(): SessionState {
  const key = Symbol.for('jukebox-ts.viz.notebook-session');
  const g = globalThis as unknown as Record<symbol, SessionState | undefined>;
  return (g[key] ??= { bundleSent: false });
}

/** Whether this kernel session has sent the plotly bundle. */
export function plotlyInjected(): boolean {
  return session().bundleSent;
}

/** Forgets that the bundle was sent (the next `show` sends it again). */
export function resetNotebookSession(): void {
  session().bundleSent = false;
}

/**
 * Sends the plotly bundle now (again, if it was sent: after clearing the first figure's output or
 * reloading the page). Outside a notebook returns the bundle's `<script>`.
 */
export function injectPlotly(): string | undefined {
  const html = plotlyBundleScript();
  const display = currentDisplay();
  if (!display) return html;
  display.html(html);
  session().bundleSent = true;
  return undefined;
}

export interface ShowOptions extends FigureHtmlOptions {
  /** 'once' (default): the bundle goes with the session's first figure; 'always': with this one too; 'never': not with this one. */
  bundle?: 'once' | 'always' | 'never';
}

/**
 * Displays an interactive figure; the session's first also carries plotly.js (see the module
 * comment). Outside a notebook returns the figure's HTML (no bundle).
 */
export function show(fig: Figure, options: ShowOptions = {}): string | undefined {
  const html = figureHtml(fig, options);
  const display = currentDisplay();
  if (!display) return html;
  const mode = options.bundle ?? 'once';
  const withBundle = mode === 'always' || (mode === 'once' && !session().bundleSent);
  display.html(withBundle ? `${plotlyBundleScript()}\n${html}` : html);
  if (withBundle) session().bundleSent = true;
  return undefined;
}

/** Displays HTML; outside a notebook returns it. */
export function showHtml(html: string): string | undefined {
  const display = currentDisplay();
  if (!display) return html;
  display.html(html);
  return undefined;
}

/**
 * Displays a table: a danfojs DataFrame (as the inspection functions return) or plain rows, as
 * an HTML table; outside a notebook returns its HTML.
 */
export function showTable(table: import('danfojs-node').DataFrame | Record<string, string | number>[], options: TableHtmlOptions = {}): string | undefined {
  const rows = Array.isArray(table)
    ? table
    : (table.values as (string | number)[][]).map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]])));
  return showHtml(tableHtml(rows, options));
}

/** Displays an audio player (16-bit WAV embedded); outside a notebook returns its HTML. */
export function showAudio(samples: ArrayLike<number>, sampleRate: number, options: AudioPlayerOptions = {}): string | undefined {
  return showHtml(audioPlayerHtml(samples, sampleRate, options));
}

/**
 * Displays the figure as a static PNG (no plotly.js in the notebook; needs Chromium, see
 * `figurePng`). Outside a notebook returns an `<img>` with the PNG as a data URI.
 */
export async function showStatic(fig: Figure, options: StaticImageOptions = {}): Promise<string | undefined> {
  const png = await figurePng(fig, options);
  const display = currentDisplay();
  if (!display) {
    const width = options.width ?? (typeof fig.layout.width === 'number' ? fig.layout.width : 900);
    return `<img class="jbx-static-figure" alt="figure" width="${Math.round(width)}" src="data:image/png;base64,${Buffer.from(png).toString('base64')}">`;
  }
  display.png(png);
  return undefined;
}
