// Takes the kernel to the desired overlay state, changing only what differs:
// interfaces are created or adopted (never recreated), peers, addresses,
// routes and rules are added, updated or removed one by one. A failure on
// one object is reported and the rest still converges; the next pass retries.
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log/index.js';
import { canonicalNetwork, formatIp, parseIp, type Rtnl, type RouteInfo, type RouteSpec, type RouteType, type RuleSpec, type WireGuardBackend } from '../lib/kernel/index.js';
import { pathTableBase, rulePriority, wanMarkBase } from '../lib/kernel/names.js';
import { mainRouteMetric, wanGuardMetric, type DesiredState } from './desired.js';

/** What one pass did; safe to log (no keys). */
export interface ReconcileReport {
  created: string[];
  destroyed: string[];
  /** Interfaces whose WireGuard config changed, with what changed. */
  configured: Record<string, string[]>;
  addresses: { added: number; removed: number };
  routes: { replaced: number; removed: number };
  rules: { added: number; removed: number };
  /** Failures, each with the object it concerns; the pass went on past them. */
  errors: string[];
}

/** The rtnetlink calls a pass makes: links, addresses, routes and rules. */
export type ReconcileRtnl = Pick<Rtnl, 'links' | 'link' | 'addresses' | 'addAddress' | 'deleteAddress' | 'setLinkMtu' | 'setLinkUp'
  | 'routesIn' | 'replaceRoute' | 'deleteRoute' | 'rules' | 'addRule' | 'deleteRule'>;

export interface ReconcileDeps {
  rtnl: ReconcileRtnl;
  wg: WireGuardBackend;
  logger: Logger;
}

const mainTable = 254;

/** Tern owns these: WAN-mark rules at their priority, path tables, metric-tagged main routes. */
function ownedRule(r: { priority: number; fwmark: number | null }): boolean {
  return r.priority === rulePriority.wanMark && r.fwmark !== null && r.fwmark >= wanMarkBase && r.fwmark < wanMarkBase + 0x10000;
}

/** Text as the kernel lists it: a config may spell an IPv6 prefix or address otherwise (2001:DB8::/64). */
function canonical(text: string | undefined, form: (t: string) => string): string | undefined {
  if (text === undefined) return undefined;
  try { return form(text); } catch { return text; }
}
const canonicalAddress = (a: string): string => formatIp(parseIp(a).bytes);

/**
 * A route's identity as the kernel keeps it: table, destination, metric.
 * The kernel stores an IPv6 route without a metric at 1024, so that is what
 * an unset metric is on either side.
 */
export function routeKey(r: { table: number; dst: string; metric?: number }): string {
  const dst = canonical(r.dst, canonicalNetwork)!;
  const metric = r.metric || (dst.includes(':') ? 1024 : 0);
  return `${r.table} ${dst} ${metric}`;
}

function sameRoute(have: RouteInfo, want: RouteSpec): boolean {
  // A route without a next hop has no device, though the kernel lists an
  // IPv6 one on lo.
  if ((want.type ?? 'unicast') !== 'unicast') return have.type === want.type;
  return (have.dev ?? undefined) === want.dev && (have.gateway ?? undefined) === canonical(want.gateway, canonicalAddress)
    && (have.src ?? undefined) === canonical(want.src, canonicalAddress) && have.type === (want.type ?? 'unicast');
}

/** A WAN guard route (desired.ts wanGuardMetric): the one non-unicast route Tern keeps outside main. */
const isWanGuard = (r: { type?: string; metric?: number }): boolean => r.type === 'unreachable' && r.metric === wanGuardMetric;

/**
 * Takes the routes of `tables` to what want says: replaces what differs,
 * removes what Tern owns there and no longer wants.
 */
async function reconcileRoutes(want: DesiredState, tables: ReadonlySet<number>, deps: ReconcileDeps, report: ReconcileReport,
  attempt: (what: string, fn: () => Promise<void>) => Promise<void>): Promise<void> {
  if (tables.size === 0) return;
  const { rtnl } = deps;
  const wantByKey = new Map(want.routes.filter((r) => tables.has(r.table)).map((r) => [routeKey(r), r]));
  await attempt('routes', async () => {
    const haveAll = await rtnl.routesIn(tables);
    const have = new Map<string, RouteInfo>();
    for (const r of haveAll) {
      if (!tables.has(r.table)) continue;
      if (r.table === mainTable && r.metric !== mainRouteMetric) continue;
      if (r.type !== 'unicast' && r.table !== mainTable && !isWanGuard(r)) continue;
      have.set(routeKey(r), r);
    }
    for (const [key, r] of wantByKey) {
      const h = have.get(key);
      if (h && sameRoute(h, r)) continue;
      await attempt(`route ${r.type && r.type !== 'unicast' ? `${r.type} ` : ''}${r.dst} table ${r.table}`, async () => {
        await rtnl.replaceRoute(r);
        report.routes.replaced++;
      });
    }
    for (const [key, h] of have) {
      if (wantByKey.has(key)) continue;
      // A path table of a path that no longer exists, or a stale main route.
      if (h.table !== mainTable && !(h.table >= pathTableBase) && !want.plan.wans.some((w) => w.table === h.table)) continue;
      await attempt(`remove route ${h.dst} table ${h.table}`, async () => {
        // With its type: a WAN table's gateway route and its guard share a destination.
        await rtnl.deleteRoute({ dst: h.dst, table: h.table, type: h.type as RouteType, ...(h.metric ? { metric: h.metric } : {}) });
        report.routes.removed++;
      });
    }
  });
}

