import * as fs from 'fs';
import { JukeboxError } from '../errors';
import { assertLittleEndianHost, bfloat16ToFloat32, halfToFloat32, readExactly, shapeNumel } from './numeric';
import { ByteSource, TensorRebuildArgs, TorchStorageType, bufferSource, pyTypeName, isTuple, unpickle } from './pickle';
import { ZipEntry, hasZipSignature, readZipDirectory, readZipEntry, zipEntryDataOffset } from './zip';

/**
 * Reads `torch.save` checkpoints without Python and without executing anything from the file.
 *
 * Both on-disk formats are supported:
 * - **legacy** (torch < 1.6, and `_use_new_zipfile_serialization=False`; the published Jukebox
 *   `.pth.tar` files): a run of pickles followed by the raw storages;
 * - **zip** (torch ≥ 1.6 default): a stored zip holding `<archive>/data.pkl` and one
 *   `<archive>/data/<key>` entry per storage (Zip64 included).
 *
 * The object graph is unpickled by the restricted VM in `./pickle` (see there for how Python values
 * map to JS: dicts and OrderedDicts are `Map`s, tuples are frozen arrays, ...). Tensors come out as
 * {@link TorchTensorRef}s whose bytes stay on disk until `read()`, so a 10 GB prior opens in the
 * time it takes to parse its pickle; all reads are positional reads of one file descriptor.
 */

/** Element types of the storages this reader understands. */
export type TorchDtype =
  | 'float16' | 'bfloat16' | 'float32' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'bool';

/**
 * What {@link TorchTensorRef.read} returns per dtype: float16 and bfloat16 come back as their raw
 * 16-bit patterns in a `Uint16Array` (use `readFloat32()` for values), bool as 0/1 bytes.
 */
export type TorchTypedArray =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor inside a checkpoint: metadata now, data on demand. */
export interface TorchTensorRef {
  readonly dtype: TorchDtype;
  /** Dimensions; `[]` for a 0-dim tensor. */
  readonly shape: number[];
  /** Strides in elements, as saved (may be non-contiguous or zero for expanded dims). */
  readonly stride: number[];
  /** Offset of element [0,…,0] in its storage, in elements. */
  readonly storageOffset: number;
  /** Number of elements (product of `shape`). */
  readonly numel: number;
  /** Key of the storage the tensor views; tensors sharing a storage share the key. */
  readonly storageKey: string;
  /** Device the tensor was saved from, e.g. `'cpu'` or `'cuda:0'` (data is read to CPU regardless). */
  readonly location: string;
  /**
   * Materialises the tensor as a contiguous row-major array of its own dtype (float16/bfloat16 as raw
   * bits in a `Uint16Array`, bool as 0/1 in a `Uint8Array`, int64 as a `BigInt64Array`). Reads only
   * the byte range the view spans. Throws a JukeboxError once the checkpoint is closed.
   */
  read(): TorchTypedArray;
  /** Like `read()` but converted to float32 (int64 values beyond 2^24 lose precision, as in torch). */
  readFloat32(): Float32Array;
}

/** An opened checkpoint. Keep it open while reading tensors; `close()` releases the file. */
export interface TorchCheckpoint {
  path: string;
  format: 'legacy' | 'zip';
  /** The unpickled object with {@link TorchTensorRef}s in place of tensors (usually a `Map`). */
  root: unknown;
  close(): void;
}

const DTYPES: Record<string, { dtype: TorchDtype; size: number }> = {
  FloatStorage: { dtype: 'float32', size: 4 },
  DoubleStorage: { dtype: 'float64', size: 8 },
  HalfStorage: { dtype: 'float16', size: 2 },
  BFloat16Storage: { dtype: 'bfloat16', size: 2 },
  LongStorage: { dtype: 'int64', size: 8 },
  IntStorage: { dtype: 'int32', size: 4 },
  ShortStorage: { dtype: 'int16', size: 2 },
  CharStorage: { dtype: 'int8', size: 1 },
  ByteStorage: { dtype: 'uint8', size: 1 },
  BoolStorage: { dtype: 'bool', size: 1 },
};

/** The legacy format's first pickle. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** The open file shared by a checkpoint and its tensors. */
class OpenFile {
  closed = false;
  constructor(readonly path: string, readonly fd: number, readonly size: number) {}

  read(position: number, length: number): Uint8Array {
    if (this.closed) throw new JukeboxError('the checkpoint is closed; read tensors before close()', this.path);
    return readExactly(this.fd, position, length, this.path);
  }

  source(origin: number, length: number): ByteSource {
    return { origin, length, read: (p, n) => this.read(origin + p, n) };
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      fs.closeSync(this.fd);
    }
  }
}

