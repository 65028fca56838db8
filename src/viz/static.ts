import * as fs from 'fs';
import type { BrowserContext, Page } from 'playwright-core';
import { Figure } from './figures';
import { plotlyBundleScript } from './html';

/**
 * Static images of figures (PNG or SVG), rendered by plotly.js itself in a headless Chromium
 * driven by playwright-core. For notebooks that are committed with their outputs (an image is
 * tens of KB and shows on GitHub, which runs no scripts) and for documents that take images.
 *
 * One browser is started on first use and kept for the process (`closeStaticRenderer` ends it);
 * it is offline: every request other than file:, data: and about: is aborted. The browser is
 * `JUKEBOX_CHROMIUM` or /usr/bin/chromium (Debian package `chromium`).
 */

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** Flags for a quiet, offline, sandbox-less headless Chromium (containers, CI). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium executable to use; throws naming the Debian package when it is missing. */
export function chromiumPath(): string {
  const exe = process.env.JUKEBOX_CHROMIUM || DEFAULT_CHROMIUM;
  if (!fs.existsSync(exe)) {
    throw new Error(
      `Chromium not found at ${exe}: static figure rendering needs a Chromium browser. ` +
        "Install Debian's package with `apt-get install -y chromium`, or set JUKEBOX_CHROMIUM to a Chromium executable.",
    );
  }
  return exe;
}

export interface StaticImageOptions {
  /** Width in CSS pixels; default the figure's `layout.width`, else 900. */
  width?: number;
  /** Height in CSS pixels; default the figure's `layout.height`, else 450. */
  height?: number;
  /** Pixel density of PNGs (2 for crisp images on high-DPI screens); default 1. */
  scale?: number;
}

interface Renderer {
  context: BrowserContext;
  page: Page;
}

let renderer: Promise<Renderer> | undefined;

async function startRenderer(): Promise<Renderer> {
  let pw: typeof import('playwright-core');
  try {
    pw = require('playwright-core');
  } catch {
    throw new Error('static figure rendering needs the playwright-core package (a devDependency of jukebox-ts): run `npm ci`');
  }
  // An empty user-data-dir makes playwright use a fresh temporary profile and remove it on close.
  const context = await pw.chromium.launchPersistentContext('', { executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS] });
  try {
    await context.route('**/*', (route) => {
      const url = route.request().url();
      return /^(file|data|about|blob):/.test(url) ? route.continue() : route.abort();
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.setContent(`<!DOCTYPE html><html><head><meta charset="utf-8">${plotlyBundleScript()}</head><body></body></html>`);
    await page.waitForFunction(() => typeof (globalThis as unknown as { Plotly?: unknown }).Plotly === 'object');
    return { context, page };
  } catch (e) {
    await context.close().catch(() => undefined);
    throw e;
  }
}

async function toImageDataUrl(fig: Figure, format: 'png' | 'svg', options: StaticImageOptions): Promise<string> {
  if (!renderer) {
    renderer = startRenderer();
    renderer.catch(() => {
      renderer = undefined; // let a later call try again (after chromium is installed, say)
    });
  }
  const { page } = await renderer;
  const layoutWidth = typeof fig.layout.width === 'number' ? fig.layout.width : undefined;
  const layoutHeight = typeof fig.layout.height === 'number' ? fig.layout.height : undefined;
  const width = Math.round(options.width ?? layoutWidth ?? 900);
  const height = Math.round(options.height ?? layoutHeight ?? 450);
  const plain = JSON.parse(JSON.stringify({ data: fig.data, layout: { ...fig.layout, width, height } }, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v))) as Figure;
  return page.evaluate(
    async ({ figure, opts }) => {
      const Plotly = (globalThis as unknown as { Plotly: { toImage(f: unknown, o: unknown): Promise<string> } }).Plotly;
      return Plotly.toImage(figure, opts);
    },
    { figure: plain, opts: { format, width, height, scale: format === 'png' ? options.scale ?? 1 : 1 } },
  );
}

/** A PNG of the figure (the file's bytes). */
export async function figurePng(fig: Figure, options: StaticImageOptions = {}): Promise<Uint8Array> {
  const url = await toImageDataUrl(fig, 'png', options);
  const comma = url.indexOf(',');
  return new Uint8Array(Buffer.from(url.slice(comma + 1), 'base64'));
}

/** An SVG of the figure (the document's text; heatmaps are embedded raster images in it). */
export async function figureSvg(fig: Figure, options: StaticImageOptions = {}): Promise<string> {
  const url = await toImageDataUrl(fig, 'svg', options);
  const comma = url.indexOf(',');
  const head = url.slice(0, comma);
  const body = url.slice(comma + 1);
  return head.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
}

/** Closes the static renderer's browser (a later render starts a new one). */
export async function closeStaticRenderer(): Promise<void> {
  const current = renderer;
  renderer = undefined;
  if (current) await (await current.catch(() => undefined))?.context.close();
}
