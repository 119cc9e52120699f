// Package tunneld runs the WireGuard overlay: a tunnel per (local WAN,
// remote WAN) to every other site, routes to remote LANs, and remote access
// for consultants; it publishes every path's state on the bus.
import dns from 'node:dns/promises';
import type { TernConfig } from '../lib/config/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { componentLogger } from '../lib/log/index.js';
import { Rtnl, createWireGuardBackend, readInotifyCeiling, wireguardGoCeilingProblem, type DeviceState, type WireGuardBackend } from '../lib/kernel/index.js';
import { ifnamePrefix } from '../lib/kernel/names.js';
import { overlayPlan } from '../lib/overlay/index.js';
import { tunneldApi } from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { desiredState, dhcpWans, pathEndpoint, pathTableAction, type DesiredInputs } from './desired.js';
import { EndpointDrifts, stubbornDriftReadings } from './drift.js';
import { DhcpGateways } from './gateways.js';
import { loadOrCreateSiteKey, readKeyFile } from '../lib/keys/index.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { pathReading, pathStatus, type PathReading, type PathStatus } from './status.js';

export { desiredState, activePaths, dhcpWans, mainRouteMetric, pathEndpoint, pathTableAction, wanGuardMetric } from './desired.js';
export { EndpointDrifts, type DriftReading } from './drift.js';
export { DhcpGateways, type DhcpGatewaysOptions } from './gateways.js';
export { pathReading, type PathReading, type PathStatus } from './status.js';

/** How often WireGuard is read for handshakes and counters, and main for DHCP gateways. */
const pollMs = 1000;
/** How often the whole state is reconciled again, repairing drift and retrying failures. */
const resyncMs = 30_000;

/** One thing in the config this box cannot act on, with the key it comes from. */
interface Problem { key: string; message: string }

interface Prepared { inputs: Omit<DesiredInputs, 'upPaths' | 'pathReadings' | 'dhcpGateways'>; problems: Problem[] }

const isIp = (h: string): boolean => /^[0-9.]+$/.test(h) || h.includes(':');

/** How long a name lookup may take before the endpoint counts as unresolved. */
const resolveTimeoutMs = 3000;