/** A storage as saved: one run of bytes in the file. */
class RootStorage {
  /** Absolute file offset of element 0; -1 until located (legacy storages follow the pickles). */
  dataOffset = -1;
  constructor(
    readonly key: string,
    readonly dtype: TorchDtype,
    readonly elementSize: number,
    /** Elements the pickle declares. */
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A (legacy-format) view of a storage, or the whole storage. */
class StorageView {
  constructor(readonly root: RootStorage, readonly elementOffset: number, readonly numel: number) {}
}

class TensorRef implements TorchTensorRef {
  readonly numel: number;
  constructor(
    private readonly file: OpenFile,
    private readonly storage: StorageView,
    readonly shape: number[],
    readonly stride: number[],
    readonly storageOffset: number,
  ) {
    this.numel = shapeNumel(shape);
    Object.freeze(shape);
    Object.freeze(stride);
  }

  get dtype(): TorchDtype {
    return this.storage.root.dtype;
  }

  get storageKey(): string {
    return this.storage.root.key;
  }

  get location(): string {
    return this.storage.root.location;
  }

  read(): TorchTypedArray {
    const root = this.storage.root;
    const el = root.elementSize;
    const { shape, stride, numel } = this;
    if (numel === 0) return wrap(root.dtype, new Uint8Array(0), 0);
    let extent = 0;
    let contiguous = true;
    let expected = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      extent += (shape[d] - 1) * stride[d];
      if (shape[d] !== 1 && stride[d] !== expected) contiguous = false;
      expected *= shape[d];
    }
    const first = this.storage.elementOffset + this.storageOffset;
    const bytes = this.file.read(root.dataOffset + first * el, (extent + 1) * el);
    if (contiguous) return wrap(root.dtype, bytes, numel);
    return wrap(root.dtype, gather(bytes, el, shape, stride, numel), numel);
  }

  readFloat32(): Float32Array {
    const data = this.read();
    switch (this.dtype) {
      case 'float32':
        return data as Float32Array;
      case 'float16':
        return halfToFloat32(data as Uint16Array);
      case 'bfloat16':
        return bfloat16ToFloat32(data as Uint16Array);
      case 'int64': {
        const src = data as BigInt64Array;
        const out = new Float32Array(src.length);
        for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
        return out;
      }
      default:
        return Float32Array.from(data as ArrayLike<number>);
    }
  }
}

/** Views `bytes` (a fresh, aligned buffer) as the typed array of `dtype`. */
function wrap(dtype: TorchDtype, bytes: Uint8Array, numel: number): TorchTypedArray {
  const b = bytes.buffer;
  const o = bytes.byteOffset;
  switch (dtype) {
    case 'float32': return new Float32Array(b, o, numel);
    case 'float64': return new Float64Array(b, o, numel);
    case 'float16':
    case 'bfloat16': return new Uint16Array(b, o, numel);
    case 'int8': return new Int8Array(b, o, numel);
    case 'int16': return new Int16Array(b, o, numel);
    case 'int32': return new Int32Array(b, o, numel);
    case 'int64': return new BigInt64Array(b, o, numel);
    case 'uint8':
    case 'bool': return new Uint8Array(b, o, numel);
  }
}

/** Copies the strided elements of `bytes` (element 0 = the view's first element) into row-major order. */
function gather(bytes: Uint8Array, el: number, shape: number[], stride: number[], numel: number): Uint8Array {
  const unit = el >= 4 ? 4 : el;
  const words = el / unit;
  const make = (buf: ArrayBuffer, n: number): Uint8Array | Uint16Array | Uint32Array =>
    unit === 4 ? new Uint32Array(buf, 0, n) : unit === 2 ? new Uint16Array(buf, 0, n) : new Uint8Array(buf, 0, n);
  const src = make(bytes.buffer as ArrayBuffer, bytes.length / unit);
  const outBytes = new Uint8Array(numel * el);
  const dst = make(outBytes.buffer as ArrayBuffer, numel * words);
  const nd = shape.length;
  const inner = shape[nd - 1];
  const innerStep = stride[nd - 1] * words;
  const counters = new Array<number>(Math.max(0, nd - 1)).fill(0);
  const outer = numel / inner;
  let base = 0;
  let o = 0;
  for (let k = 0; k < outer; k++) {
    let s = base;
    for (let j = 0; j < inner; j++) {
      for (let w = 0; w < words; w++) dst[o++] = src[s + w];
      s += innerStep;
    }
    for (let d = nd - 2; d >= 0; d--) {
      counters[d]++;
      base += stride[d] * words;
      if (counters[d] < shape[d]) break;
      base -= stride[d] * words * shape[d];
      counters[d] = 0;
    }
  }
  return outBytes;
}

function storageDtype(type: unknown, file: string): { dtype: TorchDtype; size: number } {
  if (!(type instanceof TorchStorageType)) {
    throw new JukeboxError(`a storage's type is ${pyTypeName(type)}, not a torch storage class`, file);
  }
  const entry = Object.prototype.hasOwnProperty.call(DTYPES, type.name) ? DTYPES[type.name] : undefined;
  if (entry === undefined) {
    throw new JukeboxError(
      `unsupported storage type '${type.qualifiedName}' (supported: ${Object.keys(DTYPES).join(', ')})`,
      file,
    );
  }
  return entry;
}

function nonNegativeInt(v: unknown, what: string, file: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new JukeboxError(`${what} must be a non-negative int, got ${pyTypeName(v)}`, file);
  }
  return v;
}

