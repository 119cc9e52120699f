// ternctl status: the whole appliance on one screen — identity, WANs, sites
// and paths, PAIR, QoS, health warnings, daemon liveness, host facts.
import type { CommandResult, CtlContext } from './context.js';
import { readPending, type PendingApply } from './config/index.js';
import { installedDaemons, type Liveness } from '../lib/views/daemons.js';
import { exitCodes, type ExitCode } from './exit.js';
import { bytes, duration, keyValues, ms, painter, pct, stateColour, table, timestamp } from './format.js';
import { hostFacts, type HostFacts } from './hostinfo.js';
import { qosSummary, type QosSummary } from './qos.js';
import { ternVersion } from './version.js';
import { collectPair, collectPaths, collectWans, runningConfig, type PairView, type PathView, type Sources, type WanView } from './views.js';

export interface StatusWarning {
  daemon: string;
  severity: 'warning' | 'error';
  name: string;
  text: string;
  since: number | null;
}

export interface DaemonLine extends Liveness {
  installed: boolean;
}

export interface StatusData {
  version: string;
  identity: { site: string; name: string; description: string | null } | null;
  host: HostFacts;
  config: { file: string; hash: string | null; error: string | null; pending: PendingApply | null };
  wans: WanView[];
  paths: PathView[];
  pair: { configured: boolean; role: string | null; priority: number | null; basePriority: number | null; vips: string[]; reason: string | null; lastChange: PairView['lastChange']; peer: PairView['peer'] } | null;
  qos: QosSummary;
  daemons: DaemonLine[];
  warnings: StatusWarning[];
  sources: Sources;
}

/** Gather everything status shows; daemons are asked in parallel, each bounded by the timeout. */
export async function gatherStatus(ctx: CtlContext): Promise<StatusData> {
  const [cfgR, host, live] = await Promise.all([runningConfig(ctx), hostFacts(Math.max(1500, ctx.timeoutMs)), ctx.daemons.all()]);
  const cfg = cfgR.loaded?.config;
  const installed = new Set<string>(installedDaemons());
  const [paths, wans, pair, qos, pending] = await Promise.all([
    collectPaths(ctx, cfg), collectWans(ctx, cfg), collectPair(ctx, cfg), qosSummary(ctx, cfg),
    readPending(ctx).catch(() => undefined),
  ]);
  const warnings: StatusWarning[] = live.flatMap((l) => l.warnings.map((w) => ({ daemon: l.daemon, severity: w.severity, name: w.name, text: w.text, since: w.since })));
  if (cfgR.error) warnings.unshift({ daemon: 'ternctl', severity: 'error', name: 'config.load', text: cfgR.error.message, since: null });
  if (pending && pending.deadline < ctx.clock.now()) {
    warnings.unshift({ daemon: 'ternctl', severity: 'error', name: 'config.pending', since: pending.deadline,
      text: `version #${pending.id} is still pending after its deadline: its rollback timer is gone; run ternctl config rollback (or confirm)` });
  }
  const pairView = (p: PairView | null): StatusData['pair'] => (p ? { configured: pair.configured, role: p.role, priority: p.priority, basePriority: p.basePriority, vips: p.vips, reason: p.reason, lastChange: p.lastChange, peer: p.peer } : null);
  return {
    version: ternVersion(),
    identity: cfg ? { site: cfg.identity.site, name: cfg.identity.name, description: cfg.identity.description ?? null } : null,
    host,
    config: { file: ctx.paths.configFile, hash: cfgR.loaded?.hash ?? null, error: cfgR.error?.message ?? null, pending: pending ?? null },
    wans: wans.wans,
    paths: paths.paths,
    pair: pair.pair ? pairView(pair.pair) : pair.configured ? { configured: true, role: null, priority: null, basePriority: cfg?.pair?.priority ?? null, vips: cfg?.pair?.vips ?? [], reason: null, lastChange: null, peer: null } : null,
    qos,
    daemons: live.map((l) => ({ ...l, installed: installed.has(l.daemon) })),
    warnings,
    sources: prefixed({ paths: paths.sources, wans: wans.sources, pair: pair.sources, qos: qos.sources }),
  };
}

function prefixed(groups: Record<string, Sources>): Sources {
  const out: Sources = {};
  for (const [g, s] of Object.entries(groups)) for (const [k, v] of Object.entries(s)) out[`${g}.${k}`] = v;
  return out;
}

/** 4 when this user may not look, 3 when an installed daemon is down, else 0. */
export function statusExitCode(s: StatusData): ExitCode {
  if (s.daemons.some((d) => d.state === 'permission denied') || /permission denied/.test(s.config.error ?? '')) return exitCodes.permission;
  if (s.daemons.some((d) => d.installed && d.state !== 'running')) return exitCodes.unreachable;
  return exitCodes.ok;
}

