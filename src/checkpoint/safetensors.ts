import * as fs from 'fs';
import { writeAll, writeFileAtomic } from '../atomic-write';
import { JukeboxError } from '../errors';
import {
  assertLittleEndianHost, bfloat16ToFloat32, float32ToBfloat16, float32ToHalf, halfToFloat32, readExactly, shapeNumel,
} from './numeric';

/**
 * Reader and writer for the safetensors format: an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`
 * (padded with spaces so the data starts 8-byte aligned), then the tensors' little-endian bytes,
 * offsets relative to the end of the header.
 */

export type SafetensorsDtype = 'F16' | 'BF16' | 'F32' | 'F64' | 'I8' | 'I16' | 'I32' | 'I64' | 'U8' | 'BOOL';

/**
 * Data per dtype: F16/BF16 as raw 16-bit patterns in a `Uint16Array`, BOOL as 0/1 in a `Uint8Array`,
 * I64 as a `BigInt64Array`, the rest as the matching typed array.
 */
export type SafetensorsData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: SafetensorsData;
}

/** A tensor as the header describes it; offsets are relative to the start of the data section. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  path: string;
  /** N, the JSON header's length in bytes. */
  headerLength: number;
  /** Absolute file offset of the data section (8 + N). */
  dataStart: number;
  /** Tensors in header order. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** An open safetensors file for reading tensors one at a time. */
export interface SafetensorsFile extends SafetensorsHeader {
  read(name: string): SafetensorsTensor;
  /** Any dtype converted to float32 (I64 through Number). */
  readFloat32(name: string): Float32Array;
  close(): void;
}

const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F16: 2, BF16: 2, F32: 4, F64: 8, I8: 1, I16: 2, I32: 4, I64: 8, U8: 1, BOOL: 1,
};

/** The reference implementation's cap on header size. */
const MAX_HEADER = 100 * 1024 * 1024;

