import { describe, expect, it } from 'vitest';
import {
  codeTimelineFigure,
  decodeMatrixSpec,
  Figure,
  formatCell,
  formatColumns,
  LEVEL_COLORS,
  levelColor,
  matrixSpec,
  metricsTableFigure,
  minMaxEnvelope,
  projectionScatterFigure,
  spectrogramsFigure,
  Trace,
  usageHistogramFigure,
  usageStats,
  waveformFigure,
} from '../../src/viz';

type Obj = Record<string, unknown>;
const arr = (t: Trace, k: string) => t[k] as number[];
const zOf = (t: Trace) => decodeMatrixSpec(t.z as { dtype: string; bdata: string; shape: string });

/** Every figure must survive JSON (what a page or notebook embeds) unchanged. */
function jsonStable(fig: Figure): void {
  expect(JSON.parse(JSON.stringify(fig))).toEqual(fig);
}

describe('minMaxEnvelope', () => {
  it('returns short signals unchanged', () => {
    const x = [0.1, -0.2, 0.3];
    expect(minMaxEnvelope(x, 10)).toEqual({ index: [0, 1, 2], value: x });
  });

  it('keeps at most maxPoints points, in time order, including every extreme', () => {
    const n = 100_003;
    const x = new Float32Array(n).map((_, i) => Math.sin(i / 37) * Math.cos(i / 1013));
    x[777] = 1.5;
    x[90_001] = -1.25;
    for (const maxPoints of [2, 3, 100, 1001, 4000]) {
      const { index, value } = minMaxEnvelope(x, maxPoints);
      expect(index.length).toBeLessThanOrEqual(maxPoints);
      expect(index.length).toBeGreaterThanOrEqual(Math.floor(maxPoints / 2));
      for (let i = 1; i < index.length; i++) expect(index[i]).toBeGreaterThan(index[i - 1]);
      index.forEach((k, i) => expect(value[i]).toBe(x[k]));
      expect(Math.max(...value)).toBe(x[777]);
      expect(Math.min(...value)).toBe(x[90_001]);
    }
  });

  it('keeps every bucket’s min and max', () => {
    const x = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const { index, value } = minMaxEnvelope(x, 20);
    for (let b = 0; b < 10; b++) {
      const bucket = x.slice(b * 100, (b + 1) * 100);
      const inBucket = value.filter((_, i) => index[i] >= b * 100 && index[i] < (b + 1) * 100);
      expect(Math.max(...inBucket)).toBe(Math.max(...bucket));
      expect(Math.min(...inBucket)).toBe(Math.min(...bucket));
    }
  });

  it('rejects maxPoints below 2', () => {
    expect(() => minMaxEnvelope([1, 2, 3], 1)).toThrow(RangeError);
  });
});

describe('waveformFigure', () => {
  it('draws a short signal sample for sample against seconds', () => {
    const fig = waveformFigure(new Float32Array([0, 0.5, -0.5, 0.25]), 4, { title: 'clip' });
    expect(fig.data).toHaveLength(1);
    const t = fig.data[0];
    expect(t.type).toBe('scatter');
    expect(arr(t, 'x')).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arr(t, 'y')).toEqual([0, 0.5, -0.5, 0.25]);
    expect(Array.isArray(t.x) && Array.isArray(t.y)).toBe(true); // plain arrays, not typed
    expect(((fig.layout.xaxis as Obj).title as Obj).text).toBe('Time (s)');
    expect(((fig.layout.xaxis as Obj).range as number[])[1]).toBe(1);
    expect((fig.layout.title as Obj).text).toBe('clip');
    jsonStable(fig);
  });

  it('keeps a 4-minute song small: ≤ maxPoints points, ~100 KB of JSON', () => {
    const sr = 44100;
    const song = new Float32Array(240 * sr);
    for (let i = 0; i < song.length; i++) song[i] = 0.8 * Math.sin(i / 9) * Math.sin(i / 50_000);
    song[5_000_000] = -1;
    const fig = waveformFigure(song, sr);
    const x = arr(fig.data[0], 'x');
    const y = arr(fig.data[0], 'y');
    expect(x.length).toBeLessThanOrEqual(4000);
    expect(x.length).toBeGreaterThan(1900);
    expect(x[x.length - 1]).toBeLessThanOrEqual(240);
    expect(x[x.length - 1]).toBeGreaterThan(239.9);
    expect(Math.min(...y)).toBe(-1);
    expect(JSON.stringify(fig).length).toBeLessThan(120_000);
    expect(arr(waveformFigure(song, sr, { maxPoints: 500 }).data[0], 'x').length).toBeLessThanOrEqual(500);
  });

  it('writes non-finite samples as gaps (null) and rejects a bad rate', () => {
    expect(arr(waveformFigure([0, NaN, 1], 10).data[0], 'y')).toEqual([0, null, 1]);
    expect(() => waveformFigure([0], 0)).toThrow(RangeError);
  });
});

