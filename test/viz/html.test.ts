import * as fs from 'fs';
import { describe, expect, it } from 'vitest';
import {
  audioPlayerHtml,
  encodeWav16,
  escapeHtml,
  Figure,
  figureHtml,
  gridHtml,
  htmlPage,
  plotlyBundlePath,
  plotlyBundleScript,
  plotlyBundleSource,
  plotlyVersion,
  scriptJson,
  sectionHtml,
  tableHtml,
  uniqueId,
  waveformFigure,
} from '../../src/viz';

const count = (s: string, sub: string | RegExp) => (typeof sub === 'string' ? s.split(sub).length - 1 : (s.match(sub) ?? []).length);

/** The figure JSON embedded in figureHtml's script. */
function embeddedFigure(html: string): { data: unknown[]; layout: Record<string, unknown>; config: Record<string, unknown> } {
  const m = /fig=(\{.*?\});function draw/s.exec(html);
  if (!m) throw new Error('no figure JSON in the script');
  return JSON.parse(m[1]);
}

const tinyFigure = (title?: string): Figure => waveformFigure([0, 0.5, -0.5, 0], 4, { title });

describe('scriptJson', () => {
  it('escapes what could end or confuse a script, and round-trips', () => {
    const value = { a: '</script><!-- & \u2028 \u2029 >', n: [1, 2.5], t: new Float32Array([0.5, 1]) };
    const json = scriptJson(value);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual({ a: value.a, n: [1, 2.5], t: [0.5, 1] });
    expect(scriptJson(undefined)).toBe('null');
  });
});

describe('figureHtml', () => {
  it('is a div plus a Plotly.newPlot script, with the figure JSON embedded', () => {
    const fig = tinyFigure('hello');
    const html = figureHtml(fig, { id: 'my-fig' });
    expect(html).toMatch(/^<div class="jbx-figure" id="my-fig" data-jbx-plotly style="height:240px"><\/div>\n<script>/);
    expect(html).toContain('Plotly.newPlot(el,fig.data,fig.layout,fig.config)');
    const embedded = embeddedFigure(html);
    expect(embedded.data).toEqual(fig.data);
    expect(embedded.layout).toEqual({ ...fig.layout, height: 240 });
    expect(embedded.config).toEqual(fig.config);
  });

  it('a title containing </script> cannot end the script', () => {
    const title = 'evil </script><script>alert(1)</script> <!-- & </SCRIPT >';
    const html = figureHtml(tinyFigure(title));
    expect(count(html.toLowerCase(), '</script')).toBe(1);
    expect(html.trimEnd().endsWith('</script>')).toBe(true);
    expect(count(html, '<!--')).toBe(0);
    expect((embeddedFigure(html).layout.title as { text: string }).text).toBe(title);
  });

  it('gives every figure a fresh id; rejects ids that are not plain', () => {
    const ids = new Set(Array.from({ length: 50 }, () => /id="([^"]+)"/.exec(figureHtml(tinyFigure()))![1]));
    expect(ids.size).toBe(50);
    expect(uniqueId()).toMatch(/^jbx-fig-[0-9a-f]{6}-\d+$/);
    expect(() => figureHtml(tinyFigure(), { id: 'x" onload="alert(1)' })).toThrow(RangeError);
    expect(() => figureHtml(tinyFigure(), { id: '1abc' })).toThrow(RangeError);
  });

  it('takes the height from the options, else the layout, else 450', () => {
    expect(figureHtml(tinyFigure(), { height: 300 })).toContain('height:300px');
    expect(figureHtml({ data: [], layout: {} })).toContain('height:450px');
    expect(embeddedFigure(figureHtml(tinyFigure(), { height: 300 })).layout.height).toBe(300);
  });
});

describe('plotly bundle', () => {
  it('inlines the installed plotly.js-dist as one script, minified once and cached', () => {
    const script = plotlyBundleScript();
    expect(count(script, /<script\b/g)).toBe(1);
    expect(count(script.toLowerCase(), '</script')).toBe(1);
    // (boolean checks: a failing toContain would print 5 MB)
    expect(script.startsWith(`<script data-jbx-plotly-bundle="${plotlyVersion()}">`)).toBe(true);
    expect(script.includes('window.Plotly=')).toBe(true);
    const raw = fs.statSync(plotlyBundlePath()).size;
    expect(plotlyBundleSource().length).toBeLessThan(raw * 0.6); // esbuild minified (4.9 of 11 MB)
    const t = Date.now();
    expect(plotlyBundleSource()).toBe(plotlyBundleSource());
    expect(Date.now() - t).toBeLessThan(50);
    expect(plotlyVersion()).toBe('3.7.0');
  });

  it('can inline the bundle as shipped', () => {
    const raw = plotlyBundleSource({ minify: false });
    expect(raw.length).toBeGreaterThan(10_000_000);
    expect(raw.startsWith('/**\n* plotly.js v3.7.0')).toBe(true);
  });
});

