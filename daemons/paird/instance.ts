// One virtual router on the wire: the state machine and its runner, the
// advert socket, the VIPs and the announcements, put together. It also
// decides the two things RFC 9568 leaves to the implementation: what a
// restart finds (VIPs left by a crashed run are adopted, not flapped) and
// what losing the pair interface's carrier does (fault: VIPs off, silent).
import { systemClock, type Clock } from '../lib/clock/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { VrrpMachine, type Action, type MachineStatus, type State, type TransitionReason } from './machine.js';
import { decode, encode, sendForm, vrrpGroupV4, vrrpGroupV6, type ChecksumForm, type DiscardReason } from './packet.js';
import { VrrpRunner } from './runner.js';
import type { PairSettings } from './settings.js';
import type { AdvertSocket, AdvertSocketFactory, AdvertSocketStats, MalformedDatagram, ReceivedAdvert } from './socket.js';
import { announcementFrames, type FrameSender, type FrameSenderFactory } from './vip.js';

/** What the instance needs of the VIP manager (VipManager has it). */
export interface Vips {
  readonly device: string;
  readonly addresses: string[];
  prepare(): Promise<void>;
  present(): Promise<string[]>;
  add(): Promise<void>;
  remove(): Promise<void>;
  settled(): Promise<void>;
  readonly counters: { added: number; removed: number; errors: number };
  readonly lastError: string | null;
}

/** The role people see: the machine's state, or fault while the pair interface has no carrier. */
export type Role = State | 'fault';

/** A role change as the daemon reports it. */
export interface RoleChange {
  at: number;
  from: Role;
  to: Role;
  reason: TransitionReason | 'fault' | 'recovered';
  detail: string;
  priority: number;
}

export interface PairInstanceOptions {
  settings: PairSettings;
  /** The pair interface (adverts go out of it). */
  interface: string;
  /** This box's address on it: the advert source and the tie-break (IPv6: its link-local address). */
  localAddress: string;
  /** The priority to start with (the tracker's current one). */
  priority: number;
  sockets: AdvertSocketFactory;
  vips: Vips;
  frames: FrameSenderFactory;
  /** The MAC announcements carry: the virtual MAC or the VIP device's own; null when unknown yet. */
  mac: () => string | null;
  clock?: Clock;
  /** How timer firings are deferred behind pending I/O (VrrpRunner's defer); the daemon passes setImmediate. */
  defer?: (fn: () => void) => void;
  logger?: Logger;
  /**
   * A role change. A takeover's is reported once its first announcement
   * went out (or could not), and later changes wait behind it, so what the
   * daemon does with a report (bus, events table, hooks, sync, peer-path
   * routes) never delays the advert, the VIPs or the announcement.
   */
  onRole?: (change: RoleChange) => void;
  /** A valid advert arrived from src (pair sync learns the master's address from it). */
  onAdvert?: (src: string, priority: number) => void;
  /** A problem worth a health warning (null: it cleared). */
  onProblem?: (key: 'socket' | 'vip' | 'checksum' | 'addresses', message: string | null) => void;
}

export interface InstanceStatus extends MachineStatus {
  role: Role;
  interface: string;
  localAddress: string;
  vips: string[];
  vipDevice: string;
  /** VIPs found on the interface at start and kept until the election decides. */
  adopted: boolean;
  vipOps: { added: number; removed: number; errors: number; lastError: string | null };
  socket: AdvertSocketStats | null;
  malformed: number;
  sendErrors: number;
  lastSendError: string | null;
  /** The checksum form adverts are sent with (follows a peer on the old unicast form). */
  checksumForm: ChecksumForm;
}

/** Seconds between two log lines about the same kind of discarded advert. */
const discardLogEveryMs = 10_000;

export class PairInstance {
  private readonly s: PairSettings;
  private readonly ifname: string;
  private readonly local: string;
  private readonly sockets: AdvertSocketFactory;
  private readonly vips: Vips;
  private readonly frames: FrameSenderFactory;
  private readonly mac: () => string | null;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly onRole: ((c: RoleChange) => void) | undefined;
  private readonly onAdvert: ((src: string, priority: number) => void) | undefined;
  private readonly onProblem: PairInstanceOptions['onProblem'];
  private readonly machine: VrrpMachine;
  private readonly runner: VrrpRunner;
  private socket: AdvertSocket | undefined;
  private sender: FrameSender | undefined;
  private adopted = false;
  private faulted = false;
  private started = false;
  private malformed = 0;
  private sendErrors = 0;
  private lastSendError: string | null = null;
  private form: ChecksumForm;
  private readonly discardLoggedAt = new Map<string, number>();
  private addressMismatchLogged = false;
  /** Role changes held while a takeover's first announcement is pending (null: none held). */
  private heldReports: RoleChange[] | null = null;

