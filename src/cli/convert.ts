import * as path from 'path';
import { readVQVAEStateDict, saveVQVAEStateDict } from '../checkpoint/load';
import { JukeboxError } from '../errors';
import { VQVAE } from '../vqvae/vqvae';
import { matchStateDict } from '../vqvae/weights';
import { parseCommandArgs, required } from './args';
import type { Command } from './main';

const USAGE = 'jukebox convert <ckpt.pth.tar> --out <file.safetensors>';

export const convertCommand: Command = {
  summary: 'Convert a PyTorch VQ-VAE checkpoint to safetensors (reference key names, hps in the metadata).',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('convert', USAGE, argv, { out: { type: 'string' } }, 1);
    const [input] = args.positionals;
    const out = required(args, 'out', 'convert', USAGE);
    if (path.resolve(out) === path.resolve(input)) throw new JukeboxError('convert: --out must differ from the input', out);
    const state = readVQVAEStateDict(input);
    // Check the weights fit the config before writing anything, and store them under the
    // reference names without the `module.` prefix DistributedDataParallel may have left.
    const spec = VQVAE.parameterSpec(state.config);
    const keyOf = matchStateDict(spec, state.tensors, input);
    const tensors = new Map([...spec.keys()].map((name) => [name, state.tensors.get(keyOf.get(name)!)!]));
    await saveVQVAEStateDict(out, state.config, tensors, {
      converted_from: path.basename(input),
      source_format: state.format,
    });
  },
};
