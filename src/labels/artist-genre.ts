import { JukeboxError } from '../errors';
import type { LabelIdTables } from './id-tables';
import type { LabelVersion } from './text-processor';
import { showChar } from './text-processor';

/**
 * v2 name normalisation (reference `norm`): lowercase, every character outside [a-z0-9] becomes
 * `_`, runs of `_` collapse, and leading/trailing `_` go. "Alan Jackson" → "alan_jackson".
 */
export function normaliseLabelName(name: string): string {
  let s = '';
  for (const c of name.toLowerCase()) s += /^[a-z0-9]$/.test(c) ? c : '_';
  return s.replace(/_+/g, '_').replace(/^_+|_+$/g, '');
}

/** Levenshtein distance, for the "did you mean" hint of an unknown name. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length];
}

/** Up to `count` table names nearest to `key` (edit distance, then name order). */
export function closestNames(key: string, names: Iterable<string>, count = 3): string[] {
  const scored: [number, string][] = [];
  for (const n of names) scored.push([editDistance(key, n), n]);
  scored.sort((p, q) => p[0] - q[0] || (p[1] < q[1] ? -1 : p[1] > q[1] ? 1 : 0));
  return scored.slice(0, count).map((s) => s[1]);
}

/** A name as a warning shows it: quoted, with invisible characters (U+200E…) spelled out. */
function showName(name: string): string {
  let s = '';
  for (const c of name) s += /^[\p{Cc}\p{Cf}\p{Z}]$/u.test(c) && c !== ' ' ? `<${showChar(c)}>` : c;
  return `"${s}"`;
}

/**
 * Artist and genre names to ids (reference `ArtistGenreProcessor`). v2 normalises names with
 * `normaliseLabelName` and reads a genre as a bag of words; v3 lowercases and reads the genre
 * as one name. An unknown name maps to id 0, as in the reference, with a warning that names the
 * closest known names (the reference only prints that it defaulted).
 */
export class ArtistGenreProcessor {
  readonly version: LabelVersion;
  private readonly tables: LabelIdTables;
  private readonly warn: (msg: string) => void;

  constructor(version: LabelVersion, tables: LabelIdTables, warn: (msg: string) => void) {
    this.version = version;
    this.tables = tables;
    this.warn = warn;
  }

  /** The key a name is looked up under. */
  key(name: string): string {
    return this.version === 'v3' ? name.toLowerCase() : normaliseLabelName(name);
  }

  artistId(artist: string): number {
    const key = this.key(artist);
    const id = this.tables.artists.get(key);
    if (id !== undefined) return id;
    this.unknown('artist', artist, key, this.tables.artists, this.tables.sources?.artists);
    return 0;
  }

  /** v3: one id; v2: one id per word of the normalised genre. */
  genreIds(genre: string): number[] {
    const words = this.version === 'v3' ? [genre.toLowerCase()] : normaliseLabelName(genre).split('_');
    return words.map((w) => {
      const id = this.tables.genres.get(w);
      if (id !== undefined) return id;
      this.unknown('genre', genre, w, this.tables.genres, this.tables.sources?.genres);
      return 0;
    });
  }

  private unknown(kind: string, input: string, key: string, table: Map<string, number>, source: string | undefined): void {
    const as = key === input ? '' : kind === 'genre' && this.version === 'v2' ? ` (word ${showName(key)})` : ` (as ${showName(key)})`;
    const near = closestNames(key, table.keys()).map(showName).join(', ');
    this.warn(
      `${kind} ${showName(input)}${as} is not in the ${this.version} ${kind} table${source ? ` (${source})` : ''}; ` +
        `using id 0 (unknown). Closest known: ${near}`,
    );
  }
}

/** Checks a numeric id override (`--artist-id`, `--genre-id`). */
export function checkLabelId(id: number, what: string): number {
  if (!Number.isInteger(id) || id < 0) throw new JukeboxError(`${what} must be a whole number ≥ 0, got ${id}`);
  return id;
}
