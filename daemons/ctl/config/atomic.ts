// Replacing /etc/tern/tern.yaml so that a reader (a daemon reloading, a
// power cut) sees the old file or the new one, never half of either.
import fs from 'node:fs';
import path from 'node:path';
import { TernError, errorMessage } from '../../lib/errors.js';
import { isPermissionError, permissionError } from '../exit.js';

/**
 * Write text to file atomically: a temporary file in the same directory
 * with the old file's mode and owner, fsync, rename over, fsync the
 * directory. A new file gets mode 0640.
 */
export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', st ? st.mode & 0o7777 : 0o640);
    fs.writeSync(fd, text);
    if (st) {
      fs.fchmodSync(fd, st.mode & 0o7777);
      // Only root can give a file away; keep the old owner when we may.
      if (process.getuid?.() === 0) fs.fchownSync(fd, st.uid, st.gid);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (isPermissionError(err)) throw permissionError('write config', file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: write ${file}: ${errorMessage(err)}; the running config is untouched`, { cause: err });
  }
}
