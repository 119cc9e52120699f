// UDP for STAMP: the sender socket of one overlay path and the reflector's
// sockets, all native (native/src/udp.rs); the logic lives in session.ts and
// reflector.ts.
//
// Why native: every datagram comes with the kernel's receive time
// (SO_TIMESTAMPNS), so the sender's T4 and the reflector's T2 are when the
// packet arrived, not when a busy event loop got to it. With Node's dgram
// both were taken in JS, and at 500 paths on a loaded box ~200 ms of loop
// lag read as path RTT (every path degraded, no probe lost). The sockets of
// one user (the paths, the reflector) form a set that is polled every
// pollMs (10): one system call when nothing waits. T1 and T3 stay "now" when
// the packet is sent, and sends are synchronous system calls. There is no
// dgram fallback: probed needs the native module anyway (its WAN probes are
// ICMP sockets from it), and a missing module stops it at start-up with
// TERN_E_NATIVE_LOAD, which says how to build it.
//
// A path's socket is bound to the path's own link-local address scoped to
// its WireGuard interface (fe80::<site>:<slot>%tn…) on a fresh port, and
// connected to the far end's link-local address on the STAMP port. Bound to
// the interface, a probe can only leave through that tunnel, whatever the
// routing tables say; the fresh port gives the far reflector a fresh session
// (its counter starts at 0 with ours, see direction.ts); connected, the
// kernel looks the route up once, not on every probe (with hundreds of
// tunnels, each with its own fe80::/64 route, a lookup walks them all), and
// hands the socket only the far reflector's replies. When sends keep failing
// (the interface was deleted and created again: the socket is tied to the
// old ifindex), it is opened again, which also starts a new reflector
// session.
//
// The reflector must therefore answer from the very address it was probed
// at: a tunnel interface has a kernel-made random link-local address besides
// Tern's, and for a socket bound to [::] the kernel may pick either (both
// tie on every rule of source selection), and a connected sender drops a
// reply from the other. So besides its [::] socket the reflector binds one
// socket per local path address (fe80::1:0%tn…, SO_REUSEADDR on all of
// them); the kernel delivers a probe to the most specific socket, and the
// reply leaves from the address the probe was sent to. For the same reason
// as the senders', the reflector answers a far end's session from a socket
// connected to it: opened on its first probe at that path address (same
// address and port, SO_REUSEADDR), it then receives that sender's probes
// (the kernel prefers the connected socket) and replies without a route
// lookup. Only path-address sockets get them (their probes come through a
// tunnel, from a known box), at most maxReplySockets, closed after
// replyIdleMs without a probe.
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { addressToBytes, formatAddressBytes, ipv4MappedBytes, parseAddress } from '../lib/ip/index.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { loadNative, type NativeModule } from '../lib/native/index.js';
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
  /** The socket set to open in; default one per udpPathSockets factory (or per socket). */
  udp?: UdpSocketSet;
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
 * address is returned unchanged. Parsed by lib/ip.
 */
export function canonicalAddress(address: string): string {
  const zone = address.includes('%') ? address.slice(address.indexOf('%')) : '';
  const parsed = parseAddress(withoutZone(address));
  if (!parsed.ok) return address;
  const bytes = addressToBytes(parsed.value);
  if (parsed.value.family === 4) return formatAddressBytes(bytes);
  const v4 = ipv4MappedBytes(bytes);
  return v4 ? formatAddressBytes(v4) : formatAddressBytes(bytes) + zone;
}

/**
 * canonicalAddress with a memory: the reflector needs the canonical source
 * of every probe it answers (thousands a second at 500 paths), from a few
 * hundred senders, and canonicalAddress parses the text each time. Bounded:
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

/** A datagram read from a UdpSocketSet. */
export interface UdpDatagram {
  data: Buffer;
  /** The sender: IPv4 dotted, IPv6 with %zone when link-local. */
  from: string;
  port: number;
  /** When the kernel received it, on the set's clock.monotonic() scale. */
  rxMono: number;
  /** TTL / hop limit; 0 when unknown. */
  ttl: number;
  /** Where it was sent to (sockets on the unspecified address only): IPv4 dotted, IPv6 with %zone when link-local. */
  to?: string;
}

