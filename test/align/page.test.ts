import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  alignmentFigure, AttentionMaps, attentionExplorerFigure, characterLabels, headGridFigure, poolAttention, TimedWord, wordCharacterStarts,
} from '../../src/viz/attention';
import { decodeMatrixSpec } from '../../src/viz/figures';
import { figureHtml, htmlPage } from '../../src/viz/html';
import { KARAOKE_IDS, karaokePage } from '../../src/viz/karaoke';
import { launchOffline, openPage } from '../browser';
import { tempDir } from '../helpers';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

/**
 * A synthetic song: 200 tokens of 20 ms (4 s) over the 17 characters of "hello world\nla la".
 * Head 3/1 attends along the diagonal (character k from token 10k on), the others uniformly.
 */
const CHARS = 'hello world\nla la';
const TOKENS = 200;
function diagonal(): Float32Array {
  const m = new Float32Array(TOKENS * CHARS.length);
  for (let t = 0; t < TOKENS; t++) m[t * CHARS.length + Math.min(CHARS.length - 1, Math.floor(t / 10))] = 1;
  return m;
}
const uniform = () => new Float32Array(TOKENS * CHARS.length).fill(1 / CHARS.length);
const ATTN: AttentionMaps = {
  characters: CHARS,
  tokens: TOKENS,
  secondsPerToken: 0.02,
  maps: new Map([['3/0', uniform()], ['3/1', diagonal()], ['7/0', uniform()], ['7/1', uniform()]]),
};
const WORDS: TimedWord[] = [
  { word: 'hello', start: 0.5, end: 1.0 },
  { word: 'world', start: 1.0, end: 1.6 },
  { word: 'la', start: 2.0, end: 2.4 },
  { word: 'la', start: 2.5, end: 3.0 },
];
const OTHER: TimedWord[] = [
  { word: 'hello', start: 0.1, end: 0.2 },
  { word: 'world', start: 0.2, end: 0.3 },
  { word: 'la', start: 0.3, end: 0.4 },
  { word: 'la', start: 3.5, end: 3.9 },
];
const wordsByHead = new Map([['3/0', OTHER], ['3/1', WORDS], ['7/0', OTHER], ['7/1', OTHER]]);

describe('attention figures', () => {
  it('pools time by the mean into whole percent of the peak, characters as rows', () => {
    const p = poolAttention(diagonal(), TOKENS, CHARS.length, 0.02, 40);
    expect(p.stride).toBe(5);
    expect(p.z).toHaveLength(CHARS.length);
    expect(p.z[0]).toHaveLength(40);
    // Character 1 holds tokens 10..19: columns 2 and 3, fully.
    expect(p.z[1].slice(0, 5)).toEqual([0, 0, 100, 100, 0]);
    expect(p.x[0]).toBeCloseTo(2.5 * 0.02, 6);
    expect(() => poolAttention(new Float32Array(3), 2, 2, 0.1)).toThrow(/3 values, expected 2 tokens x 2 characters/);
    // One spike does not black out the rest: the peak is the 99.5th percentile of the non-zero cells.
    const spiky = Float32Array.from({ length: 1000 }, (_, i) => (i < 500 ? 0.05 : 0.1));
    spiky[7] = 50;
    const q = poolAttention(spiky, 1000, 1, 0.01, 1000);
    expect([q.z[0][7], q.z[0][0], q.z[0][999]]).toEqual([100, 50, 100]);
  });

  it('finds each word at its first character, in order', () => {
    expect(wordCharacterStarts(CHARS, WORDS)).toEqual([0, 6, 12, 15]);
    expect(wordCharacterStarts(CHARS, [{ word: 'World' }, { word: 'nope' }, { word: 'la' }])).toEqual([6, -1, 12]);
    expect(characterLabels('a b\n')).toEqual(['0 a', '1 ␣', '2 b', '3 ⏎']);
  });

  it('the explorer: one heatmap, a layer dropdown that swaps the head dropdown, hover with character and time', () => {
    const fig = attentionExplorerFigure(ATTN, { initial: { layer: 3, head: 1 } });
    expect(fig.data).toHaveLength(1);
    expect(fig.data[0].name).toBe('layer 3 head 1');
    expect(fig.data[0].hovertemplate).toContain('character %{y}');
    expect(fig.data[0].hovertemplate).toContain('%{x:.2f} s');
    expect((fig.data[0].y as string[])[11]).toBe('11 ⏎');
    const menus = fig.layout.updatemenus as { active: number; buttons: { label: string; args: [Record<string, unknown>, Record<string, unknown>] }[] }[];
    expect(menus.map((m) => m.buttons.map((b) => b.label))).toEqual([['layer 3', 'layer 7'], ['head 0', 'head 1']]);
    expect(menus.map((m) => m.active)).toEqual([0, 1]);
    const layer7 = menus[0].buttons[1].args;
    expect(layer7[0].name).toEqual(['layer 7 head 0']);
    expect((layer7[1]['updatemenus[1].buttons'] as { args: [Record<string, unknown>] }[]).map((b) => b.args[0].name)).toEqual([['layer 7 head 0'], ['layer 7 head 1']]);
    const z = decodeMatrixSpec((menus[1].buttons[1].args[0].z as [{ dtype: string; bdata: string; shape: string }])[0]);
    expect(z[0][0]).toBe(100);
  });

  it('the paper-style figure overlays predicted and true onsets at the words\' first characters', () => {
    const fig = alignmentFigure(ATTN, 3, 1, { words: WORDS, truth: [{ word: 'hello', start: 0.4, end: 1 }, { word: 'la', start: 2.1, end: 2.3 }] });
    expect(fig.data.map((d) => d.name)).toEqual(['layer 3 head 1', 'predicted', 'truth']);
    expect(fig.data[1].x).toEqual([0.5, 1, 2, 2.5]);
    expect(fig.data[1].y).toEqual([0, 6, 12, 15]);
    expect(fig.data[2].y).toEqual([0, 12]);
    expect(fig.layout.showlegend).toBe(true);
    expect(() => alignmentFigure(ATTN, 5, 0)).toThrow(/no attention map for head 5\/0/);
  });

  it('the head grid draws the ranking best first', () => {
    const fig = headGridFigure(ATTN, { ranking: [{ layer: 3, head: 1, score: 0.9 }, { layer: 7, head: 0, score: 0.2 }, { layer: 3, head: 0, score: 0.1 }, { layer: 7, head: 1, score: 0 }] });
    expect(fig.data.map((d) => d.name)).toEqual(['layer 3 head 1', 'layer 7 head 0', 'layer 3 head 0', 'layer 7 head 1']);
    expect((fig.layout.annotations as { text: string }[])[0].text).toBe('#1 · L3 H1 · 0.900');
  });
});