export function renderStatus(ctx: CtlContext, s: StatusData): string {
  const paint = painter(ctx.color);
  const word = (w: string | null | undefined): string => (w ? paint(w, stateColour(w)) : '-');
  const out: string[] = [];
  const who = s.identity ? `${paint(s.identity.name, 'bold')} (site ${s.identity.site})` : paint('unknown appliance (no readable config)', 'red');
  out.push(`${who}  Tern ${s.version}`);
  const h = s.host;
  out.push(`host ${h.hostname ?? '?'}, ${h.os ?? '?'}, kernel ${h.kernel ?? '?'}, up ${duration((h.uptimeSec ?? NaN) * 1000)}, load ${h.load === null ? '-' : `${h.load}%`}, memory ${bytes(h.memTotalBytes === null || h.memAvailableBytes === null ? null : h.memTotalBytes - h.memAvailableBytes)} of ${bytes(h.memTotalBytes)}${h.cpuTempC === null ? '' : `, CPU ${h.cpuTempC} °C`}`);
  const cfgLine = s.config.error
    ? `config ${s.config.file}: ${paint('unreadable', 'red')}`
    : `config ${s.config.file} (sha256 ${s.config.hash?.slice(0, 12)})`;
  const pend = s.config.pending;
  out.push(pend ? `${cfgLine}; ${paint(`version #${pend.id} pending`, 'yellow')}: rolls back at ${timestamp(pend.deadline)} unless confirmed` : cfgLine);

  out.push('', paint('WANs', 'bold'));
  out.push(table(s.wans, [
    { header: 'WAN', get: (w) => w.name },
    { header: 'IF', get: (w) => w.interface },
    { header: 'ADDRESS', get: (w) => w.address ?? '-' },
    { header: 'HEALTH', get: (w) => word(w.health) },
    { header: 'LOSS', get: (w) => pct(w.lossPct), right: true },
    { header: 'RTT', get: (w) => ms(w.rttMs), right: true },
    { header: 'JITTER', get: (w) => ms(w.jitterMs), right: true },
  ], '  '));
  const missing = (key: string): string => (s.sources[key] && !s.sources[key]!.startsWith('ok') ? s.sources[key]! : '');
  if (missing('wans.probed')) out.push(`  health: ${missing('wans.probed')}`);

  out.push('', paint('Sites and paths', 'bold'));
  out.push(table(s.paths, [
    { header: 'SITE', get: (p) => p.site },
    { header: 'PATH', get: (p) => p.name },
    { header: 'TUNNEL', get: (p) => word(p.tunnel) },
    { header: 'HEALTH', get: (p) => word(p.health) },
    { header: 'LOSS', get: (p) => pct(p.lossPct), right: true },
    { header: 'RTT', get: (p) => ms(p.rttMs), right: true },
    { header: 'JITTER', get: (p) => ms(p.jitterMs), right: true },
    { header: 'HANDSHAKE', get: (p) => (p.handshakeAgeMs === null ? '-' : `${duration(p.handshakeAgeMs)} ago`), right: true },
  ], '  '));
  for (const k of ['paths.tunneld', 'paths.probed']) if (missing(k)) out.push(`  ${k.split('.')[1]}: ${missing(k)}`);

  out.push('');
  const p = s.pair;
  const pairLine = !p
    ? 'standalone (no pair section)'
    : p.role === null
      ? `${paint('unknown', 'yellow')} (${missing('pair.paird') || 'paird gave no role'})`
      : `${word(p.role)}, priority ${p.priority ?? '-'}${p.basePriority !== null && p.basePriority !== p.priority ? ` (configured ${p.basePriority}${p.reason ? `: ${p.reason}` : ''})` : ''}, VIP ${p.vips.join(', ') || '-'}${p.peer ? `; peer ${p.peer.box ?? '?'} ${p.peer.role ?? '?'}` : ''}${p.lastChange?.at ? `; since ${timestamp(p.lastChange.at)} (${p.lastChange.reason ?? '?'})` : ''}`;
  const q = s.qos;
  const qosLine = !q.enabled ? 'off (qos.enabled is false)' : q.wans.length === 0 ? `${paint('unknown', 'yellow')} (${missing('qos.qosd') || 'qosd gave no shapers'})` : q.wans.map((w) => `${w.wan} ${w.text}`).join('; ');
  out.push(keyValues([[paint('PAIR', 'bold'), pairLine], [paint('QoS', 'bold'), qosLine]]));

  out.push('', paint('Daemons', 'bold'));
  out.push(table(s.daemons, [
    { header: 'DAEMON', get: (d) => d.daemon },
    { header: 'STATE', get: (d) => (d.installed || d.state === 'running' ? word(d.state) : paint('not installed', 'grey')) },
    { header: 'PID', get: (d) => (d.pid === null ? '-' : String(d.pid)), right: true },
    { header: 'UP', get: (d) => duration(d.uptimeMs), right: true },
    { header: 'HEALTH', get: (d) => word(d.health) },
    { header: 'CONFIG', get: (d) => (d.configHash ? `${d.configHash.slice(0, 12)}${s.config.hash && d.configHash !== s.config.hash ? paint(' (differs from file)', 'yellow') : ''}` : '-') },
    { header: 'NOTE', get: (d) => (d.state === 'running' ? '' : d.installed ? d.reason ?? '' : '') },
  ], '  '));

  out.push('', paint('Health warnings', 'bold'));
  out.push(s.warnings.length === 0 ? '  none' : s.warnings.map((w) => `  ${word(w.severity)} ${w.daemon}: ${w.name}: ${w.text}${w.since ? ` (since ${timestamp(w.since)})` : ''}`).join('\n'));
  return out.join('\n');
}

export async function statusCommand(ctx: CtlContext): Promise<CommandResult> {
  const s = await gatherStatus(ctx);
  return { data: s, text: renderStatus(ctx, s), exitCode: statusExitCode(s) };
}


