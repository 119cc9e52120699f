// Pair sync: the two boxes tell each other, over UDP on the LAN, who they
// are, their role and priority, and how their WANs are. VRRP alone cannot:
// a backup never advertises, so without this the master would not know the
// standby exists, let alone whether its WAN can carry traffic.
import dgram from 'node:dgram';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { addressBytes, formatAddressBytes, isLinkLocalV6 } from './addr.js';

/** UDP port of pair sync on the LAN addresses (112: VRRP's protocol number). */
export const pairSyncPort = 8112;
/** The peer counts as gone after this many of its intervals without a message. */
export const syncDeadIntervals = 3.5;
/** Largest sync datagram accepted. */
export const maxSyncBytes = 4096;

export type SyncRole = 'initialize' | 'backup' | 'master' | 'fault';

/** What one box says about itself. */
export interface SyncFacts {
  site: string;
  /** identity.name of the box. */
  box: string;
  vrid: number;
  role: SyncRole;
  priority: number;
  /** Its address on the pair interface: the next hop to reach its WANs. */
  lanAddress: string;
  /** Its own WANs and whether each is up. */
  wans: Array<{ name: string; up: boolean }>;
  /** How often it sends, ms. */
  intervalMs: number;
}

export interface SyncMessage extends SyncFacts {
  seq: number;
}

/** The peer as last heard. */
export interface PeerFacts extends SyncFacts {
  seq: number;
  /** Source address of its last message. */
  from: string;
  /** Wall-clock ms of its last message. */
  heardAt: number;
  alive: boolean;
}

const roles: readonly SyncRole[] = ['initialize', 'backup', 'master', 'fault'];
const nameRe = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** The datagram for a message: JSON with a marker, so a stray datagram is told apart. */
export function encodeSync(m: SyncMessage): Buffer {
  return Buffer.from(JSON.stringify({ tern: 'pair-sync', v: 1, ...m }));
}

export type SyncDecode = { ok: true; message: SyncMessage } | { ok: false; detail: string };

/**
 * Reads one datagram; never throws. `expect` is this box's site and VRID: a
 * message for another pair on the same LAN is refused like a malformed one.
 */
export function decodeSync(bytes: Uint8Array, expect: { site: string; vrid: number }): SyncDecode {
  if (bytes.length > maxSyncBytes) return { ok: false, detail: `got ${bytes.length} bytes; want at most ${maxSyncBytes}` };
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { ok: false, detail: 'got bytes that are not JSON; want a pair-sync message' };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, detail: 'got JSON that is not an object' };
  const o = v as Record<string, unknown>;
  if (o.tern !== 'pair-sync' || o.v !== 1) return { ok: false, detail: `got tern ${JSON.stringify(o.tern)} v ${JSON.stringify(o.v)}; want "pair-sync" 1` };
  const bad = (key: string, want: string): SyncDecode => ({ ok: false, detail: `got ${key} ${JSON.stringify(o[key])}; want ${want}` });
  if (typeof o.site !== 'string' || o.site !== expect.site) return bad('site', JSON.stringify(expect.site));
  if (o.vrid !== expect.vrid) return bad('vrid', String(expect.vrid));
  if (typeof o.box !== 'string' || !nameRe.test(o.box)) return bad('box', 'a box name');
  if (typeof o.role !== 'string' || !roles.includes(o.role as SyncRole)) return bad('role', roles.join(' | '));
  if (!Number.isInteger(o.priority) || (o.priority as number) < 0 || (o.priority as number) > 255) return bad('priority', 'an integer 0-255');
  const lan = typeof o.lanAddress === 'string' ? addressBytes(o.lanAddress) : undefined;
  if (!lan) return bad('lanAddress', 'an IP address');
  if (!Number.isInteger(o.intervalMs) || (o.intervalMs as number) < 10 || (o.intervalMs as number) > 60_000) return bad('intervalMs', 'an integer 10-60000');
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 0) return bad('seq', 'an integer >= 0');
  if (!Array.isArray(o.wans) || o.wans.length > 16) return bad('wans', 'a list of at most 16 WANs');
  const wans: Array<{ name: string; up: boolean }> = [];
  for (const w of o.wans as unknown[]) {
    const x = w as Record<string, unknown> | null;
    if (!x || typeof x.name !== 'string' || !nameRe.test(x.name) || typeof x.up !== 'boolean') return bad('wans', 'entries {name, up}');
    wans.push({ name: x.name, up: x.up });
  }
  return {
    ok: true,
    message: {
      site: o.site, box: o.box, vrid: expect.vrid, role: o.role as SyncRole, priority: o.priority as number,
      lanAddress: formatAddressBytes(lan), wans, intervalMs: o.intervalMs as number, seq: o.seq as number,
    },
  };
}