function pidTuple(pid: unknown, file: string): readonly unknown[] {
  if (!Array.isArray(pid) || pid.length === 0) throw new JukeboxError(`unexpected persistent id (${pyTypeName(pid)})`, file);
  if (pid[0] === 'module') {
    throw new JukeboxError('the checkpoint pickles a whole nn.Module with its source code; only state dicts and plain data can be loaded', file);
  }
  if (pid[0] !== 'storage') throw new JukeboxError(`unexpected persistent id of kind '${String(pid[0])}'`, file);
  return pid as unknown[];
}

/** Checks that a tensor view stays inside its storage and builds the ref. */
function makeTensor(file: OpenFile, args: TensorRebuildArgs): TensorRef {
  const storage = args.storage;
  if (!(storage instanceof StorageView)) {
    throw new JukeboxError(`a tensor's storage is ${pyTypeName(storage)}, not a storage`, file.path);
  }
  const { size, stride, storageOffset } = args;
  const numel = shapeNumel(size);
  let needed = storageOffset;
  if (numel > 0) {
    needed += 1;
    for (let d = 0; d < size.length; d++) needed += (size[d] - 1) * stride[d];
  }
  if (!Number.isSafeInteger(needed) || needed > storage.numel) {
    throw new JukeboxError(
      `bad view bounds: a tensor of shape [${size.join(', ')}], stride [${stride.join(', ')}] at storage offset ${storageOffset} ` +
        `needs ${needed} elements of storage '${storage.root.key}', which has ${storage.numel}`,
      file.path,
    );
  }
  return new TensorRef(file, storage, size, stride, storageOffset);
}

