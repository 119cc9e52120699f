// The overlay paths as tunneld publishes them: paths.list on every
// (re)connection and every relistMs (tunneld announces new and changed
// paths on paths.changed, but not removed ones), paths.changed in between.
// When tunneld is gone the last list stands, so probing goes on; the paths'
// own probes tell whether the tunnels still carry traffic.
import { BusClient } from '../lib/bus/index.js';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import type { OverlayPlan } from '../lib/overlay/index.js';
import type { PathInfo } from './paths.js';
import { canonicalAddress, withoutZone } from './transport.js';

/** The fields of tunneld's PathStatus that probed reads. */
export interface TunneldPath {
  name: string;
  site: string;
  localWan: string;
  remoteWan: string;
  ifname: string;
  state: string;
  /** The far end's link-local address with zone: fe80::2:0%tn1-2-00. */
  probeAddress: string;
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** One PathStatus from the bus, or undefined when it lacks what probing needs. */
export function parseTunneldPath(v: unknown): TunneldPath | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const keys = ['name', 'site', 'localWan', 'remoteWan', 'ifname', 'state', 'probeAddress'] as const;
  if (!keys.every((k) => isStr(o[k]))) return undefined;
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as unknown as TunneldPath;
}

/**
 * The paths to probe: tunneld's paths, with this end's link-local address
 * from the overlay plan (the same config gives tunneld and probed the same
 * plan). A path the plan does not know is left out and named in `unknown`.
 */
export function pathInfos(paths: TunneldPath[], plan: OverlayPlan): { infos: PathInfo[]; unknown: string[] } {
  const planned = new Map(plan.paths.map((p) => [p.name, p]));
  const infos: PathInfo[] = [];
  const unknown: string[] = [];
  for (const t of paths) {
    const p = planned.get(t.name);
    if (!p) { unknown.push(t.name); continue; }
    infos.push({
      name: t.name, site: t.site, localWan: t.localWan, remoteWan: t.remoteWan, ifname: t.ifname,
      localAddress: canonicalAddress(p.localLinkAddress), remoteAddress: canonicalAddress(withoutZone(t.probeAddress)),
    });
  }
  return { infos, unknown };
}

/** Every path of the plan, for when tunneld has never answered. */
export function plannedPaths(plan: OverlayPlan): PathInfo[] {
  return plan.paths.map((p) => ({
    name: p.name, site: p.site, localWan: p.localWan, remoteWan: p.remoteWan, ifname: p.ifname,
    localAddress: canonicalAddress(p.localLinkAddress), remoteAddress: canonicalAddress(p.remoteLinkAddress),
  }));
}

export interface TunneldWatcherOptions {
  /** tunneld's bus socket. */
  socketPath: string;
  /** Every full list (on connect, every relistMs, and after each paths.changed). */
  onList: (paths: TunneldPath[]) => void;
  clock?: Clock;
  logger?: Logger;
  /** How often the full list is asked for (default 5000 ms). */
  relistMs?: number;
}

export class TunneldWatcher {
  private readonly client: BusClient;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly relistMs: number;
  private readonly paths = new Map<string, TunneldPath>();
  private timer: TimerHandle | undefined;
  private listed = false;
  private stopped = false;

  constructor(private readonly opts: TunneldWatcherOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.relistMs = opts.relistMs ?? 5000;
    this.client = new BusClient({ socketPath: opts.socketPath, clock: this.clock, logger: this.log, timeoutMs: 3000, reconnect: { maxMs: 2000 } });
  }

  /** True once tunneld has answered paths.list at least once. */
  get hasListed(): boolean { return this.listed; }
  get connected(): boolean { return this.client.connected; }

  start(): void {
    this.client.on('connected', () => { void this.list(); });
    this.client.subscribe(['paths.changed'], (params) => {
      const p = parseTunneldPath(params);
      if (!p) return;
      const old = this.paths.get(p.name);
      this.paths.set(p.name, p);
      if (!old || old.ifname !== p.ifname || old.probeAddress !== p.probeAddress) this.emit();
    }).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'probed: tunneld: subscribe failed'));
    this.client.connect().catch((err: unknown) => this.log.info({ err: errorMessage(err) }, 'probed: tunneld: not reachable yet; will retry'));
    this.timer = this.clock.setInterval(() => { if (this.client.connected) void this.list(); }, this.relistMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearInterval(this.timer);
    await this.client.close();
  }

  private async list(): Promise<void> {
    let raw: unknown;
    try {
      raw = await this.client.request('paths.list');
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'probed: tunneld: paths.list failed; keeping the last list');
      return;
    }
    if (this.stopped || !Array.isArray(raw)) return;
    const next = raw.map(parseTunneldPath).filter((p): p is TunneldPath => p !== undefined);
    const same = this.listed && next.length === this.paths.size
      && next.every((p) => { const o = this.paths.get(p.name); return o && o.ifname === p.ifname && o.probeAddress === p.probeAddress; });
    this.paths.clear();
    for (const p of next) this.paths.set(p.name, p);
    this.listed = true;
    if (!same) this.emit();
  }

  private emit(): void {
    this.opts.onList([...this.paths.values()]);
  }
}
