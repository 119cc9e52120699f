// Helpers shared by the bus tests: temporary socket directories and a raw
// socket client that sends arbitrary bytes and collects the lines it gets.
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh directory for sockets, removed by the returned cleanup. */
export function tempSocketDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bus-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Resolves once cond() holds, checking after each turn of the event loop. */
export async function until(cond: () => boolean, what: string, maxTurns = 10000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, i < 100 ? 0 : 5));
  }
  throw new Error(`until: ${what}: still false after ${maxTurns} turns`);
}

/**
 * A client that speaks raw bytes: send() writes anything, next() returns
 * the next line received, parsed as JSON.
 */
export class RawClient {
  readonly lines: unknown[] = [];
  private partial = '';
  private waiters: (() => void)[] = [];
  ended = false;
  error: NodeJS.ErrnoException | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => {
      const parts = (this.partial + s).split('\n');
      this.partial = parts.pop()!;
      for (const p of parts) if (p !== '') this.lines.push(JSON.parse(p));
      this.wake();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => { this.error = err; });
    this.closed = new Promise((resolve) => sock.on('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
  }

  static open(socketPath: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(socketPath);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new RawClient(sock));
      });
    });
  }

  send(data: string | Uint8Array): void {
    this.sock.write(data);
  }

  /** Send one request object as a line. */
  request(msg: unknown): void {
    this.sock.write(JSON.stringify(msg) + '\n');
  }

  /** The next received line (in arrival order), parsed. */
  async next(): Promise<any> {
    await this.waitFor(() => this.lines.length > 0, 'a line');
    return this.lines.shift();
  }

  /** Wait until n lines have arrived in total (not yet taken by next()). */
  async waitLines(n: number): Promise<void> {
    await this.waitFor(() => this.lines.length >= n, `${n} lines`);
  }

  private waitFor(cond: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (cond()) resolve();
        else if (this.ended) reject(new Error(`raw client: connection closed while waiting for ${what}`));
        else this.waiters.push(check);
      };
      check();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  destroy(): void {
    this.sock.destroy();
  }
}
