import { AttentionMaps, attentionHeatmapTrace, characterList, headGridFigure, headKeys, parseHeadKey, poolAttention, RankedHead, TimedWord, wordCharacterStarts } from './attention';
import { defaultConfig, Figure, matrixSpec } from './figures';
import { escapeHtml, figureHtml, htmlPage, scriptJson, sectionHtml, tableHtml, wavDataUri } from './html';
import { relativeUrl } from './sample-pages';

/**
 * The karaoke page of a lyric alignment (`jukebox align`'s `DIR/index.html`, and the page `jukebox
 * sample` writes per item): the audio player, the lyrics with the word being sung highlighted as
 * it plays, and the attention heatmap with a cursor at the playback position. It works offline
 * from a file: plotly.js is inlined, the audio is embedded (or a WAV beside the page), and the
 * page's own script is a few dozen lines with no dependency.
 *
 * Several captured heads get a selector; each head has its own word timings, so switching head
 * switches both the heatmap and the highlighting. The head finder's grid and ranking are shown
 * when given.
 */

export interface KaraokePageInput {
  title: string;
  subtitle?: string;
  /** The stitched maps of every captured head (at least the chosen one). */
  attention: AttentionMaps;
  /** The head whose alignment the page opens on. */
  chosen: { layer: number; head: number };
  /** Word timings of every head in `attention.maps`, by `${layer}/${head}`. */
  words: ReadonlyMap<string, readonly TimedWord[]>;
  /** The song: a WAV beside the page (a relative link) or samples to embed; none: a position slider stands in. */
  audio?: { src: string } | { samples: ArrayLike<number>; sampleRate: number };
  /** What the word timings come from (alignment.json's `method`), shown under the lyrics. */
  method?: string;
  /** The head finder's ranking, best first: adds the grid of all heads and the ranking table. */
  ranking?: readonly (RankedHead & Record<string, number>)[];
  /** Labels of the song (artist, genre, ...), shown as a table. */
  labels?: Record<string, string | number>;
  /** Most time columns of the heatmap; default 600. */
  maxColumns?: number;
}

/** Element ids the page's script and tests use. */
export const KARAOKE_IDS = {
  audio: 'jbx-k-audio',
  position: 'jbx-k-position',
  head: 'jbx-k-head',
  lyrics: 'jbx-k-lyrics',
  now: 'jbx-k-now',
  heatmap: 'jbx-k-heatmap',
} as const;

const CSS = `
.jbx-k-lyrics { font-size: 19px; line-height: 1.9; max-height: 360px; overflow-y: auto; padding: 8px 4px; }
.jbx-word { padding: 1px 3px; border-radius: 4px; cursor: pointer; transition: background .08s; }
.jbx-word.jbx-sung { color: #8a94a3; }
.jbx-word.jbx-current { background: #ffd84d; color: #1f2328; box-shadow: 0 0 0 2px #ffd84d; }
.jbx-k-bar { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; margin: 10px 0 4px; color: var(--muted); font-variant-numeric: tabular-nums; }
.jbx-k-bar select, .jbx-k-bar input { font: inherit; }
#${KARAOKE_IDS.position} { flex: 1 1 300px; }
#${KARAOKE_IDS.audio} { width: 100%; }
`;

