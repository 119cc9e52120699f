// The lab's smoke checks: who must reach whom, and who must not, before any
// overlay exists. Used by `cli up --check` and lab.test.ts.
import path from 'node:path';
import type { Logger } from '../../daemons/lib/log/index.js';
import type { Lab } from './lab.js';
import { ping, type MeasureHost } from './measure.js';
import { applianceLan, applianceWans, hostOf, endsOf, type Topology } from './topology.js';
import { busCall, waitFor } from './wait.js';

/** One expected (un)reachability. */
export interface ReachProbe {
  from: string;
  /** The node owning the target address. */
  toNode: string;
  address: string;
  /** True when the probe must be answered. */
  want: boolean;
  /** Why this expectation holds, for the report. */
  why: string;
}

export interface ReachResult extends ReachProbe {
  got: boolean;
  ok: boolean;
}

function hostAddress(topo: Topology, node: string): string | undefined {
  const a = endsOf(topo, node).find((e) => e.end.address)?.end.address;
  return a ? hostOf(a) : undefined;
}

/**
 * The matrix: every appliance reaches every other appliance's WAN
 * addresses; LAN hosts reach their own site's appliances on the LAN; the
 * roadwarrior reaches every appliance WAN; nothing reaches another site's
 * LAN (no overlay, no NAT, ISPs route only 198.18.0.0/15).
 */
export function reachabilityPlan(topo: Topology, opts: { overlay?: boolean } = {}): ReachProbe[] {
  // With tunneld running, every site's LAN is reached over the overlay.
  const overlay = opts.overlay ?? false;
  const plan: ReachProbe[] = [];
  const appliances = topo.nodes.filter((n) => n.role === 'appliance').map((n) => n.name);
  const siteOf = (node: string) => topo.sites.find((s) => s.appliances.includes(node) || s.hosts.includes(node));
  const wanAddrs = (a: string) => applianceWans(topo, a).map((w) => hostOf(w.address));
  const lanAddr = (a: string) => {
    const lan = applianceLan(topo, a);
    return lan?.address ? hostOf(lan.address) : undefined;
  };
  for (const a of appliances) {
    for (const b of appliances) {
      if (a === b) continue;
      for (const address of wanAddrs(b)) plan.push({ from: a, toNode: b, address, want: true, why: 'WAN to WAN across the internet' });
      const lan = lanAddr(b);
      if (lan && siteOf(a) !== siteOf(b)) {
        plan.push({ from: a, toNode: b, address: lan, want: overlay, why: overlay ? 'another site\'s LAN over the overlay' : 'another site\'s LAN: no overlay yet' });
      }
    }
  }
  for (const site of topo.sites) {
    for (const h of site.hosts) {
      for (const a of appliances) {
        const lan = lanAddr(a);
        if (!lan) continue;
        const own = site.appliances.includes(a);
        plan.push({
          from: h, toNode: a, address: lan, want: own || overlay,
          why: own ? 'own appliance on the LAN' : overlay ? 'another site\'s appliance over the overlay' : 'another site\'s appliance LAN address: no overlay yet',
        });
      }
      for (const other of topo.sites) {
        if (other === site) continue;
        for (const oh of other.hosts) {
          const address = hostAddress(topo, oh);
          if (address) plan.push({ from: h, toNode: oh, address, want: overlay, why: overlay ? 'another site\'s LAN host over the overlay' : 'another site\'s LAN host: no overlay yet' });
        }
      }
    }
  }
  for (const u of topo.remoteUsers) {
    for (const a of appliances) {
      for (const address of wanAddrs(a)) plan.push({ from: u.node, toNode: a, address, want: true, why: 'roadwarrior to appliance WAN' });
    }
    for (const s of topo.sites) {
      for (const h of s.hosts) {
        const address = hostAddress(topo, h);
        if (address) plan.push({ from: u.node, toNode: h, address, want: false, why: 'a site LAN host: no remote access yet' });
      }
    }
  }
  return plan;
}

/** Run the plan: one fping per source node, all sources at once. */
export async function runReachability(host: MeasureHost, plan: ReachProbe[]): Promise<ReachResult[]> {
  const bySource = new Map<string, ReachProbe[]>();
  for (const p of plan) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p]);
  const results = await Promise.all([...bySource.entries()].map(async ([from, probes]) => {
    const targets = [...new Set(probes.map((p) => p.address))];
    // Three probes, any answer counts: a lost first probe (ARP still
    // resolving) must not turn a reachable address into a failure.
    const pings = await ping(host, from, targets, { count: 3, periodMs: 20, timeoutMs: 300 });
    return probes.map((p): ReachResult => {
      const got = pings.find((r) => r.target === p.address)!.received > 0;
      return { ...p, got, ok: got === p.want };
    });
  }));
  return results.flat();
}

/** One line per result: "ok   office1 → 198.18.2.2 (office2) reachable: WAN to WAN ...". */
export function formatReachability(results: ReachResult[]): string {
  return results.map((r) => {
    const what = r.want ? 'reachable' : 'unreachable';
    const status = r.ok ? 'ok  ' : 'FAIL';
    const detail = r.ok ? '' : ` (got ${r.got ? 'reachable' : 'unreachable'}; want ${what})`;
    return `${status} ${r.from} → ${r.address} (${r.toNode}) ${what}: ${r.why}${detail}`;
  }).join('\n');
}

/**
 * Wait until tunneld on every appliance reports all its paths up (or give up
 * after about a minute and say which are not), so checks of the overlay do
 * not race the first handshakes.
 */
export async function waitForOverlay(lab: Lab, log: Logger, tries = 240): Promise<boolean> {
  const pending = new Set(lab.nodes('appliance').map((n) => n.name));
  await waitFor('every path up on every appliance', async () => {
    for (const node of [...pending]) {
      // Not answering yet counts as not up yet.
      const paths = await busCall<Array<{ state: string }>>(path.join(lab.applianceEnv(node).TERN_RUN_DIR!, 'tunneld.sock'), 'paths.list', undefined, 2000).catch(() => []);
      if (paths.length > 0 && paths.every((p) => p.state === 'up')) pending.delete(node);
    }
    return pending.size === 0;
  }, { tries, everyMs: 250 }).catch(() => undefined);
  if (pending.size > 0) log.warn({ pending: [...pending] }, `lab: overlay: paths not all up on ${[...pending].join(', ')}`);
  else log.info('lab: overlay: every path is up');
  return pending.size === 0;
}