export interface UdpSocketSetOptions {
  /** Default loadNative(). */
  native?: NativeModule;
  /** The clock rxMono is read on, and of the poll timer. */
  clock?: Clock;
  /** How often the sockets are read (default 10 ms). */
  pollMs?: number;
}

/** Datagrams taken from the kernel per udpPoll call. */
const POLL_BATCH = 512;

/**
 * Native UDP sockets polled together (native/src/udp.rs): a handler per
 * socket gets each datagram with its kernel receive time. The poll timer
 * runs while the set has a socket.
 */
export class UdpSocketSet {
  private readonly native: NativeModule;
  private readonly clock: Clock;
  private readonly pollMs: number;
  private set: ReturnType<NativeModule['udpSetCreate']> | undefined;
  private readonly handlers = new Map<number, (d: UdpDatagram) => void>();
  private timer: TimerHandle | undefined;

  constructor(opts: UdpSocketSetOptions = {}) {
    this.native = opts.native ?? loadNative();
    this.clock = opts.clock ?? systemClock;
    this.pollMs = opts.pollMs ?? 10;
    this.set = this.native.udpSetCreate();
  }

  /**
   * Opens a socket bound to address (fe80::1%eth0 for a scope) and port;
   * returns its number. Throws TERN_E_PROBE_SOCKET (cause: the native error).
   */
  open(address: string, port: number, reuseAddress: boolean, onDatagram: (d: UdpDatagram) => void): number {
    const id = this.call(`open [${address}]:${port}`, (set) => this.native.udpOpen(set, address, port, reuseAddress));
    this.handlers.set(id, onDatagram);
    this.timer ??= this.clock.setInterval(() => this.poll(), this.pollMs);
    return id;
  }

  connect(id: number, address: string, port: number): void {
    this.call(`connect to [${address}]:${port}`, (set) => this.native.udpConnect(set, id, address, port));
  }

  localPort(id: number): number {
    return this.call('local port', (set) => this.native.udpLocalPort(set, id));
  }

  /** Send on a connected socket; throws TERN_E_PROBE_SOCKET. */
  send(id: number, bytes: Uint8Array): void {
    this.call('send', (set) => this.native.udpSend(set, id, bytes as Buffer));
  }

  /** Send to address:port; throws TERN_E_PROBE_SOCKET. */
  sendTo(id: number, bytes: Uint8Array, address: string, port: number): void {
    this.call(`send to [${address}]:${port}`, (set) => this.native.udpSendTo(set, id, bytes as Buffer, address, port));
  }

  /** Send to address:port from the local address from; throws TERN_E_PROBE_SOCKET. */
  sendFrom(id: number, bytes: Uint8Array, address: string, port: number, from: string): void {
    this.call(`send to [${address}]:${port} from ${from}`, (set) => this.native.udpSendFrom(set, id, bytes as Buffer, address, port, from));
  }

