// Package metrics is one Prometheus scrape of the box, for the exporter
// (daemons/exporter) and ternctl diag: ask the daemons (each bounded by the timeout, in parallel),
// turn the answers into Prometheus metrics named by its conventions (base
// units: seconds, ratios, bits per second, bytes; _total for counters), and
// say which daemons answered with tern_daemon_up. A fresh registry per
// scrape, so a path or WAN that went away leaves no stale series.
import { Counter, Gauge, Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Clock } from '../clock/index.js';
import { readPending } from '../config/transaction/index.js';
import { ternVersion } from '../version.js';
import { installedDaemons } from '../views/daemons.js';
import { collectPair, collectPaths, collectRaw, collectWans, isObj, listOf, methods, num, runningConfig, type ViewContext } from '../views/index.js';
import { qosSummary } from '../views/qos.js';
import { domainsSummary, firewallSummary, leasesSummary, natSummary } from '../views/edge.js';

/** What a scrape needs: the views' context and a clock (for its duration). */
export interface MetricsContext extends ViewContext {
  clock: Clock;
}

export interface Scrape {
  registry: Registry;
  text: string;
  /** What could not be collected: source → reason. */
  problems: Record<string, string>;
}

const ratio = (pct: number | null): number | null => (pct === null ? null : pct / 100);
const seconds = (msValue: number | null): number | null => (msValue === null ? null : msValue / 1000);