  constructor(opts: PairInstanceOptions) {
    this.s = opts.settings;
    this.ifname = opts.interface;
    this.local = opts.localAddress;
    this.sockets = opts.sockets;
    this.vips = opts.vips;
    this.frames = opts.frames;
    this.mac = opts.mac;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.onRole = opts.onRole;
    this.onAdvert = opts.onAdvert;
    this.onProblem = opts.onProblem;
    this.form = sendForm(this.s.checksum, this.s.family);
    this.machine = new VrrpMachine({ ...this.s.machine, priority: opts.priority, localAddress: this.local, clock: this.clock });
    this.runner = new VrrpRunner({
      machine: this.machine,
      clock: this.clock,
      ...(opts.defer ? { defer: opts.defer } : {}),
      onAction: (a) => this.act(a),
      onError: (err, a) => this.log.error({ action: a.type, err: errorMessage(err) }, 'paird: action failed'),
    });
  }

  get role(): Role { return this.faulted ? 'fault' : this.machine.state; }

  /**
   * Opens the socket and starts the election. VIPs already on the
   * interface (a previous run was killed while master) are adopted: they
   * stay until the election says otherwise, so winning again flaps nothing,
   * and hearing a better master removes them.
   */
  async start(opts: { carrier: boolean }): Promise<void> {
    await this.vips.prepare();
    const present = await this.vips.present();
    if (present.length > 0) {
      this.adopted = true;
      this.log.warn({ vips: present, device: this.vips.device },
        'paird: start: VIPs already on the interface (the last run stopped without releasing them); keeping them until the election decides');
    }
    this.started = true;
    if (!opts.carrier) {
      this.enterFault('no carrier on the pair interface at start');
      return;
    }
    this.openSocket();
    this.runner.dispatch({ type: 'startup' });
  }

  /** Graceful stop: priority 0 if master, VIPs off, socket closed. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.runner.dispatch({ type: 'shutdown' });
    if (this.adopted) {
      this.adopted = false;
      void this.vips.remove().catch(() => undefined);
    }
    this.runner.close();
    await this.vips.settled();
    this.socket?.close();
    this.socket = undefined;
    this.sender?.close();
    this.sender = undefined;
  }

  /**
   * Stops as a crash would: no priority 0, VIPs left as they are, for the
   * next instance to adopt (reloads use it so a changed setting flaps nothing).
   */
  halt(): void {
    this.started = false;
    // Whatever a takeover held goes out now, while the daemon can still act on it.
    this.releaseReports();
    this.runner.close();
    this.socket?.close();
    this.socket = undefined;
    this.sender?.close();
    this.sender = undefined;
  }

  /** Another router may have held the VIPs (pair sync says so): a master announces them again. */
  reannounce(): void {
    if (!this.started || this.faulted) return;
    this.runner.dispatch({ type: 'reannounce' });
  }

  /** The tracked priority changed. */
  setPriority(priority: number): void {
    this.runner.dispatch({ type: 'priority', priority });
  }

  /**
   * Carrier of the pair interface. Losing it is a fault (as keepalived's
   * FAULT state): the VIPs come off, since this box can no longer serve
   * them, and the election stops; getting it back starts it again as at
   * boot (backup, waiting Master_Down_Interval for a master).
   */
  setCarrier(up: boolean): void {
    if (!this.started) return;
    if (!up && !this.faulted) this.enterFault('the pair interface lost its carrier');
    else if (up && this.faulted) this.leaveFault();
  }

  status(): InstanceStatus {
    let socket: AdvertSocketStats | null = null;
    try { socket = this.socket?.stats() ?? null; } catch { socket = null; }
    return {
      ...this.machine.status(),
      role: this.role,
      interface: this.ifname,
      localAddress: this.local,
      vips: this.vips.addresses,
      vipDevice: this.vips.device,
      adopted: this.adopted,
      vipOps: { ...this.vips.counters, lastError: this.vips.lastError },
      socket,
      malformed: this.malformed,
      sendErrors: this.sendErrors,
      lastSendError: this.lastSendError,
      checksumForm: this.form,
    };
  }

