// The gateway of a DHCP WAN: the `via` of a default route out of the WAN's
// interface, as its DHCP client (or, for IPv6, router advertisements) put it
// in the kernel. A WAN with `dhcp: true` has no gateway in the config.
//
// Two daemons read it, from different tables:
//   - tunneld copies it into the WAN's own table (so what is marked for the
//     WAN leaves by it), and so reads main alone, where networkd and
//     dhclient put it: the WAN table holds tunneld's own copy, which would
//     outlive the lease if read back;
//   - probed probes it, and reads the tables in the order a marked probe's
//     lookup meets them (fwmark rule → WAN table, then main), so it probes
//     the gateway its probes really go through.
// dhcpGateways is pure: the caller reads the routes (rtnl's RouteInfo list)
// and decides how often; GatewayRouteReads does one such reading with the
// failure handling both daemons keep.
import net from 'node:net';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log/index.js';
import { formatIp, parseIp } from '../net/ip.js';

/** The main routing table, where DHCP clients put the default route. */
export const MAIN_TABLE = 254;

/** A WAN whose gateway is learned, not configured. */
export interface DhcpWan {
  wan: string;
  /** The WAN's interface: a default route out of it gives the gateway. */
  device: string;
  /** The WAN's own table. */
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

/**
 * Where a WAN's default route is looked for: 'lookup' is the WAN's own
 * table, then main, then any other table (probed); 'main' is main alone
 * (tunneld, which fills the WAN's table from it).
 */
export type GatewaySource = 'lookup' | 'main';

const u32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * Why a gateway cannot be used (undefined when it can): the unspecified
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
  if (/^::ffff:/i.test(gw)) return 'IPv4-mapped';
  return undefined;
}

/** The canonical text of an address (RFC 5952 for IPv6), or undefined when it is none. */
function canonical(address: string): string | undefined {
  try {
    return formatIp(parseIp(address).bytes);
  } catch {
    return undefined; // a zone index, say: net.isIP accepts fe80::1%wan0
  }
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
  const gateway = typeof o.gateway === 'string' && net.isIP(o.gateway) === family ? canonical(o.gateway) : undefined;
  if (gateway === undefined) {
    return { malformed: `got gateway ${JSON.stringify(o.gateway)} on an IPv${family} default route; want an IPv${family} address` };
  }
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
 * default route out of the WAN's interface in the tables source names, in
 * its order; among equals the lowest metric (the one the kernel uses), then
 * the lowest address, so a reading is the same whatever order the kernel
 * listed the routes in. A WAN without one is absent.
 */
export function dhcpGateways(routes: readonly unknown[], wans: readonly DhcpWan[], source: GatewaySource = 'lookup'): GatewayReading {
  const malformed: string[] = [];
  const candidates: DefaultRoute[] = [];
  for (const r of routes) {
    const d = defaultRoute(r);
    if (d && 'malformed' in d) malformed.push(d.malformed);
    else if (d) candidates.push(d);
  }
  const gateways = new Map<string, string[]>();
  for (const w of wans) {
    const rank = source === 'main'
      ? (d: DefaultRoute): number => (d.table === MAIN_TABLE ? 0 : -1)
      : (d: DefaultRoute): number => (d.table === w.table ? 0 : d.table === MAIN_TABLE ? 1 : 2);
    const mine = candidates.filter((d) => d.dev === w.device && rank(d) >= 0)
      .sort((a, b) => rank(a) - rank(b) || a.metric - b.metric || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
    const out = ([4, 6] as const).flatMap((f) => mine.find((d) => d.family === f)?.gateway ?? []);
    if (out.length) gateways.set(w.wan, out);
  }
  return { gateways, malformed };
}

/** Whether two readings give a WAN the same gateways (absent = none). */
export const sameGateways = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b![i]);

/** How to read the routes of some tables (rtnl's route dump, or a fake). */
export type RouteReader = (tables: number[]) => Promise<unknown>;

/**
 * Readings of the routes for DHCP gateways, as a watcher takes them: a read
 * that fails or gives something other than a list yields undefined (the
 * caller keeps its last gateways: a netlink error is not a lost lease) and
 * sets problem; a new failure and a new set of malformed routes are each
 * logged once, not on every reading.
 */
export class GatewayRouteReads {
  /** Why the last reading failed; undefined when it did not. */
  problem: string | undefined;
  private lastMalformed = '';

  /** what: what a failed read could not read, for the log ("the routes", "the main table"). */
  constructor(private readonly read: RouteReader, private readonly log: Logger, private readonly who: string, private readonly what: string) {}

  async take(tables: number[], wans: readonly DhcpWan[], source: GatewaySource): Promise<GatewayReading | undefined> {
    let routes: unknown;
    try {
      routes = await this.read(tables);
    } catch (err) {
      const problem = errorMessage(err);
      if (problem !== this.problem) this.log.warn({ err: problem }, `${this.who}: cannot read ${this.what} for DHCP gateways; keeping the last ones`);
      this.problem = problem;
      return undefined;
    }
    if (!Array.isArray(routes)) {
      this.problem = `got ${typeof routes} from the route reader; want a list of routes`;
      return undefined;
    }
    this.problem = undefined;
    const reading = dhcpGateways(routes, wans, source);
    const malformed = reading.malformed.join('; ');
    if (malformed && malformed !== this.lastMalformed) {
      this.log.warn({ count: reading.malformed.length, first: reading.malformed[0] }, `${this.who}: skipping malformed routes while looking for DHCP gateways`);
    }
    this.lastMalformed = malformed;
    return reading;
  }
}
