/**
 * The report in a real browser: a page with every kind of figure and audio players, written to a
 * file and opened in Debian's Chromium with all network access blocked. It must render every
 * figure, log no error, and the audio must load. A full-page screenshot is kept at
 * $TMPDIR/jukebox-viz-browser/report.png (with the page next to it) to look at.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  audioPlayerHtml,
  setNotebookDisplay,
  showStatic,
  closeStaticRenderer,
  codeTimelineFigure,
  figureHtml,
  figurePng,
  gridHtml,
  htmlPage,
  metricsTableFigure,
  projectionScatterFigure,
  sectionHtml,
  spectrogramsFigure,
  tableHtml,
  usageHistogramFigure,
  waveformFigure,
} from '../../src/viz';
import { demoData, HOPS, logMel } from './demo-data';
import { CHROMIUM, launchOffline, openPage, requireChromium } from '../browser';

const OUT_DIR = path.join(os.tmpdir(), 'jukebox-viz-browser');

function buildReport(): { html: string; figures: number; players: number } {
  const d = demoData(4, 22050);
  const sr = d.sampleRate;
  const original = logMel(d.audio, sr);
  const panels = [
    { title: 'Original', ...original },
    ...d.recon.map((r, i) => ({ title: `Level ${i} · ${HOPS[i]}×`, ...logMel(r, sr) })),
  ];
  const sections = [
    sectionHtml('Input', [figureHtml(waveformFigure(d.audio, sr, { title: 'Waveform · 4.0 s at 22 050 Hz' })), audioPlayerHtml(d.audio, sr, { label: 'Original' })], {
      description: 'The clip the model encodes, drawn as its min/max envelope.',
    }),
    sectionHtml('Reconstructions', [
      figureHtml(spectrogramsFigure(panels)),
      gridHtml(d.recon.map((r, i) => audioPlayerHtml(r, sr, { label: `Level ${i} · ${HOPS[i]}×` })), { columns: 3 }),
    ], { description: 'Log-mel spectrograms on one colour scale; each level decodes from its own codes.' }),
    sectionHtml('Codebook usage', figureHtml(usageHistogramFigure(d.counts, { hopLengths: HOPS, log: true })), {
      description: 'Tokens per code over the clip; gaps are codes never used.',
    }),
    sectionHtml('Code vectors', figureHtml(projectionScatterFigure(d.projections.map((p, i) => ({ ...p, label: `Level ${i} · ${HOPS[i]}×` })), { axisTitles: ['PC 1', 'PC 2'] })), {
      description: 'PCA of each codebook, coloured by use; grey crosses are dead codes.',
    }),
    sectionHtml('Code timeline', figureHtml(codeTimelineFigure(d.codes, HOPS, sr, { bins: d.bins }))),
    sectionHtml('Metrics', [
      gridHtml([
        figureHtml(metricsTableFigure(
          HOPS.map((hop, i) => ({ level: i, hop, 'SNR (dB)': 14.2 - 4.1 * i, 'spectral convergence': 0.081 * (i + 1), 'mel L1': 0.31 + 0.17 * i, perplexity: 1402.3 / (i + 1) })),
          { title: 'Reconstruction', digits: 3 },
        )),
        tableHtml(HOPS.map((hop, i) => ({ level: i, hop, codes: 2048, used: [1946, 1638, 1126][i], entropy_bits: 10.42 - i * 0.9 })), { caption: 'Codebook summary', digits: 3 }),
      ], { columns: 2 }),
    ]),
  ];
  return { html: htmlPage({ title: 'VQ-VAE inspection report', subtitle: 'Synthetic clip · 3 levels (8×, 32×, 128×) · 2048 codes per level', sections }), figures: 6, players: 4 };
}

describe('report in a real browser (offline Chromium)', () => {
  let context: BrowserContext | undefined;
  let browser: Awaited<ReturnType<typeof launchOffline>> | undefined;

  beforeAll(async () => {
    // Without Chromium every test below fails (not skips) with the install hint.
    if (!fs.existsSync(CHROMIUM)) return;
    fs.mkdirSync(OUT_DIR, { recursive: true });
    browser = await launchOffline();
    context = browser.context;
  });

  afterAll(async () => {
    await browser?.close();
    await closeStaticRenderer();
  });

  it('renders every figure and plays the audio, with no network and no errors', async () => {
    requireChromium();
    const { html, figures, players } = buildReport();
    const file = path.join(OUT_DIR, 'report.html');
    fs.writeFileSync(file, html);

    const { page, consoleErrors, pageErrors } = await openPage(context!, file);
    await page.waitForFunction((n) => document.querySelectorAll('.js-plotly-plot').length === n, figures, { timeout: 30_000 });

    // Each drawn figure has its main <svg> (plotly adds a second .main-svg per plot for its
    // top layers), and there is one drawn plot per figure div.
    const plots = await page.$$eval('.jbx-figure', (divs) =>
      divs.map((d) => ({ plot: d.classList.contains('js-plotly-plot'), svgs: d.querySelectorAll('.main-svg').length, text: d.textContent?.slice(0, 80) ?? '' })),
    );
    expect(plots).toHaveLength(figures);
    for (const p of plots) {
      expect(p.plot).toBe(true);
      expect(p.svgs).toBeGreaterThanOrEqual(1);
    }
    const mainSvgs = await page.$$eval('.js-plotly-plot .main-svg:first-of-type', (els) => els.length);
    expect(mainSvgs).toBe(figures);
    expect(await page.$$eval('.js-plotly-plot', (els) => els.length)).toBe(figures);
    // The traces drew something: heatmap images, bars, points, table cells.
    expect(await page.$$eval('.js-plotly-plot .hm image', (els) => els.length)).toBe(4);
    expect(await page.$$eval('.js-plotly-plot .scatterlayer .js-fill', (els) => els.length)).toBe(3); // usage, one per level
    expect(await page.$$eval('.js-plotly-plot .scatterlayer .point', (els) => els.length)).toBeGreaterThan(6000);
    expect(await page.$$eval('.js-plotly-plot .table .cell-text', (els) => els.length)).toBeGreaterThan(10);

    // The spectrogram's packed int8 dB values decode in the browser: hover shows a value.
    const drag = await (await page.$$('.js-plotly-plot'))[1].$('.nsewdrag');
    const box = (await drag!.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector('.hovertext', { timeout: 5000 });
    expect(await page.textContent('.hovertext')).toMatch(/^\d+\.\d\d s · mel band \d+-?\d+ dB$/);
    await page.mouse.move(0, 0);

    const durations = await page.$$eval('audio', (audios) =>
      Promise.all(
        (audios as HTMLAudioElement[]).map(
          (a) =>
            new Promise<number>((resolve, reject) => {
              if (a.readyState >= 1) return resolve(a.duration);
              a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
              a.addEventListener('error', () => reject(new Error(`audio error ${a.error?.code}`)), { once: true });
              a.load();
            }),
        ),
      ),
    );
    expect(durations).toHaveLength(players);
    for (const dur of durations) expect(dur).toBeCloseTo(4, 2);

    await page.screenshot({ path: path.join(OUT_DIR, 'report.png'), fullPage: true });
    expect(fs.statSync(path.join(OUT_DIR, 'report.png')).size).toBeGreaterThan(50_000);

    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(browser!.blocked).toEqual([]);
    await page.close();
  });

  it('a figure with a hostile title renders and runs no injected script', async () => {
    requireChromium();
    const title = '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    const file = path.join(OUT_DIR, 'hostile.html');
    fs.writeFileSync(file, htmlPage({ title, sections: [figureHtml(waveformFigure(new Float32Array(100).map((_, i) => Math.sin(i / 5)), 100, { title }))] }));
    const page = await context!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`file://${file}`);
    await page.waitForSelector('.js-plotly-plot .main-svg');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.textContent('h1')).toBe(title);
    expect(await page.textContent('.js-plotly-plot .gtitle')).toContain('</script>');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('renders a static PNG of a figure (notebooks without plotly.js)', async () => {
    requireChromium();
    const d = demoData(1, 8000);
    const png = await figurePng(usageHistogramFigure(d.counts, { hopLengths: HOPS }), { width: 800 });
    expect(Buffer.from(png.subarray(0, 8)).toString('hex')).toBe('89504e470d0a1a0a');
    const view = new DataView(png.buffer, png.byteOffset);
    expect(view.getUint32(16)).toBe(800); // IHDR width
    fs.writeFileSync(path.join(OUT_DIR, 'static-usage.png'), png);
  });

  it('showStatic displays a PNG in a notebook and returns an <img> outside one', async () => {
    requireChromium();
    const fig = waveformFigure(new Float32Array(1000).map((_, i) => Math.sin(i / 10)), 1000, { title: 'static' });
    const pngs: Uint8Array[] = [];
    const htmls: string[] = [];
    setNotebookDisplay({ png: (b) => pngs.push(b), html: (h) => htmls.push(h) });
    try {
      expect(await showStatic(fig, { width: 600 })).toBeUndefined();
    } finally {
      setNotebookDisplay(undefined);
    }
    expect(htmls).toEqual([]); // no plotly.js, no HTML
    expect(pngs).toHaveLength(1);
    expect(Buffer.from(pngs[0].subarray(1, 4)).toString('latin1')).toBe('PNG');
    expect(pngs[0].length).toBeLessThan(100_000);
    const img = await showStatic(fig, { width: 600 });
    expect(img).toMatch(/^<img class="jbx-static-figure" alt="figure" width="600" src="data:image\/png;base64,/);
  });
});
