import * as fs from 'fs';
import * as path from 'path';
import { JukeboxError } from './errors';

/** Temporary files being written right now, so a signal handler can remove them before exiting. */
const pending = new Set<string>();

/**
 * Removes every temporary file still being written. The CLI calls this on SIGINT/SIGTERM, whose
 * default handlers would exit without unwinding `writeFileAtomic`.
 */
export function removePendingTempFiles(): void {
  for (const tmp of pending) fs.rmSync(tmp, { force: true });
  pending.clear();
}

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
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `the directory ${dir} does not exist` : (err as Error).message;
    throw new JukeboxError(`cannot write: ${reason}`, target);
  }
  pending.add(tmp);
  try {
    await write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  } catch (err) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    fs.rmSync(tmp, { force: true });
    throw err;
  } finally {
    pending.delete(tmp);
  }
}

/** Writes `data` at the file's current end, looping over short writes. */
export function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.byteLength) {
    offset += fs.writeSync(fd, data, offset, data.byteLength - offset);
  }
}
