import * as fs from 'fs';
import * as path from 'path';
import { ARTISTS } from '../../data/corpus/tables';
import { JukeboxError } from '../errors';
import { rawToTokens } from '../prior/config';
import { describePrior } from '../prior/load';
import { parseCommandArgs } from './args';
import type { Command } from './main';
import { parseSamplingOptions } from './priors';
import { sampleCommand } from './sample';

/**
 * `jukebox song`, which `npm start` runs: the whole pipeline on the shipped default models with
 * nothing to choose. It is `jukebox sample` with the defaults filled in (the model folder's four
 * files, lyrics, artist, genre, length and output folder), so a song made here is exactly what
 * the equivalent `sample` command makes, and the two cannot drift apart.
 */

const ROOT = path.join(__dirname, '..', '..');
/** The default models, found from the package rather than the working directory, so `npx jukebox song` works anywhere. */
const DEFAULT_MODELS = path.join(ROOT, 'weights', 'default');
/**
 * Two lines in the corpus's vocabulary, about 9 characters per second over the default 8 s: the
 * corpus sings at most 69 characters in any 6 s, so denser lyrics would be rushed.
 */
const DEFAULT_LYRICS = path.join(ROOT, 'data', 'default-lyrics.txt');
/** An artist of the generated corpus the default models were trained on (its genre: `defaultGenre`). */
const DEFAULT_ARTIST = 'amber_vale';
const DEFAULT_SECONDS = 8;

/** The files of a model folder, named as the published models are. */
const MODEL_FILES = { vqvae: 'vqvae.safetensors', top: 'prior_level_2.safetensors', level1: 'prior_level_1.safetensors', level0: 'prior_level_0.safetensors' };

const SONG_USAGE = 'jukebox song [--lyrics FILE] [--artist NAME] [--genre NAME] [--seconds S] [--seed S] [--temperature T] [--models DIR] [--out DIR] [--quiet]';

/** Relative to the working directory when inside it: shorter, and what the user can type. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * The genre the artist sings most in the generated corpus, so `--artist NAME` alone conditions the
 * models on a pairing they were trained on; none for an artist the corpus does not know.
 */
function defaultGenre(artist: string): string | undefined {
  return ARTISTS.find((a) => a.name === artist)?.genres[0];
}

/** The model folder's files, or one line naming what is missing and how to get it. */
function modelFiles(dir: string): typeof MODEL_FILES {
  const missing = Object.values(MODEL_FILES).filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    const what = missing.length === Object.keys(MODEL_FILES).length ? 'no models here' : `missing ${missing.join(', ')}`;
    throw new JukeboxError(
      `${what} (a model folder holds ${Object.values(MODEL_FILES).join(', ')}); the default models are built by \`npm run train-default\`, or pass --models DIR`,
      shown(dir),
    );
  }
  return Object.fromEntries(Object.entries(MODEL_FILES).map(([k, f]) => [k, path.join(dir, f)])) as typeof MODEL_FILES;
}

/**
 * Refuses, in seconds and before any model loads, a length the models cannot make: each upsampler
 * conditions every window on a full context of the level above, and the top prior's timing labels
 * cover songs from its min_duration to its max_duration. (`sample` says the same in tokens, or
 * points at --total-seconds, which this command does not take.)
 */
function checkSongLength(files: typeof MODEL_FILES, seconds: number): void {
  const top = describePrior(files.top).config;
  const samples = Math.floor((seconds * top.sr) / rawToTokens(top, top.level)) * rawToTokens(top, top.level);
  const needs = [files.level1, files.level0].map((file) => {
    const c = describePrior(file).config;
    return { seconds: (c.n_ctx * rawToTokens(c, c.level)) / c.sr, why: `one context of the level ${c.level} upsampler, ${c.n_ctx} tokens` };
  });
  if (top.labels && top.min_duration !== null) needs.push({ seconds: top.min_duration, why: "the top prior's shortest song" });
  const shortest = needs.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  if (samples / top.sr < shortest.seconds) {
    throw new JukeboxError(`song: --seconds ${seconds} is too short for these models: at least ${(Math.ceil(shortest.seconds * 100) / 100).toFixed(2)} s (${shortest.why})`);
  }
  if (top.labels && top.max_duration !== null && seconds > top.max_duration) throw new JukeboxError(`song: --seconds ${seconds} is too long for these models: at most ${top.max_duration} s (the top prior's longest song)`);
}

