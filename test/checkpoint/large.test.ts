import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { TorchTensorRef, readTorchCheckpoint } from '../../src/checkpoint/torch';
import { LEGACY_HEAD, bytes, le, pickleStr, tempDir, tensorPickle } from './helpers';

/**
 * Checkpoints bigger than 4 GiB, built as sparse files (a few KB on disk): offsets past 2^32 must go
 * through positional reads and, for zip, Zip64 records. Skipped where the file system is not sparse.
 */

const BIG_NUMEL = 5 * 2 ** 28; // 5 GiB of float32
const BIG_BYTES = BIG_NUMEL * 4;
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeAt(fd: number, position: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

/** True when the file takes far less disk than its size (so the test did not fill the disk). */
function isSparse(p: string): boolean {
  const st = fs.statSync(p);
  return st.blocks * 512 < 64 * 2 ** 20;
}

const TAIL = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
const SMALL = new Uint8Array(new Float32Array([5, 6]).buffer);

function mainPickle(legacy: boolean): Uint8Array {
  return bytes(
    [0x80, 2], '}(', pickleStr('big_tail'),
    tensorPickle({ key: '0', numel: BIG_NUMEL, legacy }, BIG_NUMEL - 4, [2, 2], [2, 1]),
    pickleStr('after_big'), tensorPickle({ key: '1', numel: 2, legacy }, 0, [2], [1]),
    'u.',
  );
}

function check(p: string, format: string): void {
  const ck = readTorchCheckpoint(p);
  try {
    expect(ck.format).toBe(format);
    const root = ck.root as Map<string, TorchTensorRef>;
    expect(root.get('big_tail')!.shape).toEqual([2, 2]);
    expect(Array.from(root.get('big_tail')!.readFloat32())).toEqual([1, 2, 3, 4]);
    expect(Array.from(root.get('after_big')!.readFloat32())).toEqual([5, 6]);
  } finally {
    ck.close();
  }
}

describe('checkpoints larger than 4 GiB (sparse files)', () => {
  it('legacy: storages after a 5 GiB storage', (ctx) => {
    const p = path.join(dir, 'big_legacy.pt');
    const head = bytes(LEGACY_HEAD, mainPickle(true), [0x80, 2], '(', pickleStr('0'), pickleStr('1'), 'l.', le(BIG_NUMEL, 8));
    const fd = fs.openSync(p, 'w');
    try {
      writeAt(fd, 0, head);
      const bigEnd = head.length + BIG_BYTES;
      writeAt(fd, bigEnd - TAIL.length, TAIL);
      writeAt(fd, bigEnd, bytes(le(2, 8), SMALL));
    } finally {
      fs.closeSync(fd);
    }
    if (!isSparse(p)) ctx.skip();
    expect(fs.statSync(p).size).toBeGreaterThan(2 ** 32);
    check(p, 'legacy');
  });

  it('zip: Zip64 offsets and sizes past 2^32', (ctx) => {
    const p = path.join(dir, 'big_zip.pt');
    const fd = fs.openSync(p, 'w');
    const central: Uint8Array[] = [];
    let pos = 0;
    const SAT = 0xffffffff;
    const add = (name: string, size: number, write: (dataStart: number) => void) => {
      const n = bytes(name);
      const localExtra = bytes(le(1, 2), le(16, 2), le(size, 8), le(size, 8));
      const header = bytes(le(0x04034b50, 4), le(45, 2), le(0, 2), le(0, 2), le(0, 4), le(0, 4), le(SAT, 4), le(SAT, 4),
        le(n.length, 2), le(localExtra.length, 2), n, localExtra);
      writeAt(fd, pos, header);
      write(pos + header.length);
      const extra = bytes(le(1, 2), le(24, 2), le(size, 8), le(size, 8), le(pos, 8));
      central.push(bytes(le(0x02014b50, 4), le(45, 2), le(45, 2), le(0, 2), le(0, 2), le(0, 4), le(0, 4), le(SAT, 4),
        le(SAT, 4), le(n.length, 2), le(extra.length, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 4), le(SAT, 4), n, extra));
      pos += header.length + size;
    };
    try {
      const pkl = mainPickle(false);
      add('archive/data.pkl', pkl.length, (at) => writeAt(fd, at, pkl));
      add('archive/data/0', BIG_BYTES, (at) => writeAt(fd, at + BIG_BYTES - TAIL.length, TAIL));
      add('archive/data/1', SMALL.length, (at) => writeAt(fd, at, SMALL));
      add('archive/version', 2, (at) => writeAt(fd, at, bytes('3\n')));
      const cd = bytes(...central);
      const cdStart = pos;
      writeAt(fd, pos, cd);
      pos += cd.length;
      const zip64Eocd = bytes(le(0x06064b50, 4), le(44, 8), le(45, 2), le(45, 2), le(0, 4), le(0, 4),
        le(central.length, 8), le(central.length, 8), le(cd.length, 8), le(cdStart, 8));
      const locator = bytes(le(0x07064b50, 4), le(0, 4), le(pos, 8), le(1, 4));
      const eocd = bytes(le(0x06054b50, 4), le(0, 2), le(0, 2), le(0xffff, 2), le(0xffff, 2), le(SAT, 4), le(SAT, 4), le(0, 2));
      writeAt(fd, pos, bytes(zip64Eocd, locator, eocd));
    } finally {
      fs.closeSync(fd);
    }
    if (!isSparse(p)) ctx.skip();
    expect(fs.statSync(p).size).toBeGreaterThan(2 ** 32);
    check(p, 'zip');
  });
});