function openLegacy(file: OpenFile): unknown {
  const path = file.path;
  const src = file.source(0, file.size);
  let at: number;
  try {
    const magic = unpickle(src, { file: path });
    if (magic.value !== LEGACY_MAGIC) throw new Error('wrong magic number');
    at = magic.end;
  } catch (err) {
    const why = err instanceof JukeboxError ? err.message.slice(path.length + 2) : (err as Error).message;
    throw new JukeboxError(`not a PyTorch checkpoint (no legacy torch.save magic number: ${why})`, path);
  }
  const version = unpickle(src, { file: path }, at);
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw new JukeboxError(`unsupported legacy torch.save protocol version ${String(version.value)} (expected ${LEGACY_PROTOCOL_VERSION})`, path);
  }
  const sysInfo = unpickle(src, { file: path }, version.end);
  if (!(sysInfo.value instanceof Map)) throw new JukeboxError('the legacy sys_info record is not a dict', path);
  if (sysInfo.value.get('little_endian') !== true) {
    throw new JukeboxError('the checkpoint was saved on a big-endian machine, which is not supported', path);
  }

  const roots = new Map<string, RootStorage>();
  const views = new Map<string, StorageView>();
  const main = unpickle(src, {
    file: path,
    persistentLoad: (pid) => {
      const t = pidTuple(pid, path);
      if (t.length !== 6) throw new JukeboxError(`legacy storage persistent id has ${t.length} fields, expected 6`, path);
      const [, type, rootKey, location, numelValue, viewMetadata] = t;
      const { dtype, size } = storageDtype(type, path);
      if (typeof rootKey !== 'string' || typeof location !== 'string') {
        throw new JukeboxError('legacy storage persistent id has a non-string key or location', path);
      }
      let root = roots.get(rootKey);
      if (root === undefined) {
        root = new RootStorage(rootKey, dtype, size, nonNegativeInt(numelValue, 'storage numel', path), location);
        roots.set(rootKey, root);
      }
      if (viewMetadata === null) return new StorageView(root, 0, root.numel);
      if (!Array.isArray(viewMetadata) || viewMetadata.length !== 3 || typeof viewMetadata[0] !== 'string') {
        throw new JukeboxError(`bad storage view metadata (${pyTypeName(viewMetadata)})`, path);
      }
      const [viewKey, offsetValue, viewSizeValue] = viewMetadata as unknown[];
      let view = views.get(viewKey as string);
      if (view === undefined) {
        const offset = nonNegativeInt(offsetValue, 'storage view offset', path);
        const viewSize = nonNegativeInt(viewSizeValue, 'storage view size', path);
        if (offset + viewSize > root.numel) {
          throw new JukeboxError(
            `bad view bounds: storage view '${String(viewKey)}' covers elements ${offset}..${offset + viewSize} of storage '${rootKey}', which has ${root.numel}`,
            path,
          );
        }
        view = new StorageView(root, offset, viewSize);
        views.set(viewKey as string, view);
      }
      return view;
    },
    rebuildTensor: (args) => makeTensor(file, args),
  }, sysInfo.end);

  const keys = unpickle(src, { file: path }, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new JukeboxError('the legacy storage key list is not a list of strings', path);
  }
  // The storages follow in key-list order, each as an int64 element count and the raw bytes.
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const root = roots.get(key);
    if (root === undefined) throw new JukeboxError(`storage '${key}' is listed but no tensor refers to it`, path);
    if (pos + 8 > file.size) {
      throw new JukeboxError(`truncated file: the header of storage '${key}' is at byte ${pos} but the file ends at byte ${file.size}`, path);
    }
    const header = file.read(pos, 8);
    const stored = new DataView(header.buffer, header.byteOffset, 8).getBigInt64(0, true);
    if (stored < 0n || stored > BigInt(Number.MAX_SAFE_INTEGER)) throw new JukeboxError(`storage '${key}' has a bad element count ${stored}`, path);
    const numel = Number(stored);
    const end = pos + 8 + numel * root.elementSize;
    if (end > file.size) {
      throw new JukeboxError(
        `truncated file: storage '${key}' needs bytes ${pos + 8}..${end} but the file ends at byte ${file.size}`,
        path,
      );
    }
    if (numel < root.numel) {
      throw new JukeboxError(`storage '${key}' holds ${numel} elements but the pickle declares ${root.numel}`, path);
    }
    root.dataOffset = pos + 8;
    pos = end;
  }
  for (const root of roots.values()) {
    if (root.dataOffset < 0) throw new JukeboxError(`storage '${root.key}' is missing from the storage key list`, path);
  }
  return main.value;
}

function openZip(file: OpenFile): unknown {
  const path = file.path;
  const { entries } = readZipDirectory(file.fd, file.size, path);
  let prefix: string | undefined;
  for (const name of entries.keys()) {
    const m = /^([^/]+)\/data\.pkl$/.exec(name);
    if (m) {
      prefix = m[1];
      break;
    }
  }
  if (prefix === undefined) throw new JukeboxError("not a PyTorch checkpoint: the zip archive has no '<archive>/data.pkl' entry", path);
  const byteorder = entries.get(`${prefix}/byteorder`);
  if (byteorder !== undefined) {
    const order = new TextDecoder().decode(readZipEntry(file.fd, file.size, byteorder, path)).trim();
    if (order !== 'little') throw new JukeboxError(`the checkpoint's byte order is '${order}'; only little-endian is supported`, path);
  }
  const pkl = entries.get(`${prefix}/data.pkl`) as ZipEntry;
  const pklOffset = zipEntryDataOffset(file.fd, file.size, pkl, path);
  // data.pkl is read whole (it is small next to the storages) and parsed from memory.
  const pklBytes = file.read(pklOffset, pkl.size);

  const storages = new Map<string, StorageView>();
  const main = unpickle(bufferSource(pklBytes, pklOffset), {
    file: path,
    persistentLoad: (pid) => {
      const t = pidTuple(pid, path);
      if (t.length !== 5) throw new JukeboxError(`storage persistent id has ${t.length} fields, expected 5`, path);
      const [, type, key, location, numelValue] = t;
      const { dtype, size } = storageDtype(type, path);
      if (typeof key !== 'string' || typeof location !== 'string') {
        throw new JukeboxError('storage persistent id has a non-string key or location', path);
      }
      const cached = storages.get(key);
      if (cached !== undefined) return cached;
      const numel = nonNegativeInt(numelValue, 'storage numel', path);
      const entryName = `${prefix}/data/${key}`;
      const entry = entries.get(entryName);
      if (entry === undefined) throw new JukeboxError(`truncated or damaged checkpoint: zip entry '${entryName}' is missing`, path);
      if (entry.size < numel * size) {
        throw new JukeboxError(`zip entry '${entryName}' has ${entry.size} bytes but storage '${key}' needs ${numel * size}`, path);
      }
      const root = new RootStorage(key, dtype, size, numel, location);
      root.dataOffset = zipEntryDataOffset(file.fd, file.size, entry, path);
      const view = new StorageView(root, 0, numel);
      storages.set(key, view);
      return view;
    },
    rebuildTensor: (args) => makeTensor(file, args),
  });
  return main.value;
}