/** Client-side behaviour: highlight, cursor, head switching. `D` is the page's data. */
const SCRIPT = `
var ids = D.ids, audio = document.getElementById(ids.audio), pos = document.getElementById(ids.position);
var sel = document.getElementById(ids.head), lyrics = document.getElementById(ids.lyrics), now = document.getElementById(ids.now);
var gd = document.getElementById(ids.heatmap), key = D.chosen, words = [], spans = [], current = -2, sung = -1, cursorAt = null;
function decode(spec) {
  var bin = atob(spec.bdata), bytes = new Int8Array(bin.length), shape = spec.shape.split(','), h = +shape[0], w = +shape[1], z = [];
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  for (var r = 0; r < h; r++) z.push(Array.prototype.slice.call(bytes, r * w, (r + 1) * w));
  return z;
}
function time() { return audio ? audio.currentTime : Number(pos.value); }
function wordAt(t) {
  var lo = 0, hi = words.length - 1, found = -1;
  while (lo <= hi) { var mid = (lo + hi) >> 1; if (words[mid].start <= t) { found = mid; lo = mid + 1; } else hi = mid - 1; }
  return found >= 0 && t < words[found].end ? found : -1;
}
function seek(t) { if (audio) audio.currentTime = t; else pos.value = String(t); update(); }
function addText(text) {
  text.split('\\n').forEach(function (part, j) {
    if (j > 0) lyrics.appendChild(document.createElement('br'));
    if (part) lyrics.appendChild(document.createTextNode(part));
  });
}
function render(k) {
  key = k; words = D.heads[k].words; spans = []; current = -2; sung = -1;
  lyrics.textContent = '';
  var at = D.heads[k].at, done = 0;
  words.forEach(function (w, i) {
    // The lyrics as the model saw them (punctuation, line breaks), each word a span.
    if (at[i] >= done) { addText(D.text.slice(done, at[i])); done = at[i] + w.word.length; }
    else if (i > 0) addText(' ');
    var s = document.createElement('span');
    s.className = 'jbx-word'; s.textContent = w.word; s.title = w.start.toFixed(2) + '\\u2013' + w.end.toFixed(2) + ' s';
    s.setAttribute('data-start', String(w.start)); s.setAttribute('data-end', String(w.end));
    s.addEventListener('click', function () { seek(w.start); });
    lyrics.appendChild(s); spans.push(s);
  });
  addText(D.text.slice(done));
  update();
}
function update() {
  var t = time(), i = wordAt(t), done = 0;
  while (done < words.length && words[done].end <= t) done++;
  if (done !== sung) { spans.forEach(function (s, j) { s.classList.toggle('jbx-sung', j < done); }); sung = done; }
  if (i !== current) {
    if (current >= 0) spans[current].classList.remove('jbx-current');
    if (i >= 0) {
      spans[i].classList.add('jbx-current');
      var top = spans[i].offsetTop - lyrics.offsetTop;
      if (top < lyrics.scrollTop || top > lyrics.scrollTop + lyrics.clientHeight - 30) lyrics.scrollTop = Math.max(0, top - lyrics.clientHeight / 3);
    }
    current = i;
  }
  now.textContent = t.toFixed(2) + ' s' + (i >= 0 ? ' \\u00b7 ' + words[i].word : '');
  if (gd && gd._fullLayout && window.Plotly && (cursorAt === null || Math.abs(t - cursorAt) >= D.cursorStep)) {
    cursorAt = t;
    window.Plotly.relayout(gd, { 'shapes[0].x0': t, 'shapes[0].x1': t });
  }
}
function tick() { update(); if (audio && !audio.paused && !audio.ended) requestAnimationFrame(tick); }
if (audio) ['timeupdate', 'seeked', 'seeking', 'pause', 'ended'].forEach(function (e) { audio.addEventListener(e, update); });
if (audio) audio.addEventListener('play', tick);
if (pos) pos.addEventListener('input', update);
if (sel) sel.addEventListener('change', function () {
  var k = sel.value;
  if (gd && window.Plotly) window.Plotly.restyle(gd, { z: [decode(D.heads[k].z)] }, [0]);
  document.getElementById(ids.heatmap + '-title').textContent = D.heads[k].label;
  render(k);
});
window.jukeboxKaraoke = { update: update, seek: seek, head: function () { return key; }, current: function () { return current; } };
render(key);
`;

function headLabel(key: string): string {
  const { layer, head } = parseHeadKey(key);
  return `layer ${layer}, head ${head}`;
}

/** The heatmap of one head with a playback cursor (shape 0) at time 0. */
function cursorHeatmap(attn: AttentionMaps, key: string, maxColumns: number): Figure {
  const duration = attn.tokens * attn.secondsPerToken;
  return {
    data: [attentionHeatmapTrace(attn, key, { maxColumns })],
    layout: {
      height: 440,
      autosize: true,
      margin: { l: 72, r: 24, t: 12, b: 48 },
      font: { family: 'Inter, system-ui, sans-serif', size: 12, color: '#2b2f36' },
      xaxis: { title: { text: 'Time (s)' }, range: [0, duration], showgrid: false, zeroline: false, ticks: 'outside' },
      yaxis: { title: { text: 'Lyric character' }, type: 'category', nticks: 30, showgrid: false, ticks: 'outside', automargin: true },
      shapes: [{ type: 'line', xref: 'x', yref: 'paper', x0: 0, x1: 0, y0: 0, y1: 1, line: { color: '#4fd1ff', width: 2 } }],
      paper_bgcolor: '#ffffff',
      plot_bgcolor: '#ffffff',
    },
    config: defaultConfig(),
  };
}

