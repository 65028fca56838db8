// The `unidecode` npm package ships no types: one function, string in, ASCII string out. A plain
// require (not an ambient .d.ts) keeps the tslab kernel, which compiles only imported files, happy.
const unidecode = require('unidecode') as (text: string) => string;

/**
 * ASCII folding as Python's `unidecode` (1.3) does it, which is what the reference's lyrics
 * cleaner calls before tokenising (`text_processor.py`). Built on the `unidecode` npm package,
 * which carries the same Text::Unidecode tables in an older edition; what differs is corrected
 * here so the lyric tokens a prior sees are the ones the reference gives it:
 * - the npm tables write some entries JavaScript-escaped (`\@`, `\\`, `\{`, `\}`, `\$`), which
 *   would turn one backslash into two newlines after cleaning;
 * - the npm package marks characters it has no transliteration for as `[?]` (made of vocabulary
 *   symbols, so they would reach the prior); Python gives the empty string;
 * - the characters below that the two editions map differently and that can occur in lyrics
 *   (C1 controls, Cyrillic, line separators, kana, fractions, punctuation-like symbols, CJK the
 *   npm tables lack).
 * The differences that remain are counted in test/fixtures/labels/README.md.
 */
export function asciiFold(text: string): string {
  let out = '';
  for (const ch of text) out += foldCodePoint(ch);
  return out;
}

/** Folds one code point (a string of one or two UTF-16 units). */
export function foldCodePoint(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) return ch;
  const fixed = OVERRIDES.get(cp);
  if (fixed !== undefined) return fixed;
  // Python maps the C1 control characters to nothing; the npm tables read them as Windows-1252.
  if (cp <= 0x9f) return '';
  const raw = unidecode(ch);
  if (raw === '[?]' || raw === '[?] ') return '';
  // CJK ideographs missing from the npm tables come back as a bare separator.
  if (raw === ' ' && ((cp >= 0x2e80 && cp <= 0x2fff) || (cp >= 0x3400 && cp <= 0x9fff))) return '';
  return raw.replace(/\\([\\@{}$])/g, '$1');
}

/** Code points where the npm tables and Python's disagree, with Python's value. */
const OVERRIDES = new Map<number, string>([
  [0x0404, 'Ie'], [0x042a, "'"], [0x044a, "'"],          // Є Ъ ъ
  [0x2028, '\n'], [0x2029, '\n\n'],                       // line and paragraph separators
  [0x3057, 'shi'], [0x3061, 'chi'], [0x3063, 'tsu'], [0x3064, 'tsu'],   // hiragana し ち っ つ
  [0x30b7, 'shi'], [0x30c1, 'chi'], [0x30c3, 'tsu'], [0x30c4, 'tsu'],   // katakana シ チ ッ ツ
  [0x30ff, ''],                                            // katakana digraph koto
  [0x00bc, ' 1/4'], [0x00bd, ' 1/2'], [0x00be, ' 3/4'],   // vulgar fractions
  [0x2047, '??'], [0x204a, '&'], [0x204e, '*'], [0x2052, '%'], [0x2053, '~'], [0x2057, "''''"],
  [0x205f, ' '], [0x2122, '(tm)'],
  [0x2212, '-'], [0x2215, '/'], [0x2216, '\\'], [0x2217, '*'], [0x2223, '|'], [0x2236, ':'],
  [0x223c, '~'], [0x2264, '<='], [0x2265, '>='], [0x2329, '<'], [0x232a, '> '],
  [0x2731, '*'], [0x2758, '|'], [0x275c, "'"], [0x275d, '"'], [0x275e, '"'], [0x275f, ','],
  [0x2760, ',,'], [0x2762, '!'], [0x27e6, '['], [0x27e8, '<'], [0x27e9, '> '],
]);
