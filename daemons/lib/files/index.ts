// Package files replaces a file so that a reader (a daemon reloading, a
// power cut) sees the old file or the new one, never half of either, and
// the new file has exactly the mode asked for whatever was there before.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Replace file with data: a temporary file in the same directory created
 * with O_EXCL, written, fchmod'ed, fsync'ed, renamed over, then the
 * directory fsync'ed. mode: the file's mode whatever the umask and the old
 * file say; without it the new file keeps the old file's mode and owner
 * (0640 when there is none). Throws the system error as it is.
 */
export function replaceFile(file: string, data: string | Uint8Array, opts: { mode?: number } = {}): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let st: fs.Stats | undefined;
  if (opts.mode === undefined) {
    try {
      st = fs.statSync(file);
    } catch {
      st = undefined;
    }
  }
  const mode = opts.mode ?? (st ? st.mode & 0o7777 : 0o640);
  let fd: number | undefined;
  try {
    // Created owner-only: the data is never readable by others, even for a moment.
    fd = fs.openSync(tmp, 'wx', mode & 0o700);
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fchmodSync(fd, mode);
    // Only root can give a file away; keep the old owner when we may.
    if (st && process.getuid?.() === 0) fs.fchownSync(fd, st.uid, st.gid);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Replace file with a secret: mode 0600, whatever was there before. */
export function writeSecretFile(file: string, data: string | Uint8Array): void {
  replaceFile(file, data, { mode: 0o600 });
}
