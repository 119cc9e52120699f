// Carries one UAPI request to wireguard-go's Unix socket and reads the
// reply up to its blank line, with a timeout and a size limit, because the
// other end is a separate process that may be stuck, gone or misbehaving.
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { TernError } from '../../errors.js';
import { systemClock, type Clock } from '../../clock/index.js';
import { checkIfname } from '../net/validate.js';

/** Sends one request (ending in a blank line) and resolves with the reply text, blank line included. */
export type UapiTransport = (ifname: string, request: string) => Promise<string>;

/** Where wireguard-go puts its sockets; one directory for the whole machine, not per namespace. */
export const DEFAULT_UAPI_DIR = '/var/run/wireguard';

export interface UapiSocketOptions {
  dir?: string;
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Largest reply accepted; default 16 MiB (a get of thousands of peers). */
  maxBytes?: number;
  clock?: Clock;
  /** Default net.createConnection; tests pass their own. */
  connect?: (socketPath: string) => Duplex;
}

export const uapiSocketPath = (dir: string, ifname: string): string => path.join(dir, `${checkIfname(ifname)}.sock`);

/** The transport over real Unix sockets. */
export function createUapiTransport(opts: UapiSocketOptions = {}): UapiTransport {
  const dir = opts.dir ?? DEFAULT_UAPI_DIR;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
  const clock = opts.clock ?? systemClock;
  const connect = opts.connect ?? ((p: string) => net.createConnection(p));
  // async: a bad name rejects like every other failure instead of throwing at the call.
  return async (ifname, request) => {
    const sockPath = uapiSocketPath(dir, ifname);
    // Only the verb goes into messages: a set request carries keys.
    const verb = /^(get|set)=1\n/.exec(request)?.[1] ?? 'request';
    const op = `${verb} ${ifname}`;
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tail = Buffer.alloc(0);
      let done = false;
      const sock = connect(sockPath);
      const finish = (err: TernError | undefined, text?: string): void => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(text as string);
      };
      const fail = (msg: string, details: Record<string, unknown> = {}, cause?: unknown): void =>
        finish(new TernError('TERN_E_KERNEL_WG_UAPI', `wireguard: uapi ${op}: ${msg}`, {
          details: { op, socket: sockPath, ...details },
          ...(cause === undefined ? {} : { cause }),
        }));
      const timer = clock.setTimeout(() => fail(`no complete reply within ${timeoutMs} ms`, { errno: 'ETIMEDOUT' }), timeoutMs);
      sock.on('connect', () => sock.write(request));
      sock.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > maxBytes) return fail(`reply exceeds ${maxBytes} bytes; want a complete reply below the limit`);
        chunks.push(chunk);
        // The reply ends at its first blank line; look only where a new "\n\n" can start.
        const scan = Buffer.concat([tail, chunk]);
        const at = scan.indexOf('\n\n');
        if (at >= 0) {
          const all = Buffer.concat(chunks);
          const end = size - scan.length + at + 2;
          return finish(undefined, all.subarray(0, end).toString('latin1'));
        }
        tail = scan.subarray(Math.max(0, scan.length - 1));
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'EIO';
        const why = code === 'ENOENT' ? 'no UAPI socket (is wireguard-go running for this interface?)'
          : code === 'ECONNREFUSED' ? 'stale UAPI socket (its wireguard-go is gone)'
            : err.message;
        fail(`${code}: ${why}`, { errno: code }, err);
      });
      sock.on('close', () => fail('connection closed before the reply ended; want a reply ending in a blank line'));
    });
  };
}
