import * as path from 'path';
import { readVQVAEStateDict, saveVQVAEStateDict } from '../checkpoint/load';
import { JukeboxError } from '../errors';
import { convertPrior, isPriorCheckpoint } from '../prior/load';
import { VQVAE } from '../vqvae/vqvae';
import { matchStateDict } from '../vqvae/weights';
import { parseCommandArgs, required } from './args';
import type { Command } from './main';

const USAGE = 'jukebox convert <ckpt.pth.tar> --out <file.safetensors> [--label-ids DIR] [--half]';

export const convertCommand: Command = {
  summary:
    'Convert a PyTorch VQ-VAE or prior checkpoint to safetensors (reference key names, hps in the metadata; ' +
    'for a prior, --label-ids DIR bundles the artist/genre id tables and --half keeps float16 weights).',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('convert', USAGE, argv, { out: { type: 'string' }, 'label-ids': { type: 'string' }, half: { type: 'boolean' } }, 1);
    const [input] = args.positionals;
    const out = required(args, 'out', 'convert', USAGE);
    if (path.resolve(out) === path.resolve(input)) throw new JukeboxError('convert: --out must differ from the input', out);
    const labelIds = args.values['label-ids'];
    const metadata = { converted_from: path.basename(input) };
    if (isPriorCheckpoint(input)) {
      await convertPrior(input, out, {
        labelIds: typeof labelIds === 'string' ? labelIds : undefined,
        dtype: args.values.half === true ? 'F16' : 'F32',
        metadata,
      });
      return;
    }
    if (labelIds !== undefined || args.values.half !== undefined) {
      throw new JukeboxError('convert: --label-ids and --half apply to priors; this is a VQ-VAE checkpoint', input);
    }
    const state = readVQVAEStateDict(input);
    // Check the weights fit the config before writing anything, and store them under the
    // reference names without the `module.` prefix DistributedDataParallel may have left.
    const spec = VQVAE.parameterSpec(state.config);
    const keyOf = matchStateDict(spec, state.tensors, input);
    const tensors = new Map([...spec.keys()].map((name) => [name, state.tensors.get(keyOf.get(name)!)!]));
    await saveVQVAEStateDict(out, state.config, tensors, { ...metadata, source_format: state.format });
  },
};
