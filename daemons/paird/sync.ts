// Pair sync: the two boxes tell each other, over UDP on the LAN, who they
// are, their role and priority, and how their WANs are. VRRP alone cannot:
// a backup never advertises, so without this the master would not know the
// standby exists, let alone whether its WAN can carry traffic. Any LAN host
// can send UDP, so every message is authenticated and fresh (syncwire.ts,
// PairSync below), and routes use the source it came from.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { formatPrefix, parsePrefix, prefixContains, type IpPrefix } from '../lib/ip/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { addressBytes, formatAddressBytes, isLinkLocalV6 } from './addr.js';
import {
  bootIdBytes, decodeSync, encodeSync,
  type SyncBody, type SyncDecodeReason, type SyncHeader, type SyncKey,
} from './syncwire.js';

/** UDP port of pair sync on the LAN addresses (112: VRRP's protocol number). */
export const pairSyncPort = 8112;
/** The peer counts as gone after this many of its intervals without a message. */
export const syncDeadIntervals = 3.5;
/** A refused datagram is logged at most once per this window and source address... */
export const refusalLogWindowMs = 60_000;
/** ...and at most this many lines per window in all (a spoofer can forge any number of sources). */
export const refusalLogBudget = 20;
/** Source addresses remembered for that (the oldest is forgotten first). */
const refusalSourcesKept = 256;
/** Earlier runs of the peer remembered, so that their messages are refused outright. */
const retiredBootsKept = 16;

/** What one box says about itself. */
export interface SyncFacts extends SyncBody {
  vrid: number;
}

/** The peer as last heard. */
export interface PeerFacts extends SyncFacts {
  /** Source address of its last accepted message. */
  from: string;
  /**
   * Next hop of the routes through the peer: the datagram's source when it
   * lies in this box's LAN prefix (an IPv4 instance); an IPv6 instance's
   * datagrams come from link-local addresses, so there it is the lanAddress
   * the peer says, which must lie in the LAN prefix.
   */
  via: string;
  /** Its boot id and the counter of its last accepted message. */
  boot: string;
  counter: number;
  /** Wall-clock ms of its last accepted message. */
  heardAt: number;
  alive: boolean;
}

/** Why a datagram was refused: the codec's reasons, plus the two PairSync decides. */
export type RefusalReason = SyncDecodeReason | 'wrongSource' | 'replay';
export const refusalReasons: readonly RefusalReason[] = ['malformed', 'version', 'vrid', 'badAuth', 'wrongSource', 'replay'];

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
  /** This box's facts (role, priority and WANs are updated with set()). */
  facts: SyncFacts;
  /** The key both boxes derive from the site key (deriveSyncKey). Never logged. */
  key: SyncKey;
  /** This box's LAN address with its prefix length (lan.address): peers' addresses must lie in that prefix. */
  lan: string;
  /**
   * Addresses always sent to (pair.unicastPeers of the socket's family and
   * scope). When set, datagrams are accepted from these alone.
   */
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
  /** This run's boot id (16 hex digits); default random. */
  boot?: string;
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
  /** Datagrams read. */
  received: number;
  /** Messages whose facts were taken. */
  accepted: number;
  /**
   * Genuine (authenticated) messages not yet taken: made before the sender
   * heard this run of ours (it just started, or we did), or a replay of
   * such. They only tell us whom to answer; the handshake takes one round trip.
   */
  unconfirmed: number;
  /** Peer boots accepted (a start, a restart of either box). */
  sessions: number;
  refused: Record<RefusalReason, number>;
  lastRefused: { reason: RefusalReason; from: string; detail: string; at: number } | null;
  /** Silence verdicts dropped: a message was read between the timer and the verdict (see defer). */
  staleSilence: number;
}

/** The peer boot whose messages are taken: each must carry a higher counter than the last. */
interface Session {
  boot: string;
  counter: number;
  /** Highest of our counters its messages echoed: a later boot of the peer must echo a higher one. */
  echoCounter: number;
}

