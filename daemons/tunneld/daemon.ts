// tern-tunneld: the WireGuard overlay. One tunnel per (local WAN, remote
// WAN) to every other site, routes to remote LANs, remote access; every
// path's state read each second and published on the bus. The kernel
// (rtnetlink, WireGuard), name lookups and key files are dependencies with
// real defaults, so a test runs the daemon whole against fakes.
import dns from 'node:dns/promises';
import type { Clock, TimerHandle } from '../lib/clock/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import {
  Rtnl, createWireGuardBackend, readInotifyCeiling, wireguardGoCeilingProblem, type DeviceState, type WireGuardBackend,
} from '../lib/kernel/index.js';
import { ifnamePrefix } from '../lib/kernel/names.js';
import { overlayPlan, type PathPlan } from '../lib/overlay/index.js';
import { tunneldApi } from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { desiredState, dhcpWans, pathEndpoint, pathTableAction, type DesiredInputs } from './desired.js';
import { EndpointDrifts, stubbornDriftReadings } from './drift.js';
import { DhcpGateways } from './gateways.js';
import { loadOrCreateSiteKey, readKeyFile } from '../lib/keys/index.js';
import { reconcile, type ReconcileReport, type ReconcileRtnl } from './reconcile.js';
import { pathReading, pathStatus, type PathReading, type PathStatus } from './status.js';

/** How often WireGuard is read for handshakes and counters, and main for DHCP gateways. */
const pollMs = 1000;
/** How often the whole state is reconciled again, repairing drift and retrying failures. */
const resyncMs = 30_000;
/** How long a name lookup may take before the endpoint counts as unresolved. */
const resolveTimeoutMs = 3000;

/** The rtnetlink calls tunneld makes: a reconcile pass's, and close at stop. */
export type TunneldRtnl = ReconcileRtnl & Pick<Rtnl, 'close'>;

/** The site key as loaded (the private key is a secret: never logged). */
export interface SiteKey { privateKey: string; publicKey: string; created: boolean }

/** The kernel, the resolver and the key files; tests pass fakes. */
export interface TunneldDeps {
  /** The rtnetlink handle (default: a new Rtnl; closed at stop). */
  rtnl?: TunneldRtnl;
  /**
   * Makes the WireGuard backend (default: createWireGuardBackend, kernel
   * WireGuard else wireguard-go, on the default Rtnl).
   */
  wireGuard?: (opts: { prefix: string; logger: Logger }) => Promise<WireGuardBackend>;
  /** An endpoint host name to one address (default: dns.lookup, bounded to 3 s on ctx.clock). */
  resolve?: (host: string) => Promise<string>;
  /** Loads the site key, made on first start (default: loadOrCreateSiteKey, 0600). */
  siteKey?: (keysDir: string, configured: string | undefined) => SiteKey;
  /** Reads a preshared key file (default: readKeyFile). */
  readKeyFile?: (file: string) => string;
  /** The inotify instance ceiling wireguard-go runs into (default: read from /proc). */
  inotifyCeiling?: () => number | null;
}

/** One thing in the config this box cannot act on, with the key it comes from. */
interface Problem { key: string; message: string }

interface Prepared { inputs: Omit<DesiredInputs, 'upPaths' | 'pathReadings' | 'dhcpGateways'>; problems: Problem[] }

const isIp = (h: string): boolean => /^[0-9.]+$/.test(h) || h.includes(':');

/** dns.lookup bounded in time: a reload must answer, whatever the resolver does. */
function boundedLookup(clock: Clock): (host: string) => Promise<string> {
  return (host) => new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`no answer within ${resolveTimeoutMs} ms`)), resolveTimeoutMs);
    dns.lookup(host).then((r) => { clock.clearTimeout(timer); resolve(r.address); }, (err: unknown) => { clock.clearTimeout(timer); reject(err); });
  });
}

/** One path's WireGuard reading in a poll: the device (when it answered) and its reading. */
interface PathRead { dev: DeviceState | undefined; reading: PathReading }

