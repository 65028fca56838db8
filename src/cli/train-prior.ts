import * as path from 'path';
import { initBackend } from '../backend';
import { JukeboxError } from '../errors';
import { PRIOR_RUN_FILES, trainPrior } from '../train/prior-run';
import { PriorStepMetrics } from '../train/prior-trainer';
import { parseCommandArgs, parseWorkers } from './args';
import { progressLine } from './progress';
import type { Command } from './main';

const USAGE =
  'jukebox train-prior --data <dir> --vqvae <ckpt> --preset <name> --steps N --out <dir> [--resume] [--seed S] [--batch-size B] [--save-every K] [--lr LR] [--workers N] [--init <prior.safetensors>] [--align-loss W] [--align-breaks S] [--align-edges] [--align-separators] [--timing-jitter S] [--align-head L/H] [--quiet]';

const DETAILS = [
  'The data folder holds audio files (wav, flac, mp3, ogg) with JSON sidecars: song.wav + song.json',
  '{"artist": ..., "genre": ..., "lyrics": ..., "words": [{"word", "start", "end"}] (optional, seconds)}.',
  'Codes are encoded once with the VQ-VAE and cached in <out>/codes/. The label tables are built from the',
  "data's artists and genres and stored in the model. Every tenth song (at least one) is held out.",
  'Writes <out>/prior.safetensors (for sample, score, info), train_state.safetensors and metrics.jsonl',
  '(loss, bpd = bits per music token, prime_loss, gn, lr per step; heldout_bpd at each save).',
  '--resume continues the run; the original command with --resume added works, and a changed setting is refused.',
  '--init <prior.safetensors> starts a new run from that prior\'s weights (same preset; its label tables when it has',
  'them) with a fresh optimiser: fine-tuning. With --resume the run continues from its own weights, and --init, if',
  'given, must name the file the run started from.',
  '--align-loss W (default 0: the reference\'s procedure) adds W x a guided alignment term, not in the reference',
  '(guided attention, Tachibana et al. 2017, with exact targets from the sidecars\' "words"): for each music token',
  'sung inside a word, -log of the alignment head\'s attention on that word\'s lyric characters, averaged over',
  'such tokens; logged as align_loss (and heldout_align_loss at saves). The head is the preset\'s alignment_layer/',
  'alignment_head (default_top: 7/0), or --align-head L/H (a lyric layer), which the saved model then names.',
  '--align-breaks S (with --align-loss) also targets the breaks: while no word is sung in a gap of at least S seconds,',
  'or before the first word or after the last, the head\'s target is the characters between the words (the line',
  'break), or before the first word the lyrics\' padding. Without it the head reads the coming line through a break.',
  '--align-edges (with --align-breaks): before the first word and after the last, where the window holds no padding',
  'and no character there (lyrics longer than the lyric window), the target is every separator of the window (spaces,',
  'line breaks, punctuation). Without it the head reads the first line through the intro of such songs.',
  '--align-separators (with --align-breaks): in every break, the target is every separator of the window, not only',
  'the characters between its two words (the edges included). Without it a line runs on into the break after it.',
  '--timing-jitter S (default 0): each training window\'s label row (its timing, and so its lyric window) is made for a',
  'point up to S seconds before or after the window, so the prior cannot tell which line is sung from the window\'s',
  'offset alone and must listen; the alignment targets and the held-out windows keep their true timing.',
  'W = 0.1 suits default_top: the head learns as fast as at W = 1, whose gradient (~15x the loss\'s) is clipped',
  'with the loss\'s and costs bits per token.',
].join('\n');

function positive(value: string | boolean | undefined, flag: string, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !(n > 0) || (integer && !Number.isInteger(n))) {
    throw new JukeboxError(`train-prior: --${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${value}'`);
  }
  return n;
}

function describe(m: PriorStepMetrics): string {
  return `loss ${m.loss.toFixed(3)} | bpd ${m.bpd.toFixed(3)}${m.prime_loss ? ` | lyrics ${m.prime_loss.toFixed(3)}` : ''}${m.align_loss === undefined ? '' : ` | align ${m.align_loss.toFixed(3)}`}`;
}

/** `--align-loss W`, `--timing-jitter S`: a number ≥ 0. */
function nonNegative(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !(n >= 0) || !Number.isFinite(n)) {
    throw new JukeboxError(`train-prior: --${flag} must be a number ≥ 0, got '${value}'`);
  }
  return n;
}

