// Reading tern.yaml from disk, bounded: a regular file of at most
// maxConfigBytes, checked before a byte is read, so a FIFO, a device or a
// huge file is refused at once instead of hanging a daemon or filling memory.
import fs from 'node:fs';
import { TernError, errorMessage } from '../errors.js';

/**
 * The largest configuration read, in bytes. A full office box's file is a few
 * KiB; 1 MiB leaves room for hundreds of sites and users while keeping the
 * parse, the checks and the copy kept in the history database small.
 */
export const maxConfigBytes = 1024 * 1024;

const expectedFile = `a regular file of at most ${maxConfigBytes} bytes`;

const kinds: Array<[(s: fs.Stats) => boolean, string]> = [
  [(s) => s.isDirectory(), 'is a directory'],
  [(s) => s.isFIFO(), 'is a FIFO (named pipe)'],
  [(s) => s.isCharacterDevice(), 'is a character device'],
  [(s) => s.isBlockDevice(), 'is a block device'],
  [(s) => s.isSocket(), 'is a socket'],
];

const readError = (file: string, why: string, extra: { cause?: unknown; errno?: string } = {}): TernError =>
  new TernError('TERN_E_CONFIG_READ', `config: read ${file}: ${why}; expected the appliance configuration (tern.yaml) there, ${expectedFile}`, {
    ...(extra.cause === undefined ? {} : { cause: extra.cause }),
    details: { file, ...(extra.errno ? { errno: extra.errno } : {}) },
  });

function osError(file: string, err: unknown): TernError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EISDIR' ? 'is a directory' : code === 'ELOOP' ? 'too many symbolic links' : errorMessage(err);
  return readError(file, why, { cause: err, ...(code ? { errno: code } : {}) });
}

function notRegular(st: fs.Stats): string | undefined {
  if (st.isFile()) return undefined;
  return kinds.find(([is]) => is(st))?.[1] ?? 'is not a regular file';
}

const tooBig = (size: number | string): string => `${size} bytes, over the limit`;

/** The error for configuration text over maxConfigBytes that came from elsewhere than a file (a request). */
export function configTooBig(file: string, bytes: number): TernError {
  return readError(file, tooBig(bytes));
}

/**
 * The text of a config file. Throws TERN_E_CONFIG_READ when it is missing or
 * unreadable, not a regular file, larger than maxConfigBytes, or not UTF-8.
 * The same path serves ternctl and every daemon's start and reload.
 */
export function readConfigText(file: string, limit: number = maxConfigBytes): string {
  // stat by name first: opening some devices has side effects (a tape rewinds).
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw osError(file, err);
  }
  const kind = notRegular(st);
  if (kind) throw readError(file, kind);
  if (st.size > limit) throw readError(file, tooBig(st.size));

  let fd: number;
  try {
    // O_NONBLOCK: if the name was swapped for a FIFO since the stat, open must not wait for a writer.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    throw osError(file, err);
  }
  try {
    const opened = fs.fstatSync(fd);
    const again = notRegular(opened);
    if (again) throw readError(file, again);
    if (opened.size > limit) throw readError(file, tooBig(opened.size));
    // Read at most limit + 1 bytes whatever the size said: a file growing
    // while it is read (or one whose size lies, as in /proc) stays bounded.
    const buf = Buffer.alloc(limit + 1);
    let got = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got > limit) throw readError(file, tooBig(`more than ${limit}`));
    }
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf.subarray(0, got));
    } catch {
      throw readError(file, 'not UTF-8 text');
    }
  } catch (err) {
    if (err instanceof TernError) throw err;
    throw osError(file, err);
  } finally {
    fs.closeSync(fd);
  }
}
