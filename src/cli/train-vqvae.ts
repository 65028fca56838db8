import * as path from 'path';
import { initBackend } from '../backend';
import { vqvaePreset } from '../checkpoint/presets';
import { JukeboxError } from '../errors';
import { StepMetrics } from '../vqvae/trainer';
import { RUN_FILES, trainVQVAE } from '../vqvae/training-run';
import { parseCommandArgs, parseWorkers, required } from './args';
import type { Command } from './main';

const USAGE =
  'jukebox train-vqvae --data <dir> --preset <name> --steps N --out <dir> [--resume] [--seed S] [--batch-size B] [--window SAMPLES] [--save-every K] [--lr LR] [--no-restarts] [--workers N] [--quiet]';

function positiveInt(value: string | boolean | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n <= 0) throw new JukeboxError(`train-vqvae: --${flag} must be a positive integer, got '${value}'`);
  return n;
}

/** The step's headline numbers: loss, spectral convergence and codebook usage per level. */
function describeStep(m: StepMetrics, levels: number): string {
  const perLevel = (key: string, digits: number) => Array.from({ length: levels }, (_, l) => m[`${key}_l${l + 1}`].toFixed(digits)).join('/');
  return `loss ${m.loss.toFixed(3)} | sc ${perLevel('spectral_convergence', 3)} | usage ${perLevel('usage', 0)}`;
}

export const trainVQVAECommand: Command = {
  summary: 'Train a VQ-VAE on a folder of audio with the reference losses; resumable after a crash.',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('train-vqvae', USAGE, argv, {
      data: { type: 'string' },
      preset: { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      window: { type: 'string' },
      'save-every': { type: 'string' },
      lr: { type: 'string' },
      'no-restarts': { type: 'boolean' },
      quiet: { type: 'boolean' },
      workers: { type: 'string' },
    }, 0);
    const outDir = required(args, 'out', 'train-vqvae', USAGE);
    const steps = positiveInt(args.values.steps, 'steps', NaN);
    if (Number.isNaN(steps)) throw new JukeboxError(`train-vqvae: --steps is required (usage: ${USAGE})`);
    const resume = args.values.resume === true;
    const quiet = args.values.quiet === true;
    const seed = args.values.seed === undefined ? undefined : Number(args.values.seed);
    if (seed !== undefined && (!Number.isInteger(seed) || seed < 0)) throw new JukeboxError(`train-vqvae: --seed must be a non-negative integer, got '${args.values.seed}'`);
    const lr = args.values.lr === undefined ? undefined : Number(args.values.lr);
    if (lr !== undefined && !(lr > 0)) throw new JukeboxError(`train-vqvae: --lr must be positive, got '${args.values.lr}'`);
    const given = {
      preset: typeof args.values.preset === 'string' ? args.values.preset : undefined,
      data: typeof args.values.data === 'string' ? args.values.data : undefined,
      seed,
      batchSize: args.values['batch-size'] === undefined ? undefined : positiveInt(args.values['batch-size'], 'batch-size', 0),
      windowLength: args.values.window === undefined ? undefined : positiveInt(args.values.window, 'window', 0),
      lr,
      restarts: args.values['no-restarts'] === true ? false : undefined,
    };
    let fresh = {};
    if (!resume) {
      const config = vqvaePreset(required(args, 'preset', 'train-vqvae', USAGE));
      fresh = {
        seed: seed ?? 0,
        config,
        data: {
          dir: required(args, 'data', 'train-vqvae', USAGE),
          windowLength: given.windowLength ?? config.sample_length,
          batchSize: given.batchSize ?? 4,
          blend: true,
          gainDb: [-6, 0] as [number, number],
        },
        train: { ...(lr === undefined ? {} : { lr }), restarts: args.values['no-restarts'] !== true },
      };
    }
    await initBackend();
    const tty = process.stderr.isTTY === true && !quiet;
    const started = Date.now();
    let firstStep: number | undefined;
    let levels = 0;
    let last: StepMetrics | undefined;
    const { model } = await trainVQVAE({
      outDir,
      steps,
      resume,
      resumeCheck: given,
      saveEvery: positiveInt(args.values['save-every'], 'save-every', 100),
      workers: parseWorkers(args.values.workers, 'train-vqvae'),
      ...fresh,
      warn: (message) => process.stderr.write(`jukebox: warning: ${message}\n`),
      onStep: (m, run) => {
        firstStep ??= run.step - 1;
        levels = Object.keys(m).filter((k) => k.startsWith('usage_l')).length;
        last = m;
        if (!tty) return;
        const done = run.step / run.steps;
        const width = 24;
        const bar = '='.repeat(Math.floor(done * width)).padEnd(width, ' ');
        const rate = (run.step - firstStep) / ((Date.now() - started) / 1000);
        process.stderr.write(`\rstep ${run.step}/${run.steps} [${bar}] ${describeStep(m, levels)} | ${rate.toFixed(2)} step/s `);
      },
      onSave: (step) => {
        if (quiet) return;
        // On a terminal the bar already shows the numbers; in a log, each save line carries them.
        const numbers = tty || last === undefined ? '' : `${describeStep(last, levels)}; `;
        process.stderr.write(`${tty ? '\n' : ''}step ${step}: ${numbers}saved ${path.join(outDir, RUN_FILES.model)}\n`);
      },
    });
    model.dispose();
  },
};