export const songCommand: Command = {
  summary: 'Sing a short song from lyrics with the default models, through all three levels, into out/ (what `npm start` runs).',
  usage: SONG_USAGE,
  details: [
    'Samples the top level from the lyrics, artist and genre, upsamples it to levels 1 and 0, and decodes every level.',
    'Writes DIR/codes.safetensors, DIR/level_L/item_0.wav per level, DIR/index.html (players, code timelines, lyrics)',
    'and DIR/item_0/ (the lyrics aligned to the song: alignment.json, attention.safetensors, a karaoke index.html).',
    `  --lyrics FILE      UTF-8 text; default ${shown(DEFAULT_LYRICS)}`,
    `  --artist NAME      default ${DEFAULT_ARTIST}; the artists are listed by \`jukebox info <models>/${MODEL_FILES.top}\``,
    '  --genre NAME       default the genre the artist sings most in the training corpus',
    `  --seconds S        length of the song; default ${DEFAULT_SECONDS}`,
    '  --seed S           default 0; the same seed gives the same song',
    '  --temperature T    default 0.99 (lower: safer, more repetitive; higher: wilder)',
    `  --models DIR       a folder with ${Object.values(MODEL_FILES).join(', ')}; default ${shown(DEFAULT_MODELS)}`,
    '  --out DIR          default out',
    'With npm start, paths are relative to the repository root: npm start -- --lyrics my.txt --artist delta_reed --seconds 12',
  ].join('\n'),
  async run(argv) {
    const args = parseCommandArgs('song', SONG_USAGE, argv, {
      lyrics: { type: 'string' },
      artist: { type: 'string' },
      genre: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      temperature: { type: 'string' },
      models: { type: 'string' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
    }, 0);
    const v = args.values;
    const seconds = v.seconds === undefined ? DEFAULT_SECONDS : Number(v.seconds);
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new JukeboxError(`song: --seconds must be a positive number, got '${v.seconds}'`);
    // Checked here so that a bad value is reported as the song's option, before any model loads.
    const sampling = parseSamplingOptions(args, 'song', 3);
    const files = modelFiles(typeof v.models === 'string' ? v.models : DEFAULT_MODELS);
    checkSongLength(files, seconds);
    const lyrics = typeof v.lyrics === 'string' ? v.lyrics : DEFAULT_LYRICS;
    const artist = typeof v.artist === 'string' ? v.artist : DEFAULT_ARTIST;
    const genre = typeof v.genre === 'string' ? v.genre : defaultGenre(artist);
    const out = typeof v.out === 'string' ? v.out : 'out';
    const quiet = v.quiet === true;
    const say = (line: string) => quiet || process.stderr.write(`${line}\n`);
    say(`song: ${seconds} s sung by ${artist}${genre !== undefined ? ` (${genre})` : ''} from ${shown(lyrics)}, seed ${sampling.seed}`);
    say(`loading the models from ${shown(path.dirname(files.top))}`);
    await sampleCommand.run([
      '--top', files.top,
      '--upsamplers', `${files.level1},${files.level0}`,
      '--vqvae', files.vqvae,
      '--lyrics', lyrics,
      '--artist', artist,
      ...(genre !== undefined ? ['--genre', genre] : []),
      '--seconds', String(seconds),
      '--seed', String(sampling.seed),
      ...(sampling.temperature !== undefined ? ['--temperature', String(sampling.temperature)] : []),
      ...(quiet ? ['--quiet'] : []),
      '--out', out,
    ]);
    const lines = [
      `wrote ${shown(path.resolve(out))}/`,
      '  index.html              open it in a browser: players, code timelines of the three levels, the lyrics',
      '  item_0/index.html       the lyrics aligned to the song: a karaoke page (alignment.json: word timings)',
      '  codes.safetensors       the codes of levels 2, 1 and 0',
      '  level_0/item_0.wav      the song (decoded from level 0, the finest)',
      ...[1, 2].map((l) => `  level_${l}/item_0.wav      decoded from level ${l} alone: coarser`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  },
};