describe('matrixSpec', () => {
  it('packs whole numbers as int8, wider ones as int16, gaps as float32 NaN', () => {
    const small = matrixSpec([[-80, 0.4], [12.6, -128]], true);
    expect(small.dtype).toBe('i1');
    expect(small.shape).toBe('2,2');
    expect(decodeMatrixSpec(small)).toEqual([[-80, 0], [13, -128]]);
    expect(matrixSpec([[-200, 0]], true).dtype).toBe('i2');
    expect(decodeMatrixSpec(matrixSpec([[-200, 300]], true))).toEqual([[-200, 300]]);
    const gap = matrixSpec([[1.5, null]], true);
    expect(gap.dtype).toBe('f4');
    const back = decodeMatrixSpec(gap);
    expect(back[0][0]).toBe(1.5);
    expect(back[0][1]).toBeNaN();
  });
});

describe('spectrogramsFigure', () => {
  const mels = 16;
  const frames = 50;
  const ramp = (offset: number) => Array.from({ length: frames }, (_, f) => Array.from({ length: mels }, (_, m) => -60 + m + f / 10 + offset));
  const freqs = Array.from({ length: mels }, (_, m) => 40 * 1.35 ** m);

  it('draws one heatmap per panel, [mel][frame], on one shared colour axis', () => {
    const fig = spectrogramsFigure([
      { title: 'Original', db: ramp(0), hopSeconds: 0.01, melFrequencies: freqs },
      { title: 'Level 0', db: ramp(-5).map((r) => Float32Array.from(r)), hopSeconds: 0.01, melFrequencies: freqs },
      { title: 'Level 1', db: ramp(-10), hopSeconds: 0.01 },
    ]);
    expect(fig.data.map((t) => t.type)).toEqual(['heatmap', 'heatmap', 'heatmap']);
    for (const t of fig.data) expect(t.coloraxis).toBe('coloraxis');
    const z = zOf(fig.data[0]);
    expect(z).toHaveLength(mels);
    expect(z[0]).toHaveLength(frames);
    expect(z[3][7]).toBe(Math.round(-60 + 3 + 0.7));
    const ca = fig.layout.coloraxis as Obj;
    expect(ca.cmax).toBeCloseTo(-60 + 15 + 4.9, 5); // the loudest value of any panel
    expect(ca.cmin).toBeCloseTo(-70, 5); // the quietest (within the 80 dB default range)
    expect(fig.data.map((t) => [t.xaxis, t.yaxis])).toEqual([['x', 'y'], ['x2', 'y2'], ['x3', 'y3']]);
    expect((fig.layout.xaxis2 as Obj).matches).toBe('x');
    expect((fig.layout.yaxis3 as Obj).matches).toBe('y');
    expect(((fig.layout.annotations as Obj[]).map((a) => a.text))).toEqual(['Original', 'Level 0', 'Level 1']);
    // Frequency ticks in Hz at round values inside the bands' range, left panel only.
    const y = fig.layout.yaxis as Obj;
    expect(y.ticktext).toEqual(expect.arrayContaining(['100', '1k']));
    expect(((y.title as Obj).text as string)).toMatch(/Hz/);
    expect((fig.layout.yaxis2 as Obj).showticklabels).toBe(false);
    // x is seconds at frame centres.
    expect(arr(fig.data[0], 'x').slice(0, 3)).toEqual([0, 0.01, 0.02]);
    jsonStable(fig);
  });

  it('mean-pools long spectrograms to at most maxFrames columns', () => {
    const db = Array.from({ length: 1000 }, (_, f) => [f, -f]);
    const fig = spectrogramsFigure([{ title: 'long', db, hopSeconds: 0.5 }], { maxFrames: 100 });
    const z = zOf(fig.data[0]);
    expect(z[0]).toHaveLength(100);
    expect(z[0][0]).toBe(Math.round((0 + 9) / 2)); // mean of frames 0..9, whole dB
    expect(arr(fig.data[0], 'x')[0]).toBeCloseTo(4.5 * 0.5, 6); // the pooled frames' centre
    expect(fig.data[0].z).toMatchObject({ dtype: 'i2' });
  });

  it('honours zmin/zmax and the dynamic range', () => {
    const panels = [{ title: 'a', db: ramp(0), hopSeconds: 0.01 }];
    expect(spectrogramsFigure(panels, { zmin: -50, zmax: -10 }).layout.coloraxis).toMatchObject({ cmin: -50, cmax: -10 });
    const ca = spectrogramsFigure(panels, { dynamicRangeDb: 5 }).layout.coloraxis as Obj;
    expect((ca.cmax as number) - (ca.cmin as number)).toBeCloseTo(5, 1);
  });

  it('rejects no panels and bad hops', () => {
    expect(() => spectrogramsFigure([])).toThrow(RangeError);
    expect(() => spectrogramsFigure([{ title: 'x', db: [[0]], hopSeconds: 0 }])).toThrow(RangeError);
  });
});

