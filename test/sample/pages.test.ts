import { describe, expect, it } from 'vitest';
import { formatSampleProgress } from '../../src/cli/progress';
import { samplePage, scoresPage, surpriseFigure } from '../../src/viz/sample-pages';

describe('sample and score pages', () => {
  it('the sample page links a player per level and item, and shows labels, settings and code timelines', () => {
    const codes = new Map([[2, [Int32Array.of(1, 2), Int32Array.of(3, 4)]], [1, [Int32Array.of(1, 2, 3, 4), Int32Array.of(5, 6, 7, 8)]]]);
    const audio = new Map([2, 1].map((l) => [l, [0, 1].map((i) => ({ file: `level_${l}/item_${i}.wav`, seconds: 0.5 }))]));
    const html = samplePage({ title: 'T <x>', sampleRate: 22050, hopLengths: [4, 8, 16], audio, codes, labels: [{ artist: 'a&b' }, { artist: 'c' }], settings: { seed: 1 } });
    expect(html.match(/<audio /g)).toHaveLength(4);
    expect(html).toContain('src="level_1/item_1.wav"');
    expect(html).toContain('T &lt;x&gt;');
    expect(html).toContain('a&amp;b');
    expect(html.match(/data-jbx-plotly /g)).toHaveLength(2); // one timeline per item
    expect(html).not.toMatch(/<script src="http/);
  });

  it('surprise is drawn in seconds, pooled to at most maxPoints per item', () => {
    const bits = [Float32Array.from({ length: 1000 }, (_, i) => i % 10)];
    const fig = surpriseFigure(bits, 0.01, { maxPoints: 100 });
    const trace = fig.data[0] as unknown as { x: number[]; y: number[] };
    expect(trace.x).toHaveLength(100);
    expect(trace.x[1]).toBeCloseTo(0.1, 6);
    expect(trace.y[0]).toBeCloseTo(4.5, 6);
    const html = scoresPage({ source: 's.wav', prior: 'p', level: 2, sampleRate: 100, hopLength: 1, smoothed: bits, smoothTokens: 5, meanBits: [4.5], bitsPerToken: 4.5 });
    expect(html).toContain('Surprise over time');
    expect(html).toContain('4.500 bits/token');
  });

  it('the progress line shows level, window k/n, tokens/s and the ETA', () => {
    expect(formatSampleProgress({ level: 1, window: 3, windows: 9, done: 50, total: 100, tokensPerSecond: 123.45, etaSeconds: 62 })).toBe(
      'level 1 window 3/9 [==========          ] 50% 123.5 tokens/s ETA 1:02',
    );
    expect(formatSampleProgress({ level: 0, window: 1, windows: 1, done: 0, total: 10, tokensPerSecond: 0, etaSeconds: NaN })).toMatch(/ETA --:--$/);
  });
});