/** A 4 s test tone at 8 kHz. */
const tone = () => Float32Array.from({ length: 4 * 8000 }, (_, i) => 0.2 * Math.sin((2 * Math.PI * 440 * i) / 8000));

describe('the karaoke page in Chromium', () => {
  it('highlights the word being sung at the playback position, moves the cursor, switches heads; offline, no errors', async () => {
    const file = path.join(dir, 'karaoke.html');
    fs.writeFileSync(file, karaokePage({
      title: 'Alignment', attention: ATTN, chosen: { layer: 3, head: 1 }, words: wordsByHead, audio: { samples: tone(), sampleRate: 8000 }, method: 'dtw',
      ranking: [{ layer: 3, head: 1, score: 0.9 }, { layer: 3, head: 0, score: 0.1 }, { layer: 7, head: 0, score: 0.1 }, { layer: 7, head: 1, score: 0 }],
    }));
    const browser = await launchOffline();
    try {
      const { page, consoleErrors, pageErrors } = await openPage(browser.context, file);
      await page.waitForFunction((id) => {
        const a = document.getElementById(id) as HTMLAudioElement;
        return a.readyState >= 1;
      }, KARAOKE_IDS.audio, { timeout: 20_000 });
      await page.waitForFunction(() => document.querySelectorAll('.js-plotly-plot').length === 2, undefined, { timeout: 30_000 });
      const at = async (t: number) => {
        await page.evaluate(({ id, t }) => new Promise<void>((resolve) => {
          const a = document.getElementById(id) as HTMLAudioElement;
          a.addEventListener('seeked', () => setTimeout(resolve, 50), { once: true });
          a.currentTime = t;
        }), { id: KARAOKE_IDS.audio, t });
        return page.evaluate((id) => ({
          current: Array.from(document.querySelectorAll('.jbx-word.jbx-current')).map((s) => s.textContent),
          index: (window as unknown as { jukeboxKaraoke: { current(): number } }).jukeboxKaraoke.current(),
          sung: document.querySelectorAll('.jbx-word.jbx-sung').length,
          cursor: ((document.getElementById(id) as unknown as { layout: { shapes: { x0: number }[] } }).layout.shapes[0].x0),
        }), KARAOKE_IDS.heatmap);
      };
      expect(await page.$$eval('.jbx-word', (s) => s.map((e) => e.textContent))).toEqual(['hello', 'world', 'la', 'la']);
      // The line break of the lyrics comes before the first "la".
      expect(await page.$eval(`#${KARAOKE_IDS.lyrics}`, (e) => e.innerHTML.indexOf('<br>') > e.innerHTML.indexOf('world'))).toBe(true);
      expect(await at(0.7)).toMatchObject({ current: ['hello'], index: 0, sung: 0 });
      expect(await at(1.2)).toMatchObject({ current: ['world'], index: 1, sung: 1 });
      expect(await at(1.8)).toMatchObject({ current: [], index: -1, sung: 2 });
      const late = await at(2.7);
      expect(late).toMatchObject({ current: ['la'], index: 3, sung: 3 });
      expect(late.cursor).toBeCloseTo(2.7, 5);
      // Another head: its own words and heatmap.
      await page.selectOption(`#${KARAOKE_IDS.head}`, '7/0');
      const switched = await page.evaluate((id) => ({
        head: (window as unknown as { jukeboxKaraoke: { head(): string } }).jukeboxKaraoke.head(),
        title: document.getElementById(`${id}-title`)!.textContent,
        z: (document.getElementById(id) as unknown as { data: { z: number[][] }[] }).data[0].z[0][0],
      }), KARAOKE_IDS.heatmap);
      expect(switched).toEqual({ head: '7/0', title: 'layer 7, head 0', z: 100 });
      expect(await at(3.6)).toMatchObject({ current: ['la'], index: 3 });
      // Playing moves on by itself.
      await page.evaluate((id) => { const a = document.getElementById(id) as HTMLAudioElement; a.muted = true; a.currentTime = 0.05; return a.play(); }, KARAOKE_IDS.audio);
      // (Not a check for "world" itself: on a loaded machine the events may skip its 0.6 s.)
      await page.waitForFunction(() => document.querySelectorAll('.jbx-word.jbx-sung').length >= 1, undefined, { timeout: 20_000 });
      expect(pageErrors).toEqual([]);
      expect(consoleErrors).toEqual([]);
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);

  it('without audio a slider drives it; the explorer\'s layer button swaps the head menu in plotly', async () => {
    const file = path.join(dir, 'slider.html');
    const only = { ...ATTN, maps: new Map([['3/1', diagonal()]]) };
    fs.writeFileSync(file, karaokePage({ title: 'No audio', attention: only, chosen: { layer: 3, head: 1 }, words: new Map([['3/1', WORDS]]) }));
    const explorer = path.join(dir, 'explorer.html');
    fs.writeFileSync(explorer, htmlPage({ title: 'Explorer', sections: [
      figureHtml(attentionExplorerFigure(ATTN), { id: 'explorer' }),
      figureHtml(alignmentFigure(ATTN, 3, 1, { words: WORDS, truth: OTHER }), { id: 'paper' }),
    ] }));
    const browser = await launchOffline();
    try {
      const { page, consoleErrors, pageErrors } = await openPage(browser.context, file);
      expect(await page.$(`#${KARAOKE_IDS.head}`)).toBeNull();
      await page.$eval(`#${KARAOKE_IDS.position}`, (e) => {
        (e as HTMLInputElement).value = '2.1';
        e.dispatchEvent(new Event('input'));
      });
      expect(await page.$eval('.jbx-word.jbx-current', (e) => e.textContent)).toBe('la');
      const ex = await openPage(browser.context, explorer);
      await ex.page.waitForFunction(() => document.querySelector('#explorer .main-svg') !== null, undefined, { timeout: 30_000 });
      // The paper-style figure: the heatmap and both onset overlays drawn (4 markers each).
      await ex.page.waitForFunction(() => document.querySelectorAll('#paper .scatterlayer .trace').length === 2, undefined, { timeout: 30_000 });
      expect(await ex.page.$$eval('#paper .scatterlayer .trace', (t) => t.map((e) => e.querySelectorAll('path.point').length))).toEqual([4, 4]);
      const after = await ex.page.evaluate(async () => {
        const gd = document.getElementById('explorer') as unknown as { layout: { updatemenus: { buttons: { label: string; args: unknown[] }[] }[] }; data: { name: string }[] };
        const Plotly = (window as unknown as { Plotly: { update(gd: unknown, a: unknown, b: unknown): Promise<void> } }).Plotly;
        const args = gd.layout.updatemenus[0].buttons[1].args;
        await Plotly.update(gd, args[0], args[1]);
        const head1 = gd.layout.updatemenus[1].buttons[1].args;
        await Plotly.update(gd, head1[0], head1[1]);
        return { name: gd.data[0].name, title: (gd.layout as unknown as { title: { text: string } }).title.text };
      });
      expect(after).toEqual({ name: 'layer 7 head 1', title: 'layer 7, head 1' });
      expect([...pageErrors, ...ex.pageErrors]).toEqual([]);
      expect([...consoleErrors, ...ex.consoleErrors]).toEqual([]);
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
