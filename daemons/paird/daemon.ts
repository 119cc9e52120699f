// tern-paird put together: the pair section of the config becomes a
// running virtual router (PairInstance) fed by tracking (carrier, probed,
// tunneld), talking to the other box (PairSync), offering its WANs to
// steerd (PeerPath), and telling operators (bus, events table, hooks).
import path from 'node:path';
import { BusClient } from '../lib/bus/index.js';
import { systemClock, type TimerHandle } from '../lib/clock/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import { recordEvent } from '../lib/events/index.js';
import { Rtnl, keyBytes, readKeyFile } from '../lib/kernel/index.js';
import { siteKeyFile } from '../lib/keys/index.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import { socketPath } from '../lib/paths/index.js';
import { pairdApi, probedApi, tunneldApi, type PairStatusT } from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { addressBytes, formatAddressBytes, isLinkLocalV6 } from './addr.js';
import { virtualMac, formatMac } from './garp.js';
import { HealthInputs, type HealthItem } from './health.js';
import { HookRunner, hooksDirName } from './hooks.js';
import { PairInstance, noLocalAddress, type RoleChange } from './instance.js';
import { LinkMonitor, type LinkSource } from './link.js';
import { PeerPath, peerWanFacts, peerWanPlan, type PeerKernel, type PeerWanFacts, type PeerWanPlan } from './peer.js';
import { pairSettings, type PairSettings } from './settings.js';
import { nativeAdvertSocket, type AdvertSocketFactory } from './socket.js';
import { PairSync, type PeerFacts, type SyncSocketFactory } from './sync.js';
import { deriveSyncKey, type SyncKey } from './syncwire.js';
import { PriorityTracker } from './track.js';
import {
  VipManager, nativeFrameSender, procSysctl, virtualMacIfname,
  type FrameSenderFactory, type MacvlanMaker, type SysctlWriter, type VipKernel,
} from './vip.js';

/** What can be swapped for tests; every default is the real thing. */
export interface PairdDeps {
  sockets?: AdvertSocketFactory;
  frames?: FrameSenderFactory;
  links?: () => LinkSource;
  /** Opens a kernel interface; called twice per runtime (VIPs, peer-WAN plumbing: a socket each). */
  kernel?: () => VipKernel & PeerKernel & { addresses: Rtnl['addresses']; close(): void };
  makeMacvlan?: MacvlanMaker;
  sysctl?: SysctlWriter;
  syncSocket?: SyncSocketFactory;
  /** The pair-sync key of a config (default loadSyncKey: derived from the site key file). */
  syncKey?: (cfg: TernConfig, keysDir: string) => SyncKey;
  /** probed's and tunneld's bus sockets (default <runDir>/<daemon>.sock). */
  probedSocket?: string;
  tunneldSocket?: string;
}

/** `pair.role`: a role change, as published and stored. */
export interface PairRoleMessage extends RoleChange {
  box: string;
  vrid: number;
}

const busRetry = { initialMs: 200, maxMs: 5000 } as const;
/** How often pair sync tries again when the site key cannot be read (tunneld may not have made it yet). */
export const syncKeyRetryMs = 5000;

/** The name of the systemd credential the paird unit loads the site key as (systemd/tern-paird.service). */
export const siteKeyCredential = 'site.key';

/**
 * Where the site's WireGuard private key may be read, which both boxes of a
 * PAIR hold: the file the config names (default <keys>/overlay.key), then
 * the copy systemd hands paird as a credential ($CREDENTIALS_DIRECTORY/
 * site.key, readable by paird alone). Under systemd paird cannot see the
 * key store, only tunneld can (systemd/README.md), so the credential is
 * what it reads there; paird only ever uses what it derives from the key.
 */
export function siteKeyFiles(cfg: TernConfig, keysDir: string, credentials = process.env.CREDENTIALS_DIRECTORY): string[] {
  const files = [siteKeyFile(keysDir, cfg.overlay.privateKeyFile)];
  if (credentials) files.push(path.join(credentials, siteKeyCredential));
  return files;
}

