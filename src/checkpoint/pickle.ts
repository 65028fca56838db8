import { JukeboxError } from '../errors';

/**
 * A restricted unpickler: a pickle virtual machine (protocols 0–5) that builds plain JS data and
 * never executes anything. Globals resolve only through a fixed allow-list of names that this
 * module emulates as pure data constructors; any other global is refused before anything is built.
 *
 * How Python values come out:
 *
 * | Python                         | JS                                                              |
 * |--------------------------------|-----------------------------------------------------------------|
 * | `None`, `True`/`False`         | `null`, `true`/`false`                                          |
 * | `int`                          | `number` when it is a safe integer, else `bigint`              |
 * | `float`                        | `number`                                                        |
 * | `str`                          | `string`                                                        |
 * | `bytes`, `bytearray`           | `Uint8Array`                                                    |
 * | `list`                         | a mutable array                                                 |
 * | `tuple`, `torch.Size`          | a frozen array; {@link isTuple} tells it from a list            |
 * | `dict`, `collections.OrderedDict` | a `Map` in insertion order (keys keep their JS types; `Map` rather than an object so that keys like `"0"` keep their order and non-string keys survive) |
 * | `set`, `frozenset`             | a `Set`                                                         |
 * | `torch.device`                 | a string such as `'cpu'` or `'cuda:0'`                          |
 * | numpy scalars                  | `number` (`bigint` for 64-bit ints beyond 2^53, `boolean` for `np.bool_`) |
 * | tensors                        | whatever {@link UnpickleOptions.rebuildTensor} returns          |
 * | persistent ids                 | whatever {@link UnpickleOptions.persistentLoad} returns         |
 *
 * Python 2 `str` (STRING/BINSTRING opcodes) decodes as UTF-8 like `torch.load`'s default, falling
 * back to a `Uint8Array` when the bytes are not valid UTF-8. State that `OrderedDict` objects carry
 * (torch's `state_dict()._metadata`) is dropped.
 */

/** A window of bytes the VM reads from: an in-memory array or a region of an open file. */
export interface ByteSource {
  /** Number of bytes in the window. */
  readonly length: number;
  /** Absolute position of the window's first byte in its file, used only in messages. */
  readonly origin: number;
  /** Returns the bytes at `[position, position + length)` of the window; callers stay in range. */
  read(position: number, length: number): Uint8Array;
}

/** Wraps an in-memory pickle as a {@link ByteSource}. */
export function bufferSource(bytes: Uint8Array, origin = 0): ByteSource {
  return {
    length: bytes.length,
    origin,
    read: (position, length) => bytes.subarray(position, position + length),
  };
}

/** The arguments a `torch._utils._rebuild_tensor[_v2]` call carries, already type-checked. */
export interface TensorRebuildArgs {
  /** What {@link UnpickleOptions.persistentLoad} returned for the tensor's storage. */
  storage: unknown;
  storageOffset: number;
  size: number[];
  stride: number[];
}

export interface UnpickleOptions {
  /** File named in every error message. */
  file: string;
  /** Resolves a persistent id (PERSID/BINPERSID); without it a persistent id is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Builds a tensor from `_rebuild_tensor[_v2]` arguments; without it a tensor is an error. */
  rebuildTensor?: (args: TensorRebuildArgs) => unknown;
}

export interface UnpickleResult {
  value: unknown;
  /** Window position just after the STOP opcode (where a following pickle would start). */
  end: number;
}

// ---------------------------------------------------------------------------------------------
// Python value helpers

const TUPLES = new WeakSet<object>();

/** True for arrays that came from Python tuples (and `torch.Size`), false for lists. */
export function isTuple(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && TUPLES.has(value);
}

function makeTuple(items: unknown[]): readonly unknown[] {
  TUPLES.add(items);
  return Object.freeze(items);
}

/** A torch storage class named in a persistent id, such as `torch.FloatStorage`. */
export class TorchStorageType {
  constructor(
    /** Fully qualified name as written in the pickle, e.g. `torch.FloatStorage`. */
    readonly qualifiedName: string,
    /** Class name without module, e.g. `FloatStorage`. */
    readonly name: string,
  ) {}
}