/** The overlay state of one running tunneld. */
export class Tunneld {
  private readonly ctx: DaemonContext;
  private readonly log: Logger;
  /** ctx.bus typed by tunneld's contract (daemons/lib/api/tunneld.ts). */
  private readonly bus: ReturnType<typeof contractBus<typeof tunneldApi>>;
  private readonly rtnl: TunneldRtnl;
  private readonly makeWireGuard: NonNullable<TunneldDeps['wireGuard']>;
  private readonly resolve: (host: string) => Promise<string>;
  private readonly deps: TunneldDeps;
  private wg: WireGuardBackend | undefined;
  private key: SiteKey | undefined;
  private prepared: Prepared | undefined;
  private readonly statuses = new Map<string, PathStatus>();
  /** The last WireGuard reading of each path since start, which decides its table (pathTableAction). */
  private readonly readings = new Map<string, PathReading>();
  /** Peer endpoints moved away from the remote WAN the config names (drift.ts). */
  private readonly drifts = new EndpointDrifts();
  private readonly gateways: DhcpGateways;
  private lastReport: ReconcileReport | undefined;
  /** Passes never overlap: each waits for the one before. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Readings never overlap (a slow one would otherwise land after a newer one). */
  private reading: Promise<boolean> | undefined;
  private timers: TimerHandle[] = [];
  private stopped = false;

  constructor(ctx: DaemonContext, deps: TunneldDeps = {}) {
    this.ctx = ctx;
    this.deps = deps;
    this.log = componentLogger(ctx.logger, 'tunneld');
    this.bus = contractBus(ctx, tunneldApi);
    const real = deps.rtnl ? undefined : new Rtnl({ logger: componentLogger(ctx.logger, 'rtnl') });
    this.rtnl = deps.rtnl ?? real!;
    this.makeWireGuard = deps.wireGuard ?? ((o) => createWireGuardBackend({ ...o, ...(real ? { rtnl: real } : {}) }));
    this.resolve = deps.resolve ?? boundedLookup(ctx.clock);
    this.gateways = new DhcpGateways({ read: (tables) => this.rtnl.routesIn(tables), monotonic: () => ctx.clock.monotonic(), logger: this.log });
  }