/**
 * Sends this box's facts every interval (and at once on change); keeps the
 * peer's. Every datagram is authenticated (syncwire.ts); what is left is
 * freshness and the source.
 *
 * Freshness without synchronised clocks: each message carries the sender's
 * boot id (random per run) and counter, and echoes the boot id and counter of
 * the newest message it heard from us. A message is taken when its boot is
 * the current session's and its counter is higher than the last one taken;
 * or, for another boot (the peer restarted, or we did), when it echoes this
 * run's boot id with a higher counter of ours than the current session ever
 * echoed — proof that it was made after the sender heard a message of ours
 * newer than anything the old boot saw. So a replayed message, an old boot's
 * message, a reordered older one, and our own message sent back are refused
 * (replay), while a restarted peer is taken after one round trip: its first
 * message, unconfirmed, makes us send at once, echoing it.
 *
 * Sources: with pair.unicastPeers only those; otherwise, while the peer is
 * alive, only the address its accepted messages come from; any address
 * outside the LAN prefix (or, on a link-local socket, not link-local) never.
 */
export class PairSync {
  private facts: SyncFacts;
  private readonly key: SyncKey;
  private readonly lan: IpPrefix;
  private readonly configured: string[];
  private learned: string | undefined;
  private readonly bind: string;
  private readonly bindHost: string;
  private readonly linkLocal: boolean;
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
  /** This run's boot id. */
  readonly boot: string;
  private counter = 0;
  private session: Session | undefined;
  /** Boot ids of the peer's runs that a later run replaced, newest last. */
  private readonly retired: string[] = [];
  /** The newest genuine message heard (boot, counter): what we echo. */
  private heard: { boot: string; counter: number } | undefined;
  private current: PeerFacts | undefined;
  private readonly logged = new Map<string, { at: number; suppressed: number }>();
  private logWindow = { start: Number.NEGATIVE_INFINITY, lines: 0, dropped: 0 };
  private readonly versionLogged = new Set<string>();
  readonly counters: SyncCounters = {
    sent: 0, sendErrors: 0, received: 0, accepted: 0, unconfirmed: 0, sessions: 0,
    refused: { malformed: 0, version: 0, vrid: 0, badAuth: 0, wrongSource: 0, replay: 0 }, lastRefused: null, staleSilence: 0,
  };

