import * as fs from 'fs';
import * as path from 'path';

/**
 * Writes a file so that readers never see half of it: the bytes go to a temporary file in the same
 * directory (so the rename cannot cross file systems), which is renamed over `target` only after
 * `write` has finished. If `write` throws, the temporary file is removed and `target` is untouched.
 */
export async function writeFileAtomic(
  target: string,
  write: (fd: number) => void | Promise<void>,
): Promise<void> {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    await write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  } catch (err) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes `data` at the file's current end, looping over short writes. */
export function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.byteLength) {
    offset += fs.writeSync(fd, data, offset, data.byteLength - offset);
  }
}