/** A UDP socket for sync; tests pass a fake. */
export interface SyncSocket {
  send(bytes: Buffer, address: string, port: number): void;
  close(): void;
}

export type SyncSocketFactory = (bind: string, port: number, onMessage: (bytes: Buffer, from: string) => void) => Promise<SyncSocket>;

/**
 * The real socket: node:dgram bound to `bind`, this box's LAN address, or a
 * link-local one with its zone (`fe80::1%lan0`). With a zone, link-local
 * addresses go out with it and come in without it, so PairSync sees the
 * bare addresses adverts carry.
 */
export const udpSyncSocket: SyncSocketFactory = (bind, port, onMessage) => new Promise((resolve, reject) => {
  const s = dgram.createSocket({ type: bind.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  const zone = bind.includes('%') ? bind.slice(bind.indexOf('%')) : '';
  const scoped = (a: string): string => (zone && !a.includes('%') && isLinkLocalV6(addressBytes(a) ?? new Uint8Array(0)) ? `${a}${zone}` : a);
  s.once('error', reject);
  s.on('message', (msg, rinfo) => onMessage(msg, rinfo.address.split('%')[0]!));
  s.bind({ address: bind, port }, () => {
    s.off('error', reject);
    s.on('error', () => undefined);
    resolve({
      send: (bytes, address, p) => s.send(bytes, p, scoped(address), () => undefined),
      close: () => s.close(),
    });
  });
});

export interface PairSyncOptions {
  /** This box's facts (role and priority are updated with set()). */
  facts: SyncFacts;
  /** Addresses always sent to (pair.unicastPeers); others are learned. */
  peers: string[];
  /**
   * The address the socket is bound to and sends from (default
   * facts.lanAddress). An IPv6 instance passes its link-local advert
   * source with the interface as zone (`fe80::1%lan0`): a backup learns the
   * master only from its adverts, whose source is link-local, so the
   * messages must travel between link-local addresses too.
   */
  bind?: string;
  port?: number;
  socket?: SyncSocketFactory;
  clock?: Clock;
  /**
   * Runs the silence verdict; default setImmediate on the system clock, at
   * once on any other. After a stall (GC, a starved CPU) Node runs expired
   * timers before pending I/O, so a message already waiting on the socket
   * would be read only after the peer was declared silent: the verdict waits
   * until after the poll phase, and a message read meanwhile cancels it
   * (as VrrpRunner's defer does for the VRRP timers).
   */
  defer?: (fn: () => void) => void;
  logger?: Logger;
  /** The peer appeared, changed, or went silent. */
  onPeer?: (peer: PeerFacts | undefined) => void;
}

export interface SyncCounters {
  sent: number;
  sendErrors: number;
  received: number;
  rejected: number;
  lastRejected: string | null;
  /** Silence verdicts dropped: a message was read between the timer and the verdict (see defer). */
  staleSilence: number;
}

/** Sends this box's facts every interval (and at once on change); keeps the peer's. */
export class PairSync {
  private facts: SyncFacts;
  private readonly configured: string[];
  private learned: string | undefined;
  private readonly bind: string;
  private readonly port: number;
  private readonly makeSocket: SyncSocketFactory;
  private readonly clock: Clock;
  private readonly defer: (fn: () => void) => void;
  private readonly log: Logger;
  private readonly onPeer: ((p: PeerFacts | undefined) => void) | undefined;
  private socket: SyncSocket | undefined;
  private timer: TimerHandle | undefined;
  private deadTimer: TimerHandle | undefined;
  /** Bumped on every arm and cancel of deadTimer: a deferred verdict of an older arming is stale. */
  private deadArming = 0;
  private seq = 0;
  private current: PeerFacts | undefined;
  readonly counters: SyncCounters = { sent: 0, sendErrors: 0, received: 0, rejected: 0, lastRejected: null, staleSilence: 0 };

  constructor(opts: PairSyncOptions) {
    this.facts = { ...opts.facts, wans: opts.facts.wans.map((w) => ({ ...w })) };
    this.configured = [...opts.peers];
    this.bind = opts.bind ?? opts.facts.lanAddress;
    this.port = opts.port ?? pairSyncPort;
    this.makeSocket = opts.socket ?? udpSyncSocket;
    this.clock = opts.clock ?? systemClock;
    this.defer = opts.defer ?? (this.clock === systemClock ? (fn) => { setImmediate(fn); } : (fn) => fn());
    this.log = opts.logger ?? silentLogger();
    this.onPeer = opts.onPeer;
  }

  async start(): Promise<void> {
    this.socket = await this.makeSocket(this.bind, this.port, (b, from) => this.receive(b, from));
    this.timer = this.clock.setInterval(() => this.send(), this.facts.intervalMs);
    this.send();
  }

  /** Updates this box's facts; sends at once when they changed. */
  set(change: Partial<Pick<SyncFacts, 'role' | 'priority' | 'wans'>>): void {
    const next = { ...this.facts, ...change };
    if (JSON.stringify(next) === JSON.stringify(this.facts)) return;
    this.facts = next;
    this.send();
  }

  /**
   * An address the peer was seen at (the master's advert source). One of
   * the other family than the socket's is ignored: it cannot be sent to.
   */
  learn(address: string): void {
    if (address === this.facts.lanAddress || address === this.bind.split('%')[0] || this.learned === address) return;
    if (addressBytes(address)?.length !== addressBytes(this.bind.split('%')[0]!)?.length) return;
    this.learned = address;
    this.send();
  }

  peer(): PeerFacts | undefined {
    return this.current ? { ...this.current } : undefined;
  }

  /** Where messages go: the configured peers and the learned one. */
  destinations(): string[] {
    return [...new Set([...this.configured, ...(this.learned ? [this.learned] : [])])];
  }

  close(): void {
    this.clock.clearInterval(this.timer);
    this.clock.clearTimeout(this.deadTimer);
    this.deadArming++;
    this.socket?.close();
    this.socket = undefined;
  }

  private send(): void {
    if (!this.socket) return;
    const bytes = encodeSync({ ...this.facts, seq: this.seq++ });
    for (const to of this.destinations()) {
      try {
        this.socket.send(bytes, to, this.port);
        this.counters.sent++;
      } catch (err) {
        this.counters.sendErrors++;
        this.log.debug({ to, err: errorMessage(err) }, 'paird: sync: send failed');
      }
    }
  }

  /** One received datagram (the socket's callback; tests call it directly). */
  receive(bytes: Uint8Array, from: string): void {
    const r = decodeSync(bytes, { site: this.facts.site, vrid: this.facts.vrid });
    if (!r.ok || r.message.box === this.facts.box) {
      this.counters.rejected++;
      const detail = r.ok ? `got our own box name ${r.message.box}` : r.detail;
      if (detail !== this.counters.lastRejected) this.log.warn({ from, detail }, 'paird: sync: message ignored');
      this.counters.lastRejected = detail;
      return;
    }
    this.counters.received++;
    const m = r.message;
    const before = this.current;
    this.current = { ...m, from, heardAt: this.clock.now(), alive: true };
    if (this.learned !== from && !this.configured.includes(from)) {
      this.learned = from;
      this.send();
    }
    this.clock.clearTimeout(this.deadTimer);
    const arming = ++this.deadArming;
    this.deadTimer = this.clock.setTimeout(() => this.defer(() => {
      if (arming !== this.deadArming) {
        this.counters.staleSilence++;
        return;
      }
      this.silent();
    }), Math.ceil(m.intervalMs * syncDeadIntervals));
    if (!before || !before.alive || changed(before, this.current)) this.onPeer?.(this.peer());
  }

  private silent(): void {
    if (!this.current) return;
    this.current = { ...this.current, alive: false };
    this.log.warn({ box: this.current.box, from: this.current.from }, 'paird: sync: the peer went silent');
    this.onPeer?.(this.peer());
  }
}

function changed(a: PeerFacts, b: PeerFacts): boolean {
  return a.box !== b.box || a.role !== b.role || a.priority !== b.priority || a.lanAddress !== b.lanAddress
    || JSON.stringify(a.wans) !== JSON.stringify(b.wans);
}
