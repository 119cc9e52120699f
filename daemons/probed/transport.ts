// UDP for STAMP: the sender socket of one overlay path and the reflector's
// listening socket. Node's dgram, nothing else; the logic lives in
// session.ts and reflector.ts.
//
// A path's socket is bound to the path's own link-local address scoped to
// its WireGuard interface (fe80::<site>:<slot>%tn…) on a fresh port, and
// connected to the far end's link-local address on the STAMP port. Bound to
// the interface, a probe can only leave through that tunnel, whatever the
// routing tables say; the fresh port gives the far reflector a fresh session
// (its counter starts at 0 with ours, see direction.ts); connected, the
// kernel looks the route up once, not on every probe (with hundreds of
// tunnels, each with its own fe80::/64 route, that halves the cost of a
// send), and hands the socket only the far reflector's replies. When sends
// keep failing (the interface was deleted and created again: the socket is
// tied to the old ifindex), it is opened again, which also starts a new
// reflector session.
//
// The reflector must therefore answer from the very address it was probed
// at: a tunnel interface has a kernel-made random link-local address besides
// Tern's, and for a socket bound to [::] the kernel may pick either (both
// tie on every rule of source selection), and a connected sender drops a
// reply from the other. So besides its [::] socket the reflector binds one
// socket per local path address (fe80::1:0%tn…, SO_REUSEADDR on all of
// them); the kernel delivers a probe to the most specific socket, and the
// reply leaves from the address the probe was sent to.
import dgram from 'node:dgram';
import net from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import type { Reflector } from './reflector.js';

/** What probed knows about one path's two ends. */
export interface PathEnds {
  /** Path id localWan/site/remoteWan. */
  name: string;
  /** The WireGuard interface of the path. */
  ifname: string;
  /** This end's link-local address, without scope (fe80::1:0). */
  localAddress: string;
  /** The far end's link-local address, without scope. */
  remoteAddress: string;
}

/** The socket a path monitor sends through. */
export interface PathSocket {
  /** Send one probe; throws when the socket is not open (the probe then goes unanswered). */
  send(bytes: Uint8Array): void;
  close(): void;
  counters(): PathSocketCounters;
}

export interface PathSocketCounters {
  /** Times the socket was opened (1 + reopenings). */
  opens: number;
  openErrors: number;
  sendErrors: number;
  received: number;
  /** Local port of the current socket; 0 while not open. */
  port: number;
}

/**
 * Makes the socket of one path; onMessage gets each datagram and its arrival
 * (clock.monotonic()), onOpen is called each time the socket is open (bound
 * and connected) again.
 */
export type PathSocketFactory = (
  ends: PathEnds, port: number, onMessage: (bytes: Uint8Array, rxMono: number) => void, onOpen?: () => void,
) => PathSocket;

export interface UdpPathSocketOptions {
  clock?: Clock;
  logger?: Logger;
  /** Consecutive failed sends after which the socket is opened again (default 3). */
  reopenAfterErrors?: number;
  /** Wait between attempts to open (default 1000 ms). */
  retryMs?: number;
}

/** Strip the zone of an IPv6 address: fe80::1%eth0 → fe80::1. */
export function withoutZone(address: string): string {
  const i = address.indexOf('%');
  return i < 0 ? address : address.slice(0, i);
}

/**
 * The canonical text of an address (RFC 5952 for IPv6, dotted quad for an
 * IPv4-mapped IPv6 address), with its zone kept; anything that is not an
 * address is returned unchanged.
 */
export function canonicalAddress(address: string): string {
  const zone = address.includes('%') ? address.slice(address.indexOf('%')) : '';
  const bare = withoutZone(address);
  const kind = net.isIP(bare);
  if (kind === 4) return bare;
  if (kind !== 6) return address;
  const host = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return host + zone;
}

/**
 * canonicalAddress with a memory: the reflector needs the canonical source
 * of every probe it answers (thousands a second at 500 paths), from a few
 * hundred senders, and canonicalAddress parses a URL each time. Bounded:
 * past maxEntries it starts afresh, so spoofed sources cannot grow it.
 */
export class CanonicalAddressCache {
  private readonly map = new Map<string, string>();

  constructor(private readonly maxEntries = 4096) {}

  get size(): number { return this.map.size; }

  get(address: string): string {
    let c = this.map.get(address);
    if (c === undefined) {
      if (this.map.size >= this.maxEntries) this.map.clear();
      c = canonicalAddress(address);
      this.map.set(address, c);
    }
    return c;
  }
}