/** dns.lookup bounded in time: a reload must answer, whatever the resolver does. */
function lookup(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${resolveTimeoutMs} ms`)), resolveTimeoutMs);
    dns.lookup(host).then((r) => { clearTimeout(timer); resolve(r.address); }, (err: unknown) => { clearTimeout(timer); reject(err); });
  });
}

/**
 * Everything the desired state needs from outside the config: keys, resolved
 * endpoint names, and a check that every WAN interface exists.
 */
async function prepare(cfg: TernConfig, ctx: DaemonContext, rtnl: Rtnl, privateKey: string): Promise<Prepared> {
  const problems: Problem[] = [];
  for (const [i, w] of cfg.wans.entries()) {
    if (!(await rtnl.link(w.interface))) problems.push({ key: `wans[${i}].interface`, message: `no interface '${w.interface}' on this box (TERN_E_TUNNEL_WAN)` });
  }
  const resolved = new Map<string, string>();
  for (const [i, s] of cfg.overlay.sites.entries()) {
    for (const [j, w] of s.wans.entries()) {
      const host = w.endpoint.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (isIp(host) || resolved.has(host)) continue;
      try {
        resolved.set(host, await lookup(host));
      } catch (err) {
        problems.push({ key: `overlay.sites[${i}].wans[${j}].endpoint`, message: `host '${host}' does not resolve: ${errorMessage(err)} (TERN_E_TUNNEL_ENDPOINT)` });
      }
    }
  }
  const presharedKeys = new Map<string, string>();
  for (const [i, s] of cfg.overlay.sites.entries()) {
    if (!s.presharedKeyFile) continue;
    try { presharedKeys.set(s.id, readKeyFile(s.presharedKeyFile)); } catch (err) {
      problems.push({ key: `overlay.sites[${i}].presharedKeyFile`, message: errorMessage(err) });
    }
  }
  const userPresharedKeys = new Map<string, string>();
  for (const [i, u] of cfg.remoteUsers.entries()) {
    if (!u.presharedKeyFile) continue;
    try { userPresharedKeys.set(u.name, readKeyFile(u.presharedKeyFile)); } catch (err) {
      problems.push({ key: `remoteUsers[${i}].presharedKeyFile`, message: errorMessage(err) });
    }
  }
  void ctx;
  return { inputs: { config: cfg, privateKey, presharedKeys, userPresharedKeys, resolved }, problems };
}

export const spec: DaemonSpec = {
  name: 'tunneld',
  async start(ctx: DaemonContext): Promise<DaemonHooks> {
    const log = componentLogger(ctx.logger, 'tunneld');
    // Methods and topics as daemons/lib/api/tunneld.ts declares them.
    const bus = contractBus(ctx, tunneldApi);
    const rtnl = new Rtnl({ logger: componentLogger(ctx.logger, 'rtnl') });
    let wg: WireGuardBackend;
    try {
      wg = await createWireGuardBackend({ prefix: ifnamePrefix, rtnl, logger: componentLogger(ctx.logger, 'wireguard') });
    } catch (err) {
      rtnl.close();
      throw err;
    }
    const key = loadOrCreateSiteKey(ctx.paths.keysDir, ctx.config.overlay.privateKeyFile);
    log.info({ publicKey: key.publicKey, created: key.created, backend: wg.kind }, 'tunneld: site key ready');

    let prepared = await prepare(ctx.config, ctx, rtnl, key.privateKey);
    const statuses = new Map<string, PathStatus>();
    const up = (): Set<string> => new Set([...statuses.values()].filter((s) => s.state === 'up').map((s) => s.name));
    /** The last WireGuard reading of each path since start, which decides its table (pathTableAction). */
    const readings = new Map<string, PathReading>();
    const readingsOf = (): Map<string, PathReading> =>
      new Map(overlayPlan(prepared.inputs.config).paths.map((p) => [p.name, readings.get(p.name) ?? 'none']));
    /** Peer endpoints moved away from the remote WAN the config names (drift.ts). */
    const drifts = new EndpointDrifts();
    const gateways = new DhcpGateways({ read: (tables) => rtnl.routesIn(tables), monotonic: () => ctx.clock.monotonic(), logger: log });
    const showGatewayProblem = (): void => ctx.health.check('tunneld.dhcp', gateways.problem !== undefined,
      `cannot read the main table for DHCP gateways (the WAN tables keep the last ones): ${gateways.problem ?? ''}`, 'warning');
    let lastReport: ReconcileReport | undefined;
    let chain: Promise<unknown> = Promise.resolve();
    let stopped = false;

    const showProblems = (problems: Problem[]): void => {
      ctx.health.check('tunneld.config', problems.length > 0,
        problems.map((p) => `${p.key}: ${p.message}`).join('; '), 'warning');
    };
    showProblems(prepared.problems);

    // Passes never overlap: each waits for the one before.
    const pass = (why: string): Promise<ReconcileReport | undefined> => {
      const next = chain.then(async () => {
        if (stopped) return undefined;
        const known = gateways.gateways;
        const want = desiredState({ ...prepared.inputs, upPaths: up(), pathReadings: readingsOf(), ...(known ? { dhcpGateways: known } : {}) });
        if (wg.kind === 'userspace') {
          const ceiling = wireguardGoCeilingProblem(want.interfaces.length, readInotifyCeiling());
          ctx.health.check('tunneld.wireguard-go', ceiling !== undefined, ceiling ?? '', 'warning');
        }
        const report = await reconcile(want, { rtnl, wg, logger: log });
        lastReport = report;
        ctx.health.check('tunneld.reconcile', report.errors.length > 0, report.errors.slice(0, 5).join('; '), 'error');
        log.debug({ why }, 'tunneld: reconcile pass done');
        return report;
      });
      chain = next.catch((err: unknown) => log.error({ err: errorMessage(err) }, 'tunneld: reconcile pass failed'));
      return next;
    };

    /**
     * Reads every path's WireGuard state (and, for DHCP WANs, main's default
     * routes); resolves whether the kernel wants another pass: the up set,
     * a path table's action or a DHCP gateway changed, or a peer endpoint
     * drifted away from the remote WAN the config names (the pass sets it
     * back: it is read every second, not only at the 30 s resync, because
     * the far end's stale source address would otherwise keep it there).
     */
    const readOnce = async (forceGateways: boolean): Promise<boolean> => {
      const plan = overlayPlan(prepared.inputs.config);
      const now = ctx.clock.now();
      const before = up();
      const actionsBefore = readingsOf();
      let present: Set<string> | 'failed' | undefined;
      let drifted = false;
      for (const p of plan.paths) {
        let dev: DeviceState | undefined;
        let reading: PathReading;
        try {
          dev = await wg.get(p.ifname);
          reading = pathReading(dev, now);
        } catch {
          dev = undefined;
          // No interface (yet) is not a failed reading: its table keeps
          // what it has (nothing: routes go with the device). Any other
          // failure leaves up or down unknown.
          present ??= await wg.list().then((names) => new Set(names), () => 'failed' as const);
          reading = pathReading(present !== 'failed' && !present.has(p.ifname) ? 'absent' : 'failed', now);
        }
        readings.set(p.name, reading);
        const wanted = pathEndpoint(p, prepared.inputs.resolved);
        if (dev) {
          const observed = dev.peers[0]?.endpoint ?? null;
          const drift = drifts.observe(p.name, wanted, observed);
          if (drift === 'drifted') {
            log.warn({ path: p.name, ifname: p.ifname, wanted, observed, drifts: drifts.count(p.name) },
              'tunneld: endpoint drifted away from the remote WAN the config names (WireGuard roaming); setting it back');
          } else if (drift === 'back') {
            log.info({ path: p.name, ifname: p.ifname, endpoint: observed }, 'tunneld: endpoint back on the remote WAN the config names');
          }
          if (drift === 'drifted' || drift === 'still') drifted = true;
        }
        const s = pathStatus(p, dev, now, { wanted: wanted ?? null, drifts: drifts.count(p.name) });
        const old = statuses.get(p.name);
        statuses.set(p.name, s);
        if (!old || old.state !== s.state) {
          bus.publish('paths.changed', s);
          log.info({ path: s.name, state: s.state, endpoint: s.endpoint }, 'tunneld: path state');
        }
      }
      for (const name of [...statuses.keys()]) if (!plan.paths.some((p) => p.name === name)) statuses.delete(name);
      for (const name of [...readings.keys()]) if (!plan.paths.some((p) => p.name === name)) readings.delete(name);
      drifts.keepOnly(new Set(plan.paths.map((p) => p.name)));
      const stubborn = drifts.stubborn();
      ctx.health.check('tunneld.endpoint', stubborn.length > 0,
        `peer endpoints keep leaving the remote WAN the config names (${stubborn.map((d) => `${d.path}: ${d.observed}, want ${d.wanted}`).join('; ')}) `
        + `after ${stubbornDriftReadings}+ readings; if that WAN is behind NAT, say so (overlay.sites[].wans[].behindNat)`, 'warning');
      const after = up();
      const actionsAfter = readingsOf();
      const upChanged = before.size !== after.size || [...after].some((n) => !before.has(n));
      const tableChanged = [...actionsAfter].some(([n, r]) => pathTableAction(r) !== pathTableAction(actionsBefore.get(n)));
      gateways.setWans(dhcpWans(prepared.inputs.config, plan));
      const gatewayChanged = await gateways.refresh(forceGateways);
      showGatewayProblem();
      return upChanged || tableChanged || gatewayChanged || drifted;
    };
    // Readings never overlap (a slow one would otherwise land after a newer one).
    let reading: Promise<boolean> | undefined;
    const read = async (forceGateways = false): Promise<boolean> => {
      while (reading) await reading.catch(() => false);
      reading = readOnce(forceGateways);
      try { return await reading; } finally { reading = undefined; }
    };
    const poll = async (): Promise<void> => {
      if (reading) return; // the tick after will do
      if (await read()) await pass('path state, DHCP gateway or peer endpoint changed');
    };

    // Read before the first pass: a restart then starts from what the
    // kernel says (paths up or down, leases), so it changes nothing that
    // was right — no route goes and comes back.
    await read(true).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'tunneld: first reading failed'));
    await pass('start');
    const pollTimer = ctx.clock.setInterval(() => {
      poll().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'tunneld: poll failed'));
    }, pollMs);
    const resyncTimer = ctx.clock.setInterval(() => {
      // Names that did not resolve at start are tried again here.
      const base = prepared;
      prepare(base.inputs.config, ctx, rtnl, key.privateKey).then((p) => {
        // A reload that landed while this one was resolving carries a newer
        // config: installing this one would bring the old config back (a
        // revoked remote user's peer stayed until the next reload).
        if (prepared !== base) return undefined;
        prepared = p;
        showProblems(p.problems);
        return pass('resync');
      }).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'tunneld: resync failed'));
    }, resyncMs);

    bus.method('paths.list', () => [...statuses.values()]);
    bus.method('tunnels.list', async () => {
      const out = [];
      for (const name of await wg.list()) {
        const d = await wg.get(name).catch(() => undefined);
        const link = await rtnl.link(name);
        out.push({ ifname: name, ifindex: link?.index ?? null, up: link?.up ?? false, listenPort: d?.listenPort ?? null, fwmark: d?.fwmark ?? null, peers: d?.peers ?? [] });
      }
      return out;
    });
    bus.method('overlay.info', () => ({
      site: ctx.config.identity.site,
      publicKey: key.publicKey,
      backend: wg.kind,
      siteNumber: overlayPlan(prepared.inputs.config).siteNumber,
      lastReconcile: lastReport ?? null,
    }));
    // Public facts only: no bus method returns a secret (docs/bus.md, "Secrets").
    bus.method('ra.list', () => ctx.config.remoteUsers.map((u) => ({
      name: u.name, address: u.address, allowedPrefixes: u.allowedPrefixes, revoked: u.revoked, publicKey: u.publicKey,
    })));

    return {
      async reload(config: TernConfig): Promise<void> {
        const next = await prepare(config, ctx, rtnl, key.privateKey);
        if (next.problems.length) {
          // Refuse the whole config: the tunnels already up stay as they are.
          throw new TernError('TERN_E_CONFIG_SEMANTIC', `tunneld: reload: ${next.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
        }
        prepared = next;
        showProblems([]);
        // The DHCP WANs may have changed: their gateways are read before the pass.
        await read(true);
        await pass('reload');
        if (await read()) await pass('path state or DHCP gateway changed');
      },
      status: () => ({
        publicKey: key.publicKey,
        backend: wg.kind,
        paths: { total: statuses.size, up: up().size, endpointDrifts: drifts.total() },
      }),
      async stop(): Promise<void> {
        stopped = true;
        ctx.clock.clearInterval(pollTimer);
        ctx.clock.clearInterval(resyncTimer);
        await chain.catch(() => undefined);
        // Interfaces, peers and routes stay: traffic keeps flowing while
        // tunneld is stopped or restarting.
        wg.close();
        rtnl.close();
      },
    };
  },
};