/** The karaoke page: a complete offline HTML document. */
export function karaokePage(input: KaraokePageInput): string {
  const attn = input.attention;
  const keys = headKeys(attn);
  const chosen = `${input.chosen.layer}/${input.chosen.head}`;
  if (!attn.maps.has(chosen)) throw new RangeError(`karaokePage: no attention map for the chosen head ${chosen} (have ${keys.join(', ')})`);
  for (const k of keys) if (!input.words.has(k)) throw new RangeError(`karaokePage: no word timings for head ${k}`);
  const chars = characterList(attn.characters);
  const maxColumns = input.maxColumns ?? 600;
  const heads: Record<string, unknown> = {};
  let stride = 1;
  for (const k of keys) {
    const words = input.words.get(k)!;
    const pooled = poolAttention(attn.maps.get(k)!, attn.tokens, chars.length, attn.secondsPerToken, maxColumns);
    stride = pooled.stride;
    heads[k] = {
      label: headLabel(k),
      z: matrixSpec(pooled.z, true),
      words: words.map((w) => ({ word: w.word, start: Math.round(w.start * 1e4) / 1e4, end: Math.round(w.end * 1e4) / 1e4 })),
      at: wordCharacterStarts(chars, words),
    };
  }
  const duration = attn.tokens * attn.secondsPerToken;
  const data = { ids: KARAOKE_IDS, text: chars.join('').trimEnd(), chosen, heads, cursorStep: (stride * attn.secondsPerToken) / 2 };
  const figure = cursorHeatmap(attn, chosen, maxColumns);

  const player = input.audio === undefined
    ? `<p class="jbx-description">No audio: move the slider to a time.</p><div class="jbx-k-bar"><input type="range" id="${KARAOKE_IDS.position}" min="0" max="${duration}" step="${Math.max(attn.secondsPerToken, 0.01)}" value="0"></div>`
    : `<audio id="${KARAOKE_IDS.audio}" controls preload="auto" src="${'src' in input.audio ? escapeHtml(relativeUrl(input.audio.src)) : wavDataUri(input.audio.samples, input.audio.sampleRate)}"></audio>`;
  const selector = keys.length > 1
    ? `<label>Head <select id="${KARAOKE_IDS.head}">${keys.map((k) => `<option value="${k}"${k === chosen ? ' selected' : ''}>${headLabel(k)}${k === chosen ? ' (chosen)' : ''}</option>`).join('')}</select></label>`
    : `<span>${headLabel(chosen)}</span>`;
  const sections = [
    `<style>${CSS}</style>`,
    sectionHtml('Karaoke', [
      player,
      `<div class="jbx-k-bar">${selector}<span id="${KARAOKE_IDS.now}">0.00 s</span>${input.method ? `<span>word timings: ${escapeHtml(input.method)}</span>` : ''}</div>`,
      `<div class="jbx-k-lyrics" id="${KARAOKE_IDS.lyrics}"></div>`,
    ], { description: 'The word being sung is highlighted as the song plays; click a word to jump to it.' }),
    sectionHtml('Attention', [`<p class="jbx-description" id="${KARAOKE_IDS.heatmap}-title">${headLabel(chosen)}</p>`, figureHtml(figure, { id: KARAOKE_IDS.heatmap })], {
      description: 'How the head attends from each moment of the music (x) to the lyric characters (y), in percent of its peak; the line is the playback position.',
    }),
  ];
  if (input.ranking && input.ranking.length > 0) {
    sections.push(sectionHtml('Head finder', [
      figureHtml(headGridFigure(attn, { ranking: input.ranking })),
      tableHtml(input.ranking.map((r, i) => ({ rank: i + 1, ...r })), { digits: 3 }),
    ], { description: 'Every lyric head, best first: a head that aligns draws one bright monotonic path from the first character to the last.' }));
  }
  const chosenWords = input.words.get(chosen)!;
  if (chosenWords.length > 0) sections.push(sectionHtml('Word timings', tableHtml(chosenWords.map((w, i) => ({ '#': i, word: w.word, 'start (s)': w.start, 'end (s)': w.end })), { digits: 2 })));
  if (input.labels) sections.push(sectionHtml('Labels', tableHtml([input.labels], { digits: 2 })));
  sections.push(`<script>(function(){var D=${scriptJson(data)};${SCRIPT}})();</script>`);
  return htmlPage({ title: input.title, subtitle: input.subtitle, sections });
}