/**
 * Where the reflector sends a reply: the probe's source, with its zone
 * (fe80::2:0%tn1-2-00) when the socket is the [::] one, without it when the
 * socket is bound to a path address on its interface. That socket can only
 * send through that interface anyway (the kernel takes a link-local
 * destination's interface from the socket's binding when the address has
 * none), and a zone costs libuv an if_nametoindex() per send: a socket, an
 * ioctl and a close, thousands of times a second at 500 paths.
 */
export function replyAddress(source: string, socketBoundToInterface: boolean): string {
  return socketBoundToInterface ? withoutZone(source) : source;
}

export class UdpPathSocket implements PathSocket {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly reopenAfter: number;
  private readonly retryMs: number;
  private sock: dgram.Socket | undefined;
  private ready = false;
  private closed = false;
  private failedInRow = 0;
  private retry: TimerHandle | undefined;
  /** The far end, with the path's interface as zone. */
  private readonly remote: string;
  private readonly stats: PathSocketCounters = { opens: 0, openErrors: 0, sendErrors: 0, received: 0, port: 0 };

  constructor(
    private readonly ends: PathEnds,
    private readonly port: number,
    private readonly onMessage: (bytes: Uint8Array, rxMono: number) => void,
    opts: UdpPathSocketOptions = {},
    private readonly onOpen?: () => void,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.reopenAfter = opts.reopenAfterErrors ?? 3;
    this.retryMs = opts.retryMs ?? 1000;
    this.remote = `${ends.remoteAddress}%${ends.ifname}`;
    this.open();
  }

  send(bytes: Uint8Array): void {
    const sock = this.sock;
    if (!sock || !this.ready) {
      throw new TernError('TERN_E_PROBE_SOCKET', `probed: path ${this.ends.name}: send: socket not open (${this.ends.localAddress}%${this.ends.ifname})`);
    }
    sock.send(bytes, (err) => {
      if (!err) {
        this.failedInRow = 0;
        return;
      }
      this.stats.sendErrors++;
      if (++this.failedInRow >= this.reopenAfter && this.sock === sock) {
        this.log.warn({ path: this.ends.name, err: errorMessage(err) }, 'probed: path socket: sends keep failing; opening it again');
        this.reopen();
      }
    });
  }

  counters(): PathSocketCounters {
    return { ...this.stats };
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.retry);
    this.retry = undefined;
    this.drop();
  }

  private drop(): void {
    const s = this.sock;
    this.sock = undefined;
    this.ready = false;
    this.stats.port = 0;
    if (s) {
      s.removeAllListeners('message');
      try { s.close(); } catch { /* already closed */ }
    }
  }

  private reopen(): void {
    this.drop();
    this.failedInRow = 0;
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const s = dgram.createSocket({ type: 'udp6' });
    this.sock = s;
    const fail = (err: Error): void => {
      if (this.sock !== s) return;
      this.stats.openErrors++;
      this.log.debug({ path: this.ends.name, err: errorMessage(err) }, 'probed: path socket: cannot open; will retry');
      this.drop();
      this.retry = this.clock.setTimeout(() => { this.retry = undefined; this.open(); }, this.retryMs);
    };
    s.once('error', fail);
    s.on('message', (msg) => {
      const rx = this.clock.monotonic();
      this.stats.received++;
      this.onMessage(msg, rx);
    });
    s.bind({ address: `${this.ends.localAddress}%${this.ends.ifname}`, port: 0 }, () => {
      if (this.sock !== s) return;
      s.connect(this.port, this.remote, (err?: Error) => {
        if (this.sock !== s) return;
        if (err) { fail(err); return; }
        s.removeListener('error', fail);
        s.on('error', (e) => this.log.debug({ path: this.ends.name, err: errorMessage(e) }, 'probed: path socket: error'));
        this.ready = true;
        this.stats.opens++;
        this.stats.port = s.address().port;
        this.onOpen?.();
      });
    });
  }
}

/** The default factory: a UdpPathSocket per path. */
export function udpPathSockets(opts: UdpPathSocketOptions = {}): PathSocketFactory {
  return (ends, port, onMessage, onOpen) => new UdpPathSocket(ends, port, onMessage, opts, onOpen);
}

export interface ReflectorServerOptions {
  reflector: Reflector;
  port: number;
  /**
   * The clock of the reflector's own timestamps (T2 taken here, T3 in
   * reflect()): give it one with sub-millisecond now(), or the processing
   * time comes out as 0 or 1 ms and adds a millisecond of noise to RTT.
   */
  clock?: Clock;
  logger?: Logger;
  /** Addresses to listen on; default [::] (both families), falling back to 0.0.0.0 without IPv6. */
  address?: string;
}

export interface ReflectorServerStats {
  listening: string | null;
  sendErrors: number;
  /** Local path addresses with a socket of their own, and those that could not be bound (yet). */
  locals: number;
  localsUnbound: number;
}