function isDtype(v: unknown): v is SafetensorsDtype {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseHeader(fd: number, size: number, path: string): SafetensorsHeader {
  const fail = (problem: string): never => {
    throw new JukeboxError(problem, path);
  };
  if (size < 8) fail(`too small for a safetensors file (${size} bytes)`);
  const lenBytes = readExactly(fd, 0, 8, path);
  const n64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n64 > BigInt(size - 8)) fail(`safetensors header length ${n64} runs beyond the end of the file (${size} bytes)`);
  const headerLength = Number(n64);
  if (headerLength > MAX_HEADER) fail(`safetensors header length ${headerLength} exceeds the ${MAX_HEADER}-byte limit`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readExactly(fd, 8, headerLength, path));
  } catch {
    return fail('safetensors header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(`safetensors header is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('safetensors header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail('safetensors __metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`safetensors __metadata__ value for '${k}' is not a string`);
      }
      metadata = Object.fromEntries(Object.entries(info as Record<string, string>));
      continue;
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`safetensors entry '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = shapeNumel(shape as number[]) * DTYPE_SIZE[dtype as SafetensorsDtype];
    if (end - begin !== expected) {
      fail(`tensor '${name}' has data_offsets [${begin}, ${end}] (${end - begin} bytes) but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected}`);
    }
    if (end > dataLength) fail(`tensor '${name}' has data_offsets [${begin}, ${end}] beyond the ${dataLength}-byte data section`);
    entries.set(name, { dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], dataOffsets: [begin, end] });
  }
  const ranges = [...entries].filter(([, e]) => e.dataOffsets[1] > e.dataOffsets[0]);
  ranges.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  for (let i = 1; i < ranges.length; i++) {
    const [prevName, prev] = ranges[i - 1];
    const [name, cur] = ranges[i];
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) fail(`tensors '${prevName}' and '${name}' overlap in the data section`);
  }
  return { path, headerLength, dataStart, entries, metadata };
}

function withFile<T>(path: string, body: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw new JukeboxError(`cannot open: ${(err as Error).message}`, path);
  }
  try {
    return body(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and validates only the header (no tensor data). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return withFile(path, (fd, size) => parseHeader(fd, size, path));
}

function wrap(dtype: SafetensorsDtype, bytes: Uint8Array): SafetensorsData {
  const b = bytes.buffer;
  const n = bytes.length / DTYPE_SIZE[dtype];
  switch (dtype) {
    case 'F32': return new Float32Array(b, 0, n);
    case 'F64': return new Float64Array(b, 0, n);
    case 'F16':
    case 'BF16': return new Uint16Array(b, 0, n);
    case 'I8': return new Int8Array(b, 0, n);
    case 'I16': return new Int16Array(b, 0, n);
    case 'I32': return new Int32Array(b, 0, n);
    case 'I64': return new BigInt64Array(b, 0, n);
    case 'U8':
    case 'BOOL': return new Uint8Array(b, 0, n);
  }
}

function toFloat32(t: SafetensorsTensor): Float32Array {
  switch (t.dtype) {
    case 'F32': return t.data as Float32Array;
    case 'F16': return halfToFloat32(t.data as Uint16Array);
    case 'BF16': return bfloat16ToFloat32(t.data as Uint16Array);
    case 'I64': {
      const src = t.data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default: return Float32Array.from(t.data as ArrayLike<number>);
  }
}

/** Opens a safetensors file, validating its header; tensors are read on demand. */
export function openSafetensors(path: string): SafetensorsFile {
  assertLittleEndianHost();
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw new JukeboxError(`cannot open: ${(err as Error).message}`, path);
  }
  let header: SafetensorsHeader;
  try {
    header = parseHeader(fd, fs.fstatSync(fd).size, path);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let closed = false;
  const read = (name: string): SafetensorsTensor => {
    if (closed) throw new JukeboxError('the safetensors file is closed', path);
    const entry = header.entries.get(name);
    if (entry === undefined) throw new JukeboxError(`no tensor named '${name}'`, path);
    const [begin, end] = entry.dataOffsets;
    const bytes = readExactly(fd, header.dataStart + begin, end - begin, path);
    return { dtype: entry.dtype, shape: [...entry.shape], data: wrap(entry.dtype, bytes) };
  };
  return {
    ...header,
    read,
    readFloat32: (name) => toFloat32(read(name)),
    close: () => {
      if (!closed) {
        closed = true;
        fs.closeSync(fd);
      }
    },
  };
}

/** Reads every tensor of a safetensors file, in header order. */
export function readSafetensors(path: string): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const file = openSafetensors(path);
  try {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const name of file.entries.keys()) tensors.set(name, file.read(name));
    return { tensors, metadata: file.metadata };
  } finally {
    file.close();
  }
}

/** True when the file looks like safetensors: a header length that fits and a header starting with `{`. */
export function isSafetensors(path: string): boolean {
  try {
    return withFile(path, (fd, size) => {
      if (size < 10) return false;
      const head = readExactly(fd, 0, 9, path);
      const n = new DataView(head.buffer).getBigUint64(0, true);
      return n >= 2n && n <= BigInt(size - 8) && n <= BigInt(MAX_HEADER) && head[8] === 0x7b;
    });
  } catch {
    return false;
  }
}

const ARRAY_FOR: Record<SafetensorsDtype, string> = {
  F16: 'Uint16Array (bits) or Float32Array', BF16: 'Uint16Array (bits) or Float32Array', F32: 'Float32Array',
  F64: 'Float64Array', I8: 'Int8Array', I16: 'Int16Array', I32: 'Int32Array', I64: 'BigInt64Array', U8: 'Uint8Array',
  BOOL: 'Uint8Array',
};

/** The bytes to store for one tensor, converting float32 input for F16/BF16. */
function tensorBytes(name: string, t: SafetensorsTensor, path: string): Uint8Array {
  const fail = (problem: string): never => {
    throw new JukeboxError(`cannot write tensor '${name}': ${problem}`, path);
  };
  if (!isDtype(t.dtype)) fail(`unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`bad shape ${JSON.stringify(t.shape)}`);
  let data: SafetensorsData = t.data;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && data instanceof Float32Array) {
    data = t.dtype === 'F16' ? float32ToHalf(data) : float32ToBfloat16(data);
  }
  const ok =
    (t.dtype === 'F32' && data instanceof Float32Array) ||
    (t.dtype === 'F64' && data instanceof Float64Array) ||
    ((t.dtype === 'F16' || t.dtype === 'BF16') && data instanceof Uint16Array) ||
    (t.dtype === 'I8' && data instanceof Int8Array) ||
    (t.dtype === 'I16' && data instanceof Int16Array) ||
    (t.dtype === 'I32' && data instanceof Int32Array) ||
    (t.dtype === 'I64' && data instanceof BigInt64Array) ||
    ((t.dtype === 'U8' || t.dtype === 'BOOL') && data instanceof Uint8Array);
  if (!ok) fail(`${t.dtype} data must be a ${ARRAY_FOR[t.dtype]}, got ${(data as object)?.constructor?.name ?? typeof data}`);
  if (data.length !== shapeNumel(t.shape)) fail(`shape [${t.shape.join(', ')}] needs ${shapeNumel(t.shape)} elements, data has ${data.length}`);
  if (t.dtype === 'BOOL' && (data as Uint8Array).some((v) => v > 1)) fail('BOOL data must be 0 or 1');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Writes tensors (and optional string metadata) as a safetensors file, atomically (a bad tensor
 * leaves no file). Tensors are laid out by element size (largest first) then name, so each starts
 * aligned to its element size.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensor> | Map<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  await writeSafetensorsStreamed(path, new Map(list.map(([name, t]) => [name, { ...t, data: () => t.data }])), metadata);
}