describe('usageHistogramFigure', () => {
  it('one panel per level in the level colours, with usage stats in the titles', () => {
    const small = Int32Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? 0 : i));
    const big = Array.from({ length: 2048 }, (_, i) => (i % 3 === 0 ? 0 : 1 + (i % 50)));
    const fig = usageHistogramFigure([small, { counts: big, level: 1 }], { hopLengths: [8, 32] });
    expect(fig.data).toHaveLength(2);
    expect(fig.data[0].type).toBe('bar');
    expect((fig.data[0].marker as Obj).color).toBe(LEVEL_COLORS[0]);
    expect(arr(fig.data[0], 'x')).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(arr(fig.data[0], 'y')).toEqual(Array.from(small));
    // Thousands of codes: a filled step line (sub-pixel bars would fade out).
    expect(fig.data[1]).toMatchObject({ type: 'scatter', mode: 'lines', fill: 'tozeroy', line: { color: levelColor(1), shape: 'hvh' } });
    expect(arr(fig.data[1], 'y')).toHaveLength(2048);
    const titles = (fig.layout.annotations as Obj[]).map((a) => a.text as string);
    expect(titles[0]).toContain('Level 0 · 8×');
    expect(titles[0]).toContain('12 of 16 codes used');
    expect(titles[1]).toContain('Level 1 · 32×');
    expect((fig.layout.xaxis2 as Obj).matches).toBe('x');
    jsonStable(fig);
  });

  it('log axis: decades, unused codes drawn to the floor; sort makes a rank plot', () => {
    const counts = Array.from({ length: 1024 }, (_, i) => (i % 2 ? 0 : i));
    const fig = usageHistogramFigure([counts], { log: true, sort: true });
    const y = fig.layout.yaxis as Obj;
    expect(y.type).toBe('log');
    expect(y.dtick).toBe(1);
    const ys = arr(fig.data[0], 'y');
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThanOrEqual(ys[i - 1]);
    expect(ys[0]).toBe(1022);
    expect(ys[ys.length - 1]).toBeGreaterThan(0); // not 0 on a log axis
    expect((fig.data[0].customdata as number[][])[0]).toEqual([1022, 1022]); // [code, real count]
    expect(((fig.layout.xaxis as Obj).title as Obj).text).toMatch(/Rank/);
  });

  it('usageStats: codes used and perplexity', () => {
    expect(usageStats([5, 5, 5, 5])).toEqual({ used: 4, bins: 4, tokens: 20, perplexity: 4 });
    expect(usageStats([0, 7, 0, 0])).toMatchObject({ used: 1, perplexity: 1 });
    expect(usageStats([0, 0])).toMatchObject({ used: 0, tokens: 0, perplexity: 0 });
  });
});

