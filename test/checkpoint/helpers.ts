import { JukeboxError } from '../../src/errors';
import { expect } from 'vitest';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isTuple } from '../../src/checkpoint/pickle';
import { isTorchTensorRef } from '../../src/checkpoint/torch';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'torch');

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

export function readJson<T = any>(name: string): T {
  return JSON.parse(fs.readFileSync(fixture(name), 'utf8')) as T;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-ckpt-'));
}

/** Canonical encoding of an unpickled value; mirrors enc() in make_torch_fixtures.py. */
export function encodePy(v: unknown): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') {
    if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new Error(`safe integer ${v} came out as a bigint`);
    }
    return { __int__: v.toString() };
  }
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { __float__: 'nan' };
    if (v === Infinity) return { __float__: 'inf' };
    if (v === -Infinity) return { __float__: '-inf' };
    return v;
  }
  if (v instanceof Uint8Array) return { __bytes__: Buffer.from(v).toString('hex') };
  if (isTorchTensorRef(v)) return { __tensor__: { dtype: v.dtype, shape: v.shape } };
  if (isTuple(v)) return { __tuple__: v.map(encodePy) };
  if (Array.isArray(v)) return v.map(encodePy);
  if (v instanceof Map) return { __dict__: [...v].map(([k, x]) => [encodePy(k), encodePy(x)]) };
  if (v instanceof Set) {
    const items = [...v].map(encodePy);
    items.sort((a, b) => {
      const x = JSON.stringify(a);
      const y = JSON.stringify(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    return { __set__: items };
  }
  throw new Error(`cannot encode ${Object.prototype.toString.call(v)}`);
}

/** Decodes one expected scalar of a tensor's value list into a JS number or bigint. */
export function decodeScalar(x: unknown): number | bigint | boolean {
  if (typeof x === 'number' || typeof x === 'boolean') return x;
  const o = x as { __int__?: string; __float__?: string };
  if (o.__int__ !== undefined) return BigInt(o.__int__);
  if (o.__float__ === 'nan') return NaN;
  if (o.__float__ === 'inf') return Infinity;
  if (o.__float__ === '-inf') return -Infinity;
  throw new Error(`bad expected scalar ${JSON.stringify(x)}`);
}

/** Writes `bytes` to a fresh temp file and returns its path. */
export function writeTemp(dir: string, name: string, bytes: Uint8Array | string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Concatenates byte chunks given as arrays of numbers, strings (latin-1) or Uint8Arrays. */
export function bytes(...parts: Array<number[] | string | Uint8Array>): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : p instanceof Uint8Array ? p : Uint8Array.from(p),
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Little-endian unsigned int of `n` bytes. */
export function le(value: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(value % 256);
    value = Math.floor(value / 256);
  }
  return out;
}

/** The three pickles that open a legacy torch.save file: magic number, protocol 1001, sys_info. */
export const LEGACY_HEAD = bytes(
  [0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e], // magic number
  [0x80, 2, 0x4d, 0xe9, 0x03, 0x2e], // protocol version 1001
  [0x80, 2, 0x7d, 0x28, 0x8c, 13], 'little_endian', [0x88, 0x75, 0x2e], // {'little_endian': True}
);

/** Pickle opcodes pushing a non-negative int (BININT1, BININT or LONG1). */
export function pickleInt(n: number): Uint8Array {
  if (n < 256) return bytes('K', [n]);
  if (n < 2 ** 31) return bytes('J', le(n, 4));
  return bytes([0x8a, 8], le(n, 8));
}

/** Pickle opcodes pushing a short str (BINUNICODE). */
export function pickleStr(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  return bytes('X', le(b.length, 4), b);
}

/**
 * Pickle opcodes pushing `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`
 * where the storage is the persistent id `pid` (5 fields for zip, 6 for legacy).
 */
export function tensorPickle(
  opts: { key: string; storage?: string; numel: number; legacy: boolean },
  offset: number,
  size: number[],
  stride: number[],
): Uint8Array {
  const tuple = (xs: number[]) => bytes('(', ...xs.map(pickleInt), 't');
  const pid = bytes(
    '(', pickleStr('storage'), `ctorch\n${opts.storage ?? 'FloatStorage'}\n`, pickleStr(opts.key), pickleStr('cpu'),
    pickleInt(opts.numel), opts.legacy ? 'N' : '', 't', 'Q',
  );
  return bytes(
    'ctorch._utils\n_rebuild_tensor_v2\n(', pid, pickleInt(offset), tuple(size), tuple(stride), [0x89],
    'ccollections\nOrderedDict\n)R', 'tR',
  );
}

/** Runs `fn`, expecting a JukeboxError with a one-line message, and returns the message. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(JukeboxError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a JukeboxError');
}