export async function reconcile(want: DesiredState, deps: ReconcileDeps): Promise<ReconcileReport> {
  const { rtnl, wg, logger } = deps;
  const report: ReconcileReport = {
    created: [], destroyed: [], configured: {}, addresses: { added: 0, removed: 0 }, routes: { replaced: 0, removed: 0 }, rules: { added: 0, removed: 0 }, errors: [],
  };
  const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      report.errors.push(`${what}: ${errorMessage(err)}`);
    }
  };

  // Tern's tables (WAN tables, path tables) in full, and the main table's
  // routes that carry Tern's metric. Kept tables (a path not read since
  // start, a DHCP WAN before its gateway is known) stay as they are.
  const tables = new Set<number>([mainTable, ...want.plan.wans.map((w) => w.table), ...want.plan.paths.map((p) => p.table), ...want.routes.map((r) => r.table)]);
  for (const t of want.keptTables) tables.delete(t);
  const wanTables = new Set(want.plan.wans.map((w) => w.table).filter((t) => tables.has(t)));

  // Order: the WAN tables and the WAN-mark rules come before any tunnel is
  // configured or brought up. A tunnel sends its first handshake as soon
  // as it is up with a peer endpoint; without its WAN's rule and table that
  // packet leaves by main's default route, from another WAN's address, the
  // remote end roams there, and the path runs over the wrong WAN from then
  // on. Only the WAN devices are needed, and they exist.
  await reconcileRoutes(want, wanTables, deps, report, attempt);
  await attempt('rules', async () => {
    const have = (await rtnl.rules()).filter(ownedRule);
    const ruleKey = (r: { family?: number; priority: number; fwmark?: number | null; table: number }): string => `${r.family ?? 4} ${r.priority} ${r.fwmark} ${r.table}`;
    const haveKeys = new Set(have.map(ruleKey));
    // Rules of both families: an IPv6 underlay needs its WAN-mark rule as
    // much as an IPv4 one.
    for (const r of want.rules) {
      if (haveKeys.has(ruleKey(r))) continue;
      if (await rtnl.addRule(r)) report.rules.added++;
    }
    const wantKeys = new Set(want.rules.map(ruleKey));
    for (const h of have) {
      if (wantKeys.has(ruleKey(h))) continue;
      const spec: RuleSpec = { family: h.family, priority: h.priority, table: h.table, ...(h.fwmark !== null ? { fwmark: h.fwmark } : {}) };
      await rtnl.deleteRule(spec);
      report.rules.removed++;
    }
  });

  // Then the interfaces, each configured (fwmark, port, peers) while still
  // down, and brought up last. Links and addresses are read once per pass,
  // not once per interface: a hub has hundreds.
  const existing = new Set(await wg.list());
  const links = new Map((await rtnl.links()).map((l) => [l.name, l]));
  const addressesOf = new Map<string, string[]>();
  for (const a of await rtnl.addresses()) addressesOf.set(a.ifname, [...(addressesOf.get(a.ifname) ?? []), a.cidr]);
  for (const i of want.interfaces) {
    await attempt(`interface ${i.ifname}`, async () => {
      if (!existing.has(i.ifname)) {
        await wg.create(i.ifname);
        report.created.push(i.ifname);
      }
      const r = await wg.configure(i.ifname, i.device);
      const changed = [...r.device, ...r.added.map((k) => `+peer ${k.slice(0, 8)}`), ...r.updated.map((k) => `~peer ${k.slice(0, 8)}`), ...r.removed.map((k) => `-peer ${k.slice(0, 8)}`)];
      if (changed.length) report.configured[i.ifname] = changed;
      const created = !existing.has(i.ifname);
      const link = created ? await rtnl.link(i.ifname) : links.get(i.ifname);
      if (link && link.mtu !== i.mtu) await rtnl.setLinkMtu(i.ifname, i.mtu);
      const have = new Set(created ? (await rtnl.addresses(i.ifname)).map((a) => a.cidr) : (addressesOf.get(i.ifname) ?? []));
      for (const a of i.addresses) {
        if (have.has(a)) continue;
        // No duplicate address detection on a point-to-point tunnel: it
        // would only keep the link-local address tentative for a second.
        await rtnl.addAddress(i.ifname, a, { nodad: true });
        report.addresses.added++;
      }
      for (const a of have) {
        if (i.addresses.includes(a)) continue;
        await rtnl.deleteAddress(i.ifname, a);
        report.addresses.removed++;
      }
      if (!link?.up) await rtnl.setLinkUp(i.ifname, true);
    });
  }
  const wanted = new Set(want.interfaces.map((i) => i.ifname));
  for (const name of existing) {
    if (wanted.has(name)) continue;
    // Its routes go with the device.
    await attempt(`remove interface ${name}`, async () => {
      await wg.destroy(name);
      report.destroyed.push(name);
    });
  }

  // Last the routes through the tunnels (path tables, main): they need
  // their devices.
  await reconcileRoutes(want, new Set([...tables].filter((t) => !wanTables.has(t))), deps, report, attempt);

  const changed = report.created.length + report.destroyed.length + Object.keys(report.configured).length
    + report.addresses.added + report.addresses.removed + report.routes.replaced + report.routes.removed + report.rules.added + report.rules.removed;
  if (changed || report.errors.length) logger.info({ report }, 'tunneld: reconcile: kernel updated');
  return report;
}