/**
 * The pair-sync key: derived from the site's WireGuard private key (HKDF,
 * syncwire.ts), so the two boxes need no new secret: a PAIR already shares
 * that key, or its overlay would not work. Throws TernError naming the
 * file (never the key) when it cannot be read.
 */
export function loadSyncKey(cfg: TernConfig, keysDir: string, credentials = process.env.CREDENTIALS_DIRECTORY): SyncKey {
  const [first, ...rest] = siteKeyFiles(cfg, keysDir, credentials);
  let text: string | undefined;
  try {
    text = readKeyFile(first!, 'paird: sync key');
  } catch (err) {
    // The first one's error is the one to report: it names the file the config means.
    for (const f of rest) {
      try { text = readKeyFile(f, 'paird: sync key'); break; } catch { /* the next, or the first error */ }
    }
    if (text === undefined) throw err;
  }
  return deriveSyncKey(keyBytes(text, 'site key'), cfg.identity.site, cfg.pair!.vrid);
}

/** The host part of an address/length. */
const hostOf = (cidr: string): string => cidr.split('/')[0]!;

/**
 * The advert source: for IPv4 this box's LAN address when it is on the pair
 * interface, else the first IPv4 address there that is not a VIP; for IPv6
 * the interface's link-local address (RFC 9568 5.1.2.1).
 */
export function chooseLocalAddress(settings: PairSettings, lanAddress: string, onInterface: string[]): string | undefined {
  const vips = new Set(settings.vips.map((v) => canonical(hostOf(v))));
  const candidates = onInterface.map((c) => canonical(hostOf(c))).filter((a) => !vips.has(a));
  const fam = (a: string): number => (addressBytes(a)?.length === 16 ? 6 : 4);
  if (settings.family === 6) return candidates.find((a) => fam(a) === 6 && isLinkLocalV6(addressBytes(a)!));
  const lan = canonical(hostOf(lanAddress));
  if (candidates.includes(lan) && fam(lan) === 4) return lan;
  return candidates.find((a) => fam(a) === 4);
}

function canonical(a: string): string {
  const b = addressBytes(a);
  return b ? formatAddressBytes(b) : a;
}

/** Everything that runs for one pair configuration; rebuilt on a reload that changes it. */
class PairRuntime {
  readonly settings: PairSettings;
  readonly ifname: string;
  readonly plan: PeerWanPlan[];
  private readonly cfg: TernConfig;
  private readonly ctx: DaemonContext;
  private readonly deps: PairdDeps;
  private readonly log: Logger;
  private readonly kernel: ReturnType<NonNullable<PairdDeps['kernel']>>;
  private readonly peerKernel: ReturnType<NonNullable<PairdDeps['kernel']>>;
  private readonly vips: VipManager;
  private readonly links: LinkMonitor;
  private readonly health: HealthInputs;
  private tracker: PriorityTracker;
  private instance: PairInstance | undefined;
  private sync: PairSync | undefined;
  private readonly peerPath: PeerPath;
  private readonly hooks: HookRunner;
  private probed: { close(): Promise<void> } | undefined;
  private tunneld: { close(): Promise<void> } | undefined;
  private peerFacts: PeerWanFacts;
  private readonly vmac: string | undefined;
  private readonly box: string;
  private lastPeer: PeerFacts | undefined;
  private syncRetry: TimerHandle | undefined;
  private syncProblem: string | undefined;
  private closed = false;
  /** The key id pair sync runs with (null: no key could be read). */
  syncKeyId: string | null = null;

