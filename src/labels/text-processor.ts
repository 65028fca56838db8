import { asciiFold } from './ascii-fold';

/** Label table edition: v2 for the 5b and 5b_lyrics priors, v3 for 1b_lyrics. */
export type LabelVersion = 'v2' | 'v3';

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';

/**
 * The lyric characters of each edition, in token order (token = index + 1; 0 is `<unk>`, also
 * used as padding). v2 has 79 characters, v3 the same without `+`; with `<unk>` they make the
 * 80 and 79 token values of the reference's `n_vocab`. Reference `TextProcessor`.
 */
export function lyricVocabulary(version: LabelVersion): string {
  return LETTERS + DIGITS + (version === 'v3' ? '.,:;!?-\'"()[] \t\n' : '.,:;!?-+\'"()[] \t\n');
}

/** Shows a character in a warning: quoted, with invisible and control characters as U+XXXX. */
export function showChar(ch: string): string {
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch) ? `"${ch}"` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Lyrics to tokens as the reference's `TextProcessor` does: ASCII folding (Python `unidecode`),
 * backslash to newline, then every symbol outside the vocabulary dropped. The reference drops
 * silently; here the dropped characters are reported through `warn`, since a prior conditioned
 * on lyrics with half their words missing is a surprise worth a line.
 */
export class TextProcessor {
  readonly version: LabelVersion;
  /** Symbols in token order; token of `symbols[i]` is i + 1. */
  readonly symbols: string;
  /** Number of token values including 0 (`<unk>`), the reference's `n_vocab`: 80 for v2, 79 for v3. */
  readonly nVocab: number;
  private readonly tokenOf: Map<string, number>;

  constructor(version: LabelVersion) {
    this.version = version;
    this.symbols = lyricVocabulary(version);
    this.nVocab = this.symbols.length + 1;
    this.tokenOf = new Map([...this.symbols].map((s, i) => [s, i + 1]));
  }

  /** Reference `clean`. `warn` receives one line listing what was dropped, if anything was. */
  clean(text: string, warn?: (msg: string) => void): string {
    let out = '';
    const dropped = new Map<string, { count: number; parts: Set<string> }>();
    for (const ch of text) {
      const folded = asciiFold(ch).replace(/\\/g, '\n');
      let kept = '';
      const lost: string[] = [];
      for (const c of folded) (this.tokenOf.has(c) ? (kept += c) : lost.push(c));
      out += kept;
      if (lost.length > 0 || folded === '') {
        const entry = dropped.get(ch) ?? { count: 0, parts: new Set<string>() };
        entry.count++;
        if (folded !== ch && folded !== '') for (const c of lost) entry.parts.add(c);
        dropped.set(ch, entry);
      }
    }
    if (warn !== undefined && dropped.size > 0) {
      const total = [...dropped.values()].reduce((a, e) => a + e.count, 0);
      const list = [...dropped].map(([ch, e]) => {
        const what = e.parts.size > 0 ? `${showChar(ch)} (its ${[...e.parts].map(showChar).join(' ')})` : showChar(ch);
        return e.count > 1 ? `${what} ×${e.count}` : what;
      });
      warn(`lyrics: ${total} character${total === 1 ? '' : 's'} outside the ${this.version} lyrics vocabulary dropped: ${list.join(', ')}`);
    }
    return out;
  }

  /** Cleaned text to tokens (every character must be in the vocabulary, as after `clean`). */
  tokenise(text: string): number[] {
    return [...text].map((c) => {
      const t = this.tokenOf.get(c);
      if (t === undefined) throw new Error(`tokenise: ${showChar(c)} is not in the ${this.version} vocabulary (clean the text first)`);
      return t;
    });
  }

  /** Tokens back to text; 0 (`<unk>`, padding) becomes nothing. Reference `textise`. */
  textise(tokens: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < tokens.length; i++) if (tokens[i] > 0) s += this.symbols[tokens[i] - 1] ?? '';
    return s;
  }
}
