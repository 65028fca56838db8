import * as fs from 'fs';
import * as os from 'os';
import { JukeboxError } from '../errors';

/**
 * Shared low-level helpers of the checkpoint readers: half-precision conversions and positional
 * file reads. Everything here assumes a little-endian host (checked by {@link assertLittleEndianHost}),
 * because typed arrays use the host's byte order and both torch and safetensors store little-endian.
 */

let halfTable: Float32Array | undefined;

/** Converts one IEEE binary16 bit pattern to a number. */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man === 0 ? sign * Infinity : NaN;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** Converts IEEE binary16 bit patterns to float32 values (exact: every half is a float32). */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  if (halfTable === undefined) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfBitsToNumber(i);
  }
  const table = halfTable;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Converts bfloat16 bit patterns to float32 values (exact: a bfloat16 is the top half of a float32). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds a number to the nearest IEEE binary16 (ties to even) and returns its bit pattern. */
export function numberToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man !== 0 ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    man |= 0x800000; // implicit leading one
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = man >>> shift;
    const rest = man & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m; // a carry into the exponent field is the correct result
  }
  let m = man >>> 13;
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Rounds float values to binary16 bit patterns. */
export function float32ToHalf(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToHalfBits(values[i]);
  return out;
}

/** Rounds float values to bfloat16 bit patterns (ties to even; NaN stays NaN). */
export function float32ToBfloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    const rounded = x + 0x7fff + ((x >>> 16) & 1);
    out[i] = (rounded >>> 16) & 0xffff;
  }
  return out;
}

/** Throws on a big-endian host, where typed-array views of little-endian files would be wrong. */
export function assertLittleEndianHost(): void {
  if (os.endianness() !== 'LE') {
    throw new JukeboxError('checkpoint readers need a little-endian host');
  }
}

/** The largest single `fs.readSync`/`fs.writeSync` the helpers issue. */
const IO_CHUNK = 1 << 30;

/**
 * Reads exactly `length` bytes at absolute `position` of `fd` into a fresh (so 8-byte aligned) array.
 * Throws a JukeboxError naming `file` when the file ends first.
 */
export function readExactly(fd: number, position: number, length: number, file: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(IO_CHUNK, length - done), position + done);
    if (n === 0) {
      throw new JukeboxError(`truncated file: wanted ${length} bytes at byte ${position}, the file ends at byte ${position + done}`, file);
    }
    done += n;
  }
  return out;
}

/** Product of a shape's dimensions (1 for a scalar). */
export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
