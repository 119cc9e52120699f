// Replacing /etc/tern/tern.yaml so that a reader (a daemon reloading, a
// power cut) sees the old file or the new one, never half of either.
import fs from 'node:fs';
import path from 'node:path';
import { TernError, errorMessage } from '../../lib/errors.js';
import { isPermissionError, permissionError } from '../exit.js';

/**
 * Replace file with text so a reader sees the old file or the new one: a
 * temporary file in the same directory, fsync, rename over, fsync the
 * directory. mode: the file's mode whatever the umask and the old file
 * say; without it the new file keeps the old file's mode and owner (0640
 * when there is none). Throws the system error as it is.
 */
export function replaceFile(file: string, text: string, opts: { mode?: number } = {}): void {
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
    fd = fs.openSync(tmp, 'wx', mode);
    fs.writeSync(fd, text);
    if (st || opts.mode !== undefined) fs.fchmodSync(fd, mode);
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

/** Write the config file atomically (replaceFile), keeping its mode and owner. */
export function writeFileAtomic(file: string, text: string): void {
  try {
    replaceFile(file, text);
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('write config', file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: write ${file}: ${errorMessage(err)}; the running config is untouched`, { cause: err });
  }
}