/**
 * The reflector on the STAMP port. Replies leave from the socket the probe
 * arrived on, to the address and port it came from (with the zone of a
 * link-local address: the interface it came in on).
 */
export class ReflectorServer {
  private sock: dgram.Socket | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private listening: string | null = null;
  private sendErrors = 0;
  /** address%ifname → its socket (undefined while it cannot be bound). */
  private readonly locals = new Map<string, dgram.Socket | undefined>();
  private readonly canonical = new CanonicalAddressCache();
  private closed = false;

  constructor(private readonly opts: ReflectorServerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
  }

  /** Listen; throws TERN_E_PROBE_SOCKET when the port cannot be bound. */
  async start(): Promise<void> {
    const tries: Array<{ type: 'udp4' | 'udp6'; address: string }> = this.opts.address
      ? [{ type: net.isIPv6(this.opts.address) ? 'udp6' : 'udp4', address: this.opts.address }]
      : [{ type: 'udp6', address: '::' }, { type: 'udp4', address: '0.0.0.0' }];
    let last: unknown;
    this.closed = false;
    for (const t of tries) {
      try {
        this.sock = await this.bind(t.type, t.address);
        this.listening = `[${t.address}]:${this.opts.port}`;
        return;
      } catch (err) {
        last = err;
        // Only a missing address family is worth the other try; a port in use is not.
        if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT' && (err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') break;
      }
    }
    throw new TernError('TERN_E_PROBE_SOCKET', `probed: reflector: cannot listen on UDP port ${this.opts.port}: ${errorMessage(last)}`, { cause: last });
  }

  stats(): ReflectorServerStats {
    let bound = 0;
    for (const v of this.locals.values()) if (v) bound++;
    return { listening: this.listening, sendErrors: this.sendErrors, locals: bound, localsUnbound: this.locals.size - bound };
  }

  /**
   * Answer on these local addresses (address%ifname) from a socket of their
   * own: sockets for new ones, closed for those gone, and another try for
   * those that could not be bound before (their interface was missing).
   */
  setLocals(addresses: Iterable<string>): void {
    if (this.closed) return;
    const want = new Set(addresses);
    for (const [a, sock] of this.locals) {
      if (want.has(a)) continue;
      this.locals.delete(a);
      if (sock) sock.close();
    }
    for (const a of want) {
      if (this.locals.get(a)) continue;
      this.locals.set(a, undefined);
      const type = withoutZone(a).includes(':') ? 'udp6' : 'udp4';
      this.bind(type, a).then((sock) => {
        if (this.closed || !this.locals.has(a) || this.locals.get(a)) { sock.close(); return; }
        this.locals.set(a, sock);
      }, (err: unknown) => {
        this.log.debug({ address: a, err: errorMessage(err) }, 'probed: reflector: cannot bind a path address yet');
      });
    }
  }

  /** The bound UDP port (what port 0 became), or 0 when not listening. */
  boundPort(): number {
    return this.sock ? this.sock.address().port : 0;
  }

  close(): Promise<void> {
    this.closed = true;
    const all = [this.sock, ...this.locals.values()].filter((x): x is dgram.Socket => x !== undefined);
    this.sock = undefined;
    this.locals.clear();
    this.listening = null;
    return Promise.all(all.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
  }

  private bind(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      // SO_REUSEADDR on every socket of the port: the wildcard one and one
      // per path address share it, the most specific one gets each probe.
      const s = dgram.createSocket({ type, ipv6Only: false, reuseAddr: true });
      s.once('error', (err) => {
        try { s.close(); } catch { /* never bound */ }
        reject(err);
      });
      const boundToInterface = address.includes('%');
      s.on('message', (msg, rinfo) => this.onMessage(s, boundToInterface, msg, rinfo));
      s.bind({ address, port: this.opts.port }, () => {
        s.removeAllListeners('error');
        s.on('error', (e) => this.log.warn({ err: errorMessage(e) }, 'probed: reflector: socket error'));
        resolve(s);
      });
    });
  }

  private onMessage(s: dgram.Socket, boundToInterface: boolean, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const rx = this.clock.now();
    // The zone stays in the address: fe80::2:0 is a known peer only on the
    // tunnel interface it belongs to, and the zone keeps the sessions of
    // two paths apart.
    const address = this.canonical.get(rinfo.address);
    const r = this.opts.reflector.reflect({ bytes: msg, from: { address, port: rinfo.port }, rxTimeMs: rx });
    if (!r.ok) return;
    s.send(r.reply, rinfo.port, replyAddress(rinfo.address, boundToInterface), (err) => {
      if (err) this.sendErrors++;
    });
  }
}
