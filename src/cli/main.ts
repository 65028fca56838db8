import * as fs from 'fs';
import * as path from 'path';
import { removePendingTempFiles } from '../atomic-write';
import { JukeboxError } from '../errors';
import { alignCommand } from './align';
import { convertCommand } from './convert';
import { decodeCommand } from './decode';
import { encodeCommand } from './encode';
import { infoCommand } from './info';
import { reconstructCommand } from './reconstruct';
import { sampleCommand, upsampleCommand } from './sample';
import { scoreCommand } from './score';
import { songCommand } from './song';
import { trainPriorCommand } from './train-prior';
import { trainVQVAECommand } from './train-vqvae';

export interface Command {
  /** One line, shown by `jukebox help`. */
  summary: string;
  usage: string;
  /** More lines for `jukebox <command> --help` (options explained), when the usage is not enough. */
  details?: string;
  run(argv: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  song: songCommand,
  encode: encodeCommand,
  decode: decodeCommand,
  convert: convertCommand,
  info: infoCommand,
  reconstruct: reconstructCommand,
  'train-vqvae': trainVQVAECommand,
  'train-prior': trainPriorCommand,
  sample: sampleCommand,
  upsample: upsampleCommand,
  score: scoreCommand,
  align: alignCommand,
};

/** The toolkit's version, from package.json (the one `npm` installed this copy as). */
export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** What `jukebox <command> --help` prints: the usage line, the summary, and any details. */
function commandHelp(command: Command): string {
  return [`usage: ${command.usage}`, '', command.summary, ...(command.details ? ['', command.details] : [])].join('\n');
}

function help(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage}\n      ${c.summary}`);
  return [
    'jukebox: OpenAI Jukebox in TypeScript',
    '',
    'Commands:',
    ...lines,
    '',
    'A <ckpt> is a PyTorch checkpoint (.pth.tar, legacy or zip format) or a jukebox-ts .safetensors file.',
    'Options for every command: --help (its usage), --debug (show stack traces). Env: JUKEBOX_BACKEND=cpu|wasm|node|gpu.',
    '`jukebox --version` prints the version.',
  ].join('\n');
}

/**
 * Runs the CLI and returns the exit code. Errors print as one line naming the file and the
 * problem (`--debug` adds the stack); output files are written atomically, so a failed or
 * interrupted command leaves none behind.
 */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const onSignal = (signal: NodeJS.Signals) => {
    removePendingTempFiles();
    process.stderr.write(`jukebox: interrupted by ${signal}; no output was written\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      process.stdout.write(help() + '\n');
      return name === undefined ? 1 : 0;
    }
    if (name === '--version' || name === '-V' || name === 'version') {
      process.stdout.write(packageVersion() + '\n');
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new JukeboxError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    // `--help` anywhere in a command's arguments prints its usage, whatever else is (or is not) given.
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(commandHelp(command) + '\n');
      return 0;
    }
    await command.run(rest);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const oneLine = message.split('\n')[0];
    if (err instanceof JukeboxError) {
      process.stderr.write(`jukebox: ${oneLine}\n`);
    } else {
      process.stderr.write(`jukebox: internal error: ${oneLine}${debug ? '' : ' (run with --debug for details)'}\n`);
    }
    if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