/** A tensor for {@link writeSafetensorsStreamed}: its data is asked for only when its turn comes. */
export interface StreamedSafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** The data as {@link SafetensorsTensor} holds it (float32 is converted for F16/BF16). */
  data: () => SafetensorsData | Promise<SafetensorsData>;
}

/**
 * `writeSafetensors` for models too large to hold twice: the header is written from dtypes and
 * shapes alone, then each tensor's data is fetched, converted and written in turn, so only one
 * tensor's bytes exist outside the model at a time. Same layout and atomicity.
 */
export async function writeSafetensorsStreamed(
  path: string,
  tensors: Map<string, StreamedSafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  assertLittleEndianHost();
  const prepared = [...tensors].map(([name, t]) => {
    if (name === '__metadata__') throw new JukeboxError("cannot write a tensor named '__metadata__'", path);
    if (!isDtype(t.dtype)) throw new JukeboxError(`cannot write tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)}`, path);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) {
      throw new JukeboxError(`cannot write tensor '${name}': bad shape ${JSON.stringify(t.shape)}`, path);
    }
    return { name, t, byteLength: shapeNumel(t.shape) * DTYPE_SIZE[t.dtype] };
  });
  prepared.sort((a, b) => DTYPE_SIZE[b.t.dtype] - DTYPE_SIZE[a.t.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new JukeboxError(`metadata value for '${k}' is not a string`, path);
    }
    parts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(Object.entries(metadata)))}`);
  }
  let offset = 0;
  for (const { name, t, byteLength } of prepared) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + byteLength] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += byteLength;
  }
  let json = `{${parts.join(',')}}`;
  const encoded = new TextEncoder().encode(json);
  const padded = Math.ceil(encoded.length / 8) * 8;
  json += ' '.repeat(padded - encoded.length);
  const header = new TextEncoder().encode(json);
  const lengthBytes = new Uint8Array(8);
  new DataView(lengthBytes.buffer).setBigUint64(0, BigInt(header.length), true);
  await writeFileAtomic(path, async (fd) => {
    writeAll(fd, lengthBytes);
    writeAll(fd, header);
    for (const { name, t } of prepared) {
      writeAll(fd, tensorBytes(name, { dtype: t.dtype, shape: t.shape, data: await t.data() }, path));
    }
  });
}