/** A `numpy.dtype` object; only its code (e.g. `f8`, `i4`, `b1`) and byte order matter here. */
export class NumpyDtype {
  byteorder = '=';
  constructor(readonly code: string) {}
}

type Emulation = (args: readonly unknown[], vm: VM) => unknown;

/** An allow-listed global as it sits on the VM's stack; `call` is one of this module's emulations. */
class PyGlobal {
  constructor(
    readonly qualifiedName: string,
    /** REDUCE target; undefined for globals that are only data markers. */
    readonly call: Emulation | undefined,
    /** Whether NEWOBJ/NEWOBJ_EX may instantiate it (classes whose `__new__` matches `call`). */
    readonly isClass: boolean,
  ) {}
}

const ORDERED_DICTS = new WeakSet<object>();

function isIntLike(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Short description of a value's kind for messages (never walks into containers). */
export function pyTypeName(v: unknown): string {
  if (v === null) return 'None';
  if (isTuple(v)) return `tuple of ${v.length}`;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (v instanceof Map) return `dict of ${v.size}`;
  if (v instanceof Set) return `set of ${v.size}`;
  if (v instanceof Uint8Array) return `bytes of ${v.length}`;
  if (v instanceof PyGlobal) return `global '${v.qualifiedName}'`;
  if (v instanceof TorchStorageType) return `storage type '${v.qualifiedName}'`;
  if (v instanceof NumpyDtype) return `numpy.dtype('${v.code}')`;
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

// ---------------------------------------------------------------------------------------------
// The allow-list

const STORAGE_NAME = /^[A-Za-z0-9]+Storage$/;

function iterableItems(v: unknown, what: string, vm: VM): unknown[] {
  if (Array.isArray(v)) return v as unknown[];
  if (v instanceof Set) return [...v];
  if (v instanceof Map) return [...v.keys()];
  return vm.fail(`${what} expects an iterable, got ${pyTypeName(v)}`);
}

function expectArgs(args: readonly unknown[], min: number, max: number, name: string, vm: VM): void {
  if (args.length < min || args.length > max) {
    vm.fail(`${name} called with ${args.length} arguments (expected ${min === max ? min : `${min} to ${max}`})`);
  }
}

function intArray(v: unknown, what: string, vm: VM): number[] {
  if (!Array.isArray(v)) vm.fail(`${what} must be a tuple of ints, got ${pyTypeName(v)}`);
  const out: number[] = [];
  for (const x of v as unknown[]) {
    if (!isIntLike(x) || x < 0) vm.fail(`${what} must hold non-negative ints, got ${String(x)}`);
    out.push(x as number);
  }
  return out;
}

function rebuildTensor(args: readonly unknown[], vm: VM, name: string): unknown {
  const [storage, offset, size, stride] = args;
  if (!isIntLike(offset) || offset < 0) vm.fail(`${name}: storage_offset must be a non-negative int, got ${pyTypeName(offset)}`);
  const sizeArr = intArray(size, `${name}: size`, vm);
  const strideArr = intArray(stride, `${name}: stride`, vm);
  if (sizeArr.length !== strideArr.length) {
    vm.fail(`${name}: size has ${sizeArr.length} dims but stride has ${strideArr.length}`);
  }
  if (vm.options.rebuildTensor === undefined) vm.fail(`${name}: the pickle holds a tensor, which this reader does not expect`);
  return vm.options.rebuildTensor({ storage, storageOffset: offset as number, size: sizeArr, stride: strideArr });
}

function latin1Bytes(s: string, vm: VM): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) vm.fail(`_codecs.encode: character U+${c.toString(16)} is not latin-1`);
    out[i] = c;
  }
  return out;
}

function bytesFromInts(v: unknown, vm: VM, name: string): Uint8Array {
  if (v instanceof Uint8Array) return v.slice();
  const items = iterableItems(v, name, vm);
  const out = new Uint8Array(items.length);
  items.forEach((x, i) => {
    if (!isIntLike(x) || x < 0 || x > 255) vm.fail(`${name}: byte values must be ints in 0..255`);
    out[i] = x as number;
  });
  return out;
}

