// The gateway of a DHCP WAN: the `via` of a default route out of the WAN's
// interface, as its DHCP client (or, for IPv6, router advertisements) put it
// in the kernel. A WAN with `dhcp: true` has no gateway in the config, and
// without probe targets of its own this is what probed probes.
//
// Where the route sits: networkd and dhclient put it in the main table.
// No daemon learns a DHCP gateway: tunneld puts only a configured gateway
// into the WAN's own table (desired.ts) and keeps that table in full,
// removing what it did not put there (reconcile.ts), so today the route is
// found in main. The WAN's table is read too, and first: it is where a
// marked probe's lookup starts (fwmark rule → WAN table, then on to main),
// so a tunneld that copied the learned gateway there would be followed.
//
// How changes are followed: the routes are read again on probed's 1 s
// housekeeping tick while some DHCP WAN has no probe targets of its own
// (less often on a box whose routing tables make a reading dear: see
// daemon.ts). rtnl offers no route monitor (no multicast subscription), and
// a lease changes rarely. On a small box a gateway that goes away is
// dropped within a second: at the default WAN rate (1/s), before downAfter
// (3) probes to it can be lost, so a lost lease reads as "waiting", not as
// loss. (At a rate that sends downAfter probes within a second, a gateway
// that stops answering the moment its route goes can still read as down
// first.)
import net from 'node:net';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { canonicalAddress } from './transport.js';

/** The main routing table, where DHCP clients put the default route. */
export const MAIN_TABLE = 254;

/** A WAN whose gateway is learned, not configured. */
export interface DhcpWan {
  wan: string;
  /** The WAN's interface: a default route out of it gives the gateway. */
  device: string;
  /** The WAN's own table (tunneld's); read before main. */
  table: number;
}

/** A default route with a usable gateway, out of some interface. */
export interface DefaultRoute {
  family: 4 | 6;
  dev: string;
  gateway: string;
  table: number;
  metric: number;
}

const u32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * Why a gateway cannot be probed (undefined when it can): the unspecified
 * address, loopback, multicast, broadcast, or IPv4 written as IPv6.
 */
function unusableGateway(family: 4 | 6, gw: string): string | undefined {
  if (family === 4) {
    const first = Number(gw.split('.')[0]);
    if (gw === '0.0.0.0') return 'unspecified';
    if (first === 127) return 'loopback';
    if (first >= 224) return gw === '255.255.255.255' ? 'broadcast' : 'multicast or reserved';
    return undefined;
  }
  if (gw === '::') return 'unspecified';
  if (gw === '::1') return 'loopback';
  if (/^ff/i.test(gw)) return 'multicast';
  if (gw.includes('.') || /^::ffff:/i.test(gw)) return 'IPv4-mapped';
  return undefined;
}

/**
 * One route as rtnl lists it (RouteInfo), checked: the default route with a
 * gateway it is, undefined when it is some other route (not default, not
 * unicast, no gateway, no single output device: a multipath route is not
 * "simple" and is left alone), or { malformed } saying what is wrong with it.
 * rtnl already drops replies whose attributes have the wrong length; this
 * checks the fields again because the reader is injectable and a kernel
 * reply is outside input.
 */
export function defaultRoute(r: unknown): DefaultRoute | { malformed: string } | undefined {
  if (!r || typeof r !== 'object') return { malformed: `got ${JSON.stringify(r)}; want a route object` };
  const o = r as Record<string, unknown>;
  if (o.family !== 4 && o.family !== 6) return { malformed: `got family ${JSON.stringify(o.family)}; want 4 or 6` };
  const family = o.family;
  if (typeof o.dst !== 'string') return { malformed: `got dst ${JSON.stringify(o.dst)}; want a prefix` };
  const any = family === 4 ? '0.0.0.0/0' : '::/0';
  if (o.dst === (family === 4 ? '::/0' : '0.0.0.0/0')) return { malformed: `got dst ${o.dst} on an IPv${family} route` };
  if (o.dst !== any || o.type !== 'unicast' || typeof o.dev !== 'string' || o.gateway === null || o.gateway === undefined) return undefined;
  if (typeof o.gateway !== 'string' || net.isIP(o.gateway) !== family) {
    return { malformed: `got gateway ${JSON.stringify(o.gateway)} on an IPv${family} default route; want an IPv${family} address` };
  }
  const gateway = canonicalAddress(o.gateway);
  const bad = unusableGateway(family, gateway);
  if (bad) return { malformed: `got gateway ${gateway} (${bad}) on the default route via ${o.dev}; want a unicast address` };
  if (!u32(o.table)) return { malformed: `got table ${JSON.stringify(o.table)}; want a 32-bit table number` };
  if (!u32(o.metric)) return { malformed: `got metric ${JSON.stringify(o.metric)}; want a 32-bit metric` };
  return { family, dev: o.dev, gateway, table: o.table, metric: o.metric };
}

/** What one reading of the routes says: each WAN's gateways (IPv4 first), and the routes refused. */
export interface GatewayReading {
  gateways: Map<string, string[]>;
  malformed: string[];
}

