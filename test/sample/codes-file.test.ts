import { afterAll, describe, expect, it } from 'vitest';
import * as path from 'path';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { readBatchedCodesFile, readCodesFile, writeBatchedCodesFile, writeCodesFile } from '../../src/vqvae/codes-file';
import { tempDir } from '../helpers';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

describe('batched codes files', () => {
  it('write [N, tokens] per level and read back every item', async () => {
    const file = path.join(dir, 'b.safetensors');
    const levels = new Map([[2, [Int32Array.of(1, 2, 3), Int32Array.of(4, 5, 6)]], [1, [Int32Array.of(7, 8, 9, 10, 11, 12), Int32Array.of(0, 1, 2, 3, 4, 5)]]]);
    await writeBatchedCodesFile(file, levels, 22050, [4, 8, 16], { seed: '3' });
    const raw = readSafetensors(file);
    expect(raw.tensors.get('level_2')!.shape).toEqual([2, 3]);
    expect(raw.tensors.get('level_1')!.shape).toEqual([2, 6]);
    const back = readBatchedCodesFile(file);
    expect(back.items).toBe(2);
    const plain = (m: Map<number, Int32Array[]>) => [...m].sort(([a], [b]) => a - b).map(([l, rows]) => [l, rows.map((r) => Array.from(r))]);
    expect(plain(back.levels)).toEqual(plain(levels));
    expect(back.metadata).toMatchObject({ seed: '3', format: 'jukebox-ts/codes', sample_rate: '22050', hop_lengths: '[4,8,16]' });
    // One item of it, as `decode --take K` reads it; without a take the file is ambiguous.
    expect(Array.from(readCodesFile(file, 1).levels.get(2)!)).toEqual([4, 5, 6]);
    expect(() => readCodesFile(file)).toThrow(/holds 2 items; choose one with --take K \(0\.\.1\)/);
    expect(() => readCodesFile(file, 2)).toThrow(/has no item 2 \(it holds 2: --take 0\.\.1\)/);
  });

  it('what encode writes ([1, tokens]) reads as a batch of one, and one-item reads need no take', async () => {
    const file = path.join(dir, 'one.safetensors');
    await writeCodesFile(file, new Map([[0, Int32Array.of(5, 6)]]), 22050, [4, 8, 16]);
    expect(readBatchedCodesFile(file).items).toBe(1);
    expect(Array.from(readCodesFile(file).levels.get(0)!)).toEqual([5, 6]);
  });

  it('refuses levels of different batch sizes or ragged items', async () => {
    await expect(writeBatchedCodesFile(path.join(dir, 'x.safetensors'), new Map([[2, [Int32Array.of(1)]], [1, [Int32Array.of(1), Int32Array.of(2)]]]), 22050, [4, 8, 16])).rejects.toThrow(/same number of items/);
    await expect(writeBatchedCodesFile(path.join(dir, 'y.safetensors'), new Map([[2, [Int32Array.of(1), Int32Array.of(2, 3)]]]), 22050, [4, 8, 16])).rejects.toThrow(/equal length/);
  });
});
