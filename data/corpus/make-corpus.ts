/**
 * Generates the corpus of songs with sung lyrics (see corpus.ts).
 *
 *   npm run make-corpus -- --songs N --seed S [--seconds 30] [--sr 22050] [--stems STEMS_DIR] --out DIR
 */
import { parseArgs } from 'util';
import { writeCorpus } from './corpus';

function usage(problem: string): never {
  console.error(`make-corpus: ${problem}\nusage: npm run make-corpus -- --songs N --seed S [--seconds 30] [--sr 22050] [--stems STEMS_DIR] --out DIR`);
  process.exit(2);
}

function whole(name: string, text: string | undefined, min: number): number {
  const v = Number(text);
  if (text === undefined || !Number.isInteger(v) || v < min) usage(`--${name} must be a whole number ≥ ${min}, got ${text ?? 'nothing'}`);
  return v;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        songs: { type: 'string' },
        seed: { type: 'string' },
        seconds: { type: 'string', default: '30' },
        sr: { type: 'string', default: '22050' },
        stems: { type: 'string' },
        out: { type: 'string' },
      },
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (!values.out) usage('--out DIR is required');
  const seconds = Number(values.seconds);
  if (!(seconds >= 5 && seconds <= 3600)) usage(`--seconds must be between 5 and 3600, got ${values.seconds}`);
  const opts = {
    songs: whole('songs', values.songs, 1),
    seed: whole('seed', values.seed, 0),
    seconds,
    sampleRate: whole('sr', values.sr, 8000),
    out: values.out,
    stems: values.stems,
  };
  const started = Date.now();
  await writeCorpus({
    ...opts,
    onSong: (song, done) => {
      const elapsed = (Date.now() - started) / 1000;
      console.log(`${done}/${opts.songs} ${song.name}: ${song.sidecar.artist}, ${song.sidecar.genre}, ${song.sidecar.words.length} words (${elapsed.toFixed(1)} s)`);
    },
  });
  const elapsed = (Date.now() - started) / 1000;
  console.log(`${opts.songs} songs (${((opts.songs * seconds) / 60).toFixed(1)} min of audio) in ${elapsed.toFixed(1)} s: ${(elapsed / ((opts.songs * seconds) / 60)).toFixed(1)} s per minute of audio; written to ${opts.out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
