import { JukeboxError } from '../errors';
import { openSafetensors, writeSafetensors } from '../checkpoint/safetensors';

/** Metadata `format` value of a codes file. */
export const CODES_FORMAT = 'jukebox-ts/codes';

/**
 * One song's codes: what `jukebox encode` writes, int32 `level_L` tensors of shape [1, tokens]
 * (or one item of a batched file, see `readCodesFile`'s `take`).
 */
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

/**
 * Several songs' codes: what `jukebox sample` writes, int32 `level_L` tensors of shape
 * [N, tokens] (N items, all levels with the same N). A file `encode` wrote is the case N = 1.
 */
export interface BatchedCodesFile {
  /** Level → one Int32Array of codes per item. */
  levels: Map<number, Int32Array[]>;
  /** Items per level (N). */
  items: number;
  sampleRate: number;
  hopLengths: number[];
  metadata: Record<string, string>;
}

/**
 * Writes a batch of songs' codes as safetensors, atomically: one int32 tensor `level_L` of shape
 * [N, tokens] per level (every item of a level the same length, every level the same N), and the
 * metadata `writeCodesFile` writes.
 */
export async function writeBatchedCodesFile(
  path: string,
  levels: Map<number, Int32Array[]>,
  sampleRate: number,
  hopLengths: number[],
  extra: Record<string, string> = {},
): Promise<void> {
  const counts = new Set([...levels.values()].map((rows) => rows.length));
  if (counts.size > 1) throw new JukeboxError(`every level of a codes file must hold the same number of items, got ${[...counts].join(' and ')}`, path);
  const tensors = new Map(
    [...levels].map(([level, rows]) => {
      const tokens = rows[0]?.length ?? 0;
      if (rows.length === 0 || rows.some((r) => r.length !== tokens)) {
        throw new JukeboxError(`level ${level}: items must be non-empty and of equal length, got lengths [${rows.map((r) => r.length)}]`, path);
      }
      const data = new Int32Array(rows.length * tokens);
      rows.forEach((r, i) => data.set(r, i * tokens));
      return [`level_${level}`, { dtype: 'I32' as const, shape: [rows.length, tokens], data }];
    }),
  );
  await writeSafetensors(path, tensors, {
    ...extra,
    format: CODES_FORMAT,
    sample_rate: String(sampleRate),
    hop_lengths: JSON.stringify(hopLengths),
  });
}

/**
 * Reads a codes file of any batch size N (int32 [N, tokens] per level, every level the same N),
 * checking the metadata is present.
 */
export function readBatchedCodesFile(path: string): BatchedCodesFile {
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
    const levels = new Map<number, Int32Array[]>();
    let items: number | undefined;
    for (const [name, entry] of file.entries) {
      const match = /^level_(\d+)$/.exec(name);
      if (match === null) continue;
      if (entry.dtype !== 'I32' || entry.shape.length !== 2 || entry.shape[0] < 1) {
        throw new JukeboxError(`tensor '${name}' must be int32 [N, tokens], got ${entry.dtype} [${entry.shape}]`, path);
      }
      if (items !== undefined && entry.shape[0] !== items) {
        throw new JukeboxError(`tensor '${name}' holds ${entry.shape[0]} items but another level holds ${items}`, path);
      }
      items = entry.shape[0];
      const data = file.read(name).data as Int32Array;
      const tokens = entry.shape[1];
      levels.set(Number(match[1]), Array.from({ length: items }, (_, i) => data.subarray(i * tokens, (i + 1) * tokens)));
    }
    if (levels.size === 0 || items === undefined) throw new JukeboxError('not a codes file: it holds no level_N tensors', path);
    return { levels, items, sampleRate, hopLengths: hopLengths as number[], metadata: file.metadata };
  } finally {
    file.close();
  }
}

/**
 * Reads one song's codes: a file `encode` wrote ([1, tokens]), or item `take` (from 0) of a
 * batched file. A batched file without `take` is an error naming how many items it holds.
 */
export function readCodesFile(path: string, take?: number): CodesFile {
  const batch = readBatchedCodesFile(path);
  if (take === undefined && batch.items > 1) {
    throw new JukeboxError(`holds ${batch.items} items; choose one with --take K (0..${batch.items - 1})`, path);
  }
  const k = take ?? 0;
  if (!Number.isInteger(k) || k < 0 || k >= batch.items) {
    throw new JukeboxError(`has no item ${take} (it holds ${batch.items}: --take 0..${batch.items - 1})`, path);
  }
  const levels = new Map([...batch.levels].map(([level, rows]) => [level, rows[k]]));
  return { levels, sampleRate: batch.sampleRate, hopLengths: batch.hopLengths, metadata: batch.metadata };
}
