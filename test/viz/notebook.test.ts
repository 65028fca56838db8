import * as path from 'path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  codeTimelineFigure,
  Figure,
  injectPlotly,
  inNotebook,
  metricsTableFigure,
  NotebookDisplay,
  plotlyBundleScript,
  plotlyInjected,
  projectionScatterFigure,
  resetNotebookSession,
  setNotebookDisplay,
  show,
  showAudio,
  showHtml,
  spectrogramsFigure,
  tslabDisplay,
  usageHistogramFigure,
  waveformFigure,
} from '../../src/viz';
import { codeSequence, HOPS, projection, usageCounts } from './demo-data';

const BUNDLE = 'data-jbx-plotly-bundle';
const tiny = (): Figure => waveformFigure([0, 1, 0, -1], 4);

/** A display that records what it was given. */
function recorder(): NotebookDisplay & { html: ReturnType<typeof vi.fn>; png: ReturnType<typeof vi.fn> } {
  return { html: vi.fn(), png: vi.fn() };
}

beforeEach(() => {
  setNotebookDisplay(undefined);
  resetNotebookSession();
});

afterEach(() => {
  setNotebookDisplay(undefined);
  resetNotebookSession();
});

describe('outside a notebook (plain Node)', () => {
  it('show* return the HTML they would display instead of throwing', () => {
    expect(tslabDisplay()).toBeNull();
    expect(inNotebook()).toBe(false);
    const html = show(tiny());
    expect(typeof html).toBe('string');
    expect(html!.startsWith('<div class="jbx-figure"')).toBe(true);
    expect(html!.includes(BUNDLE)).toBe(false); // a fragment for htmlPage, which adds the bundle
    expect(plotlyInjected()).toBe(false);
    expect(showHtml('<p>x</p>')).toBe('<p>x</p>');
    expect(showAudio(new Float32Array(100), 8000, { label: 'a' })).toMatch(/^<figure class="jbx-audio">.*<audio controls/);
    expect(injectPlotly()!.startsWith(`<script ${BUNDLE}=`)).toBe(true);
  });
});

describe('with a display', () => {
  it('sends the plotly bundle with the first figure only', () => {
    const display = recorder();
    setNotebookDisplay(display);
    expect(inNotebook()).toBe(true);
    expect(show(tiny())).toBeUndefined();
    expect(show(tiny())).toBeUndefined();
    expect(show(tiny())).toBeUndefined();
    const sent = display.html.mock.calls.map((c) => c[0] as string);
    expect(sent).toHaveLength(3);
    expect(sent.map((h) => h.split(BUNDLE).length - 1)).toEqual([1, 0, 0]);
    // In the first output the bundle comes before the figure's script.
    expect(sent[0].indexOf(BUNDLE)).toBeLessThan(sent[0].indexOf('class="jbx-figure"'));
    expect(sent[1].length).toBeLessThan(10_000);
    expect(plotlyInjected()).toBe(true);
  });

  it("bundle: 'always' / 'never', injectPlotly and resetNotebookSession", () => {
    const display = recorder();
    setNotebookDisplay(display);
    show(tiny(), { bundle: 'never' });
    expect(plotlyInjected()).toBe(false);
    show(tiny());
    show(tiny(), { bundle: 'always' });
    injectPlotly();
    resetNotebookSession();
    show(tiny());
    const withBundle = display.html.mock.calls.map((c) => (c[0] as string).includes(BUNDLE));
    expect(withBundle).toEqual([false, true, true, true, true]);
  });

  it('showHtml and showAudio display and return nothing; null display means return HTML', () => {
    const display = recorder();
    setNotebookDisplay(display);
    expect(showHtml('<b>hi</b>')).toBeUndefined();
    expect(showAudio(new Float32Array(10), 8000)).toBeUndefined();
    expect(display.html).toHaveBeenCalledTimes(2);
    expect(display.html.mock.calls[1][0]).toContain('data:audio/wav;base64,');
    setNotebookDisplay(null);
    expect(showHtml('<b>hi</b>')).toBe('<b>hi</b>');
  });

  it('the session state lives on globalThis, so it survives tslab re-loading the module', async () => {
    setNotebookDisplay(recorder());
    show(tiny());
    expect(plotlyInjected()).toBe(true);
    vi.resetModules();
    const fresh = await import('../../src/viz/notebook');
    expect(fresh.plotlyInjected()).toBe(true);
  });
});