  constructor(cfg: TernConfig, ctx: DaemonContext, deps: PairdDeps, log: Logger) {
    const pair = cfg.pair!;
    this.cfg = cfg;
    this.ctx = ctx;
    this.deps = deps;
    this.log = log;
    this.box = cfg.identity.name;
    this.settings = pairSettings(pair);
    this.ifname = pair.interface ?? cfg.lan.interface;
    this.plan = peerWanPlan(cfg);
    const kernel = deps.kernel ?? (() => new Rtnl({ logger: componentLogger(ctx.logger, 'rtnl') }));
    this.kernel = kernel();
    // The peer-WAN plumbing gets a netlink socket of its own: Rtnl runs one
    // request at a time, and a peer-path pass (several rule and route dumps,
    // e.g. when the peer goes silent, which is also when the backup takes
    // over) must never hold up putting the VIPs on.
    this.peerKernel = kernel();
    const sysctl = deps.sysctl ?? procSysctl;
    this.vmac = this.settings.virtualMac ? formatMac(virtualMac(this.settings.vrid, this.settings.family)) : undefined;
    this.vips = new VipManager({
      kernel: this.kernel,
      interface: this.ifname,
      vips: this.settings.vips,
      family: this.settings.family,
      ...(this.vmac ? { virtualMac: { ifname: virtualMacIfname(this.settings.vrid), mac: this.vmac } } : {}),
      ...(deps.makeMacvlan ? { makeMacvlan: deps.makeMacvlan } : {}),
      sysctl,
      logger: log,
    });
    this.peerPath = new PeerPath({ kernel: this.peerKernel, sysctl, logger: log });
    this.hooks = new HookRunner({ dir: path.join(ctx.paths.etcDir, hooksDirName), clock: ctx.clock, logger: log });

    const items: HealthItem[] = [
      ...cfg.wans.map((w) => ({ name: w.name, kind: 'wan' as const, interface: w.interface })),
      ...pair.track.filter((t) => t.path !== undefined).map((t) => ({ name: t.path!, kind: 'path' as const })),
    ];
    const tracked = new Set(this.settings.tracker.items.map((i) => i.name));
    this.health = new HealthInputs({
      items,
      onChange: (name, up, why) => {
        log.info({ item: name, up, why }, `paird: ${name} ${up ? 'up' : 'down'} (${why})`);
        if (tracked.has(name)) this.tracker.set(name, up);
        this.sync?.set({ wans: this.ownWans() });
      },
    });
    this.tracker = this.newTracker();
    this.links = new LinkMonitor({
      names: [this.ifname, ...cfg.wans.map((w) => w.interface)],
      ...(deps.links ? { source: deps.links() } : {}),
      clock: ctx.clock,
      logger: log,
      onChange: (name, f) => {
        // A re-created pair interface has a new index: the VIP adds use it.
        this.vips.linkChanged(name, f?.index ?? null);
        this.onLink(name, f?.carrier ?? null);
      },
    });
    this.peerFacts = peerWanFacts(this.plan, 'initialize', this.ifname, undefined);
  }

  private newTracker(): PriorityTracker {
    return new PriorityTracker({
      ...this.settings.tracker,
      clock: this.ctx.clock,
      onChange: (priority, why) => {
        this.log.info({ priority, why }, `paird: priority ${priority}${why.length ? `: ${why.join('; ')}` : ''}`);
        this.instance?.setPriority(priority);
        this.sync?.set({ priority });
        this.ctx.bus.publish('pair.priority', { box: this.box, vrid: this.settings.vrid, priority, why });
      },
    });
  }