describe('htmlPage', () => {
  it('embeds the plotly bundle exactly once however many figures it has', () => {
    const figures = Array.from({ length: 12 }, (_, i) => figureHtml(tinyFigure(`figure ${i}`)));
    const page = htmlPage({ title: 'Report', sections: [sectionHtml('A', figures.slice(0, 5)), gridHtml(figures.slice(5)), tableHtml([{ a: 1 }])] });
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(count(page, 'data-jbx-plotly-bundle')).toBe(1);
    expect(count(page, 'window.Plotly=')).toBe(1);
    expect(count(page, 'class="jbx-figure"')).toBe(12);
    expect(count(page.toLowerCase(), '</script>')).toBe(13);
    expect(page.indexOf('data-jbx-plotly-bundle')).toBeLessThan(page.indexOf('</head>'));
    expect(page.length).toBeLessThan(plotlyBundleSource().length + 200_000);
  });

  it('leaves the bundle out without figures, and does not add a second one', () => {
    const plain = htmlPage({ title: 'Tables', sections: [tableHtml([{ a: 1 }])] });
    expect(plain).not.toContain('data-jbx-plotly-bundle');
    expect(plain.length).toBeLessThan(20_000);
    const own = htmlPage({ title: 'Own', sections: [plotlyBundleScript(), figureHtml(tinyFigure())] });
    expect(count(own, 'data-jbx-plotly-bundle')).toBe(1);
  });

  it('escapes the title, subtitle and footer', () => {
    const page = htmlPage({ title: '<b>R&D</b>', subtitle: '"quoted"', footer: '<i>f</i>', sections: [] });
    expect(page).toContain('<title>&lt;b&gt;R&amp;D&lt;/b&gt;</title>');
    expect(page).toContain('<h1>&lt;b&gt;R&amp;D&lt;/b&gt;</h1>');
    expect(page).toContain('&quot;quoted&quot;');
    expect(page).toContain('&lt;i&gt;f&lt;/i&gt;');
  });
});

describe('audio', () => {
  it('encodeWav16: a valid mono 16-bit PCM WAV', () => {
    const samples = new Float32Array([0, 0.5, -0.5, 1, -1, 2, -3, NaN]);
    const wav = encodeWav16(samples, 22050);
    const v = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
    const ascii = (o: number) => String.fromCharCode(...wav.subarray(o, o + 4));
    expect(wav.length).toBe(44 + 2 * samples.length);
    expect(ascii(0)).toBe('RIFF');
    expect(v.getUint32(4, true)).toBe(wav.length - 8);
    expect(ascii(8)).toBe('WAVE');
    expect(ascii(12)).toBe('fmt ');
    expect(v.getUint32(16, true)).toBe(16);
    expect(v.getUint16(20, true)).toBe(1); // PCM
    expect(v.getUint16(22, true)).toBe(1); // mono
    expect(v.getUint32(24, true)).toBe(22050);
    expect(v.getUint32(28, true)).toBe(44100); // byte rate
    expect(v.getUint16(32, true)).toBe(2); // block align
    expect(v.getUint16(34, true)).toBe(16);
    expect(ascii(36)).toBe('data');
    expect(v.getUint32(40, true)).toBe(2 * samples.length);
    const pcm = Array.from({ length: samples.length }, (_, i) => v.getInt16(44 + 2 * i, true));
    expect(pcm).toEqual([0, 16384, -16384, 32767, -32767, 32767, -32767, 0]);
    expect(() => encodeWav16(samples, 44100.5)).toThrow(RangeError);
  });

  it('audioPlayerHtml: <audio controls> whose data URI decodes to the WAV at the right rate and length', () => {
    const sr = 16000;
    const samples = Float32Array.from({ length: 8000 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / sr));
    const html = audioPlayerHtml(samples, sr, { label: 'Level <2>' });
    expect(html).toMatch(/<audio controls preload="metadata" src="data:audio\/wav;base64,[A-Za-z0-9+/=]+"><\/audio>/);
    expect(html).toContain('Level &lt;2&gt;');
    expect(html).toContain('0.50 s · 16000 Hz');
    const b64 = /base64,([^"]+)"/.exec(html)![1];
    const wav = Buffer.from(b64, 'base64');
    expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
    expect(wav.toString('latin1', 8, 12)).toBe('WAVE');
    expect(wav.readUInt16LE(22)).toBe(1);
    expect(wav.readUInt32LE(24)).toBe(sr);
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.readUInt32LE(40) / 2).toBe(samples.length);
    expect(wav.length).toBe(44 + 2 * samples.length);
    expect(wav.readInt16LE(44 + 2 * 10) / 32767).toBeCloseTo(samples[10], 4);
  });
});

describe('tableHtml, sectionHtml, gridHtml', () => {
  it('renders records as an escaped table with right-aligned numbers', () => {
    const html = tableHtml([{ metric: 'snr <dB>', value: 12.345678, n: 3 }, { metric: 'sc', value: 0.5, extra: 'x&y' }], { digits: 2, caption: 'Cap' });
    expect(html).toContain('<caption>Cap</caption>');
    expect(html).toContain('<th>metric</th><th class="num">value</th><th class="num">n</th><th>extra</th>');
    expect(html).toContain('<td>snr &lt;dB&gt;</td><td class="num">12.35</td><td class="num">3</td><td></td>');
    expect(html).toContain('<td>sc</td><td class="num">0.50</td><td class="num"></td><td>x&amp;y</td>');
  });

  it('sections and grids', () => {
    expect(sectionHtml('A & B', ['<p>1</p>', '<p>2</p>'], { description: 'd<' })).toBe(
      '<section class="jbx-section"><h2>A &amp; B</h2><p class="jbx-description">d&lt;</p>\n<p>1</p>\n<p>2</p>\n</section>',
    );
    expect(gridHtml(['a', 'b'], { columns: 2 })).toContain('grid-template-columns:repeat(2, minmax(0, 1fr))');
    expect(gridHtml(['a'])).toContain('minmax(360px, 1fr)');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
