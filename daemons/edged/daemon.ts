// tern-edged: the box as the site's internet gateway. It owns edged's part
// of nftables `inet tern` (zone firewall, anti-spoofing, port forwards, NAT
// per WAN) and keeps the set of peers STAMP is accepted from in step with
// what tunneld resolved. The LAN services (DHCP and DNS with dnsmasq) run
// here too, from daemons/edged/lan. See README.md for the packet path.
import path from 'node:path';
import { BusClient } from '../lib/bus/index.js';
import { splitHostPort } from '../lib/config/formats.js';
import type { TernConfig } from '../lib/config/index.js';
import { errorMessage, isTernError } from '../lib/errors.js';
import { parseAddress } from '../lib/ip/index.js';
import { runCommand, type CommandRunner } from '../lib/kernel/nft/index.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import { socketPath } from '../lib/paths/index.js';
import {
  edgedApi, tunneldApi, type DomainSetT, type EdgeCounterT, type EdgeLanT, type LeaseT, type EdgeStatusT, type NatWanT, type PathTunnelT, type TunneldMethods, type TunneldTopics,
} from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { readNat } from './nat.js';
import { EdgeNft, type ApplyOutcome } from './nft.js';
import { edgePlan, type EdgePlan } from './plan.js';
import { fingerprint } from './ruleset.js';
import { describeCounter } from './counters.js';
import { LanServices, type LanServicesStatus } from './lan/index.js';
import type { Lease } from './lan/leases.js';
import type { DomainSet } from './lan/domains.js';

/** How often tunneld's path list is read again for resolved peer endpoints (paths.changed carries state changes only). */
const peerPollMs = 5_000;

/**
 * The LAN services edged supervises (DHCP and DNS, daemons/edged/lan's
 * LanServices): started after the firewall is in place, so dnsmasq never
 * answers on a box whose WANs are still open; reloaded with the config;
 * stopped with edged (the firewall stays).
 */
export interface LanServicesLike {
  start(cfg: TernConfig): Promise<void>;
  reload(cfg: TernConfig): Promise<void>;
  status(): LanServicesStatus;
  leases(): Promise<Lease[]>;
  domains(): Promise<DomainSet[]>;
  stop(): Promise<void>;
}

/**
 * edged's LAN services as it runs them by default: dnsmasq's config and the
 * record of the running dnsmasq in <runDir>/edged, the lease file in
 * <stateDir>/edge (0700, tern-edged's alone: systemd/tern.tmpfiles.conf;
 * made here with that mode when missing).
 */
export function defaultLan(ctx: DaemonContext): LanServicesLike {
  return new LanServices({
    runDir: path.join(ctx.paths.runDir, 'edged'),
    stateDir: path.join(ctx.paths.stateDir, 'edge'),
    log: componentLogger(ctx.logger, 'lan'),
    nft: runCommand,
  });
}

export interface EdgedDeps {
  nft?: Pick<EdgeNft, 'apply' | 'setPeers' | 'counters'>;
  /** Runs `ip` for the WANs' addresses (default: the real runner). */
  run?: CommandRunner;
  /** A bus client to tunneld (default: a reconnecting BusClient on its socket). */
  connect?: (daemon: string) => BusClient;
  /** Where conntrack is read from (default /proc/net/nf_conntrack). */
  conntrackFile?: string;
  /** The LAN services (default: defaultLan, dnsmasq); null runs edged without them. */
  lan?: ((ctx: DaemonContext) => LanServicesLike) | null;
}

/** A WireGuard endpoint "host:port" / "[v6]:port" as an address, or undefined when it is a name or malformed. */
export function endpointAddress(text: string | null): string | undefined {
  if (!text) return undefined;
  const hp = splitHostPort(text);
  if (typeof hp === 'string') return undefined;
  const a = parseAddress(hp.host);
  return a.ok ? hp.host : undefined;
}

export class Edged {
  private readonly ctx: DaemonContext;
  private readonly log: Logger;
  private readonly nft: Pick<EdgeNft, 'apply' | 'setPeers' | 'counters'>;
  private readonly run: CommandRunner;
  private readonly deps: EdgedDeps;
  private config: TernConfig;
  private plan: EdgePlan;
  /** Peer addresses tunneld reported, by path name. */
  private readonly learnt = new Map<string, string[]>();
  private peersKey = '';
  private outcome: ApplyOutcome | 'none' = 'none';
  private appliedAt: number | null = null;
  private loads = 0;
  private lastError: string | null = null;
  private tunneld: BusClient<TunneldMethods, TunneldTopics> | undefined;
  private timer: ReturnType<DaemonContext['clock']['setInterval']> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private lan: LanServicesLike | undefined;

  constructor(ctx: DaemonContext, deps: EdgedDeps = {}) {
    this.ctx = ctx;
    this.deps = deps;
    this.log = componentLogger(ctx.logger, 'edged');
    this.nft = deps.nft ?? new EdgeNft();
    this.run = deps.run ?? runCommand;
    this.config = ctx.config;
    this.plan = edgePlan(ctx.config);
  }

