// The overlay paths as tunneld publishes them: paths.list on every
// (re)connection and every relistMs (tunneld announces new and changed
// paths on paths.changed, but not removed ones), paths.changed in between.
// Both are checked against tunneld's contract (daemons/lib/api/tunneld.ts):
// a list or path that does not match is refused, logged with the field it
// failed on, and the last good list stands. When tunneld is gone the last
// list stands too, so probing goes on; the paths' own probes tell whether
// the tunnels still carry traffic.
import { BusClient } from '../lib/bus/index.js';
import { tunneldApi, type ContractMethods, type ContractTopics, type PathTunnelT } from '../lib/api/index.js';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage, isTernError, type TernError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import type { OverlayPlan } from '../lib/overlay/index.js';
import type { PathInfo } from './paths.js';
import { canonicalAddress, withoutZone } from './transport.js';

/** The fields of tunneld's PathTunnel that probed reads. */
export type TunneldPath = Pick<PathTunnelT, 'name' | 'site' | 'localWan' | 'remoteWan' | 'ifname' | 'state' | 'probeAddress'>;

/** What probed keeps of a PathTunnel that matched the contract. */
function tunneldPath(p: PathTunnelT): TunneldPath {
  return { name: p.name, site: p.site, localWan: p.localWan, remoteWan: p.remoteWan, ifname: p.ifname, state: p.state, probeAddress: p.probeAddress };
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
  private readonly client: BusClient<ContractMethods<typeof tunneldApi>, ContractTopics<typeof tunneldApi>>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly relistMs: number;
  private readonly paths = new Map<string, TunneldPath>();
  private timer: TimerHandle | undefined;
  private listed = false;
  private stopped = false;
  /** The last refusal logged: a list tunneld keeps sending is logged once, not every relistMs. */
  private lastRefusal: string | undefined;

  constructor(private readonly opts: TunneldWatcherOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.relistMs = opts.relistMs ?? 5000;
    this.client = BusClient.for({
      contract: tunneldApi, socketPath: opts.socketPath, clock: this.clock, logger: this.log, timeoutMs: 3000, reconnect: { maxMs: 2000 },
    });
  }

  /** True once tunneld has answered paths.list at least once. */
  get hasListed(): boolean { return this.listed; }
  get connected(): boolean { return this.client.connected; }
  /** Lists and paths.changed payloads refused for not matching tunneld's contract. */
  get refused(): number { return this.client.contractViolations; }

  start(): void {
    this.client.on('connected', () => { void this.list(); });
    // A payload that does not match the contract is logged and dropped by the client.
    this.client.subscribeTopic('paths.changed', (p) => this.changed(tunneldPath(p)))
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'probed: tunneld: subscribe failed'));
    this.client.connect().catch((err: unknown) => this.log.info({ err: errorMessage(err) }, 'probed: tunneld: not reachable yet; will retry'));
    this.timer = this.clock.setInterval(() => { if (this.client.connected) void this.list(); }, this.relistMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearInterval(this.timer);
    await this.client.close();
  }

  private changed(p: TunneldPath): void {
    const old = this.paths.get(p.name);
    this.paths.set(p.name, p);
    if (!old || old.ifname !== p.ifname || old.probeAddress !== p.probeAddress) this.emit();
  }

  private async list(): Promise<void> {
    let listed: PathTunnelT[];
    try {
      listed = await this.client.call('paths.list');
    } catch (err) {
      if (isTernError(err, 'TERN_E_BUS_CONTRACT')) this.refuse(err);
      else this.log.debug({ err: errorMessage(err) }, 'probed: tunneld: paths.list failed; keeping the last list');
      return;
    }
    if (this.stopped) return;
    this.lastRefusal = undefined;
    const next = listed.map(tunneldPath);
    const same = this.listed && next.length === this.paths.size
      && next.every((p) => { const o = this.paths.get(p.name); return o && o.ifname === p.ifname && o.probeAddress === p.probeAddress; });
    this.paths.clear();
    for (const p of next) this.paths.set(p.name, p);
    this.listed = true;
    if (!same) this.emit();
  }

  /** A list that does not match tunneld's contract: none of it is used. */
  private refuse(err: TernError): void {
    if (err.message === this.lastRefusal) return;
    this.lastRefusal = err.message;
    this.log.warn({ code: err.code, err: err.message, ...err.details }, 'probed: tunneld: paths.list refused; keeping the last list');
  }

  private emit(): void {
    this.opts.onList([...this.paths.values()]);
  }
}
