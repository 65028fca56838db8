import { JukeboxError } from '../errors';
import { readExactly } from './numeric';

/**
 * A minimal zip reader for torch's zip checkpoints: parses the central directory (Zip64 included)
 * through positional reads of an open file, and locates the data of stored (uncompressed) entries.
 * Compressed entries are listed but cannot be opened. CRCs are not checked (entries can be
 * gigabytes and are read piecemeal).
 */

export interface ZipEntry {
  name: string;
  /** 0 = stored; anything else is compressed and unsupported. */
  method: number;
  compressedSize: number;
  size: number;
  /** Absolute offset of the entry's local file header. */
  localHeaderOffset: number;
}

export interface ZipDirectory {
  /** Entries by name, in central-directory order. */
  entries: Map<string, ZipEntry>;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

function u64(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (hi >= 2 ** 21) return Number.MAX_SAFE_INTEGER;
  return hi * 2 ** 32 + lo;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** True when the file starts with a zip local-file-header signature. */
export function hasZipSignature(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Reads the central directory of the zip open as `fd` (of `fileSize` bytes). */
export function readZipDirectory(fd: number, fileSize: number, file: string): ZipDirectory {
  const fail = (problem: string): never => {
    throw new JukeboxError(problem, file);
  };
  // The end-of-central-directory record is 22 bytes plus a comment of at most 65535 bytes.
  const tailLength = Math.min(fileSize, 22 + 65535);
  const tailStart = fileSize - tailLength;
  const tail = readExactly(fd, tailStart, tailLength, file);
  const tv = viewOf(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG && i + 22 + tv.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('zip end-of-central-directory record not found (the file is truncated or not a zip archive)');

  let entryCount = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (entryCount === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== ZIP64_LOCATOR_SIG) fail('Zip64 end-of-central-directory locator missing');
    const recOffset = u64(tv, loc + 8);
    if (recOffset + 56 > fileSize) fail('Zip64 end-of-central-directory record lies beyond the end of the file (truncated)');
    const rec = viewOf(readExactly(fd, recOffset, 56, file));
    if (rec.getUint32(0, true) !== ZIP64_EOCD_SIG) fail('bad Zip64 end-of-central-directory record');
    entryCount = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
  }
  if (cdOffset + cdSize > fileSize) {
    fail(`zip central directory (bytes ${cdOffset}..${cdOffset + cdSize}) lies beyond the end of the file at byte ${fileSize} (truncated)`);
  }
  // Each central entry takes at least 46 bytes, which caps the count a corrupt record can claim.
  if (entryCount * 46 > cdSize) fail(`zip central directory claims ${entryCount} entries in ${cdSize} bytes`);

  const cd = readExactly(fd, cdOffset, cdSize, file);
  const cv = viewOf(cd);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8');
  let p = 0;
  for (let n = 0; n < entryCount; n++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL_SIG) fail(`bad zip central directory entry ${n}`);
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLength = cv.getUint16(p + 28, true);
    const extraLength = cv.getUint16(p + 30, true);
    const commentLength = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const nameStart = p + 46;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > cd.length) fail(`bad zip central directory entry ${n}`);
    const name = decoder.decode(cd.subarray(nameStart, extraStart));
    // Zip64 extended information: only the fields whose 32-bit value is saturated are present.
    let e = extraStart;
    while (e + 4 <= extraStart + extraLength) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (e + 4 + len > extraStart + extraLength) break;
      if (id === 0x0001) {
        let f = e + 4;
        const take = (): number => {
          if (f + 8 > e + 4 + len) fail(`bad Zip64 extra field in zip entry '${name}'`);
          const v = u64(cv, f);
          f += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
    p = next;
  }
  return { entries };
}

/**
 * Absolute offset of a stored entry's data, found through its local header (whose name and extra
 * lengths may differ from the central directory's). Throws for compressed entries and for data that
 * would run past the end of the file.
 */
export function zipEntryDataOffset(fd: number, fileSize: number, entry: ZipEntry, file: string): number {
  if (entry.method !== 0) {
    throw new JukeboxError(
      `zip entry '${entry.name}' is compressed (method ${entry.method}); only stored (uncompressed) entries are supported`,
      file,
    );
  }
  if (entry.localHeaderOffset + 30 > fileSize) {
    throw new JukeboxError(`zip entry '${entry.name}' starts beyond the end of the file (truncated)`, file);
  }
  const header = viewOf(readExactly(fd, entry.localHeaderOffset, 30, file));
  if (header.getUint32(0, true) !== LOCAL_SIG) throw new JukeboxError(`bad local header for zip entry '${entry.name}'`, file);
  const dataOffset = entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (dataOffset + entry.size > fileSize) {
    throw new JukeboxError(
      `zip entry '${entry.name}' needs bytes ${dataOffset}..${dataOffset + entry.size} but the file ends at byte ${fileSize} (truncated)`,
      file,
    );
  }
  return dataOffset;
}

/** Reads a small stored entry whole. */
export function readZipEntry(fd: number, fileSize: number, entry: ZipEntry, file: string): Uint8Array {
  return readExactly(fd, zipEntryDataOffset(fd, fileSize, entry, file), entry.size, file);
}
