import { parseArgs, ParseArgsConfig } from 'util';
import { JukeboxError } from '../errors';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

/**
 * Parses one command's arguments strictly: unknown options, missing values and a wrong number of
 * positionals are one-line usage errors rather than stack traces.
 */
export function parseCommandArgs(command: string, usage: string, argv: string[], options: OptionSpec, positionals: number): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, debug: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new JukeboxError(`${command}: ${(err as Error).message.split('\n')[0]} (usage: ${usage})`);
  }
  if (parsed.positionals.length !== positionals) {
    throw new JukeboxError(`${command}: expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length} (usage: ${usage})`);
  }
  return { positionals: parsed.positionals, values: parsed.values as ParsedArgs['values'] };
}

/** The value of a required string option. */
export function required(args: ParsedArgs, name: string, command: string, usage: string): string {
  const v = args.values[name];
  if (typeof v !== 'string' || v === '') throw new JukeboxError(`${command}: --${name} is required (usage: ${usage})`);
  return v;
}

/** Parses `0,1,2` into distinct level numbers. */
export function parseLevels(text: string, levels: number): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const out: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (p === '' || !Number.isInteger(n) || n < 0 || n >= levels) {
      throw new JukeboxError(`--levels: '${p}' is not a level of this model (0..${levels - 1})`);
    }
    if (!out.includes(n)) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Parses `--workers N`: how many worker threads compute chunks (1, the default, computes them on
 * the main thread). Each worker holds a copy of the model and its own working memory.
 */
export function parseWorkers(value: string | boolean | undefined, command: string): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 1 || n > 64) {
    throw new JukeboxError(`${command}: --workers must be an integer from 1 to 64, got '${value}'`);
  }
  return n;
}

/** Parses `--take K`: which item (from 0) of a batched codes file to use; undefined when absent. */
export function parseTake(value: string | boolean | undefined, command: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new JukeboxError(`${command}: --take must be an item number (0, 1, ...), got '${value}'`);
  }
  return n;
}