  async start(): Promise<void> {
    await this.links.refresh();
    const addrs = (await this.kernel.addresses(this.ifname)).map((a) => a.cidr);
    const local = chooseLocalAddress(this.settings, this.cfg.lan.address, addrs);
    if (!local) throw noLocalAddress(this.ifname, this.settings.family);
    this.instance = new PairInstance({
      settings: this.settings,
      interface: this.ifname,
      localAddress: local,
      priority: this.tracker.priority(),
      sockets: this.deps.sockets ?? nativeAdvertSocket(),
      vips: this.vips,
      frames: this.deps.frames ?? nativeFrameSender(),
      mac: () => this.vmac ?? this.links.get(this.ifname)?.mac ?? null,
      clock: this.ctx.clock,
      ...(this.ctx.clock === systemClock ? { defer: (fn: () => void) => { setImmediate(fn); } } : {}),
      logger: this.log,
      onRole: (c) => this.onRole(c),
      onAdvert: (src) => this.sync?.learn(src),
      onProblem: (key, message) => this.ctx.health.check(`paird.${key}`, message !== null, message ?? '', key === 'addresses' ? 'warning' : 'error'),
    });
    await this.startSync(local);
    const carrier = this.links.get(this.ifname)?.carrier ?? false;
    await this.instance.start({ carrier });
    this.watchBus();
    await this.applyPeer();
  }

  /**
   * Pair sync, once the key is read. The election does not need it, only
   * the peer-WAN path does: without a key or a socket the runtime runs on,
   * with a paird.sync warning, and tries again every syncKeyRetryMs.
   */
  private async startSync(local: string): Promise<void> {
    const retry = (problem: string): void => {
      this.ctx.health.set('paird.sync', `${problem}; the peer's WANs are not offered; trying again every ${syncKeyRetryMs / 1000} s`, 'warning');
      if (problem !== this.syncProblem) this.log.warn({ problem }, 'paird: sync: not running');
      this.syncProblem = problem;
      this.syncRetry = this.ctx.clock.setTimeout(() => {
        this.syncRetry = undefined;
        if (!this.closed) void this.startSync(local);
      }, syncKeyRetryMs);
    };
    let key: SyncKey;
    try {
      key = (this.deps.syncKey ?? loadSyncKey)(this.cfg, this.ctx.paths.keysDir);
    } catch (err) {
      this.syncKeyId = null;
      retry(`pair sync has no key: ${errorMessage(err)}`);
      return;
    }
    this.syncKeyId = key.id;
    const lanHost = hostOf(this.cfg.lan.address);
    // IPv6 adverts come from link-local addresses, and a backup learns the
    // master only from them: an IPv6 instance syncs between those (the
    // messages still carry the lan.address the peer-WAN routes use).
    const bind = this.settings.family === 6 ? `${local}%${this.ifname}` : lanHost;
    const bindBytes = addressBytes(bind.split('%')[0]!)!;
    const sync = new PairSync({
      facts: {
        site: this.cfg.identity.site, box: this.box, vrid: this.settings.vrid, role: this.instance?.role ?? 'initialize',
        priority: this.tracker.priority(), lanAddress: lanHost, wans: this.ownWans(),
        intervalMs: Math.max(100, this.settings.machine.advertIntervalMs),
      },
      key,
      lan: this.cfg.lan.address,
      // Sent to, and the only sources accepted: those the socket can reach.
      peers: this.settings.unicastPeers.filter((p) => {
        const b = addressBytes(p);
        return b !== undefined && b.length === bindBytes.length && isLinkLocalV6(b) === isLinkLocalV6(bindBytes);
      }),
      bind,
      ...(this.deps.syncSocket ? { socket: this.deps.syncSocket } : {}),
      clock: this.ctx.clock,
      logger: this.log,
      onPeer: (p) => this.onPeer(p),
    });
    try {
      await sync.start();
    } catch (err) {
      retry(`pair sync cannot listen on ${bind}: ${errorMessage(err)}`);
      return;
    }
    if (this.closed) {
      sync.close();
      return;
    }
    this.sync = sync;
    this.syncProblem = undefined;
    this.ctx.health.clear('paird.sync');
    this.log.info({ bind, keyId: key.id, boot: sync.boot }, 'paird: sync: running');
  }

  /** Graceful: priority 0 if master, VIPs off, peer routes withdrawn. */
  async stop(): Promise<void> {
    await this.instance?.stop();
    await this.peerPath.clear(this.plan);
    await this.close();
  }