describe('projectionScatterFigure', () => {
  const pts = (n: number, seed: number) => ({
    x: Float32Array.from({ length: n }, (_, i) => Math.sin(i * seed)),
    y: Float32Array.from({ length: n }, (_, i) => Math.cos(i * seed)),
  });

  it('colours by usage on one log scale; unused codes are a separate grey trace drawn first', () => {
    const usage = [[0, 3, 10, 0, 1000], [5, 0, 1, 1, 1]];
    const fig = projectionScatterFigure([{ ...pts(5, 1), usage: usage[0] }, { ...pts(5, 2), usage: Int32Array.from(usage[1]), ids: [10, 11, 12, 13, 14] }]);
    expect(fig.data.map((t) => t.name)).toEqual(['Level 0: unused', 'Level 0', 'Level 1: unused', 'Level 1']);
    const used0 = fig.data[1];
    expect(arr(used0, 'x')).toHaveLength(3);
    expect((used0.marker as Obj).coloraxis).toBe('coloraxis');
    expect((used0.marker as Obj).color).toEqual([0.602, 1.041, 3]); // log10(1 + tokens)
    expect(used0.customdata).toEqual([[1, 3], [2, 10], [4, 1000]]);
    expect(fig.data[2].customdata).toEqual([[11]]);
    expect((fig.layout.coloraxis as Obj).cmax).toBe(3);
    expect(fig.data[1].xaxis).toBe('x');
    expect(fig.data[3].xaxis).toBe('x2');
    jsonStable(fig);
  });

  it('colours by level without usage, and checks lengths', () => {
    const fig = projectionScatterFigure([pts(4, 1), { ...pts(4, 2), level: 2, label: 'top' }]);
    expect(fig.data).toHaveLength(2);
    expect((fig.data[1].marker as Obj).color).toBe(levelColor(2));
    expect(fig.layout.coloraxis).toBeUndefined();
    expect(((fig.layout.annotations as Obj[])[1]).text).toBe('top');
    expect(() => projectionScatterFigure([{ x: [1, 2], y: [1] }])).toThrow(RangeError);
  });
});

describe('codeTimelineFigure', () => {
  it('places token t of a level at t·hop/sampleRate seconds, one panel per level', () => {
    const codes = [Int32Array.from([5, 6, 7, 8, 9, 10, 11, 12]), Int32Array.from([1, 2]), Int32Array.from([3])];
    const fig = codeTimelineFigure(codes, [8, 32, 64], 64, { bins: 16 });
    expect(fig.data).toHaveLength(3);
    expect(arr(fig.data[0], 'x')).toEqual([0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]);
    expect(arr(fig.data[1], 'x')).toEqual([0, 0.5]);
    expect(arr(fig.data[0], 'y')).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect((fig.data[2].marker as Obj).color).toBe(levelColor(2));
    expect((fig.layout.yaxis as Obj).range).toEqual([-0.5, 15.5]);
    expect((fig.layout.xaxis3 as Obj).matches).toBe('x');
    jsonStable(fig);
  });

  it('decimates long levels to maxPointsPerLevel and says so', () => {
    const long = Int32Array.from({ length: 100_000 }, (_, i) => i % 2048);
    const fig = codeTimelineFigure([long], [8], 44100, { maxPointsPerLevel: 1000 });
    expect(arr(fig.data[0], 'x').length).toBeLessThanOrEqual(1000);
    expect(arr(fig.data[0], 'y')[1]).toBe(100);
    expect(((fig.layout.annotations as Obj[])[0]).text).toContain('every 100th of 100000 tokens');
  });

  it('needs a hop length per level', () => {
    expect(() => codeTimelineFigure([[1], [2]], [8], 100)).toThrow(/hop length per level/);
  });
});

describe('tables', () => {
  it('formatCell', () => {
    expect(formatCell(3)).toBe('3');
    expect(formatCell(0.123456)).toBe('0.1235');
    expect(formatCell(1.5, 2)).toBe('1.50');
    expect(formatCell(0.0000123, 3)).toBe('1.23e-5');
    expect(formatCell(NaN)).toBe('NaN');
    expect(formatCell(-Infinity)).toBe('−∞');
    expect(formatCell('text')).toBe('text');
  });

  it('formatColumns: one format per column', () => {
    const { text, numeric } = formatColumns([{ a: 1, b: 6, c: 'x' }, { a: 2, b: 14.2 }], ['a', 'b', 'c'], 2);
    expect(text).toEqual([['1', '2'], ['6.00', '14.20'], ['x', '']]);
    expect(numeric).toEqual([true, true, false]);
  });

  it('metricsTableFigure: a plotly table, header and columns, numbers right-aligned', () => {
    const rows = [{ level: 0, snr: 14.234567, name: 'bottom' }, { level: 1, snr: 9.5, name: 'middle <b>' }];
    const fig = metricsTableFigure(rows, { digits: 2, title: 'Metrics' });
    expect(fig.data).toHaveLength(1);
    const t = fig.data[0];
    expect(t.type).toBe('table');
    expect(((t.header as Obj).values as string[])).toEqual(['<b>level</b>', '<b>snr</b>', '<b>name</b>']);
    expect(((t.cells as Obj).values as string[][])).toEqual([['0', '1'], ['14.23', '9.50'], ['bottom', 'middle &lt;b&gt;']]); // shown literally
    expect(((t.cells as Obj).align as string[])).toEqual(['right', 'right', 'left']);
    expect(fig.layout.height).toBeGreaterThan(100);
    jsonStable(fig);
  });
});