  constructor(opts: PairSyncOptions) {
    this.facts = { ...opts.facts, wans: opts.facts.wans.map((w) => ({ ...w })) };
    this.key = opts.key;
    const lan = parsePrefix(opts.lan, 'allow');
    if (!lan.ok) throw new TernError('TERN_E_PAIRD_ARG', `paird: sync: got LAN address ${JSON.stringify(opts.lan)}; want address/length (${lan.reason})`);
    this.lan = lan.value;
    this.bind = opts.bind ?? opts.facts.lanAddress;
    this.bindHost = this.bind.split('%')[0]!;
    const bindBytes = addressBytes(this.bindHost);
    if (!bindBytes) throw new TernError('TERN_E_PAIRD_ARG', `paird: sync: got bind address ${JSON.stringify(this.bind)}; want an IP address`);
    this.linkLocal = isLinkLocalV6(bindBytes);
    this.configured = opts.peers.map(canonical);
    this.port = opts.port ?? pairSyncPort;
    this.makeSocket = opts.socket ?? udpSyncSocket;
    this.clock = opts.clock ?? systemClock;
    this.defer = opts.defer ?? (this.clock === systemClock ? (fn) => { setImmediate(fn); } : (fn) => fn());
    this.log = opts.logger ?? silentLogger();
    this.onPeer = opts.onPeer;
    this.boot = opts.boot ?? newBoot();
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
   * An address the peer was seen at (the master's advert source): sent to
   * from now on. Adverts are not authenticated, so this only adds a
   * destination; what is accepted is decided per datagram. One of the other
   * family or scope than the socket's is ignored: it cannot be sent to.
   */
  learn(address: string): void {
    const a = canonical(address);
    if (a === canonical(this.facts.lanAddress) || a === canonical(this.bindHost) || this.learned === a) return;
    if (!this.reachable(a)) return;
    this.learned = a;
    this.send();
  }

  peer(): PeerFacts | undefined {
    return this.current ? { ...this.current, wans: this.current.wans.map((w) => ({ ...w })) } : undefined;
  }

  /** Where messages go: the configured peers, the learned one, and the peer's address while it is alive. */
  destinations(): string[] {
    const alive = this.current?.alive ? [this.current.from] : [];
    return [...new Set([...this.configured, ...(this.learned ? [this.learned] : []), ...alive])];
  }

  /** The public parts of the state, for pair.status. */
  status(): SyncCounters & { keyId: string; boot: string; counter: number; session: { boot: string; counter: number } | null; destinations: string[] } {
    return {
      keyId: this.key.id,
      boot: this.boot,
      counter: this.counter,
      session: this.session ? { boot: this.session.boot, counter: this.session.counter } : null,
      destinations: this.destinations(),
      ...this.counters,
      refused: { ...this.counters.refused },
    };
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
    this.counter++;
    const f = this.facts;
    const bytes = encodeSync(
      { vrid: f.vrid, boot: this.boot, counter: this.counter, echoBoot: this.heard?.boot ?? null, echoCounter: this.heard?.counter ?? 0 },
      { site: f.site, box: f.box, role: f.role, priority: f.priority, lanAddress: f.lanAddress, wans: f.wans, intervalMs: f.intervalMs },
      this.key,
    );
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
  receive(bytes: Uint8Array, source: string): void {
    this.counters.received++;
    const from = canonical(source);
    const wrong = this.sourceProblem(from);
    if (wrong) return this.refuse('wrongSource', from, wrong);
    const d = decodeSync(bytes, { key: this.key, vrid: this.facts.vrid, site: this.facts.site });
    if (!d.ok) return this.refuse(d.reason, from, d.detail);
    const { header: h, body } = d.frame;
    if (h.boot === this.boot) return this.refuse('replay', from, 'got a message with our own boot id: ours, sent back');
    if (body.box === this.facts.box) {
      return this.refuse('malformed', from, `got our own box name ${body.box} from another run: do both boxes have identity.name ${body.box}?`);
    }
    const via = this.viaOf(from, body.lanAddress);
    if (!via) return this.refuse('malformed', from, `got lanAddress ${body.lanAddress}; want an address of the LAN ${formatPrefix(this.lan)} other than ours`);

    const s = this.session;
    if (this.retired.includes(h.boot)) return this.refuse('replay', from, `got a message of boot ${h.boot}, an earlier run of the peer`);
    if (s && h.boot === s.boot) {
      if (h.counter <= s.counter) return this.refuse('replay', from, `got counter ${h.counter} of boot ${h.boot}; already took ${s.counter}`);
      s.counter = h.counter;
      if (h.echoBoot === this.boot) s.echoCounter = Math.max(s.echoCounter, h.echoCounter);
      this.heard = { boot: h.boot, counter: h.counter };
      this.take(body, from, via, h, false);
      return;
    }
    if (h.echoBoot === this.boot && (!s || h.echoCounter > s.echoCounter)) {
      if (s) {
        this.retired.push(s.boot);
        if (this.retired.length > retiredBootsKept) this.retired.shift();
      }
      this.session = { boot: h.boot, counter: h.counter, echoCounter: h.echoCounter };
      this.heard = { boot: h.boot, counter: h.counter };
      this.counters.sessions++;
      this.log.info({ box: body.box, from, boot: h.boot, previous: s?.boot ?? null }, 'paird: sync: peer run accepted');
      this.take(body, from, via, h, true);
      return;
    }
    if (h.echoBoot === this.boot) {
      return this.refuse('replay', from, `got boot ${h.boot} echoing our counter ${h.echoCounter}; the current peer run ${s!.boot} echoed ${s!.echoCounter}: an older run's message`);
    }
    // Genuine, but made before the sender heard this run of ours (or a
    // replay of such): not taken. Answered at once, echoing it, so a peer
    // that just started is taken after one round trip.
    this.counters.unconfirmed++;
    const newBoot = this.heard?.boot !== h.boot;
    if (!newBoot && h.counter <= this.heard!.counter) return;
    this.heard = { boot: h.boot, counter: h.counter };
    if (!this.current?.alive && !this.configured.includes(from)) this.learned = from;
    if (newBoot) this.send();
  }

  /** Why `from` may not send to us now, or undefined. */
  private sourceProblem(from: string): string | undefined {
    if (!this.reachable(from)) {
      return this.linkLocal ? 'got a source that is not link-local; want the peer\'s link-local address' : `got a source outside the LAN ${formatPrefix(this.lan)}`;
    }
    if (this.configured.length > 0) {
      return this.configured.includes(from) ? undefined : `got a source that is not one of pair.unicastPeers (${this.configured.join(', ')})`;
    }
    if (this.current?.alive && this.current.from !== from) return `got a source other than the peer's (${this.current.box} at ${this.current.from})`;
    return undefined;
  }

  /** An address this socket may talk to: the LAN prefix, or link-local on a link-local socket. */
  private reachable(a: string): boolean {
    const b = addressBytes(a);
    if (!b) return false;
    if (this.linkLocal) return isLinkLocalV6(b);
    return prefixContains(this.lan, { family: b.length === 4 ? 4 : 6, value: bigintOf(b) });
  }

  /** The next hop through the peer: its source, or on a link-local socket the LAN address it says. */
  private viaOf(from: string, said: string): string | undefined {
    if (!this.linkLocal) return from;
    const b = addressBytes(said)!;
    const onLan = prefixContains(this.lan, { family: b.length === 4 ? 4 : 6, value: bigintOf(b) });
    return onLan && said !== canonical(this.facts.lanAddress) ? said : undefined;
  }

  private take(body: SyncBody, from: string, via: string, h: SyncHeader, newRun: boolean): void {
    this.counters.accepted++;
    const before = this.current;
    this.current = { ...body, vrid: this.facts.vrid, from, via, boot: h.boot, counter: h.counter, heardAt: this.clock.now(), alive: true };
    if (this.learned !== from && !this.configured.includes(from)) this.learned = from;
    this.clock.clearTimeout(this.deadTimer);
    const arming = ++this.deadArming;
    this.deadTimer = this.clock.setTimeout(() => this.defer(() => {
      if (arming !== this.deadArming) {
        this.counters.staleSilence++;
        return;
      }
      this.silent();
    }), Math.ceil(body.intervalMs * syncDeadIntervals));
    // A new run of the peer takes us only once we echo it: answer at once.
    if (newRun) this.send();
    if (!before || !before.alive || newRun || changed(before, this.current)) this.onPeer?.(this.peer());
  }

  private refuse(reason: RefusalReason, from: string, detail: string): void {
    this.counters.refused[reason]++;
    const now = this.clock.now();
    this.counters.lastRefused = { reason, from, detail, at: now };
    if (reason === 'version') {
      // An old box sends ten a second: say it once per source.
      if (this.versionLogged.has(from) || this.versionLogged.size >= refusalSourcesKept) return;
      this.versionLogged.add(from);
      this.log.warn({ from, detail }, `paird: sync: ${from} speaks another pair-sync version: ${detail}`);
      return;
    }
    const seen = this.logged.get(from);
    if (seen && now - seen.at < refusalLogWindowMs) {
      seen.suppressed++;
      return;
    }
    if (now - this.logWindow.start >= refusalLogWindowMs) {
      if (this.logWindow.dropped > 0) this.log.warn({ dropped: this.logWindow.dropped }, `paird: sync: ${this.logWindow.dropped} more refusals from other sources were not logged`);
      this.logWindow = { start: now, lines: 0, dropped: 0 };
    }
    if (this.logWindow.lines >= refusalLogBudget) {
      this.logWindow.dropped++;
      return;
    }
    this.logWindow.lines++;
    this.logged.delete(from);
    if (this.logged.size >= refusalSourcesKept) this.logged.delete(this.logged.keys().next().value!);
    this.logged.set(from, { at: now, suppressed: 0 });
    this.log.warn({ from, reason, detail, sinceLast: seen?.suppressed ?? 0 }, `paird: sync: refused a datagram from ${from} (${reason}): ${detail}`);
  }

  private silent(): void {
    if (!this.current) return;
    this.current = { ...this.current, alive: false };
    this.log.warn({ box: this.current.box, from: this.current.from }, 'paird: sync: the peer went silent');
    this.onPeer?.(this.peer());
  }
}

function changed(a: PeerFacts, b: PeerFacts): boolean {
  return a.box !== b.box || a.role !== b.role || a.priority !== b.priority || a.via !== b.via || a.from !== b.from
    || JSON.stringify(a.wans) !== JSON.stringify(b.wans);
}

function canonical(a: string): string {
  const b = addressBytes(a);
  return b ? formatAddressBytes(b) : a;
}

function bigintOf(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** A random boot id, never all zero (zero means "none" on the wire). */
function newBoot(): string {
  for (;;) {
    const id = randomBytes(bootIdBytes).toString('hex');
    if (!/^0+$/.test(id)) return id;
  }
}