  /**
   * Stops without touching the VIPs or sending priority 0, as a crash would:
   * the next runtime adopts what it finds. Used by reloads, so changing a
   * setting does not flap the VIPs.
   */
  async halt(): Promise<void> {
    this.instance?.halt();
    await this.close();
  }

  private async close(): Promise<void> {
    this.closed = true;
    this.ctx.clock.clearTimeout(this.syncRetry);
    this.tracker.close();
    this.links.close();
    this.sync?.close();
    await Promise.all([this.probed?.close(), this.tunneld?.close()]);
    await this.hooks.idle();
    this.kernel.close();
    this.peerKernel.close();
  }

  /** Reload without rebuilding: tracking settings only. */
  retrack(cfg: TernConfig): void {
    const s = pairSettings(cfg.pair!);
    Object.assign(this.settings.tracker, s.tracker);
    this.tracker.close();
    this.tracker = this.newTracker();
    for (const h of this.health.all()) if (s.tracker.items.some((i) => i.name === h.name)) this.tracker.set(h.name, h.up);
    this.instance?.setPriority(this.tracker.priority());
  }

  status(): PairStatusT & Record<string, unknown> {
    const st = this.instance?.status();
    return {
      enabled: true,
      box: this.box,
      vrid: this.settings.vrid,
      role: st?.role ?? 'initialize',
      priority: this.tracker.priority(),
      basePriority: this.settings.tracker.basePriority,
      why: this.tracker.why(),
      tracking: this.tracker.status(),
      health: this.health.all(),
      lastTransition: st?.counters.lastTransition ?? null,
      instance: st ?? null,
      peer: this.sync?.peer() ?? null,
      sync: this.sync ? this.sync.status() : { running: false, problem: this.syncProblem ?? null },
      peerWan: this.peerFacts,
      hooks: { dir: path.join(this.ctx.paths.etcDir, hooksDirName), found: this.hooks.hooks().map((h) => path.basename(h)), ...this.hooks.counters },
    };
  }

  peerWan(): PeerWanFacts { return this.peerFacts; }

  private ownWans(): Array<{ name: string; up: boolean }> {
    return this.cfg.wans.map((w) => ({ name: w.name, up: this.health.get(w.name)?.up ?? true }));
  }

  private onLink(name: string, carrier: boolean | null): void {
    if (name === this.ifname) this.instance?.setCarrier(carrier === true);
    if (this.cfg.wans.some((w) => w.interface === name)) this.health.setCarrier(name, carrier);
  }

  private onRole(c: RoleChange): void {
    const msg: PairRoleMessage = { ...c, box: this.box, vrid: this.settings.vrid };
    this.ctx.bus.publish('pair.role', msg);
    this.ctx.health.check('paird.fault', c.to === 'fault', `pair interface ${this.ifname}: ${c.detail}`, 'error');
    this.sync?.set({ role: c.to });
    void this.record(msg);
    void this.hooks.run({
      event: 'transition', from: c.from, to: c.to, reason: c.reason, detail: c.detail, priority: c.priority,
      vrid: this.settings.vrid, interface: this.ifname, vips: this.settings.vips, at: c.at, box: this.box,
    });
    void this.applyPeer();
  }

  private onPeer(p: PeerFacts | undefined): void {
    this.log.info({ peer: p ? { box: p.box, role: p.role, alive: p.alive, wans: p.wans } : null }, 'paird: peer facts changed');
    const before = this.lastPeer;
    this.lastPeer = p;
    // Hosts may have learnt the peer's MAC for the VIPs if it claims to be
    // master, has just stopped being one, or comes back after a silence (a
    // partition): VRRP alone re-announces only if the peer's advert reaches
    // us before ours reaches it.
    if (p?.alive && this.instance?.role === 'master'
      && (p.role === 'master' || before?.role === 'master' || before?.alive === false)) {
      this.log.info({ peer: p.box, role: p.role, was: before ? `${before.role}${before.alive ? '' : ' (silent)'}` : null }, 'paird: the peer may have held the VIPs: announcing them again');
      this.instance.reannounce();
    }
    void this.applyPeer();
  }