/** `--align-head L/H`: a layer and a head of it. */
function alignHead(value: string | boolean | undefined): { layer: number; head: number } | undefined {
  if (value === undefined) return undefined;
  const m = typeof value === 'string' ? /^(\d+)\/(\d+)$/.exec(value.trim()) : null;
  if (m === null) throw new JukeboxError(`train-prior: --align-head must be LAYER/HEAD (e.g. 7/0), got '${value}'`);
  return { layer: Number(m[1]), head: Number(m[2]) };
}

export const trainPriorCommand: Command = {
  summary: 'Train a prior (top level with lyrics, or an upsampler) on audio files with JSON sidecars; resumable after a crash.',
  usage: USAGE,
  details: DETAILS,
  async run(argv) {
    const args = parseCommandArgs('train-prior', USAGE, argv, {
      data: { type: 'string' },
      vqvae: { type: 'string' },
      preset: { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      'save-every': { type: 'string' },
      lr: { type: 'string' },
      workers: { type: 'string' },
      init: { type: 'string' },
      'align-loss': { type: 'string' },
      'align-breaks': { type: 'string' },
      'align-edges': { type: 'boolean' },
      'align-separators': { type: 'boolean' },
      'timing-jitter': { type: 'string' },
      'align-head': { type: 'string' },
      quiet: { type: 'boolean' },
    }, 0);
    const outDir = args.values.out;
    if (typeof outDir !== 'string' || outDir === '') throw new JukeboxError(`train-prior: --out is required (usage: ${USAGE})`);
    const steps = positive(args.values.steps, 'steps', true);
    if (steps === undefined) throw new JukeboxError(`train-prior: --steps is required (usage: ${USAGE})`);
    const seedText = args.values.seed;
    const seed = seedText === undefined ? undefined : Number(seedText);
    if (seed !== undefined && (typeof seedText !== 'string' || !Number.isInteger(seed) || seed < 0)) {
      throw new JukeboxError(`train-prior: --seed must be a non-negative integer, got '${seedText}'`);
    }
    const str = (flag: string) => (typeof args.values[flag] === 'string' ? (args.values[flag] as string) : undefined);
    const quiet = args.values.quiet === true;
    const tty = process.stderr.isTTY === true && !quiet;
    await initBackend();
    const encoding = progressLine('encoding the data', (n) => `${n} songs`, quiet);
    let last: PriorStepMetrics | undefined;
    const { model } = await trainPrior({
      outDir,
      steps,
      resume: args.values.resume === true,
      data: str('data'),
      vqvae: str('vqvae'),
      preset: str('preset'),
      seed,
      batchSize: positive(args.values['batch-size'], 'batch-size', true),
      lr: positive(args.values.lr, 'lr', false),
      saveEvery: positive(args.values['save-every'], 'save-every', true),
      workers: parseWorkers(args.values.workers, 'train-prior'),
      init: str('init'),
      alignLoss: nonNegative(args.values['align-loss'], 'align-loss'),
      alignBreaks: positive(args.values['align-breaks'], 'align-breaks', false),
      alignEdges: args.values['align-edges'] === true ? true : undefined,
      alignSeparators: args.values['align-separators'] === true ? true : undefined,
      timingJitter: nonNegative(args.values['timing-jitter'], 'timing-jitter'),
      alignHead: alignHead(args.values['align-head']),
      warn: (message) => process.stderr.write(`jukebox: warning: ${message}\n`),
      onEncode: (done, total) => {
        encoding.update(done, total);
        if (done === total) encoding.finish();
      },
      onStep: (m, run) => {
        last = m;
        if (!tty) return;
        const width = 24;
        const bar = '='.repeat(Math.floor((run.step / run.steps) * width)).padEnd(width, ' ');
        process.stderr.write(`\rstep ${run.step}/${run.steps} [${bar}] ${describe(m)} | ${run.tokensPerSecond.toFixed(0)} tokens/s `);
      },
      onSave: (step, heldOut) => {
        if (quiet) return;
        const numbers = [tty || last === undefined ? '' : describe(last), heldOut === null ? '' : `held-out bpd ${heldOut.toFixed(3)}`].filter((s) => s !== '').join(' | ');
        process.stderr.write(`${tty ? '\n' : ''}step ${step}: ${numbers ? numbers + '; ' : ''}saved ${path.join(outDir, PRIOR_RUN_FILES.model)}\n`);
      },
    });
    model.dispose();
  },
};
