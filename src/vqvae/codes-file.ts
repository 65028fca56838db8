import { JukeboxError } from '../errors';
import { openSafetensors, writeSafetensors } from '../checkpoint/safetensors';

/** Metadata `format` value of a codes file. */
export const CODES_FORMAT = 'jukebox-ts/codes';

/** What `jukebox encode` writes: int32 `level_L` tensors of shape [1, tokens]. */
export interface CodesFile {
  /** Level → codes. */
  levels: Map<number, Int32Array>;
  /** Sample rate of the model that made the codes. */
  sampleRate: number;
  /** Hop length of every level of that model (not only the levels stored). */
  hopLengths: number[];
  /** All metadata, as stored. */
  metadata: Record<string, string>;
}

/**
 * Writes codes as safetensors, atomically: one int32 tensor `level_L` of shape [1, tokens] per
 * level, and metadata `sample_rate` and `hop_lengths` (JSON), plus whatever `extra` adds.
 */
export async function writeCodesFile(
  path: string,
  levels: Map<number, Int32Array>,
  sampleRate: number,
  hopLengths: number[],
  extra: Record<string, string> = {},
): Promise<void> {
  const tensors = new Map(
    [...levels].map(([level, codes]) => [`level_${level}`, { dtype: 'I32' as const, shape: [1, codes.length], data: codes }]),
  );
  await writeSafetensors(path, tensors, {
    ...extra,
    format: CODES_FORMAT,
    sample_rate: String(sampleRate),
    hop_lengths: JSON.stringify(hopLengths),
  });
}

/** Reads a codes file, checking the tensors are int32 [1, tokens] and the metadata is present. */
export function readCodesFile(path: string): CodesFile {
  const file = openSafetensors(path);
  try {
    const sampleRate = Number(file.metadata.sample_rate);
    let hopLengths: unknown;
    try {
      hopLengths = JSON.parse(file.metadata.hop_lengths ?? 'null');
    } catch {
      hopLengths = null;
    }
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
      throw new JukeboxError(`not a codes file: no valid 'sample_rate' metadata`, path);
    }
    if (!Array.isArray(hopLengths) || !hopLengths.every((h) => Number.isInteger(h) && h > 0)) {
      throw new JukeboxError(`not a codes file: no valid 'hop_lengths' metadata`, path);
    }
    const levels = new Map<number, Int32Array>();
    for (const [name, entry] of file.entries) {
      const match = /^level_(\d+)$/.exec(name);
      if (match === null) continue;
      if (entry.dtype !== 'I32' || entry.shape.length !== 2 || entry.shape[0] !== 1) {
        throw new JukeboxError(`tensor '${name}' must be int32 [1, tokens], got ${entry.dtype} [${entry.shape}]`, path);
      }
      levels.set(Number(match[1]), file.read(name).data as Int32Array);
    }
    if (levels.size === 0) throw new JukeboxError('not a codes file: it holds no level_N tensors', path);
    return { levels, sampleRate, hopLengths: hopLengths as number[], metadata: file.metadata };
  } finally {
    file.close();
  }
}