  private async applyPeer(): Promise<void> {
    const role = this.instance?.role ?? 'initialize';
    const next = peerWanFacts(this.plan, role, this.ifname, this.sync?.peer());
    const changed = JSON.stringify({ ...next, peer: next.peer && { ...next.peer, heardAt: 0 } })
      !== JSON.stringify({ ...this.peerFacts, peer: this.peerFacts.peer && { ...this.peerFacts.peer, heardAt: 0 } });
    this.peerFacts = next;
    if (changed) this.ctx.bus.publish('pair.peerWan', { box: this.box, vrid: this.settings.vrid, ...next });
    if (this.plan.length > 0) await this.peerPath.apply(next);
  }

  private async record(m: PairRoleMessage): Promise<void> {
    try {
      const store = await this.ctx.store();
      await recordEvent(store, {
        ts: m.at, daemon: 'paird', kind: 'pair.role', subject: `vrid ${m.vrid}`,
        detail: { box: m.box, from: m.from, to: m.to, reason: m.reason, detail: m.detail, priority: m.priority },
      });
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'paird: cannot record the transition in the events table');
    }
  }

  /** probed's verdicts and tunneld's path states, each with its current state on (re)connection. */
  private watchBus(): void {
    const clientOpts = (daemon: string, override: string | undefined) => ({
      socketPath: override ?? socketPath(this.ctx.paths, daemon), clock: this.ctx.clock, logger: this.log, timeoutMs: 2000, reconnect: busRetry,
    });
    // Typed and checked by probed's and tunneld's contracts (daemons/lib/api): a
    // verdict in another shape is refused on arrival, never acted on.
    const probed = BusClient.for({ ...clientOpts('probed', this.deps.probedSocket), contract: probedApi });
    const tunneld = BusClient.for({ ...clientOpts('tunneld', this.deps.tunneldSocket), contract: tunneldApi });
    this.probed = probed;
    this.tunneld = tunneld;
    const warn = (what: string) => (err: unknown): void => this.log.warn({ err: errorMessage(err) }, `paird: ${what}`);
    // A target's own transition (target set) is not the WAN's verdict.
    void probed.subscribeTopic('wan.state', (s) => { if (s.target === undefined) this.health.setProbed(s.wan, s.to); }).catch(warn('probed: subscribe wan.state'));
    void probed.subscribeTopic('path.state', (s) => this.health.setProbed(s.path, s.to)).catch(warn('probed: subscribe path.state'));
    probed.on('connected', () => {
      void (async () => {
        for (const w of await probed.call('wans.metrics').catch(() => [])) this.health.setProbed(w.wan, w.state);
        for (const p of await probed.call('paths.metrics').catch(() => [])) this.health.setProbed(p.path, p.state);
      })();
    });
    // Without probed its verdicts would go stale: carrier and tunneld decide again.
    probed.on('disconnected', () => this.health.clearProbed());
    void tunneld.subscribeTopic('paths.changed', (p) => this.health.setTunnel(p.name, p.state)).catch(warn('tunneld: subscribe paths.changed'));
    tunneld.on('connected', () => {
      void tunneld.call('paths.list').then((rows) => {
        for (const r of rows) this.health.setTunnel(r.name, r.state);
      }, () => undefined);
    });
    probed.connect().catch(() => undefined);
    tunneld.connect().catch(() => undefined);
  }
}

/** Reload keys that only touch tracking: applied in place, nothing restarts. */
const trackingKeys = ['track', 'holdDownMs'] as const;

function sameExceptTracking(a: TernConfig, b: TernConfig): boolean {
  const strip = (c: TernConfig): string => {
    const pair = { ...c.pair } as Record<string, unknown>;
    for (const k of trackingKeys) delete pair[k];
    // The base priority lives in the tracker too.
    delete pair.priority;
    return JSON.stringify({ pair, wans: c.wans, lan: c.lan, identity: c.identity });
  };
  return strip(a) === strip(b) && a.pair?.priority !== 255 && b.pair?.priority !== 255;
}

