import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { JukeboxError } from '../../src/errors';
import {
  SafetensorsTensor, isSafetensors, openSafetensors, readSafetensors, readSafetensorsHeader, writeSafetensors,
} from '../../src/checkpoint/safetensors';
import { float32ToHalf, halfBitsToNumber, numberToHalfBits } from '../../src/checkpoint/numeric';
import { bytes, decodeScalar, fixture, le, readJson, tempDir, writeTemp, errorOf } from './helpers';


async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(JukeboxError);
    return (err as Error).message;
  }
  throw new Error('expected a JukeboxError');
}

/** A safetensors file from a header object (or raw header text) and a data section. */
function stFile(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) text += ' '.repeat((8 - (text.length % 8)) % 8);
  return bytes(le(text.length, 8), text, data);
}

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('safetensors round trip', () => {
  const tensors: Record<string, SafetensorsTensor> = {
    'enc.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 0, 3.25, NaN, -Infinity]) },
    'enc.b': { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -1e300]) },
    half_bits: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) },
    half_from_f32: { dtype: 'F16', shape: [2, 2], data: new Float32Array([0.1, 65504, 1e-5, -3]) },
    bf16: { dtype: 'BF16', shape: [3], data: new Float32Array([1, 3.140625, 0.1]) },
    i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    i16: { dtype: 'I16', shape: [1], data: new Int16Array([-300]) },
    i32: { dtype: 'I32', shape: [3], data: new Int32Array([-(2 ** 31), 5, 2 ** 31 - 1]) },
    i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n]) },
    u8: { dtype: 'U8', shape: [2, 1], data: new Uint8Array([0, 255]) },
    flag: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  };
  const metadata = { format: 'pt', 'jukebox.level': '2', unicode: 'h\u00e9 \u2713' };

  it('writes, reads back identical values and metadata, and rewrites identical bytes', async () => {
    const p = path.join(dir, 'rt.safetensors');
    await writeSafetensors(p, tensors, metadata);
    expect(isSafetensors(p)).toBe(true);
    const back = readSafetensors(p);
    expect(back.metadata).toEqual(metadata);
    expect(new Set(back.tensors.keys())).toEqual(new Set(Object.keys(tensors)));
    for (const [name, t] of Object.entries(tensors)) {
      const got = back.tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      // Expected bit patterns from numpy's float16 and torch's bfloat16 conversions.
      if (name === 'half_from_f32') {
        expect(Array.from(got.data as Uint16Array)).toEqual([0x2e66, 0x7bff, 0x00a8, 0xc200]);
      } else if (name === 'bf16') {
        expect(Array.from(got.data as Uint16Array)).toEqual([0x3f80, 0x4049, 0x3dcd]);
      } else {
        expect(got.data).toEqual(t.data);
      }
    }
    // Layout: 8-byte aligned data start, each tensor aligned to its element size.
    const header = readSafetensorsHeader(p);
    expect(header.dataStart % 8).toBe(0);
    for (const e of header.entries.values()) {
      const size = { F16: 2, BF16: 2, F32: 4, F64: 8, I8: 1, I16: 2, I32: 4, I64: 8, U8: 1, BOOL: 1 }[e.dtype];
      expect(e.dataOffsets[0] % size).toBe(0);
    }
    // read -> write reproduces the file byte for byte.
    const again = path.join(dir, 'rt2.safetensors');
    await writeSafetensors(again, back.tensors, back.metadata);
    expect(fs.readFileSync(again).equals(fs.readFileSync(p))).toBe(true);
    // The lazy reader converts to float32.
    const file = openSafetensors(p);
    expect(Array.from(file.readFloat32('half_from_f32'))).toEqual([0x2e66, 0x7bff, 0x00a8, 0xc200].map(halfBitsToNumber));
    expect(Array.from(file.readFloat32('i64'))).toEqual([-(2 ** 63), 2 ** 53]);
    expect(Array.from(file.readFloat32('bf16'))).toEqual([1, 3.140625, 0.10009765625]);
    expect(errorOf(() => file.read('nope'))).toBe(`${p}: no tensor named 'nope'`);
    file.close();
    expect(errorOf(() => file.read('u8'))).toContain('closed');
  });

  it('reads a file written by Python straight from the spec', () => {
    const want = readJson<{ safetensors: Record<string, { dtype: string; shape: number[]; values: unknown[] }> }>('expected.json').safetensors;
    const got = readSafetensors(fixture('reference.safetensors'));
    expect(got.metadata).toEqual({ format: 'pt', note: 'made by make_torch_fixtures.py' });
    expect([...got.tensors.keys()]).toEqual(Object.keys(want));
    const file = openSafetensors(fixture('reference.safetensors'));
    for (const [name, w] of Object.entries(want)) {
      const t = got.tensors.get(name)!;
      expect(t.dtype).toBe(w.dtype);
      expect(t.shape).toEqual(w.shape);
      const values = w.values.map(decodeScalar);
      if (w.dtype === 'I64') expect(Array.from(t.data as BigInt64Array)).toEqual(values.map((v) => BigInt(v as number | bigint)));
      else if (w.dtype === 'BOOL') expect(Array.from(t.data as Uint8Array)).toEqual(values.map((v) => (v ? 1 : 0)));
      else expect(Array.from(file.readFloat32(name))).toEqual(values.map((v) => Math.fround(Number(v))));
    }
    file.close();
  });

  it('rounds float32 to float16 to nearest even, subnormals and overflow included', () => {
    expect(numberToHalfBits(1)).toBe(0x3c00);
    expect(numberToHalfBits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(numberToHalfBits(65519)).toBe(0x7bff);
    expect(numberToHalfBits(2 ** -24)).toBe(1);
    expect(numberToHalfBits(2 ** -25)).toBe(0); // tie -> even (0)
    expect(numberToHalfBits(3 * 2 ** -25)).toBe(2); // tie -> even (2)
    expect(numberToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(numberToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToHalfBits(-0)).toBe(0x8000);
    expect(halfBitsToNumber(numberToHalfBits(NaN))).toBeNaN();
    // Every finite half survives half -> number -> half.
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      expect(numberToHalfBits(halfBitsToNumber(h))).toBe(h);
    }
    expect(Array.from(float32ToHalf([6.103515625e-5]))).toEqual([0x0400]);
  });
});

