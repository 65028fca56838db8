import { readFileSync } from 'fs';
import { join } from 'path';
import { JukeboxError } from '../errors';
import type { LabelVersion } from './text-processor';

/**
 * Artist and genre name → id tables of one label edition. Keys are lowercased as the reference
 * stores them (`ArtistGenreProcessor.load_artists`); several names may share an id.
 * The published tables are under OpenAI's noncommercial licence, so the toolkit never ships them:
 * users point at their own copy, and checkpoints may carry tables in their metadata.
 */
export interface LabelIdTables {
  artists: Map<string, number>;
  genres: Map<string, number>;
  /** Where each table came from (a file, or a checkpoint's metadata), for messages. */
  sources?: { artists: string; genres: string };
}

/** Environment variable naming the folder with the user's `v{2,3}_{artist,genre}_ids.txt`. */
export const LABEL_IDS_ENV = 'JUKEBOX_LABEL_IDS';
/** Checkpoint metadata key holding the tables as JSON (see `labelTablesToMetadata`). */
export const LABEL_IDS_METADATA_KEY = 'label_ids';

/** File names of an edition's tables, as in the reference's `jukebox/data/ids/`. */
export function labelIdFileNames(version: LabelVersion): { artists: string; genres: string } {
  return { artists: `${version}_artist_ids.txt`, genres: `${version}_genre_ids.txt` };
}

// Python's str.strip() whitespace (str.isspace): unlike JavaScript's trim it keeps U+FEFF and
// strips U+001C..U+001F and U+0085. Neither strips the left-to-right mark U+200E, which one
// published v3 genre line carries: the reference keeps it in that key, and so does this reader.
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'g');

/**
 * Parses one `name;id` table as the reference reads it: Python text-mode lines, `strip()`,
 * exactly one `;`, the name lowercased, a later duplicate name overriding an earlier one. Blank
 * lines, which the reference would choke on, are skipped.
 */
export function parseLabelIdTable(text: string, file: string): Map<string, number> {
  const table = new Map<string, number>();
  const lines = text.split(/\r\n|\r|\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(PY_STRIP, '');
    if (line === '') return;
    const parts = line.split(';');
    if (parts.length !== 2) throw new JukeboxError(`line ${i + 1} is not 'name;id' (${parts.length - 1} ';' found)`, file);
    const idText = parts[1].replace(PY_STRIP, '');
    if (!/^[+-]?\d+$/.test(idText)) throw new JukeboxError(`line ${i + 1}: id '${parts[1]}' is not an integer`, file);
    table.set(parts[0].toLowerCase(), Number(idText));
  });
  if (table.size === 0) throw new JukeboxError('the label id table is empty', file);
  return table;
}

/** Reads the user's copy of `{version}_artist_ids.txt` and `{version}_genre_ids.txt` from `dir`. */
export function readLabelIdTables(dir: string, version: LabelVersion): LabelIdTables {
  const names = labelIdFileNames(version);
  const read = (name: string): Map<string, number> => {
    const file = join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new JukeboxError(
        code === 'ENOENT' ? `no such label id table (the folder must hold ${names.artists} and ${names.genres})` : `cannot read the label id table (${code ?? String(e)})`,
        file,
      );
    }
    return parseLabelIdTable(text, file);
  };
  return {
    artists: read(names.artists),
    genres: read(names.genres),
    sources: { artists: join(dir, names.artists), genres: join(dir, names.genres) },
  };
}

/**
 * Serialises tables into a checkpoint's string metadata, under `label_ids`, so that a converted
 * or trained model carries the names its embedding rows were trained on.
 */
export function labelTablesToMetadata(tables: LabelIdTables, version: LabelVersion): Record<string, string> {
  return {
    [LABEL_IDS_METADATA_KEY]: JSON.stringify({ version, artists: [...tables.artists], genres: [...tables.genres] }),
  };
}

/**
 * The tables a checkpoint's metadata carries (written by `labelTablesToMetadata`), or null when
 * it carries none. `file` names the checkpoint in errors; `version`, when given, must match.
 */
export function labelTablesFromMetadata(
  metadata: Record<string, string>,
  file: string,
  version?: LabelVersion,
): { version: LabelVersion; tables: LabelIdTables } | null {
  const json = metadata[LABEL_IDS_METADATA_KEY];
  if (json === undefined) return null;
  const bad = (why: string): never => {
    throw new JukeboxError(`the '${LABEL_IDS_METADATA_KEY}' metadata ${why}`, file);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return bad('is not valid JSON');
  }
  const o = parsed as { version?: unknown; artists?: unknown; genres?: unknown };
  if (o === null || typeof o !== 'object') return bad('is not an object');
  if (o.version !== 'v2' && o.version !== 'v3') return bad(`has version ${JSON.stringify(o.version)}, expected "v2" or "v3"`);
  if (version !== undefined && o.version !== version) bad(`holds ${o.version} tables, but this prior uses ${version} labels`);
  const toMap = (v: unknown, what: string): Map<string, number> => {
    if (!Array.isArray(v) || !v.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && Number.isInteger(e[1]))) {
      return bad(`'${what}' is not a list of [name, id] pairs`);
    }
    return new Map(v as [string, number][]);
  };
  const where = `${file} (metadata)`;
  return {
    version: o.version,
    tables: { artists: toMap(o.artists, 'artists'), genres: toMap(o.genres, 'genres'), sources: { artists: where, genres: where } },
  };
}

/**
 * The tables to use, in order of precedence: an explicit folder (`--label-ids DIR`), the tables
 * a checkpoint carries in its metadata, then the folder in $JUKEBOX_LABEL_IDS. Null when none
 * is available: names cannot be looked up then, and only numeric ids work.
 */
export function resolveLabelIdTables(opts: {
  version: LabelVersion;
  dir?: string | null;
  metadata?: Record<string, string> | null;
  /** The checkpoint the metadata came from, for messages. */
  metadataFile?: string;
  env?: NodeJS.ProcessEnv;
}): LabelIdTables | null {
  if (opts.dir) return readLabelIdTables(opts.dir, opts.version);
  if (opts.metadata) {
    const carried = labelTablesFromMetadata(opts.metadata, opts.metadataFile ?? 'checkpoint', opts.version);
    if (carried !== null) return carried.tables;
  }
  const envDir = (opts.env ?? process.env)[LABEL_IDS_ENV];
  if (envDir) return readLabelIdTables(envDir, opts.version);
  return null;
}