const enabled = (c: TernConfig): boolean => c.pair !== undefined && c.pair.enabled;

/**
 * tern-paird: the PAIR runtime while pair.enabled, standalone otherwise; a
 * reload that changes only tracking retunes the running election, any other
 * change restarts it (keeping the VIPs when they stay on the same link).
 */
export class Paird {
  private readonly log: Logger;
  private cfg: TernConfig;
  private runtime: PairRuntime | undefined;

  constructor(private readonly ctx: DaemonContext, private readonly deps: PairdDeps = {}) {
    this.log = componentLogger(ctx.logger, 'paird');
    this.cfg = ctx.config;
  }

  async start(): Promise<void> {
    await this.begin(this.cfg);
  }

  async reload(next: TernConfig): Promise<void> {
    const running = this.runtime;
    if (running && enabled(next) && sameExceptTracking(this.cfg, next) && running.syncKeyId === this.syncKeyIdOf(next)) {
      running.retrack(next);
      this.cfg = next;
      return;
    }
    if (running) {
      this.runtime = undefined;
      await this.leave(running, next);
    }
    this.cfg = next;
    await this.begin(next);
  }

  /** pair.status: the election, or standalone. */
  pairStatus(): PairStatusT {
    return this.runtime?.status() ?? { enabled: false, role: 'standalone', box: this.cfg.identity.name };
  }

  peerWan(): PeerWanFacts | null {
    return this.runtime?.peerWan() ?? null;
  }

  status(): Record<string, unknown> {
    return { pair: this.pairStatus() };
  }

  async stop(): Promise<void> {
    const r = this.runtime;
    this.runtime = undefined;
    await r?.stop();
  }

  private async begin(c: TernConfig): Promise<void> {
    if (!enabled(c)) {
      this.log.info(c.pair ? 'paird: pair.enabled is false: standalone' : 'paird: no pair section: standalone');
      return;
    }
    const r = new PairRuntime(c, this.ctx, this.deps, this.log);
    try {
      await r.start();
    } catch (err) {
      await r.halt().catch(() => undefined);
      throw err;
    }
    this.runtime = r;
  }

  /** Ends the old runtime for next: VIPs next keeps on the same link are left for it to adopt. */
  private async leave(old: PairRuntime, next: TernConfig): Promise<void> {
    const keep = enabled(next) && (next.pair!.interface ?? next.lan.interface) === old.ifname && next.pair!.virtualMac === (this.cfg.pair?.virtualMac ?? false);
    // VIPs the new config drops come off; the rest are adopted.
    const dropped = keep ? old.settings.vips.filter((v) => !pairSettings(next.pair!).vips.includes(v)) : [];
    if (keep && dropped.length === 0) await old.halt();
    else await old.stop();
  }

  /** A new site key (file or content) restarts pair sync with the rest of the runtime. */
  private syncKeyIdOf(c: TernConfig): string | null {
    try {
      return (this.deps.syncKey ?? loadSyncKey)(c, this.ctx.paths.keysDir).id;
    } catch {
      return null;
    }
  }
}

/** The daemon: what tern-paird runs (main.ts), with its I/O swappable for tests. */
export function pairdSpec(deps: PairdDeps = {}): DaemonSpec {
  return {
    name: 'paird',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      const d = new Paird(ctx, deps);
      await d.start();
      // As daemons/lib/api/paird.ts declares them.
      const bus = contractBus(ctx, pairdApi);
      bus.method('pair.status', () => d.pairStatus());
      bus.method('pair.peerWan', () => d.peerWan());
      return {
        reload: (next) => d.reload(next),
        status: () => d.status(),
        stop: () => d.stop(),
      };
    },
  };
}