/**
 * Each DHCP WAN's gateways from a list of routes: per address family, the
 * default route out of the WAN's interface in the WAN's own table, else in
 * main, else elsewhere; among equals the lowest metric (the one the kernel
 * uses), then the lowest address, so a reading is the same whatever order
 * the kernel listed the routes in. A WAN without one is absent.
 */
export function dhcpGateways(routes: readonly unknown[], wans: readonly DhcpWan[]): GatewayReading {
  const malformed: string[] = [];
  const candidates: DefaultRoute[] = [];
  for (const r of routes) {
    const d = defaultRoute(r);
    if (d && 'malformed' in d) malformed.push(d.malformed);
    else if (d) candidates.push(d);
  }
  const gateways = new Map<string, string[]>();
  for (const w of wans) {
    const rank = (d: DefaultRoute): number => (d.table === w.table ? 0 : d.table === MAIN_TABLE ? 1 : 2);
    const mine = candidates.filter((d) => d.dev === w.device)
      .sort((a, b) => rank(a) - rank(b) || a.metric - b.metric || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
    const out = ([4, 6] as const).flatMap((f) => mine.find((d) => d.family === f)?.gateway ?? []);
    if (out.length) gateways.set(w.wan, out);
  }
  return { gateways, malformed };
}

export interface GatewayWatcherOptions {
  /** The routes of these tables, both families (rtnl's RouteInfo list). */
  read: (tables: number[]) => Promise<unknown[]>;
  logger?: Logger;
}

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b![i]);

/**
 * The gateways of the DHCP WANs, kept from one reading of the routes to the
 * next. A reading that fails keeps the last gateways (a transient netlink
 * error is not a lost lease) and says so in problem.
 */
export class GatewayWatcher {
  private readonly read: GatewayWatcherOptions['read'];
  private readonly log: Logger;
  private wans: DhcpWan[] = [];
  private current = new Map<string, string[]>();
  private running: Promise<boolean> | undefined;
  private lastMalformed = '';
  private readProblem: string | undefined;

  constructor(opts: GatewayWatcherOptions) {
    this.read = opts.read;
    this.log = opts.logger ?? silentLogger();
  }

  /** Which WANs to learn gateways for; the others' are forgotten. */
  setWans(wans: readonly DhcpWan[]): void {
    this.wans = wans.map((w) => ({ ...w }));
    for (const name of [...this.current.keys()]) if (!this.wans.some((w) => w.wan === name)) this.current.delete(name);
    if (!this.wans.length) this.readProblem = undefined;
  }

  /** Whether any WAN waits on DHCP (there is something to read). */
  get watching(): boolean { return this.wans.length > 0; }

  /** A reading is under way. */
  get busy(): boolean { return this.running !== undefined; }

  /** Why the last reading failed; undefined when it did not. */
  get problem(): string | undefined { return this.readProblem; }

  /** The WAN's gateways (IPv4 first), or undefined while none is known. */
  gateways(wan: string): readonly string[] | undefined {
    return this.current.get(wan);
  }

  /**
   * Read the routes once (after any reading under way, so what the caller
   * set before is what is read); resolves true when some WAN's gateways
   * changed. Never rejects.
   */
  async refresh(): Promise<boolean> {
    while (this.running) await this.running;
    if (!this.wans.length) return false;
    const run = this.readOnce();
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
    }
  }

  private async readOnce(): Promise<boolean> {
    const wans = this.wans;
    const tables = [...new Set([...wans.map((w) => w.table), MAIN_TABLE])];
    let routes: unknown;
    try {
      routes = await this.read(tables);
    } catch (err) {
      const problem = errorMessage(err);
      if (problem !== this.readProblem) this.log.warn({ err: problem }, 'probed: wan: cannot read the routes for DHCP gateways; keeping the last ones');
      this.readProblem = problem;
      return false;
    }
    if (!Array.isArray(routes)) {
      this.readProblem = `got ${typeof routes} from the route reader; want a list of routes`;
      return false;
    }
    this.readProblem = undefined;
    const reading = dhcpGateways(routes, wans);
    const malformed = reading.malformed.join('; ');
    if (malformed && malformed !== this.lastMalformed) {
      this.log.warn({ count: reading.malformed.length, first: reading.malformed[0] }, 'probed: wan: skipping malformed routes while looking for DHCP gateways');
    }
    this.lastMalformed = malformed;
    // setWans may have changed the WANs while the kernel answered: keep
    // only those still watched; the next reading covers the others.
    let changed = false;
    for (const w of this.wans) {
      if (!wans.some((x) => x.wan === w.wan && x.device === w.device && x.table === w.table)) continue;
      const next = reading.gateways.get(w.wan);
      const was = this.current.get(w.wan);
      if (sameList(next, was)) continue;
      changed = true;
      if (next) this.current.set(w.wan, next);
      else this.current.delete(w.wan);
      this.log.info({ wan: w.wan, device: w.device, gateways: next ?? [], was: was ?? [] }, next ? 'probed: wan: DHCP gateway learned' : 'probed: wan: DHCP gateway gone');
    }
    return changed;
  }
}