describe('safetensors validation', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);

  it.each([
    ['header length beyond the file', bytes(le(1000, 8), '{}'), 'safetensors header length 1000 runs beyond the end of the file (10 bytes)'],
    ['a tiny file', bytes([1, 2, 3]), 'too small for a safetensors file (3 bytes)'],
    ['bad JSON', stFile('{"a": [1, 2'), 'safetensors header is not valid JSON'],
    ['a JSON array', stFile('[1]'), 'safetensors header is not a JSON object'],
    ['an unknown dtype', stFile({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, eight), "tensor 'a' has unknown dtype \"C64\""],
    ['offsets out of range', stFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, eight),
      "tensor 'a' has data_offsets [0, 16] beyond the 8-byte data section"],
    ['offsets not matching shape x dtype', stFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eight),
      "tensor 'a' has data_offsets [0, 8] (8 bytes) but shape [3] of F32 needs 12"],
    ['reversed offsets', stFile({ a: { dtype: 'U8', shape: [0], data_offsets: [8, 0] } }, eight), "tensor 'a' has bad data_offsets [8,0]"],
    ['a negative dimension', stFile({ a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, eight), "tensor 'a' has a bad shape [-1]"],
    ['overlapping tensors', stFile({ a: ok.a, b: { dtype: 'I32', shape: [1], data_offsets: [4, 8] } }, eight),
      "tensors 'a' and 'b' overlap in the data section"],
    ['non-string metadata', stFile({ __metadata__: { epoch: 3 }, ...ok }, eight), "safetensors __metadata__ value for 'epoch' is not a string"],
    ['metadata that is not an object', stFile({ __metadata__: 'x', ...ok }, eight), 'safetensors __metadata__ is not an object'],
  ])('rejects %s', (_, content, message) => {
    const p = writeTemp(dir, 'bad.safetensors', content);
    const msg = errorOf(() => readSafetensors(p));
    expect(msg.startsWith(`${p}: ${message}`)).toBe(true);
    expect(errorOf(() => readSafetensorsHeader(p))).toBe(msg);
  });

  it('accepts an unpadded header and a well-formed minimal file', () => {
    const p = writeTemp(dir, 'min.safetensors', stFile(ok, new Uint8Array(new Float32Array([1, 2]).buffer), false));
    expect(Array.from(readSafetensors(p).tensors.get('a')!.data as Float32Array)).toEqual([1, 2]);
  });

  it('sniffs', () => {
    expect(isSafetensors(fixture('reference.safetensors'))).toBe(true);
    expect(isSafetensors(fixture('checkpoint_zip.pt'))).toBe(false);
    expect(isSafetensors(fixture('checkpoint_legacy.pt'))).toBe(false);
    expect(isSafetensors(path.join(dir, 'missing'))).toBe(false);
  });

  it('refuses to write bad tensors and leaves no file behind', async () => {
    const p = path.join(dir, 'never.safetensors');
    expect(await rejection(writeSafetensors(p, { a: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }))).toBe(
      `${p}: cannot write tensor 'a': F32 data must be a Float32Array, got Float64Array`,
    );
    expect(await rejection(writeSafetensors(p, { a: { dtype: 'I32', shape: [3], data: new Int32Array(2) } }))).toContain(
      'shape [3] needs 3 elements, data has 2',
    );
    expect(await rejection(writeSafetensors(p, { a: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }))).toContain('0 or 1');
    expect(await rejection(writeSafetensors(p, {}, { n: 1 as unknown as string }))).toContain("metadata value for 'n' is not a string");
    expect(fs.existsSync(p)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('never'))).toEqual([]);
  });
});
