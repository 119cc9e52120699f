// The request plumbing every netlink client here shares (Rtnl, Tc, the
// WireGuard genetlink socket): a socket opened on first use, one request at
// a time, a per-request timeout and kernel errors named by operation.
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { silentLogger, type Logger } from '../../log/index.js';
import { kernelError } from './errno.js';

/** What a request hands the netlink package: message flags and a timeout (ms). */
export type RequestOpts = { flags?: number; timeout?: number };

/**
 * Runs one request at a time. The kernel refuses a second dump on a socket
 * while one runs (EBUSY), and the netlink package groups multipart replies
 * in a single slot, so overlapping requests would fail or mix. A request
 * that fails does not stop the ones queued behind it.
 */
export class RequestQueue {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.then(() => undefined, () => undefined);
    return run;
  }
}

/**
 * A real rtnetlink socket, bound in the network namespace of this process,
 * narrowed to the methods a client uses (its fake in tests has only those).
 */
export function openRtNetlinkSocket<K extends keyof RtNetlinkSocket>(methods: readonly K[]): Pick<RtNetlinkSocket, K> & { close(): void } {
  const s: RtNetlinkSocket = createRtNetlink();
  const out: Record<string, unknown> = { close: () => s.socket.close() };
  for (const m of methods) out[m as string] = (s[m] as (...args: unknown[]) => unknown).bind(s);
  return out as Pick<RtNetlinkSocket, K> & { close(): void };
}

export interface NetlinkClientOptions<S> {
  /** Default: a real socket opened on first use. */
  socket?: S;
  logger?: Logger;
  /** Per-request timeout (ms) handed to the netlink package; default 5000. */
  timeoutMs?: number;
}

/** A client over one socket of type S; call close() when done. */
export abstract class NetlinkClient<S extends { close(): void }> {
  private sock: S | undefined;
  protected readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly queue = new RequestQueue();

  constructor(opts: NetlinkClientOptions<S>, private readonly open: () => S) {
    this.sock = opts.socket;
    this.log = opts.logger ?? silentLogger();
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }

  private socket(): S {
    this.sock ??= this.open();
    return this.sock;
  }

  /** Runs fn on the socket once the requests before it are done (see RequestQueue). */
  protected serial<T>(fn: (s: S) => Promise<T>): Promise<T> {
    return this.queue.run(() => fn(this.socket()));
  }

  protected opts(flags = 0): RequestOpts {
    return { flags, timeout: this.timeoutMs };
  }

  /** serial(fn), with a failure turned into a kernel error naming op (and the device, if any). */
  protected async call<T>(op: string, subject: string | undefined, fn: (s: S) => Promise<T>): Promise<T> {
    try {
      return await this.serial(fn);
    } catch (err) {
      throw kernelError(op, err, subject === undefined ? {} : { subject });
    }
  }
}