  /** Backend and key, a first reading of the kernel, a first pass, then the poll and resync timers. */
  async start(): Promise<void> {
    try {
      this.wg = await this.makeWireGuard({ prefix: ifnamePrefix, logger: componentLogger(this.ctx.logger, 'wireguard') });
    } catch (err) {
      this.rtnl.close();
      throw err;
    }
    this.key = (this.deps.siteKey ?? loadOrCreateSiteKey)(this.ctx.paths.keysDir, this.ctx.config.overlay.privateKeyFile);
    this.log.info({ publicKey: this.key.publicKey, created: this.key.created, backend: this.wg.kind }, 'tunneld: site key ready');
    this.prepared = await this.prepare(this.ctx.config, this.key.privateKey);
    this.showProblems(this.prepared.problems);
    // Read before the first pass: a restart then starts from what the
    // kernel says (paths up or down, leases), so it changes nothing that
    // was right — no route goes and comes back.
    await this.read(true).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'tunneld: first reading failed'));
    await this.pass('start');
    this.timers.push(
      this.ctx.clock.setInterval(() => {
        this.poll().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'tunneld: poll failed'));
      }, pollMs),
      this.ctx.clock.setInterval(() => this.resync(), resyncMs),
    );
  }

  /** A new config: refused whole if this box cannot act on it (the tunnels up stay as they are). */
  async reload(config: TernConfig): Promise<void> {
    const next = await this.prepare(config, this.started().key.privateKey);
    if (next.problems.length) {
      throw new TernError('TERN_E_CONFIG_SEMANTIC', `tunneld: reload: ${next.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
    }
    this.prepared = next;
    this.showProblems([]);
    // The DHCP WANs may have changed: their gateways are read before the pass.
    await this.read(true);
    await this.pass('reload');
    if (await this.read()) await this.pass('path state or DHCP gateway changed');
  }

  /** Facts for daemon.status. */
  status(): Record<string, unknown> {
    return {
      publicKey: this.started().key.publicKey,
      backend: this.started().wg.kind,
      paths: { total: this.statuses.size, up: this.up().size, endpointDrifts: this.drifts.total() },
    };
  }

  /** paths.list: every planned path as last read. */
  paths(): PathStatus[] {
    return [...this.statuses.values()];
  }

  /** tunnels.list: every WireGuard device on the box with its peers (public keys only). */
  async tunnels(): Promise<Array<{ ifname: string; ifindex: number | null; up: boolean; listenPort: number | null; fwmark: number | null; peers: DeviceState['peers'] }>> {
    const { wg } = this.started();
    const out = [];
    for (const name of await wg.list()) {
      const d = await wg.get(name).catch(() => undefined);
      const link = await this.rtnl.link(name);
      out.push({ ifname: name, ifindex: link?.index ?? null, up: link?.up ?? false, listenPort: d?.listenPort ?? null, fwmark: d?.fwmark ?? null, peers: d?.peers ?? [] });
    }
    return out;
  }

  /** overlay.info: this site, its public key, the backend, the last reconcile. */
  overlayInfo(): { site: string; publicKey: string; backend: string; siteNumber: number; lastReconcile: ReconcileReport | null } {
    const { wg, key, prepared } = this.started();
    return {
      site: this.ctx.config.identity.site,
      publicKey: key.publicKey,
      backend: wg.kind,
      siteNumber: overlayPlan(prepared.inputs.config).siteNumber,
      lastReconcile: this.lastReport ?? null,
    };
  }

  /** ra.list: public facts only; no bus method returns a secret (docs/bus.md, "Secrets"). */
  remoteUsers(): Array<{ name: string; address: string; allowedPrefixes: string[]; revoked: boolean; publicKey: string }> {
    return this.ctx.config.remoteUsers.map((u) => ({
      name: u.name, address: u.address, allowedPrefixes: u.allowedPrefixes, revoked: u.revoked, publicKey: u.publicKey,
    }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) this.ctx.clock.clearInterval(t);
    await this.chain.catch(() => undefined);
    // Interfaces, peers and routes stay: traffic keeps flowing while
    // tunneld is stopped or restarting.
    this.wg?.close();
    this.rtnl.close();
  }

  /** What start() made; the bus methods and hooks run only after it. */
  private started(): { wg: WireGuardBackend; key: SiteKey; prepared: Prepared } {
    if (!this.wg || !this.key || !this.prepared) throw new TernError('TERN_E_RUNNER_START', 'tunneld: not started');
    return { wg: this.wg, key: this.key, prepared: this.prepared };
  }

  /**
   * Everything the desired state needs from outside the config: keys,
   * resolved endpoint names, and a check that every WAN interface exists.
   */
  private async prepare(cfg: TernConfig, privateKey: string): Promise<Prepared> {
    const problems: Problem[] = [];
    for (const [i, w] of cfg.wans.entries()) {
      if (!(await this.rtnl.link(w.interface))) problems.push({ key: `wans[${i}].interface`, message: `no interface '${w.interface}' on this box (TERN_E_TUNNEL_WAN)` });
    }
    const resolved = await this.resolveEndpoints(cfg, problems);
    const presharedKeys = this.readKeys(cfg.overlay.sites.map((s, i) => ({ id: s.id, file: s.presharedKeyFile, key: `overlay.sites[${i}].presharedKeyFile` })), problems);
    const userPresharedKeys = this.readKeys(cfg.remoteUsers.map((u, i) => ({ id: u.name, file: u.presharedKeyFile, key: `remoteUsers[${i}].presharedKeyFile` })), problems);
    return { inputs: { config: cfg, privateKey, presharedKeys, userPresharedKeys, resolved }, problems };
  }

  /** Remote WAN endpoint names to addresses; a name that does not resolve is a problem, the others go on. */
  private async resolveEndpoints(cfg: TernConfig, problems: Problem[]): Promise<Map<string, string>> {
    const resolved = new Map<string, string>();
    for (const [i, s] of cfg.overlay.sites.entries()) {
      for (const [j, w] of s.wans.entries()) {
        const host = w.endpoint.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
        if (isIp(host) || resolved.has(host)) continue;
        try {
          resolved.set(host, await this.resolve(host));
        } catch (err) {
          problems.push({ key: `overlay.sites[${i}].wans[${j}].endpoint`, message: `host '${host}' does not resolve: ${errorMessage(err)} (TERN_E_TUNNEL_ENDPOINT)` });
        }
      }
    }
    return resolved;
  }

  /** Preshared keys by site id or user name (secrets); a file that cannot be read is a problem. */
  private readKeys(refs: Array<{ id: string; file: string | undefined; key: string }>, problems: Problem[]): Map<string, string> {
    const read = this.deps.readKeyFile ?? readKeyFile;
    const keys = new Map<string, string>();
    for (const r of refs) {
      if (!r.file) continue;
      try { keys.set(r.id, read(r.file)); } catch (err) {
        problems.push({ key: r.key, message: errorMessage(err) });
      }
    }
    return keys;
  }

  private showProblems(problems: Problem[]): void {
    this.ctx.health.check('tunneld.config', problems.length > 0,
      problems.map((p) => `${p.key}: ${p.message}`).join('; '), 'warning');
  }

  private up(): Set<string> {
    return new Set([...this.statuses.values()].filter((s) => s.state === 'up').map((s) => s.name));
  }

  private readingsOf(): Map<string, PathReading> {
    return new Map(overlayPlan(this.started().prepared.inputs.config).paths.map((p) => [p.name, this.readings.get(p.name) ?? 'none']));
  }

  /** Queues a reconcile pass after the one before. */
  private pass(why: string): Promise<ReconcileReport | undefined> {
    const next = this.chain.then(() => this.reconcileOnce(why));
    this.chain = next.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'tunneld: reconcile pass failed'));
    return next;
  }

  /** One pass: the desired state from the config and the last readings, and the kernel taken there. */
  private async reconcileOnce(why: string): Promise<ReconcileReport | undefined> {
    if (this.stopped) return undefined;
    const { wg, prepared } = this.started();
    const known = this.gateways.gateways;
    const want = desiredState({ ...prepared.inputs, upPaths: this.up(), pathReadings: this.readingsOf(), ...(known ? { dhcpGateways: known } : {}) });
    if (wg.kind === 'userspace') {
      const ceiling = wireguardGoCeilingProblem(want.interfaces.length, (this.deps.inotifyCeiling ?? readInotifyCeiling)());
      this.ctx.health.check('tunneld.wireguard-go', ceiling !== undefined, ceiling ?? '', 'warning');
    }
    const report = await reconcile(want, { rtnl: this.rtnl, wg, logger: this.log });
    this.lastReport = report;
    this.ctx.health.check('tunneld.reconcile', report.errors.length > 0, report.errors.slice(0, 5).join('; '), 'error');
    this.log.debug({ why }, 'tunneld: reconcile pass done');
    return report;
  }

  private async read(forceGateways = false): Promise<boolean> {
    while (this.reading) await this.reading.catch(() => false);
    this.reading = this.readOnce(forceGateways);
    try { return await this.reading; } finally { this.reading = undefined; }
  }

  private async poll(): Promise<void> {
    if (this.reading) return; // the tick after will do
    if (await this.read()) await this.pass('path state, DHCP gateway or peer endpoint changed');
  }

  /** Names that did not resolve at start are tried again here. */
  private resync(): void {
    const base = this.started().prepared;
    this.prepare(base.inputs.config, this.started().key.privateKey).then((p) => {
      // A reload that landed while this one was resolving carries a newer
      // config: installing this one would bring the old config back (a
      // revoked remote user's peer stayed until the next reload).
      if (this.prepared !== base) return undefined;
      this.prepared = p;
      this.showProblems(p.problems);
      return this.pass('resync');
    }).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'tunneld: resync failed'));
  }

  /**
   * Reads every path's WireGuard state (and, for DHCP WANs, main's default
   * routes); resolves whether the kernel wants another pass: the up set,
   * a path table's action or a DHCP gateway changed, or a peer endpoint
   * drifted away from the remote WAN the config names (the pass sets it
   * back: it is read every second, not only at the 30 s resync, because
   * the far end's stale source address would otherwise keep it there).
   */
  private async readOnce(forceGateways: boolean): Promise<boolean> {
    const { prepared } = this.started();
    const plan = overlayPlan(prepared.inputs.config);
    const now = this.ctx.clock.now();
    const before = this.up();
    const actionsBefore = this.readingsOf();
    const listing: { present?: Set<string> | 'failed' } = {};
    let drifted = false;
    for (const p of plan.paths) {
      const { dev, reading } = await this.readPath(p, now, listing);
      this.readings.set(p.name, reading);
      const wanted = pathEndpoint(p, prepared.inputs.resolved);
      if (dev && this.observeEndpoint(p, wanted, dev)) drifted = true;
      this.publishStatus(pathStatus(p, dev, now, { wanted: wanted ?? null, drifts: this.drifts.count(p.name) }));
    }
    this.forgetRemoved(new Set(plan.paths.map((p) => p.name)));
    this.showStubbornDrifts();
    const after = this.up();
    const actionsAfter = this.readingsOf();
    const upChanged = before.size !== after.size || [...after].some((n) => !before.has(n));
    const tableChanged = [...actionsAfter].some(([n, r]) => pathTableAction(r) !== pathTableAction(actionsBefore.get(n)));
    this.gateways.setWans(dhcpWans(prepared.inputs.config, plan));
    const gatewayChanged = await this.gateways.refresh(forceGateways);
    this.ctx.health.check('tunneld.dhcp', this.gateways.problem !== undefined,
      `cannot read the main table for DHCP gateways (the WAN tables keep the last ones): ${this.gateways.problem ?? ''}`, 'warning');
    return upChanged || tableChanged || gatewayChanged || drifted;
  }

  /** One path's device, or why there is none; the device list is read once per poll, when first needed. */
  private async readPath(p: PathPlan, now: number, listing: { present?: Set<string> | 'failed' }): Promise<PathRead> {
    const { wg } = this.started();
    try {
      const dev = await wg.get(p.ifname);
      return { dev, reading: pathReading(dev, now) };
    } catch {
      // No interface (yet) is not a failed reading: its table keeps
      // what it has (nothing: routes go with the device). Any other
      // failure leaves up or down unknown.
      listing.present ??= await wg.list().then((names) => new Set(names), () => 'failed' as const);
      const absent = listing.present !== 'failed' && !listing.present.has(p.ifname);
      return { dev: undefined, reading: pathReading(absent ? 'absent' : 'failed', now) };
    }
  }

  /** Compares the peer's endpoint with the one tunneld sets; true while it is elsewhere (a pass sets it back). */
  private observeEndpoint(p: PathPlan, wanted: string | undefined, dev: DeviceState): boolean {
    const observed = dev.peers[0]?.endpoint ?? null;
    const drift = this.drifts.observe(p.name, wanted, observed);
    if (drift === 'drifted') {
      this.log.warn({ path: p.name, ifname: p.ifname, wanted, observed, drifts: this.drifts.count(p.name) },
        'tunneld: endpoint drifted away from the remote WAN the config names (WireGuard roaming); setting it back');
    } else if (drift === 'back') {
      this.log.info({ path: p.name, ifname: p.ifname, endpoint: observed }, 'tunneld: endpoint back on the remote WAN the config names');
    }
    return drift === 'drifted' || drift === 'still';
  }

  /** Keeps a path's status; publishes paths.changed when it appears or its state changes. */
  private publishStatus(s: PathStatus): void {
    const old = this.statuses.get(s.name);
    this.statuses.set(s.name, s);
    if (!old || old.state !== s.state) {
      this.bus.publish('paths.changed', s);
      this.log.info({ path: s.name, state: s.state, endpoint: s.endpoint }, 'tunneld: path state');
    }
  }

  /** Paths that left the plan leave the statuses, readings and drifts. */
  private forgetRemoved(planned: ReadonlySet<string>): void {
    for (const name of [...this.statuses.keys()]) if (!planned.has(name)) this.statuses.delete(name);
    for (const name of [...this.readings.keys()]) if (!planned.has(name)) this.readings.delete(name);
    this.drifts.keepOnly(planned);
  }

  private showStubbornDrifts(): void {
    const stubborn = this.drifts.stubborn();
    this.ctx.health.check('tunneld.endpoint', stubborn.length > 0,
      `peer endpoints keep leaving the remote WAN the config names (${stubborn.map((d) => `${d.path}: ${d.observed}, want ${d.wanted}`).join('; ')}) `
      + `after ${stubbornDriftReadings}+ readings; if that WAN is behind NAT, say so (overlay.sites[].wans[].behindNat)`, 'warning');
  }
}

/** The daemon: what tern-tunneld runs (main.ts). */
export function tunneldSpec(deps: TunneldDeps = {}): DaemonSpec {
  return {
    name: 'tunneld',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      // Methods and topics as daemons/lib/api/tunneld.ts declares them.
      const bus = contractBus(ctx, tunneldApi);
      const d = new Tunneld(ctx, deps);
      await d.start();
      bus.method('paths.list', () => d.paths());
      bus.method('tunnels.list', () => d.tunnels());
      bus.method('overlay.info', () => d.overlayInfo());
      bus.method('ra.list', () => d.remoteUsers());
      return {
        reload: (config) => d.reload(config),
        status: () => d.status(),
        stop: () => d.stop(),
      };
    },
  };
}