  /** Feeds one received datagram (the socket's callback; tests call it directly). */
  receive(p: ReceivedAdvert | MalformedDatagram): void {
    if (!this.started || this.faulted) return;
    if (!p.ok) {
      this.malformed++;
      this.logDiscard('malformed', p.detail);
      return;
    }
    const r = decode(p.payload, {
      src: p.src, dst: p.dst, ttl: p.ttl, mode: this.s.checksum, expectedVrid: this.s.vrid,
      peers: this.s.unicastPeers, localAddresses: [this.local], expectedAddresses: this.s.advertAddresses,
    });
    if (!r.ok) {
      this.runner.dispatch({ type: 'discard', reason: r.reason });
      // Another VRID on the same LAN is another virtual router, not a fault.
      if (r.reason !== 'vrid') this.logDiscard(r.reason, `from ${p.src}: ${r.detail}`);
      if (r.reason === 'checksum') this.onProblem?.('checksum', `adverts from ${p.src} fail the ${this.s.checksum} checksum: ${r.detail}`);
      // Seen with keepalived given only the global VIP: it sends that first,
      // and drops ours for listing two addresses, so both boxes are master.
      if (r.reason === 'address') {
        this.onProblem?.('addresses', `adverts from ${p.src} do not start with a link-local address (RFC 9568 5.2.9: ${r.detail}); `
          + `both boxes may be master. On keepalived list ${this.s.vips[0]} first in virtual_ipaddress`);
      }
      return;
    }
    this.onProblem?.('checksum', null);
    if (r.addressesMatch === false && !this.addressMismatchLogged) {
      this.addressMismatchLogged = true;
      const msg = `${p.src} advertises ${r.advert.addresses.join(', ')}; this box has ${this.s.advertAddresses.join(', ')} (RFC 9568 7.1: logged, not dropped)`;
      this.log.warn({ src: p.src }, `paird: receive: ${msg}`);
      this.onProblem?.('addresses', msg);
    }
    // keepalived answers the old unicast checksum form in kind; so do we.
    if (r.family === 4 && this.s.checksum === 'keepalived' && r.checksumForm !== this.form && this.s.unicastPeers.length > 0) {
      this.log.info({ src: p.src, form: r.checksumForm }, 'paird: receive: peer checksums unicast adverts the old way; following it');
      this.form = r.checksumForm;
    }
    this.runner.dispatch({ type: 'advert', priority: r.advert.priority, intervalMs: r.advert.intervalMs, src: p.src });
    this.onAdvert?.(p.src, r.advert.priority);
    if (this.adopted && this.machine.state === 'backup' && this.machine.status().master !== undefined) {
      this.adopted = false;
      this.log.info({ master: p.src }, 'paird: another router is master: releasing the VIPs the last run left');
      this.vipOp('remove');
    }
  }

  private openSocket(): void {
    if (this.socket) return;
    try {
      this.socket = this.sockets(this.ifname, this.s.family, (p) => this.receive(p));
      this.onProblem?.('socket', null);
    } catch (err) {
      this.onProblem?.('socket', errorMessage(err));
      throw err;
    }
  }

  private enterFault(why: string): void {
    const from = this.role;
    // Reported once, as X -> fault, not also as the machine's X -> initialize.
    this.faulted = true;
    // Shutdown: a master sends priority 0 (lost without carrier, harmless)
    // and takes its VIPs off. A backup holds none, unless adopted ones.
    this.runner.dispatch({ type: 'shutdown' });
    if (this.adopted) {
      this.adopted = false;
      this.vipOp('remove');
    }
    // The interface may come back as a new link (new index): the socket
    // is opened again then.
    this.socket?.close();
    this.socket = undefined;
    this.sender?.close();
    this.sender = undefined;
    this.report(from, 'fault', 'fault', why);
  }

  private leaveFault(): void {
    this.faulted = false;
    this.report('fault', 'initialize', 'recovered', 'the pair interface has its carrier back');
    try {
      this.openSocket();
    } catch (err) {
      this.faulted = true;
      this.log.error({ err: errorMessage(err) }, 'paird: cannot open the advert socket after the carrier came back; staying in fault');
      return;
    }
    this.runner.dispatch({ type: 'startup' });
  }

  private report(from: Role, to: Role, reason: RoleChange['reason'], detail: string): void {
    const c: RoleChange = { at: this.clock.now(), from, to, reason, detail, priority: this.machine.priority };
    if (this.heldReports) this.heldReports.push(c);
    else this.onRole?.(c);
  }

  /**
   * Holds role reports until the takeover under way has put its VIPs on and
   * sent its first announcement. The machine reports the transition before
   * it asks for the advert, the VIPs and the announcement (its action
   * order), and the daemon's reaction to a report is work on the same event
   * loop and netlink socket as the VIP add: measured in the lab, it put the
   * gratuitous ARP 16-28 ms after the first advert (keepalived: under 2 ms),
   * traffic through the VIP lost meanwhile.
   */
  private holdReportsForTakeover(): void {
    if (this.heldReports) return;
    this.heldReports = [];
    // After the current dispatch has asked for the VIPs and the
    // announcement: the announcement's continuation on settled() was
    // registered first, so the release runs after it.
    queueMicrotask(() => {
      void this.vips.settled().then(() => this.releaseReports(), () => this.releaseReports());
    });
  }