export async function collectMetrics(ctx: MetricsContext): Promise<Scrape> {
  const started = ctx.clock.monotonic();
  ctx.daemons.fresh();
  const registry = new Registry();
  const reg = { registers: [registry] };
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> => new Gauge<L>({ name, help, labelNames, ...reg });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> => new Counter<L>({ name, help, labelNames, ...reg });
  const set = <L extends string>(g: Gauge<L>, labels: Partial<Record<L, string>>, v: number | null): void => {
    if (v !== null && Number.isFinite(v)) g.set(labels, v);
  };
  const problems: Record<string, string> = {};

  const cfgR = await runningConfig(ctx);
  const cfg = cfgR.loaded?.config;
  if (cfgR.error) problems.config = cfgR.error.message;
  const [live, paths, wans, pair, qos, steer, flows, internet, pending] = await Promise.all([
    ctx.daemons.all(), collectPaths(ctx, cfg), collectWans(ctx, cfg), collectPair(ctx, cfg), qosSummary(ctx, cfg),
    collectRaw(ctx, 'steerd', methods.steering),
    collectRaw(ctx, 'steerd', methods.flows, { limit: 1 }),
    collectRaw(ctx, 'steerd', methods.internet),
    readPending(ctx).catch((err: unknown) => { problems.pending = errorMessage(err); return undefined; }),
  ]);
  const installed = new Set<string>(installedDaemons());

  gauge('tern_build_info', 'Tern build; the value is always 1', ['version', 'node']).set({ version: ternVersion(), node: process.versions.node }, 1);
  const up = gauge('tern_daemon_up', '1 when the daemon answered daemon.status within the timeout', ['daemon', 'installed']);
  const uptime = gauge('tern_daemon_uptime_seconds', 'Time since the daemon started', ['daemon']);
  const warnings = gauge('tern_health_warnings', 'Active health warnings of a daemon', ['daemon', 'severity']);
  for (const l of live) {
    up.set({ daemon: l.daemon, installed: installed.has(l.daemon) ? 'true' : 'false' }, l.state === 'running' ? 1 : 0);
    set(uptime, { daemon: l.daemon }, seconds(l.uptimeMs));
    if (l.state === 'running') {
      for (const sev of ['warning', 'error'] as const) warnings.set({ daemon: l.daemon, severity: sev }, l.warnings.filter((w) => w.severity === sev).length);
    } else if (installed.has(l.daemon)) {
      problems[l.daemon] = l.reason ?? l.state;
    }
  }
  gauge('tern_config_pending', '1 while a config apply waits for confirmation (it rolls back otherwise)').set(pending ? 1 : 0);
  if (pending) gauge('tern_config_rollback_timestamp_seconds', 'When the pending config apply rolls back unless confirmed').set(pending.deadline / 1000);

  /** What probing says of a WAN or a path alike: its verdict, loss, RTT and jitter. */
  const probeGauges = <L extends string>(kind: 'wan' | 'path', what: string, labels: readonly L[]) => {
    const up = gauge(`tern_${kind}_up`, `1 when probing finds the ${what} up or degraded, 0 when down`, labels);
    const degraded = gauge(`tern_${kind}_degraded`, `1 when the ${what} is up but above a degraded threshold`, labels);
    const loss = gauge(`tern_${kind}_loss_ratio`, 'Probe loss over the measurement window (0-1)', labels);
    const rtt = gauge(`tern_${kind}_rtt_seconds`, 'Average probe round-trip time over the window', labels);
    const jitter = gauge(`tern_${kind}_jitter_seconds`, 'RFC 3550 jitter of the probes', labels);
    return (l: Partial<Record<L, string>>, v: { health: string | null; lossPct: number | null; rttMs: number | null; jitterMs: number | null }): void => {
      if (v.health && v.health !== 'unknown') {
        up.set(l, v.health === 'down' ? 0 : 1);
        degraded.set(l, v.health === 'degraded' ? 1 : 0);
      }
      set(loss, l, ratio(v.lossPct));
      set(rtt, l, seconds(v.rttMs));
      set(jitter, l, seconds(v.jitterMs));
    };
  };

  const wanProbe = probeGauges('wan', 'WAN', ['wan'] as const);
  for (const w of wans.wans) wanProbe({ wan: w.name }, w);

  const pl = ['path', 'site', 'local_wan', 'remote_wan'] as const;
  const pathProbe = probeGauges('path', 'path', pl);
  const tunnelUp = gauge('tern_path_tunnel_up', "1 when the path's WireGuard handshake is fresh", pl);
  const pathLossFwd = gauge('tern_path_loss_forward_ratio', 'Loss on the way to the remote site (0-1)', pl);
  const pathLossRev = gauge('tern_path_loss_reverse_ratio', 'Loss on the way back from the remote site (0-1)', pl);
  const pathMos = gauge('tern_path_mos', 'Estimated voice quality (MOS, 1-5)', pl);
  const handshake = gauge('tern_path_handshake_age_seconds', 'Time since the last WireGuard handshake', pl);
  const rx = counter('tern_tunnel_rx_bytes_total', 'Bytes received on the path (WireGuard peer counter)', pl);
  const tx = counter('tern_tunnel_tx_bytes_total', 'Bytes sent on the path (WireGuard peer counter)', pl);
  for (const p of paths.paths) {
    const l = { path: p.name, site: p.site, local_wan: p.localWan, remote_wan: p.remoteWan };
    pathProbe(l, p);
    if (p.tunnel) tunnelUp.set(l, p.tunnel === 'up' ? 1 : 0);
    set(pathLossFwd, l, ratio(p.lossFwdPct));
    set(pathLossRev, l, ratio(p.lossRevPct));
    set(pathMos, l, p.mos);
    set(handshake, l, seconds(p.handshakeAgeMs));
    if (p.rxBytes !== null) rx.inc(l, p.rxBytes);
    if (p.txBytes !== null) tx.inc(l, p.txBytes);
  }

  if (pair.configured) {
    const role = gauge('tern_pair_role', '1 for the role this appliance holds in its PAIR', ['role']);
    const r = pair.pair?.role ?? null;
    for (const name of new Set(['master', 'backup', 'init', ...(r ? [r] : [])])) role.set({ role: name }, r === name ? 1 : 0);
    set(gauge('tern_pair_priority', 'VRRP priority in effect (after tracking)'), {}, pair.pair?.priority ?? null);
    set(gauge('tern_pair_configured_priority', 'VRRP priority from the config'), {}, pair.pair?.basePriority ?? cfg?.pair?.priority ?? null);
    // Pair sync: a spoofer on the LAN shows as refusals (bad auth, wrong source, replay).
    const sync = pair.pair?.raw.sync;
    if (isObj(sync) && typeof sync.accepted === 'number') {
      counter('tern_pair_sync_accepted_total', 'Pair-sync messages from the other box taken').inc(sync.accepted);
      const refused = counter('tern_pair_sync_refused_total', 'Pair-sync datagrams refused, by reason (badAuth, wrongSource, replay, malformed, version, vrid)', ['reason']);
      for (const [reason, n] of Object.entries(isObj(sync.refused) ? sync.refused : {})) if (typeof n === 'number') refused.inc({ reason }, n);
    }
  }

  const ql = ['wan', 'direction'] as const;
  const qosRate = gauge('tern_qos_rate_bits_per_second', 'Shaper rate in effect (autorate moves it)', ql);
  const qosConf = gauge('tern_qos_configured_rate_bits_per_second', 'Shaper rate from the config', ql);
  const qosOn = gauge('tern_qos_shaped', '1 when the WAN is shaped', ['wan']);
  for (const w of qos.wans) {
    qosOn.set({ wan: w.wan }, w.enabled ? 1 : 0);
    set(qosRate, { wan: w.wan, direction: 'up' }, w.upBps);
    set(qosRate, { wan: w.wan, direction: 'down' }, w.downBps);
    set(qosConf, { wan: w.wan, direction: 'up' }, w.configuredUpBps);
    set(qosConf, { wan: w.wan, direction: 'down' }, w.configuredDownBps);
  }

  // steer.counters as daemons/lib/api/steerd.ts declares it: the daemon's totals, and each site's selector.
  const s = steer.value && typeof steer.value === 'object' ? (steer.value as Record<string, unknown>) : undefined;
  const totals = s && typeof s.totals === 'object' && s.totals ? (s.totals as Record<string, unknown>) : undefined;
  const sites = listOf(s, 'sites');
  set(gauge('tern_steer_flows', 'Steered flows conntrack holds now'), {}, num(flows.value as Record<string, unknown> | undefined, 'total'));
  const moves = num(totals, 'moves');
  if (moves !== null) counter('tern_steer_moves_total', 'Flows moved to another path (SLA broken or path down)').inc(moves);
  const decisions = sites.length ? sites.reduce((sum, site) => sum + (num(site, 'decisions') ?? 0), 0) : null;
  if (decisions !== null) counter('tern_steer_decisions_total', 'Path decisions made for new flows').inc(decisions);
  // steer.internet (InternetView in daemons/lib/api/steerd.ts): WAN usage per app class from conntrack, the paths' state and clears.
  const inet = internet.value && typeof internet.value === 'object' ? (internet.value as Record<string, unknown>) : undefined;
  const inetFlows = gauge('tern_internet_flows', 'Internet flows conntrack holds on a WAN, per app class', ['wan', 'class']);
  const inetBytes = gauge('tern_internet_bytes', 'Bytes (both directions) of the internet flows conntrack holds on a WAN, per app class', ['wan', 'class']);
  const inetNat = gauge('tern_internet_nat_flows', 'NATed internet flows on a WAN', ['wan']);
  const inetUp = gauge('tern_internet_path_up', '1 when new internet flows may take the WAN (up or degraded, not held)', ['wan']);
  const inetHold = gauge('tern_internet_hold_seconds', 'Failback hold left on a WAN that came back', ['wan']);
  for (const p of listOf(inet, 'paths')) {
    const wan = typeof p.wan === 'string' ? p.wan : undefined;
    if (!wan) continue;
    set(inetNat, { wan }, num(p, 'natFlows'));
    set(inetUp, { wan }, p.state === 'down' ? 0 : 1);
    set(inetHold, { wan }, num(p, 'holdSec'));
    const classes = p.classes && typeof p.classes === 'object' ? (p.classes as Record<string, Record<string, unknown>>) : {};
    for (const [cls, u] of Object.entries(classes)) {
      set(inetFlows, { wan, class: cls }, num(u, 'flows'));
      set(inetBytes, { wan, class: cls }, num(u, 'bytes'));
    }
  }
  const cleared = num(totals, 'cleared');
  if (cleared !== null) counter('tern_internet_cleared_flows_total', 'Internet flows cleared (WAN down, metered failback, path removed)').inc(cleared);
  // The kernel's qdisc counters: they restart when qosd rebuilds a shaper, which Prometheus reads as a counter reset.
  const dropped = counter('tern_qos_dropped_packets_total', 'Packets the shaper dropped', ['wan', 'direction']);
  const sent = counter('tern_qos_sent_bytes_total', 'Bytes the shaper sent', ['wan', 'direction']);
  for (const w of qos.wans) {
    for (const dir of ['up', 'down'] as const) {
      if (w.drops[dir] !== null) dropped.inc({ wan: w.wan, direction: dir }, w.drops[dir]!);
      if (w.bytes[dir] !== null) sent.inc({ wan: w.wan, direction: dir }, w.bytes[dir]!);
    }
  }

  // edged: what the zone firewall dropped by zone and reason, anti-spoofing per WAN, port forwards; NAT sessions per WAN.
  // nft's named counters: kept across edged's reloads and restarts, reset only when the table is rebuilt.
  const [fw, nat] = await Promise.all([firewallSummary(ctx), natSummary(ctx)]);
  const fwDropped = counter('tern_firewall_dropped_packets_total', 'Packets the zone firewall dropped or reset, by zone and reason', ['zone', 'reason']);
  const fwSpoofed = counter('tern_firewall_spoofed_packets_total', 'Packets from a WAN with a source that cannot be there (LAN, overlay, own addresses), dropped', ['wan']);
  const fwForwarded = counter('tern_firewall_forward_connections_total', 'New connections through a port forward', ['forward']);
  for (const c of fw.counters) {
    if (c.kind === 'drop' || c.kind === 'icmp' || c.kind === 'reset') fwDropped.inc({ zone: c.zone ?? 'any', reason: c.reason ?? c.kind }, c.packets);
    else if (c.kind === 'spoof') fwSpoofed.inc({ wan: c.wan ?? '' }, c.packets);
    else if (c.kind === 'forward') fwForwarded.inc({ forward: c.reason ?? c.name }, c.packets);
  }
  const natSessions = gauge('tern_nat_sessions', 'NAT sessions conntrack holds now, per WAN', ['wan']);
  for (const w of nat.wans) natSessions.set({ wan: w.wan }, w.sessions);
  // edged's LAN services: leases in the lease file (expired ones included, as dnsmasq keeps them until it rewrites the file) and learned addresses per domain class.
  const [leases, domains] = await Promise.all([leasesSummary(ctx), domainsSummary(ctx)]);
  if (leases.leases !== null) gauge('tern_dhcp_leases', 'DHCP leases in the lease file of the LAN\'s dnsmasq').set(leases.leases.length);
  const domainAddrs = gauge('tern_domain_addresses', 'Addresses learned from DNS answers for a domain app class, in its sets now', ['class']);
  for (const c of domains.classes) domainAddrs.set({ class: c.appClass }, c.addresses);
  for (const [k, v] of Object.entries({ ...fw.sources, ...nat.sources, ...leases.sources, ...domains.sources })) {
    if (v !== 'ok' && !v.startsWith('ok') && !/not running|not responding/.test(v)) problems[`source.${k}`] = v;
  }
  for (const [k, v] of Object.entries({ ...paths.sources, ...wans.sources, ...pair.sources, ...qos.sources, ...steer.sources, ...internet.sources })) {
    if (v !== 'ok' && !v.startsWith('ok') && !/not running|not responding/.test(v)) problems[`source.${k}`] = v;
  }
  gauge('tern_exporter_scrape_problems', 'Sources this scrape could not read (see tern_daemon_up for daemons)').set(Object.keys(problems).length);
  gauge('tern_exporter_scrape_duration_seconds', 'How long this scrape took').set((ctx.clock.monotonic() - started) / 1000);
  return { registry, text: await registry.metrics(), problems };
}