function numpyScalar(args: readonly unknown[], vm: VM): unknown {
  expectArgs(args, 1, 2, 'numpy scalar', vm);
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDtype)) vm.fail(`numpy scalar: expected a numpy.dtype, got ${pyTypeName(dtype)}`);
  if (!(raw instanceof Uint8Array)) vm.fail(`numpy scalar: expected raw bytes, got ${pyTypeName(raw)}`);
  const d = dtype as NumpyDtype;
  const bytes = raw as Uint8Array;
  const m = /^([biuf])(\d+)$/.exec(d.code);
  const size = m ? Number(m[2]) : 0;
  const supported = m !== null && (m[1] === 'b' ? size === 1 : m[1] === 'f' ? [2, 4, 8].includes(size) : [1, 2, 4, 8].includes(size));
  if (!supported) vm.fail(`numpy scalar of dtype '${d.code}' is not supported (only bool, int8..int64, uint8..uint64, float16/32/64)`);
  if (bytes.length !== size) vm.fail(`numpy scalar of dtype '${d.code}' has ${bytes.length} bytes, expected ${size}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = d.byteorder !== '>';
  switch (m![1]) {
    case 'b':
      return bytes[0] !== 0;
    case 'u':
      if (size === 1) return view.getUint8(0);
      if (size === 2) return view.getUint16(0, le);
      if (size === 4) return view.getUint32(0, le);
      return normalizeInt(view.getBigUint64(0, le));
    case 'i':
      if (size === 1) return view.getInt8(0);
      if (size === 2) return view.getInt16(0, le);
      if (size === 4) return view.getInt32(0, le);
      return normalizeInt(view.getBigInt64(0, le));
    default: {
      if (size === 4) return view.getFloat32(0, le);
      if (size === 8) return view.getFloat64(0, le);
      const bits = view.getUint16(0, le);
      const exp = (bits >> 10) & 0x1f;
      const man = bits & 0x3ff;
      const sign = bits & 0x8000 ? -1 : 1;
      if (exp === 0) return sign * man * 2 ** -24;
      if (exp === 31) return man === 0 ? sign * Infinity : NaN;
      return sign * (1 + man / 1024) * 2 ** (exp - 15);
    }
  }
}

const NUMPY_DTYPE_ALIASES: Record<string, string> = {
  bool: 'b1', int8: 'i1', int16: 'i2', int32: 'i4', int64: 'i8',
  uint8: 'u1', uint16: 'u2', uint32: 'u4', uint64: 'u8',
  float16: 'f2', float32: 'f4', float64: 'f8',
};

function makeSet(args: readonly unknown[], vm: VM, name: string): Set<unknown> {
  expectArgs(args, 0, 1, name, vm);
  return new Set(args.length === 0 ? [] : iterableItems(args[0], name, vm));
}

/** Allow-listed globals, keyed `module.name` (after mapping Python 2's `__builtin__` to `builtins`). */
const ALLOWED: Record<string, { call?: Emulation; isClass: boolean }> = {
  'collections.OrderedDict': {
    isClass: true,
    call: (args, vm) => {
      expectArgs(args, 0, 1, 'OrderedDict', vm);
      const map = new Map<unknown, unknown>();
      ORDERED_DICTS.add(map);
      if (args.length === 1) {
        const src = args[0];
        if (src instanceof Map) {
          for (const [k, v] of src) map.set(k, v);
        } else {
          for (const pair of iterableItems(src, 'OrderedDict', vm)) {
            if (!Array.isArray(pair) || pair.length !== 2) vm.fail('OrderedDict expects (key, value) pairs');
            map.set((pair as unknown[])[0], (pair as unknown[])[1]);
          }
        }
      }
      return map;
    },
  },
  // Jukebox's `Hyperparams` is a plain dict subclass (only attribute access added); an `hps`
  // pickled as one is read as the dict it holds.
  'jukebox.hparams.Hyperparams': {
    isClass: true,
    call: (args, vm) => ALLOWED['collections.OrderedDict'].call!(args, vm),
  },
  'torch._utils._rebuild_tensor': {
    isClass: false,
    call: (args, vm) => {
      expectArgs(args, 4, 4, '_rebuild_tensor', vm);
      return rebuildTensor(args, vm, '_rebuild_tensor');
    },
  },
  'torch._utils._rebuild_tensor_v2': {
    isClass: false,
    call: (args, vm) => {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]);
      // requires_grad, hooks and metadata do not change the data.
      expectArgs(args, 6, 7, '_rebuild_tensor_v2', vm);
      return rebuildTensor(args, vm, '_rebuild_tensor_v2');
    },
  },
  'torch._utils._rebuild_parameter': {
    isClass: false,
    call: (args, vm) => {
      expectArgs(args, 3, 3, '_rebuild_parameter', vm);
      return args[0];
    },
  },
  'torch.device': {
    isClass: true,
    call: (args, vm) => {
      expectArgs(args, 1, 2, 'torch.device', vm);
      const [type, index] = args;
      if (typeof type !== 'string') vm.fail(`torch.device expects a string, got ${pyTypeName(type)}`);
      if (args.length === 1 || index === null) return type;
      if (!isIntLike(index)) vm.fail(`torch.device index must be an int, got ${pyTypeName(index)}`);
      return `${type as string}:${index as number}`;
    },
  },
  'torch.Size': {
    isClass: true,
    call: (args, vm) => {
      expectArgs(args, 0, 1, 'torch.Size', vm);
      return makeTuple(args.length === 0 ? [] : intArray(args[0], 'torch.Size', vm));
    },
  },
  '_codecs.encode': {
    isClass: false,
    call: (args, vm) => {
      expectArgs(args, 1, 2, '_codecs.encode', vm);
      const [text, encoding] = args;
      if (typeof text !== 'string') vm.fail(`_codecs.encode expects a str, got ${pyTypeName(text)}`);
      const enc = args.length === 1 ? 'utf-8' : String(encoding).toLowerCase().replace(/_/g, '-');
      if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') return latin1Bytes(text as string, vm);
      if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(text as string);
      return vm.fail(`_codecs.encode: encoding '${String(encoding)}' is not supported`);
    },
  },
  'numpy.core.multiarray.scalar': { isClass: false, call: numpyScalar },
  'numpy._core.multiarray.scalar': { isClass: false, call: numpyScalar },
  'numpy.dtype': {
    isClass: true,
    call: (args, vm) => {
      expectArgs(args, 1, 3, 'numpy.dtype', vm);
      const spec = args[0];
      if (typeof spec !== 'string') vm.fail(`numpy.dtype expects a type string, got ${pyTypeName(spec)}`);
      let code = NUMPY_DTYPE_ALIASES[spec as string] ?? (spec as string);
      let byteorder = '=';
      if (/^[<>|=]/.test(code)) {
        byteorder = code[0];
        code = code.slice(1);
      }
      if (code === '?') code = 'b1';
      const dtype = new NumpyDtype(code);
      dtype.byteorder = byteorder;
      return dtype;
    },
  },
  'builtins.set': { isClass: true, call: (args, vm) => makeSet(args, vm, 'set') },
  'builtins.frozenset': { isClass: true, call: (args, vm) => makeSet(args, vm, 'frozenset') },
  'builtins.bytes': {
    isClass: true,
    call: (args, vm) => {
      expectArgs(args, 0, 1, 'bytes', vm);
      return args.length === 0 ? new Uint8Array(0) : bytesFromInts(args[0], vm, 'bytes');
    },
  },
  'builtins.bytearray': {
    isClass: true,
    call: (args, vm) => {
      expectArgs(args, 0, 1, 'bytearray', vm);
      return args.length === 0 ? new Uint8Array(0) : bytesFromInts(args[0], vm, 'bytearray');
    },
  },
};

/** Resolves a GLOBAL/STACK_GLOBAL name, refusing anything off the allow-list. */
function resolveGlobal(module: string, name: string, vm: VM): unknown {
  const qualified = `${module}.${name}`;
  const canonicalModule = module === '__builtin__' ? 'builtins' : module;
  const entry = Object.prototype.hasOwnProperty.call(ALLOWED, `${canonicalModule}.${name}`)
    ? ALLOWED[`${canonicalModule}.${name}`]
    : undefined;
  if (entry !== undefined) return new PyGlobal(qualified, entry.call, entry.isClass);
  // Storage classes only ever appear as markers inside persistent ids; they are never called.
  if ((module === 'torch' || module === 'torch.cuda') && STORAGE_NAME.test(name)) {
    return new TorchStorageType(qualified, name);
  }
  return vm.fail(`refusing to load: the pickle references the global '${qualified}', which is not on the allow-list`);
}

// ---------------------------------------------------------------------------------------------
// The VM

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** Bounds on work the VM accepts from one pickle (numbers in text/LONG opcodes). */
const MAX_LONG_BYTES = 1 << 16;
const MAX_INT_DIGITS = 1 << 16;
const CHUNK = 1 << 16;
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8');
/** Python 2 string escapes with a fixed meaning (-1: backslash-newline, a line continuation). */
const SIMPLE_ESCAPES = new Map<string, number>([
  ['\\', 0x5c], ["'", 0x27], ['"', 0x22], ['a', 7], ['b', 8], ['f', 12], ['n', 10], ['r', 13], ['t', 9], ['v', 11], ['\n', -1],
]);
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

class VM {
  private pos = 0;
  private buf: Uint8Array = EMPTY;
  private bufStart = 0;
  /** Position of the opcode being executed, for messages. */
  private opPos = 0;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();

  constructor(
    private readonly src: ByteSource,
    readonly options: UnpickleOptions,
    start: number,
  ) {
    this.pos = start;
  }

  fail(problem: string): never {
    throw new JukeboxError(problem, this.options.file);
  }

  private failAt(problem: string): never {
    throw new JukeboxError(`${problem} at byte ${this.src.origin + this.opPos}`, this.options.file);
  }

  private truncated(at: number): never {
    throw new JukeboxError(`truncated pickle at byte ${this.src.origin + at}`, this.options.file);
  }

  // --- reading ---

  private fill(at: number): void {
    const n = Math.min(CHUNK, this.src.length - at);
    this.buf = this.src.read(at, n);
    this.bufStart = at;
  }

  private u8(): number {
    const p = this.pos;
    if (p >= this.src.length) this.truncated(p);
    let i = p - this.bufStart;
    if (i < 0 || i >= this.buf.length) {
      this.fill(p);
      i = 0;
    }
    this.pos = p + 1;
    return this.buf[i];
  }

  /** The next `n` bytes; the result may alias an internal buffer, so copy before keeping it. */
  private take(n: number): Uint8Array {
    const p = this.pos;
    if (n > this.src.length - p) this.truncated(this.src.length);
    const i = p - this.bufStart;
    this.pos = p + n;
    if (i >= 0 && i + n <= this.buf.length) return this.buf.subarray(i, i + n);
    if (n <= CHUNK) {
      this.fill(p);
      return this.buf.subarray(0, n);
    }
    return this.src.read(p, n);
  }

  private takeCopy(n: number): Uint8Array {
    return this.take(n).slice();
  }

  private uint(n: 1 | 2 | 4): number {
    const b = this.take(n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[i];
    return v;
  }

  private uint64(): number {
    const b = this.take(8);
    const lo = b[0] + b[1] * 2 ** 8 + b[2] * 2 ** 16 + b[3] * 2 ** 24;
    const hi = b[4] + b[5] * 2 ** 8 + b[6] * 2 ** 16 + b[7] * 2 ** 24;
    if (hi >= 2 ** 21) return Number.MAX_SAFE_INTEGER; // larger than any file; fails the bounds check
    return hi * 2 ** 32 + lo;
  }

  /** Length-prefixed payload length, checked against the bytes that remain. */
  private length(n: 1 | 4 | 8): number {
    const len = n === 8 ? this.uint64() : this.uint(n);
    if (len > this.src.length - this.pos) this.truncated(this.src.length);
    return len;
  }

  /** Bytes up to (not including) the next newline, consuming the newline. */
  private line(): Uint8Array {
    const start = this.pos;
    let p = start;
    for (;;) {
      if (p >= this.src.length) this.truncated(this.src.length);
      let i = p - this.bufStart;
      if (i < 0 || i >= this.buf.length) {
        this.fill(p);
        i = 0;
      }
      const nl = this.buf.indexOf(0x0a, i);
      if (nl >= 0) {
        const end = this.bufStart + nl;
        this.pos = start;
        const bytes = this.takeCopy(end - start);
        this.pos = end + 1;
        return bytes;
      }
      p = this.bufStart + this.buf.length;
    }
  }

  private asciiLine(): string {
    let s = '';
    for (const b of this.line()) s += String.fromCharCode(b);
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  }

  // --- stack ---

  private push(v: unknown): void {
    this.stack.push(v);
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.failAt('stack underflow');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.failAt('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const previous = this.metastack.pop();
    if (previous === undefined) this.failAt('MARK expected on the stack');
    this.stack = previous;
    return items;
  }

  // --- decoding helpers ---

  private decodeLong(b: Uint8Array): number | bigint {
    const n = b.length;
    if (n === 0) return 0;
    if (n > MAX_LONG_BYTES) this.failAt(`integer of ${n} bytes is too large`);
    let hex = '';
    for (let i = n - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
    let v = BigInt(`0x${hex}`);
    if (b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return normalizeInt(v);
  }

  private parseIntText(text: string): number | bigint {
    const t = text.trim();
    if (t.length > MAX_INT_DIGITS) this.failAt(`integer of ${t.length} digits is too large`);
    if (!/^[+-]?\d+$/.test(t)) this.failAt(`bad integer literal '${t.slice(0, 40)}'`);
    return normalizeInt(BigInt(t));
  }

  private decodeStr(bytes: Uint8Array): string | Uint8Array {
    try {
      return utf8Strict.decode(bytes);
    } catch {
      return bytes.slice();
    }
  }

  /** Decodes a Python 2 `repr` string body (the STRING opcode's argument). */
  private escapeDecode(text: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== 0x5c) {
        out.push(c);
        continue;
      }
      i++;
      if (i >= text.length) this.failAt('bad STRING escape');
      const e = String.fromCharCode(text[i]);
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        if (simple >= 0) out.push(simple);
      } else if (e === 'x') {
        const hex = String.fromCharCode(text[i + 1] ?? 0, text[i + 2] ?? 0);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.failAt('bad \\x escape in STRING');
        out.push(parseInt(hex, 16));
        i += 2;
      } else if (e >= '0' && e <= '7') {
        let v = 0;
        let k = 0;
        while (k < 3 && i < text.length && text[i] >= 0x30 && text[i] <= 0x37) {
          v = v * 8 + (text[i] - 0x30);
          i++;
          k++;
        }
        i--;
        out.push(v & 0xff);
      } else {
        out.push(0x5c, text[i]);
      }
    }
    return Uint8Array.from(out);
  }

  /** Python's `raw-unicode-escape` decoding (the UNICODE opcode's argument). */
  private rawUnicodeEscape(b: Uint8Array): string {
    const parts: string[] = [];
    let i = 0;
    while (i < b.length) {
      if (b[i] !== 0x5c) {
        parts.push(String.fromCharCode(b[i]));
        i++;
        continue;
      }
      const runStart = i;
      while (i < b.length && b[i] === 0x5c) i++;
      const run = i - runStart;
      const escapes = run % 2 === 1 && i < b.length && (b[i] === 0x75 || b[i] === 0x55);
      parts.push('\\'.repeat(escapes ? run - 1 : run));
      if (!escapes) continue;
      const digits = b[i] === 0x75 ? 4 : 8;
      i++;
      let hex = '';
      for (let k = 0; k < digits; k++, i++) hex += String.fromCharCode(b[i] ?? 0);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) this.failAt('bad \\u escape in UNICODE');
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) this.failAt('bad code point in UNICODE');
      parts.push(String.fromCodePoint(cp));
    }
    return parts.join('');
  }

  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) this.failAt(`memo key ${index} was never stored`);
    return this.memo.get(index);
  }

  private reduce(callable: unknown, args: unknown, opName: string): unknown {
    if (!(callable instanceof PyGlobal) || callable.call === undefined) {
      return this.failAt(`${opName} on ${pyTypeName(callable)}, which cannot be called`);
    }
    if (!Array.isArray(args)) return this.failAt(`${opName} arguments must be a tuple, got ${pyTypeName(args)}`);
    return callable.call(args as unknown[], this);
  }

  private newObj(cls: unknown, args: unknown, opName: string): unknown {
    if (!(cls instanceof PyGlobal) || !cls.isClass) return this.failAt(`${opName} on ${pyTypeName(cls)}, which is not an allow-listed class`);
    return this.reduce(cls, args, opName);
  }

  private build(target: unknown, state: unknown): void {
    if (state === null) return;
    if (target instanceof Map && ORDERED_DICTS.has(target)) {
      // OrderedDict instance attributes such as torch's `_metadata`: not data, dropped.
      if (state instanceof Map || isTuple(state)) return;
    }
    if (target instanceof NumpyDtype && isTuple(state) && state.length >= 2 && typeof state[1] === 'string') {
      target.byteorder = state[1];
      return;
    }
    this.failAt(`BUILD with ${pyTypeName(state)} state on ${pyTypeName(target)} is not supported`);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (!(target instanceof Map)) this.failAt(`SETITEM(S) on ${pyTypeName(target)}, not a dict`);
    if (items.length % 2 !== 0) this.failAt('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  }

  private appendItems(target: unknown, items: unknown[]): void {
    if (!Array.isArray(target) || isTuple(target)) this.failAt(`APPEND(S) on ${pyTypeName(target)}, not a list`);
    for (const item of items) (target as unknown[]).push(item);
  }

  private addItems(target: unknown, items: unknown[]): void {
    if (!(target instanceof Set)) this.failAt(`ADDITEMS on ${pyTypeName(target)}, not a set`);
    for (const item of items) (target as Set<unknown>).add(item);
  }

  run(): UnpickleResult {
    for (;;) {
      this.opPos = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const proto = this.u8();
          if (proto > 5) this.failAt(`unsupported pickle protocol ${proto}`);
          break;
        }
        case 0x95: // FRAME: only a hint for buffering; the length must still fit
          this.length(8);
          break;
        case 0x2e: { // STOP
          const value = this.pop();
          return { value, end: this.pos };
        }
        case 0x28: // MARK
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x49: { // INT
          const text = this.asciiLine();
          if (text === '01') this.push(true);
          else if (text === '00') this.push(false);
          else this.push(this.parseIntText(text));
          break;
        }
        case 0x4a: { // BININT
          const b = this.take(4);
          this.push((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)));
          break;
        }
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.uint(2));
          break;
        case 0x4c: { // LONG
          const text = this.asciiLine();
          this.push(this.parseIntText(text.endsWith('L') ? text.slice(0, -1) : text));
          break;
        }
        case 0x8a: // LONG1
          this.push(this.decodeLong(this.take(this.length(1))));
          break;
        case 0x8b: { // LONG4
          const n = this.length(4);
          if (n > MAX_LONG_BYTES) this.failAt(`integer of ${n} bytes is too large`);
          this.push(this.decodeLong(this.take(n)));
          break;
        }
        case 0x46: { // FLOAT
          const text = this.asciiLine().trim();
          const lower = text.toLowerCase();
          let v: number;
          if (lower === 'nan' || lower === '-nan') v = NaN;
          else if (lower === 'inf' || lower === '+inf') v = Infinity;
          else if (lower === '-inf') v = -Infinity;
          else {
            if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) this.failAt(`bad FLOAT literal '${text.slice(0, 40)}'`);
            v = Number(text);
          }
          this.push(v);
          break;
        }
        case 0x47: { // BINFLOAT (big-endian)
          const b = this.take(8);
          this.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
          break;
        }
        case 0x53: { // STRING
          const raw = this.line();
          let body = raw;
          if (body.length > 0 && body[body.length - 1] === 0x0d) body = body.subarray(0, body.length - 1);
          const q = body[0];
          if (body.length < 2 || (q !== 0x27 && q !== 0x22) || body[body.length - 1] !== q) {
            this.failAt('the STRING opcode argument must be quoted');
          }
          this.push(this.decodeStr(this.escapeDecode(body.subarray(1, body.length - 1))));
          break;
        }
        case 0x54: // BINSTRING
          this.push(this.decodeStr(this.take(this.length(4))));
          break;
        case 0x55: // SHORT_BINSTRING
          this.push(this.decodeStr(this.take(this.length(1))));
          break;
        case 0x42: // BINBYTES
          this.push(this.takeCopy(this.length(4)));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.takeCopy(this.length(1)));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.takeCopy(this.length(8)));
          break;
        case 0x56: // UNICODE
          this.push(this.rawUnicodeEscape(this.line()));
          break;
        case 0x58: // BINUNICODE
          this.push(utf8.decode(this.take(this.length(4))));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(utf8.decode(this.take(this.length(1))));
          break;
        case 0x8d: // BINUNICODE8
          this.push(utf8.decode(this.take(this.length(8))));
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x61: { // APPEND
          const item = this.pop();
          this.appendItems(this.top(), [item]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case 0x29: // EMPTY_TUPLE
          this.push(makeTuple([]));
          break;
        case 0x74: // TUPLE
          this.push(makeTuple(this.popMark()));
          break;
        case 0x85: // TUPLE1
          this.push(makeTuple([this.pop()]));
          break;
        case 0x86: { // TUPLE2
          const b = this.pop();
          const a = this.pop();
          this.push(makeTuple([a, b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push(makeTuple([a, b, c]));
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push(new Map());
          break;
        case 0x64: { // DICT
          const items = this.popMark();
          const map = new Map<unknown, unknown>();
          this.setItems(map, items);
          this.push(map);
          break;
        }
        case 0x73: { // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.setItems(this.top(), [key, value]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.push(new Set());
          break;
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          this.addItems(this.top(), items);
          break;
        }
        case 0x91: // FROZENSET
          this.push(new Set(this.popMark()));
          break;
        case 0x67: { // GET
          this.push(this.memoGet(Number(this.parseIntText(this.asciiLine()))));
          break;
        }
        case 0x68: // BINGET
          this.push(this.memoGet(this.u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.memoGet(this.uint(4)));
          break;
        case 0x70: // PUT
          this.memo.set(Number(this.parseIntText(this.asciiLine())), this.top());
          break;
        case 0x71: // BINPUT
          this.memo.set(this.u8(), this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.memo.set(this.uint(4), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x63: { // GLOBAL
          const module = utf8.decode(this.line()).replace(/\r$/, '');
          const name = utf8.decode(this.line()).replace(/\r$/, '');
          this.push(resolveGlobal(module, name, this));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.failAt('STACK_GLOBAL needs two strings');
          this.push(resolveGlobal(module as string, name as string, this));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const callable = this.pop();
          this.push(this.reduce(callable, args, 'REDUCE'));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.push(this.newObj(cls, args, 'NEWOBJ'));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof Map) || kwargs.size !== 0) this.failAt('NEWOBJ_EX with keyword arguments is not supported');
          this.push(this.newObj(cls, args, 'NEWOBJ_EX'));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x50: // PERSID
          this.push(this.persistentLoad(this.asciiLine()));
          break;
        case 0x51: // BINPERSID
          this.push(this.persistentLoad(this.pop()));
          break;
        default: {
          const name = OPCODE_NAMES[op];
          this.failAt(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${name ? ` (${name})` : ''}`);
        }
      }
    }
  }

  private persistentLoad(pid: unknown): unknown {
    if (this.options.persistentLoad === undefined) this.failAt('the pickle has a persistent id, which this reader does not expect');
    return this.options.persistentLoad(pid);
  }
}

/**
 * Runs one pickle starting at `start` of `src` and returns its value and where it ended.
 * Throws a JukeboxError for truncated or malformed pickles, opcodes outside the supported set
 * (EXT*, INST, OBJ, out-of-band buffers) and globals off the allow-list.
 */
export function unpickle(src: ByteSource | Uint8Array, options: UnpickleOptions, start = 0): UnpickleResult {
  const source = src instanceof Uint8Array ? bufferSource(src) : src;
  return new VM(source, options, start).run();
}