  close(id: number): void {
    this.handlers.delete(id);
    if (this.set) this.native.udpClose(this.set, id);
    if (this.handlers.size === 0) {
      this.clock.clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Read every waiting datagram and hand each to its socket's handler;
   * returns how many. Times move onto the clock with one offset per batch,
   * taken right after the read, so handling one datagram does not age the next.
   */
  poll(): number {
    let total = 0;
    for (let round = 0; round < 16 && this.set; round++) {
      const batch = this.native.udpPoll(this.set, POLL_BATCH);
      const offset = this.clock.monotonic() - batch.nowMs;
      for (const d of batch.datagrams) {
        const h = this.handlers.get(d.socket);
        if (h) h({ data: d.data, from: d.from, port: d.port, rxMono: d.rxMs + offset, ttl: d.ttl, ...(d.to === undefined ? {} : { to: d.to }) });
      }
      total += batch.datagrams.length;
      if (batch.datagrams.length < POLL_BATCH) break;
    }
    return total;
  }

  stats(): Record<string, number> {
    return this.set ? { ...this.native.udpStats(this.set) } : {};
  }

  /** Close every socket and stop polling. */
  destroy(): void {
    this.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.handlers.clear();
    if (this.set) this.native.udpSetClose(this.set);
    this.set = undefined;
  }

  private call<T>(what: string, fn: (set: NonNullable<UdpSocketSet['set']>) => T): T {
    if (!this.set) throw new TernError('TERN_E_PROBE_SOCKET', `probed: udp: ${what}: the socket set is closed`);
    try {
      return fn(this.set);
    } catch (err) {
      throw new TernError('TERN_E_PROBE_SOCKET', `probed: udp: ${what}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

export class UdpPathSocket implements PathSocket {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly reopenAfter: number;
  private readonly retryMs: number;
  private readonly udp: UdpSocketSet;
  private readonly ownSet: boolean;
  /** The socket's number in the set; undefined while not open. */
  private id: number | undefined;
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
    this.ownSet = opts.udp === undefined;
    this.udp = opts.udp ?? new UdpSocketSet({ clock: this.clock });
    this.remote = `${ends.remoteAddress}%${ends.ifname}`;
    this.open();
  }

  send(bytes: Uint8Array): void {
    const id = this.id;
    if (id === undefined) {
      throw new TernError('TERN_E_PROBE_SOCKET', `probed: path ${this.ends.name}: send: socket not open (${this.ends.localAddress}%${this.ends.ifname})`);
    }
    try {
      this.udp.send(id, bytes);
      this.failedInRow = 0;
    } catch (err) {
      this.stats.sendErrors++;
      if (++this.failedInRow >= this.reopenAfter) {
        this.log.warn({ path: this.ends.name, err: errorMessage(err) }, 'probed: path socket: sends keep failing; opening it again');
        this.drop();
        this.failedInRow = 0;
        this.open();
      }
      throw err;
    }
  }

  counters(): PathSocketCounters {
    return { ...this.stats };
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.retry);
    this.retry = undefined;
    this.drop();
    if (this.ownSet) this.udp.destroy();
  }

  private drop(): void {
    if (this.id !== undefined) this.udp.close(this.id);
    this.id = undefined;
    this.stats.port = 0;
  }

  private open(): void {
    if (this.closed) return;
    let id: number | undefined;
    try {
      id = this.udp.open(`${this.ends.localAddress}%${this.ends.ifname}`, 0, false, (d) => {
        this.stats.received++;
        this.onMessage(d.data, d.rxMono);
      });
      this.udp.connect(id, this.remote, this.port);
      this.stats.port = this.udp.localPort(id);
    } catch (err) {
      if (id !== undefined) this.udp.close(id);
      this.stats.port = 0;
      this.stats.openErrors++;
      this.log.debug({ path: this.ends.name, err: errorMessage(err) }, 'probed: path socket: cannot open; will retry');
      this.retry = this.clock.setTimeout(() => { this.retry = undefined; this.open(); }, this.retryMs);
      return;
    }
    this.id = id;
    this.stats.opens++;
    // Not from inside the constructor: the prober registers the path when
    // the factory returns, and starts it from onOpen.
    queueMicrotask(() => { if (this.id === id) this.onOpen?.(); });
  }
}

/** The default factory: a UdpPathSocket per path, all in one socket set. */
export function udpPathSockets(opts: UdpPathSocketOptions = {}): PathSocketFactory {
  let udp = opts.udp;
  return (ends, port, onMessage, onOpen) => {
    udp ??= new UdpSocketSet({ clock: opts.clock });
    return new UdpPathSocket(ends, port, onMessage, { ...opts, udp }, onOpen);
  };
}

export interface ReflectorServerOptions {
  reflector: Reflector;
  port: number;
  /**
   * The clock of the reflector's own timestamps (T2 from the kernel's
   * receive time moved onto it, T3 in reflect()): give it one with
   * sub-millisecond now(), or the processing time comes out as 0 or 1 ms
   * and adds a millisecond of noise to RTT.
   */
  clock?: Clock;
  logger?: Logger;
  /** Addresses to listen on; default [::] (both families), falling back to 0.0.0.0 without IPv6. */
  address?: string;
  /** The socket set; default a new one on the clock. */
  udp?: UdpSocketSet;
  /** Most sockets connected to a far end (default 4096). */
  maxReplySockets?: number;
  /** A far end's connected socket is closed after this long without a probe (default 60 000 ms). */
  replyIdleMs?: number;
}

export interface ReflectorServerStats {
  listening: string | null;
  sendErrors: number;
  /** Local path addresses with a socket of their own, and those that could not be bound (yet). */
  locals: number;
  localsUnbound: number;
  /** Sockets connected to a far end, opened and closed so far, and failures to open one. */
  replySockets: number;
  replySocketsOpened: number;
  replySocketErrors: number;
}

interface ReplySocket { id: number; local: string; lastMono: number }

/** errno text of a missing address family (EAFNOSUPPORT) or address (EADDRNOTAVAIL). */
const NO_FAMILY = /os error (97|99)\)/;

/**
 * The reflector on the STAMP port. Replies leave from the socket the probe
 * arrived on, to the address and port it came from (with the zone of a
 * link-local address: the interface it came in on), or from the socket
 * connected to that sender.
 */
export class ReflectorServer {
  private readonly clock: Clock;
  private readonly log: Logger;
  private udp: UdpSocketSet | undefined;
  private listenId: number | undefined;
  private listening: string | null = null;
  private sendErrors = 0;
  /** address%ifname → its socket's number (undefined while it cannot be bound). */
  private readonly locals = new Map<string, number | undefined>();
  /** local|from|port → the socket connected to that sender. */
  private readonly replies = new Map<string, ReplySocket>();
  private replyOpened = 0;
  private replyErrors = 0;
  private sweep: TimerHandle | undefined;
  private readonly maxReply: number;
  private readonly replyIdleMs: number;
  private readonly canonical = new CanonicalAddressCache();
  private closed = false;

  constructor(private readonly opts: ReflectorServerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.maxReply = opts.maxReplySockets ?? 4096;
    this.replyIdleMs = opts.replyIdleMs ?? 60_000;
  }

  /** Listen; throws TERN_E_PROBE_SOCKET when the port cannot be bound. */
  async start(): Promise<void> {
    const tries = this.opts.address ? [this.opts.address] : ['::', '0.0.0.0'];
    this.closed = false;
    this.udp ??= this.opts.udp ?? new UdpSocketSet({ clock: this.clock });
    let last: unknown;
    for (const address of tries) {
      try {
        this.listenId = this.udp.open(address, this.opts.port, true, (d) => this.onDatagram(this.listenId!, undefined, d));
        this.listening = `[${address}]:${this.opts.port}`;
        this.sweep = this.clock.setInterval(() => this.expireReplies(), Math.max(1000, this.replyIdleMs / 4));
        return;
      } catch (err) {
        last = err;
        // Only a missing address family is worth the other try; a port in use is not.
        if (!NO_FAMILY.test(errorMessage(err))) break;
      }
    }
    throw new TernError('TERN_E_PROBE_SOCKET', `probed: reflector: cannot listen on UDP port ${this.opts.port}: ${errorMessage(last)}`, { cause: last });
  }

  stats(): ReflectorServerStats {
    let bound = 0;
    for (const v of this.locals.values()) if (v !== undefined) bound++;
    return {
      listening: this.listening, sendErrors: this.sendErrors, locals: bound, localsUnbound: this.locals.size - bound,
      replySockets: this.replies.size, replySocketsOpened: this.replyOpened, replySocketErrors: this.replyErrors,
    };
  }

  /**
   * Answer on these local addresses (address%ifname) from a socket of their
   * own: sockets for new ones, closed for those gone (with their reply
   * sockets), and another try for those that could not be bound before
   * (their interface was missing).
   */
  setLocals(addresses: Iterable<string>): void {
    const udp = this.udp;
    if (this.closed || !udp) return;
    const want = new Set(addresses);
    for (const [a, id] of this.locals) {
      if (want.has(a)) continue;
      this.locals.delete(a);
      if (id !== undefined) udp.close(id);
      for (const [k, r] of this.replies) {
        if (r.local === a) { udp.close(r.id); this.replies.delete(k); }
      }
    }
    for (const a of want) {
      if (this.locals.get(a) !== undefined) continue;
      try {
        const id: number = udp.open(a, this.opts.port, true, (d) => this.onDatagram(id, a, d));
        this.locals.set(a, id);
      } catch (err) {
        this.locals.set(a, undefined);
        this.log.debug({ address: a, err: errorMessage(err) }, 'probed: reflector: cannot bind a path address yet');
      }
    }
  }

  /** The bound UDP port (what port 0 became), or 0 when not listening. */
  boundPort(): number {
    return this.udp && this.listenId !== undefined ? this.udp.localPort(this.listenId) : 0;
  }

  close(): Promise<void> {
    this.closed = true;
    this.clock.clearInterval(this.sweep);
    this.sweep = undefined;
    if (this.udp && !this.opts.udp) this.udp.destroy();
    else if (this.udp) for (const id of this.ids()) this.udp.close(id);
    this.udp = undefined;
    this.listenId = undefined;
    this.locals.clear();
    this.replies.clear();
    this.listening = null;
    return Promise.resolve();
  }

  private ids(): number[] {
    const out = [...this.replies.values()].map((r) => r.id);
    for (const id of this.locals.values()) if (id !== undefined) out.push(id);
    if (this.listenId !== undefined) out.push(this.listenId);
    return out;
  }

  /**
   * One datagram on socket id: local is the path address it is bound to
   * (undefined for the [::] socket), reply the sender's connected socket
   * when it came in on one.
   */
  private onDatagram(id: number, local: string | undefined, d: UdpDatagram, reply?: ReplySocket): void {
    const udp = this.udp;
    if (!udp) return;
    // T2: the kernel's receive time, moved from the set's monotonic clock onto the reflector's.
    const rx = this.clock.now() - (this.clock.monotonic() - d.rxMono);
    // The zone stays in the address: fe80::2:0 is a known peer only on the
    // tunnel interface it belongs to, and the zone keeps the sessions of
    // two paths apart.
    const address = this.canonical.get(d.from);
    const r = this.opts.reflector.reflect({ bytes: d.data, from: { address, port: d.port }, rxTimeMs: rx, ...(d.ttl ? { ttl: d.ttl } : {}) });
    if (reply) reply.lastMono = this.clock.monotonic();
    if (!r.ok) return;
    try {
      if (reply) {
        udp.send(reply.id, r.reply);
        return;
      }
      const connected = local === undefined ? undefined : this.replySocket(local, d);
      if (connected !== undefined) udp.send(connected, r.reply);
      // On the [::] socket the answer leaves from the address the probe was
      // sent to: left to the kernel, the source may be another address of
      // the interface (a tunnel's kernel-made link-local one, while the
      // path address is not bound yet), which the far end's sender, bound
      // and connected to the path address, never receives: its probe reads
      // as lost on the way back.
      else if (d.to !== undefined) udp.sendFrom(id, r.reply, d.from, d.port, d.to);
      else udp.sendTo(id, r.reply, d.from, d.port);
    } catch {
      this.sendErrors++;
    }
  }

  /** A socket at local, connected to d's sender, made on its first probe; undefined when none can be had. */
  private replySocket(local: string, d: UdpDatagram): number | undefined {
    const udp = this.udp!;
    if (this.replies.size >= this.maxReply) return undefined;
    const key = `${local}|${d.from}|${d.port}`;
    const have = this.replies.get(key);
    // A probe that was already queued on the path socket when the connected one was made.
    if (have) return have.id;
    let id: number | undefined;
    try {
      const r: ReplySocket = { id: -1, local, lastMono: this.clock.monotonic() };
      id = udp.open(local, this.opts.port, true, (x) => this.onDatagram(r.id, local, x, r));
      r.id = id;
      udp.connect(id, d.from, d.port);
      this.replies.set(key, r);
      this.replyOpened++;
      return id;
    } catch (err) {
      if (id !== undefined) udp.close(id);
      this.replyErrors++;
      this.log.debug({ local, from: d.from, err: errorMessage(err) }, 'probed: reflector: cannot open a reply socket');
      return undefined;
    }
  }

  private expireReplies(): void {
    const udp = this.udp;
    if (!udp) return;
    const before = this.clock.monotonic() - this.replyIdleMs;
    for (const [k, r] of this.replies) {
      if (r.lastMono >= before) continue;
      udp.close(r.id);
      this.replies.delete(k);
    }
  }
}