  /** Firewall first (a start on a box with open WANs closes them before anything else), then the LAN services, then tunneld's facts. */
  async start(): Promise<void> {
    await this.applyPlan(this.plan, 'start');
    // The LAN services (dnsmasq: DHCP, DNS, domain sets) start here, once the firewall is in place.
    const lan = this.deps.lan === undefined ? defaultLan : this.deps.lan;
    if (lan) {
      this.lan = lan(this.ctx);
      await this.lanStep('start', (l) => l.start(this.config));
    }
    this.connectTunneld();
    this.timer = this.ctx.clock.setInterval(() => { void this.pollPeers(); }, peerPollMs);
  }

  /** The peers STAMP is accepted from: literal endpoints from the config and what tunneld resolved. */
  peers(): { v4: string[]; v6: string[] } {
    const all = new Set([...this.plan.peers4, ...this.plan.peers6, ...[...this.learnt.values()].flat()]);
    const sorted = [...all].sort();
    return { v4: sorted.filter((a) => !a.includes(':')), v6: sorted.filter((a) => a.includes(':')) };
  }

  private applyPlan(plan: EdgePlan, why: string): Promise<void> {
    const next = this.chain.then(async () => {
      const peers = this.peers();
      try {
        const outcome = await this.nft.apply(plan, peers);
        this.plan = plan;
        this.outcome = outcome;
        this.appliedAt = this.ctx.clock.now();
        this.peersKey = JSON.stringify(peers);
        if (outcome === 'loaded') this.loads++;
        this.lastError = null;
        this.ctx.health.check('edged.rules', false, '');
        const fp = fingerprint(plan);
        this.log.info({ why, outcome, fingerprint: fp, firewall: plan.firewall, internet: plan.internet }, outcome === 'adopted' ? 'edged: rules adopted as they were' : 'edged: rules loaded');
        this.ctx.bus.publish('edge.applied', { fingerprint: fp, outcome, why });
      } catch (err) {
        this.lastError = errorMessage(err);
        this.ctx.health.set('edged.rules', `rules not loaded (${why}): ${this.lastError}; the kernel keeps what it had`, 'error');
        this.log.error({ why, err: this.lastError }, 'edged: rules not loaded; the kernel keeps what it had');
        throw err;
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private connectTunneld(): void {
    const connect = this.deps.connect ?? ((daemon: string) => new BusClient({
      contract: tunneldApi,
      socketPath: socketPath(this.ctx.paths, daemon),
      clock: this.ctx.clock,
      logger: componentLogger(this.ctx.logger, `bus-${daemon}`),
      timeoutMs: 3000,
      reconnect: { initialMs: 200, maxMs: 2000 },
    }));
    // Results and payloads are checked against tunneld's contract on arrival: a message in another shape is refused whole.
    const tunneld = connect('tunneld') as unknown as BusClient<TunneldMethods, TunneldTopics>;
    this.tunneld = tunneld;
    tunneld.on('connected', () => { void this.pollPeers(); });
    void tunneld.subscribeTopic('paths.changed', (p) => { if (this.learn(p)) void this.refreshPeers('tunneld paths.changed'); })
      .catch((err: unknown) => this.log.debug({ err: errorMessage(err) }, 'edged: tunneld: subscribe'));
    tunneld.connect().catch(() => undefined);
  }

  /** A path's peer addresses (current endpoint, and the one the config names); true when they changed. */
  private learn(p: PathTunnelT): boolean {
    const addrs = [...new Set([endpointAddress(p.endpoint), endpointAddress(p.endpointWanted)].filter((a): a is string => a !== undefined))].sort();
    const before = this.learnt.get(p.name);
    this.learnt.set(p.name, addrs);
    return JSON.stringify(before ?? []) !== JSON.stringify(addrs);
  }

  private async pollPeers(): Promise<void> {
    if (!this.tunneld || this.stopped) return;
    try {
      const rows = await this.tunneld.call('paths.list');
      const names = new Set(rows.map((r) => r.name));
      let changed = false;
      for (const name of [...this.learnt.keys()]) if (!names.has(name)) { this.learnt.delete(name); changed = true; }
      for (const r of rows) changed = this.learn(r) || changed;
      if (changed) await this.refreshPeers('tunneld paths.list');
    } catch (err) {
      if (isTernError(err, 'TERN_E_BUS_CONTRACT')) this.log.warn({ err: errorMessage(err) }, 'edged: tunneld: paths.list refused: peers kept as they were');
      else this.log.debug({ err: errorMessage(err) }, 'edged: tunneld: paths.list');
    }
  }

  /** Refills the peer sets when they changed: the chains are not reloaded. */
  private refreshPeers(why: string): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.stopped) return;
      const peers = this.peers();
      const key = JSON.stringify(peers);
      if (key === this.peersKey) return;
      try {
        await this.nft.setPeers(peers);
        this.peersKey = key;
        this.ctx.health.check('edged.peers', false, '');
        this.log.info({ why, peers }, 'edged: peers updated');
      } catch (err) {
        this.ctx.health.set('edged.peers', `peer sets not refreshed: ${errorMessage(err)}`, 'warning');
        this.log.warn({ why, err: errorMessage(err) }, 'edged: peer sets not refreshed');
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** A new config: the plan is applied when it changed (one transaction); a refused load keeps the old rules and config. */
  async reload(config: TernConfig): Promise<void> {
    const plan = edgePlan(config);
    if (fingerprint(plan) !== fingerprint(this.plan) || this.outcome === 'none') await this.applyPlan(plan, 'reload');
    this.config = config;
    await this.lanStep('reload', (l) => l.reload(config));
  }

  /**
   * A start or reload of the LAN services. Their failure (dnsmasq will not
   * start: a port taken, the LAN interface missing) does not take the
   * firewall and NAT down with it: it is reported in health and status, and
   * LanServices keeps retrying dnsmasq with backoff.
   */
  private async lanStep(why: string, step: (l: LanServicesLike) => Promise<void>): Promise<void> {
    if (!this.lan) return;
    try {
      await step(this.lan);
      this.ctx.health.check('edged.lan', false, '');
    } catch (err) {
      this.ctx.health.set('edged.lan', `LAN services (${why}): ${errorMessage(err)}`, 'error');
      this.log.error({ why, err: errorMessage(err) }, 'edged: LAN services not in place');
    }
  }

  status(): EdgeStatusT {
    const z = this.plan.zones;
    return {
      firewall: this.plan.firewall,
      internet: this.plan.internet,
      fingerprint: fingerprint(this.plan),
      outcome: this.outcome,
      appliedAt: this.appliedAt,
      loads: this.loads,
      lastError: this.lastError,
      zones: { wan: z.wan, lan: z.lan, pair: z.pair, overlay: `${z.overlayPrefix}* except ${z.remote}`, remote: z.remote },
      peers: this.peers(),
    };
  }

  async counters(): Promise<{ counters: EdgeCounterT[] }> {
    const raw = await this.nft.counters();
    return { counters: Object.entries(raw).sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => ({ name, ...c, ...describeCounter(name, this.config) })) };
  }

  async nat(): Promise<{ total: number; wans: NatWanT[] }> {
    return readNat(this.run, this.config.wans.map((w) => ({ name: w.name, interface: w.interface, nat: this.config.internet.enabled ? w.nat : 'off' })), this.deps.conntrackFile);
  }

  lanStatus(): LanServicesStatus | undefined {
    return this.lan?.status();
  }

  /** The LAN services' state; enabled false when edged runs without them. */
  lanView(): EdgeLanT {
    const s = this.lan?.status();
    return s ? { enabled: true, ...s } : { enabled: false, dhcp: false, dns: false, intercept: false, running: false, adopted: false, restarts: 0, problems: [] };
  }

  /** The DHCP leases in dnsmasq's lease file. */
  async leases(): Promise<{ leases: LeaseT[] }> {
    return { leases: this.lan ? await this.lan.leases() : [] };
  }

  /** The addresses learned per domain app class, with the seconds each has left. */
  async domains(): Promise<{ sets: DomainSetT[] }> {
    return { sets: this.lan ? await this.lan.domains() : [] };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.ctx.clock.clearInterval(this.timer);
    await this.chain;
    await this.lan?.stop();
    await this.tunneld?.close().catch(() => undefined);
    // The rules stay: with edged gone the WANs stay closed and NAT goes on.
  }
}

/** Removes edged's chains, sets and counters from `inet tern` (the package's removal). */
export async function uninstall(nft: Pick<EdgeNft, 'remove'> = new EdgeNft()): Promise<void> {
  await nft.remove();
}

/** The daemon: what tern-edged runs (main.ts). */
export function edgedSpec(deps: EdgedDeps = {}): DaemonSpec {
  return {
    name: 'edged',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      const d = new Edged(ctx, deps);
      await d.start();
      // Params checked against daemons/lib/api/edged.ts before these run.
      const bus = contractBus(ctx, edgedApi);
      bus.method('edge.status', () => d.status());
      bus.method('edge.firewall', () => d.counters());
      bus.method('edge.nat', () => d.nat());
      bus.method('edge.lan', () => d.lanView());
      bus.method('edge.leases', () => d.leases());
      bus.method('edge.domains', () => d.domains());
      return {
        reload: (config) => d.reload(config),
        status: () => {
          const s = d.status();
          const lan = d.lanStatus();
          return { fingerprint: s.fingerprint, outcome: s.outcome, firewall: s.firewall, ...(lan ? { lan } : {}) };
        },
        stop: () => d.stop(),
      };
    },
  };
}