function readHead(fd: number, size: number, path: string): Uint8Array {
  return readExactly(fd, 0, Math.min(size, 4096), path);
}

function isTarHeader(head: Uint8Array): boolean {
  return head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar';
}

/** The first pickle is torch's magic number (any pickle protocol; torch.save defaults to 2). */
function hasLegacyMagic(head: Uint8Array): boolean {
  if (head.length < 2) return false;
  try {
    return unpickle(head, { file: '' }).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Cheap sniff: true for a zip archive (any zip: `readTorchCheckpoint` then checks for `data.pkl`)
 * or a pickle that starts with torch's legacy magic number. False for anything else, including
 * the old tar-based format this reader cannot load, and for unreadable paths.
 */
export function isTorchCheckpoint(path: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = readHead(fd, size, path);
    return hasZipSignature(head) || hasLegacyMagic(head);
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opens a `torch.save` file (legacy or zip), unpickles its object graph through the restricted
 * unpickler, and checks that every storage lies inside the file and every tensor view inside its
 * storage. Tensor data is read later, by each {@link TorchTensorRef}. Throws a JukeboxError naming
 * the file for: not a checkpoint, truncated file, disallowed global, unsupported storage type or
 * opcode, bad view bounds.
 */
export function readTorchCheckpoint(path: string): TorchCheckpoint {
  assertLittleEndianHost();
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw new JukeboxError(`cannot open checkpoint: ${(err as Error).message}`, path);
  }
  const file = new OpenFile(path, fd, fs.fstatSync(fd).size);
  try {
    const head = readHead(fd, file.size, path);
    let format: 'legacy' | 'zip';
    let root: unknown;
    if (hasZipSignature(head)) {
      format = 'zip';
      root = openZip(file);
    } else if (isTarHeader(head)) {
      throw new JukeboxError('this is the old tar-based torch.save format (torch < 0.4), which is not supported; re-save it with torch ≥ 1.0', path);
    } else if (hasLegacyMagic(head) || (head.length >= 1 && head[0] === 0x80)) {
      // A protocol-2+ pickle that lacks the magic number gets openLegacy's detailed message.
      format = 'legacy';
      root = openLegacy(file);
    } else {
      throw new JukeboxError('not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save pickle)', path);
    }
    return { path, format, root, close: () => file.close() };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** True for the tensor references a checkpoint's `root` holds. */
export function isTorchTensorRef(value: unknown): value is TorchTensorRef {
  return value instanceof TensorRef;
}

/**
 * The value under `key` of a checkpoint whose root is a dict (e.g. `'model'` or `'hps'` in Jukebox
 * checkpoints); throws a JukeboxError naming the file when the root is not a dict or lacks the key.
 */
export function checkpointEntry(checkpoint: TorchCheckpoint, key: string): unknown {
  const root = checkpoint.root;
  if (!(root instanceof Map)) throw new JukeboxError(`the checkpoint's root is ${pyTypeName(root)}, not a dict`, checkpoint.path);
  if (!root.has(key)) {
    const keys = [...root.keys()].map(String).join(', ');
    throw new JukeboxError(`the checkpoint has no '${key}' entry (it has: ${keys})`, checkpoint.path);
  }
  return root.get(key);
}

/**
 * Materialises a state dict (a `Map` of parameter name → tensor, e.g. `checkpointEntry(ck, 'model')`)
 * as name → `{ shape, data }` with float32 data, in the dict's order. Any non-tensor value is an
 * error naming its key.
 */
export function stateDictToFloat32(
  stateDict: unknown,
  file?: string,
): Map<string, { shape: number[]; data: Float32Array }> {
  if (!(stateDict instanceof Map)) throw new JukeboxError(`a state dict must be a dict, got ${pyTypeName(stateDict)}`, file);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, value] of stateDict) {
    if (!isTorchTensorRef(value)) throw new JukeboxError(`state dict entry '${String(name)}' is ${pyTypeName(value)}, not a tensor`, file);
    out.set(String(name), { shape: [...value.shape], data: value.readFloat32() });
  }
  return out;
}

export { isTuple };