  private releaseReports(): void {
    const held = this.heldReports ?? [];
    this.heldReports = null;
    for (const c of held) this.onRole?.(c);
  }

  private act(a: Action): void {
    switch (a.type) {
      case 'sendAdvert': this.sendAdvert(a.priority, a.intervalMs); break;
      case 'addVips':
        this.adopted = false;
        this.vipOp('add');
        break;
      case 'removeVips':
        // At startup the machine clears what a crash may have left; adopted
        // VIPs wait for the election instead (see start).
        if (this.adopted && this.machine.state === 'backup' && this.machine.status().master === undefined) return;
        this.vipOp('remove');
        break;
      case 'announce': this.announce(a.seq, a.count); break;
      case 'transition':
        this.beacon(a.to === 'master');
        this.log.info({ from: a.from, to: a.to, reason: a.reason, priority: this.machine.priority }, `paird: ${a.from} -> ${a.to}: ${a.detail}`);
        if (a.to === 'master' && this.started) this.holdReportsForTakeover();
        if (!this.faulted) this.report(a.from, a.to, a.reason, a.detail);
        break;
      default: break;
    }
  }

  /**
   * The native beacon covers a master's adverts while JS is held up, for at
   * most ten intervals (at least 2 s): long enough for a GC pause or a
   * starved CPU, short enough that a wedged daemon still hands over.
   */
  private beacon(on: boolean): void {
    const interval = this.s.machine.advertIntervalMs;
    try {
      this.socket?.beacon(on ? interval : 0, on ? Math.max(2000, 10 * interval) : 0);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'paird: cannot set the advert beacon');
    }
  }

  private sendAdvert(priority: number, intervalMs: number): void {
    if (!this.socket) return;
    const dsts = this.s.unicastPeers.length > 0 ? this.s.unicastPeers : [this.s.family === 4 ? vrrpGroupV4 : vrrpGroupV6];
    for (const dst of dsts) {
      const payload = encode({ vrid: this.s.vrid, priority, intervalMs, addresses: this.s.advertAddresses },
        { src: this.local, dst, mode: this.s.checksum, form: this.form });
      try {
        this.socket.send(this.local, dst, payload);
        if (this.lastSendError !== null) {
          this.lastSendError = null;
          this.onProblem?.('socket', null);
        }
      } catch (err) {
        this.sendErrors++;
        const msg = errorMessage(err);
        if (msg !== this.lastSendError) this.log.warn({ dst, err: msg }, 'paird: cannot send advert');
        this.lastSendError = msg;
        this.onProblem?.('socket', msg);
      }
    }
  }

  private vipOp(op: 'add' | 'remove'): void {
    const p = op === 'add' ? this.vips.add() : this.vips.remove();
    p.then(() => this.onProblem?.('vip', null), (err: unknown) => {
      const msg = errorMessage(err);
      this.log.error({ op, err: msg }, 'paird: VIP change failed');
      this.onProblem?.('vip', `${op === 'add' ? 'putting the VIPs on' : 'taking the VIPs off'} failed: ${msg}`);
    });
  }

  private announce(seq: number, count: number): void {
    const mac = this.mac();
    if (!mac) {
      this.log.warn('paird: announce: the MAC of the VIP device is not known yet; skipping this round');
      return;
    }
    const send = (): void => {
      if (this.machine.state !== 'master') return;
      try {
        this.sender ??= this.frames(this.vips.device);
        for (const f of announcementFrames(this.vips.addresses, this.s.family, mac)) this.sender.send(f);
        this.log.debug({ seq, count, mac }, 'paird: announced the VIPs');
      } catch (err) {
        this.sender?.close();
        this.sender = undefined;
        this.log.warn({ err: errorMessage(err) }, 'paird: announce failed');
      }
    };
    // Once the VIPs are on (the add was asked for just before): announced
    // earlier, traffic to the VIP itself would reach a box that does not
    // have it yet and be forwarded into an ARP queue for up to a second (seen
    // in the lab); a virtual-MAC interface is not even up before that.
    void this.vips.settled().then(send);
  }

  private logDiscard(reason: DiscardReason | 'malformed', detail: string): void {
    const now = this.clock.monotonic();
    const last = this.discardLoggedAt.get(reason);
    if (last !== undefined && now - last < discardLogEveryMs) return;
    this.discardLoggedAt.set(reason, now);
    this.log.warn({ reason }, `paird: advert discarded (${reason}): ${detail}`);
  }
}

/** Thrown when the instance cannot find its own address on the pair interface. */
export function noLocalAddress(ifname: string, family: number): TernError {
  return new TernError('TERN_E_PAIRD_SOCKET', `paird: start: no IPv${family} ${family === 6 ? 'link-local ' : ''}address on ${ifname} to send adverts from; want one configured (lan.address)`);
}