describe('in a tslab kernel', () => {
  // tslab's display API writes through `lastWriteDisplayData` of its jupyter module, which the
  // kernel sets while a cell runs. Set it the same way and capture the display_data messages.
  const jupyterPath = path.join(path.dirname(require.resolve('tslab')), 'jupyter.js');
  type Message = { data: Record<string, string>; metadata: object; transient: object };
  let jupyter: { lastWriteDisplayData: ((m: Message, update: boolean) => void) | null };

  beforeEach(() => {
    jupyter = require(jupyterPath);
  });
  afterEach(() => {
    jupyter.lastWriteDisplayData = null;
  });

  function capture(): Message[] {
    const messages: Message[] = [];
    jupyter.lastWriteDisplayData = (m) => messages.push(m);
    return messages;
  }

  it('is detected from the kernel module and displays text/html through tslab', () => {
    expect(tslabDisplay()).toBeNull(); // loaded but no cell running: not a kernel
    const messages = capture();
    expect(tslabDisplay()).not.toBeNull();
    expect(inNotebook()).toBe(true);
    expect(show(tiny())).toBeUndefined();
    expect(show(tiny())).toBeUndefined();
    expect(showAudio(new Float32Array(800), 8000)).toBeUndefined();
    expect(messages).toHaveLength(3);
    for (const m of messages) expect(Object.keys(m.data)).toEqual(['text/html']);
    expect(messages.map((m) => m.data['text/html'].includes(BUNDLE))).toEqual([true, false, false]);
    expect(messages[2].data['text/html']).toContain('<audio controls');
  });

  it('a saved notebook with N figures weighs one bundle plus the figures’ data', () => {
    const messages = capture();
    const sr = 44100;
    const song = Float32Array.from({ length: 240 * sr }, (_, i) => 0.8 * Math.sin(i / 9) * Math.sin(i / 50_000));
    const frames = Math.floor(song.length / 512);
    const db = Array.from({ length: frames }, (_, f) => Float32Array.from({ length: 128 }, (_, m) => -80 + 60 * Math.abs(Math.sin(f / 50 + m / 9))));
    const counts = [0, 1, 2].map((i) => usageCounts(2048, 1e6 / 4 ** i, 0.1, i));
    // A realistic notebook: 4-minute song, 2048-code books.
    const figures: Figure[] = [
      waveformFigure(song, sr),
      spectrogramsFigure(['Original', 'Level 0', 'Level 1', 'Level 2'].map((title) => ({ title, db, hopSeconds: 512 / sr }))),
      usageHistogramFigure(counts, { log: true, hopLengths: HOPS }),
      projectionScatterFigure(counts.map((c, i) => ({ ...projection(2048, i), usage: c }))),
      codeTimelineFigure(HOPS.map((h, i) => codeSequence(Math.floor(song.length / h), 2048, i)), HOPS, sr, { bins: 2048 }),
      metricsTableFigure([{ level: 0, snr: 12.5 }, { level: 1, snr: 8.25 }]),
    ];
    const N = 12;
    for (let i = 0; i < N; i++) show(figures[i % figures.length]);
    const notebook = (outputs: Message[]) =>
      JSON.stringify({
        cells: outputs.map((m) => ({ cell_type: 'code', execution_count: 1, metadata: {}, source: ['show(fig)'], outputs: [{ output_type: 'display_data', data: m.data, metadata: {} }] })),
        metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
        nbformat: 4,
        nbformat_minor: 5,
      });
    const size = notebook(messages).length;
    const bundle = JSON.stringify(plotlyBundleScript()).length;
    const figureBytes = messages.map((m, i) => JSON.stringify(m.data['text/html']).length - (i === 0 ? bundle : 0));
    expect(notebook(messages).split(BUNDLE).length - 1).toBe(1);
    expect(size).toBeGreaterThan(bundle);
    expect(size).toBeLessThan(bundle + figureBytes.reduce((a, b) => a + b, 0) + 20_000);
    for (const b of figureBytes) expect(b).toBeLessThan(600_000);
    // The alternative, the bundle in every output, costs a bundle per figure.
    const always = capture();
    for (let i = 0; i < N; i++) show(figures[i % figures.length], { bundle: 'always' });
    const sizeAlways = notebook(always).length;
    expect(sizeAlways).toBeGreaterThan(N * bundle);
    console.log(
      `saved notebook, ${N} interactive figures: ${(size / 1e6).toFixed(2)} MB (bundle ${(bundle / 1e6).toFixed(2)} MB once; ` +
        `figures ${figureBytes.slice(0, figures.length).map((b) => `${(b / 1e3).toFixed(0)} KB`).join(', ')}); ` +
        `bundle in every output: ${(sizeAlways / 1e6).toFixed(1)} MB`,
    );
  });
});

describe('showTable', () => {
  it('renders a danfojs DataFrame and plain rows as the same HTML table', async () => {
    const { showTable, setNotebookDisplay } = await import('../../src/viz');
    const dfd = await import('danfojs-node');
    setNotebookDisplay(null);
    const rows = [{ level: 0, codes: 128 }, { level: 1, codes: 64 }];
    const fromFrame = showTable(new dfd.DataFrame(rows));
    expect(fromFrame).toBe(showTable(rows));
    expect(fromFrame).toMatch(/<th[^>]*>level<\/th>/);
    expect((fromFrame!.match(/<tr>/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });
});
