import * as fs from 'fs';
import { JukeboxError } from '../errors';
import type { OptionSpec, ParsedArgs } from './args';

/** The label options every sampling and scoring command takes. */
export const LABEL_OPTIONS: OptionSpec = {
  artist: { type: 'string' },
  'artist-id': { type: 'string' },
  genre: { type: 'string' },
  'genre-id': { type: 'string' },
  lyrics: { type: 'string' },
  'label-ids': { type: 'string' },
  'total-seconds': { type: 'string' },
  'offset-seconds': { type: 'string' },
};

export const LABEL_USAGE = '[--artist NAME | --artist-id N] [--genre NAME | --genre-id N] [--lyrics FILE] [--label-ids DIR] [--total-seconds S] [--offset-seconds S]';

export const LABEL_DETAILS = [
  'Labels (each prior maps them through its own labeller):',
  '  --artist NAME | --artist-id N   artist by name (looked up in the id tables) or by id; unknown names are id 0',
  '  --genre NAME | --genre-id N     genre; for v2 priors several words, as "blues rock"',
  '  --lyrics FILE                   lyrics, UTF-8 text',
  '  --label-ids DIR                 the id tables v{2,3}_{artist,genre}_ids.txt (default: the tables the checkpoint',
  '                                  carries, else the folder in env JUKEBOX_LABEL_IDS)',
  '  --total-seconds S               length of the whole song the labels describe (default: offset plus the length sampled or scored)',
  '  --offset-seconds S              where in that song the audio starts (default 0)',
].join('\n');

/** A song's labels as the CLI gives them: `SongMetadata` of src/labels, before the total is known. */
export interface LabelOptions {
  artist?: string;
  artistId?: number;
  genre?: string;
  genreId?: number;
  /** The lyrics text ('' when none was given). */
  lyrics: string;
  /** The lyrics file, for messages. */
  lyricsFile?: string;
  /** Folder of the id tables, from --label-ids. */
  labelIds?: string;
  totalSeconds?: number;
  offsetSeconds: number;
}

function idOption(args: ParsedArgs, name: string, command: string): number | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < 0) throw new JukeboxError(`${command}: --${name} must be a non-negative integer, got '${v}'`);
  return n;
}

function secondsOption(args: ParsedArgs, name: string, command: string, allowZero: boolean): number | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new JukeboxError(`${command}: --${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got '${v}'`);
  }
  return n;
}

/** Reads the label options, checking each; the lyrics file is read (UTF-8) here. */
export function parseLabelOptions(args: ParsedArgs, command: string): LabelOptions {
  const v = args.values;
  for (const [a, b] of [['artist', 'artist-id'], ['genre', 'genre-id']]) {
    if (v[a] !== undefined && v[b] !== undefined) throw new JukeboxError(`${command}: give --${a} or --${b}, not both`);
  }
  let lyrics = '';
  const lyricsFile = typeof v.lyrics === 'string' ? v.lyrics : undefined;
  if (lyricsFile !== undefined) {
    if (!fs.existsSync(lyricsFile)) throw new JukeboxError('no such file', lyricsFile);
    if (fs.statSync(lyricsFile).isDirectory()) throw new JukeboxError('is a directory, not a lyrics file', lyricsFile);
    try {
      lyrics = new TextDecoder('utf-8', { fatal: true }).decode(fs.readFileSync(lyricsFile));
    } catch {
      throw new JukeboxError('lyrics are not UTF-8 text', lyricsFile);
    }
  }
  // JUKEBOX_LABEL_IDS is the labels module's last resort, after the tables a checkpoint carries.
  const labelIds = typeof v['label-ids'] === 'string' ? v['label-ids'] : undefined;
  return {
    ...(typeof v.artist === 'string' ? { artist: v.artist } : {}),
    ...(v['artist-id'] !== undefined ? { artistId: idOption(args, 'artist-id', command) } : {}),
    ...(typeof v.genre === 'string' ? { genre: v.genre } : {}),
    ...(v['genre-id'] !== undefined ? { genreId: idOption(args, 'genre-id', command) } : {}),
    lyrics,
    ...(lyricsFile !== undefined ? { lyricsFile } : {}),
    ...(labelIds !== undefined ? { labelIds } : {}),
    ...(v['total-seconds'] !== undefined ? { totalSeconds: secondsOption(args, 'total-seconds', command, false) } : {}),
    offsetSeconds: secondsOption(args, 'offset-seconds', command, true) ?? 0,
  };
}

/** The song metadata the labellers take; the total defaults to the offset plus `lengthSeconds`, the audio at hand. */
export function songMetadata(labels: LabelOptions, lengthSeconds: number): {
  artist?: string; artistId?: number; genre?: string; genreId?: number; lyrics: string; totalSeconds: number; offsetSeconds: number;
} {
  const { lyricsFile: _file, labelIds: _ids, ...meta } = labels;
  return { ...meta, totalSeconds: labels.totalSeconds ?? labels.offsetSeconds + lengthSeconds };
}
