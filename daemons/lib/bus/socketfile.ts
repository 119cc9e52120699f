// The bus socket file on disk: its directory, stale files left by a crashed
// daemon, its mode and group.
import net from 'node:net';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { TernError, errorMessage } from '../errors.js';
import type { Clock } from '../clock/index.js';

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with NUL). */
export const maxSocketPathBytes = 107;

/** Why socketPath cannot name a Unix socket, or undefined when it can. */
export function socketPathProblem(socketPath: string): string | undefined {
  if (socketPath.length === 0) return 'the path is empty';
  const n = Buffer.byteLength(socketPath);
  if (n > maxSocketPathBytes) return `the path is ${n} bytes; a Unix socket path holds at most ${maxSocketPathBytes}`;
  return undefined;
}

/** What answers on a socket path: a live server, nothing (stale file), or no file. */
export type ProbeResult = 'alive' | 'refused' | 'absent';

/**
 * Try to connect to socketPath. A connect that neither succeeds nor fails
 * within timeoutMs counts as alive: a daemon too busy to accept is still a
 * daemon, and deleting its socket would cut it off.
 */
export function probeSocket(socketPath: string, clock: Clock, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    const done = (r: ProbeResult | Error): void => {
      clock.clearTimeout(timer);
      sock.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const timer = clock.setTimeout(() => done('alive'), timeoutMs);
    sock.once('connect', () => done('alive'));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('refused');
      else if (err.code === 'ENOENT') done('absent');
      else if (err.code === 'EAGAIN') done('alive');
      else done(err);
    });
  });
}

/**
 * Make socketPath ready to bind: create its directory when missing, and
 * remove a socket file nothing answers on (left by a daemon that died).
 * Throws TERN_E_BUS_LISTEN when another instance answers, or when the path
 * holds something that is not a socket (never deleted: it is not ours).
 */
export async function prepareSocketPath(socketPath: string, clock: Clock, probeTimeoutMs: number): Promise<'fresh' | 'replaced-stale'> {
  const where = `bus server: listen on ${socketPath}`;
  const problem = socketPathProblem(socketPath);
  if (problem) throw new TernError('TERN_E_BUS_LISTEN', `${where}: ${problem}`, { details: { socketPath } });
  const dir = path.dirname(socketPath);
  try {
    // 0755: the socket's own mode and group decide who may connect.
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new TernError('TERN_E_BUS_LISTEN', `${where}: cannot create directory ${dir}: ${errorMessage(err)}`, {
      cause: err,
      details: { socketPath },
    });
  }
  let st;
  try {
    st = await fsp.lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'fresh';
    throw new TernError('TERN_E_BUS_LISTEN', `${where}: cannot inspect the path: ${errorMessage(err)}`, { cause: err, details: { socketPath } });
  }
  if (!st.isSocket()) {
    throw new TernError(
      'TERN_E_BUS_LISTEN',
      `${where}: the path exists and is not a socket; want a socket or nothing there (it was left alone: remove it by hand)`,
      { details: { socketPath } },
    );
  }
  let answer: ProbeResult;
  try {
    answer = await probeSocket(socketPath, clock, probeTimeoutMs);
  } catch (err) {
    throw new TernError('TERN_E_BUS_LISTEN', `${where}: cannot tell whether the socket is in use: ${errorMessage(err)}`, {
      cause: err,
      details: { socketPath },
    });
  }
  if (answer === 'alive') {
    throw new TernError('TERN_E_BUS_LISTEN', `${where}: another instance is answering on this socket; want it stopped first`, {
      details: { socketPath },
    });
  }
  if (answer === 'absent') return 'fresh';
  try {
    await fsp.unlink(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TernError('TERN_E_BUS_LISTEN', `${where}: cannot remove the stale socket: ${errorMessage(err)}`, {
        cause: err,
        details: { socketPath },
      });
    }
  }
  return 'replaced-stale';
}

/** The gid of group name in an /etc/group-format file, or undefined. */
export async function lookupGroupId(name: string, groupFile = '/etc/group'): Promise<number | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(groupFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseGroupFile(text, name);
}

/** The gid of group name in the text of an /etc/group-format file. */
export function parseGroupFile(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 3 || fields[0] !== name) continue;
    const gid = Number(fields[2]);
    if (fields[2] !== '' && Number.isInteger(gid) && gid >= 0) return gid;
  }
  return undefined;
}
