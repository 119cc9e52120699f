// Package views is what ternctl and the exporter show, gathered from
// whichever daemons answer: paths from
// the config plan, tunneld and probed; WANs from the config and probed; PAIR,
// QoS and flows from paird, qosd and steerd. The methods asked are the
// daemons' contracts' (daemons/lib/api), named here once; a daemon that does
// not answer leaves its columns empty and says why in `sources`.
import type { AnyDaemonMethod, PathMetricsT, PathTunnelT, WanMetricsT } from '../api/index.js';
import { loadConfig, type LoadedConfig, type TernConfig } from '../config/index.js';
import { TernError, errorMessage, isTernError } from '../errors.js';
import { overlayPlan } from '../overlay/index.js';
import type { RuntimePaths } from '../paths/index.js';
import { installedDaemons, type Daemons } from './daemons.js';
import { isPermissionError, permissionError } from '../errors.js';

export { Daemons, installedDaemons, knownDaemons, livenessOf, type DaemonName, type DaemonsOptions, type Liveness, type LivenessState } from './daemons.js';

/** What gathering a view needs: the box's files and its daemons. ternctl's CtlContext is one. */
export interface ViewContext {
  paths: RuntimePaths;
  daemons: Daemons;
}

/** Bus methods ternctl reads: each one its daemon's contract declares (the compiler checks). */
export const methods = {
  tunneldPaths: 'paths.list',
  probedPaths: 'paths.metrics',
  probedWans: 'wans.metrics',
  probedHistory: 'history.query',
  pair: 'pair.status',
  qos: 'qos.status',
  flows: 'steer.flows',
  steering: 'steer.counters',
  steerPaths: 'steer.paths',
  internet: 'steer.internet',
} as const satisfies Record<string, AnyDaemonMethod>;

export type HealthWord = 'up' | 'degraded' | 'down' | 'unknown';

export interface PathView {
  name: string;
  site: string;
  localWan: string;
  remoteWan: string;
  ifname: string | null;
  /** WireGuard's view (tunneld): up, connecting, down; null when tunneld did not answer. */
  tunnel: 'up' | 'down' | 'connecting' | null;
  /** Probing's view (probed); null when probed did not answer. */
  health: HealthWord | null;
  lossPct: number | null;
  lossFwdPct: number | null;
  lossRevPct: number | null;
  rttMs: number | null;
  jitterMs: number | null;
  mos: number | null;
  handshakeAgeMs: number | null;
  endpoint: string | null;
  rxBytes: number | null;
  txBytes: number | null;
}

export interface WanView {
  name: string;
  interface: string;
  address: string | null;
  health: HealthWord | null;
  lossPct: number | null;
  rttMs: number | null;
  jitterMs: number | null;
}

/** Where each part of a view came from: 'ok', or why it is missing. */
export type Sources = Record<string, string>;

type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

// A daemon's answer is read by the one name its contract gives each field
// (daemons/lib/api), without trusting it: ternctl shows what it can of a
// daemon of another version, and a missing or mistyped field is shown as
// unknown, never guessed from another name.

/** o[key] when it is a finite number. */
export function num(o: Obj | undefined, key: string): number | null {
  const v = o?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** o[key] when it is a string. */
export function str(o: Obj | undefined, key: string): string | null {
  const v = o?.[key];
  return typeof v === 'string' ? v : null;
}

/** The objects of the list v[key] (or of v, when the answer is the list). */
export function listOf(v: unknown, key: string): Obj[] {
  const list = Array.isArray(v) ? v : isObj(v) ? v[key] : undefined;
  return Array.isArray(list) ? list.filter(isObj) : [];
}

const healthWord = (v: unknown): HealthWord | null =>
  v === 'up' || v === 'degraded' || v === 'down' || v === 'unknown' ? v : null;

/** The records of a list reply (contracts: an array of objects); ternctl shows whatever part of it came. */
function records<T>(v: unknown): Array<Partial<T>> {
  return Array.isArray(v) ? (v.filter(isObj) as Array<Partial<T>>) : [];
}

const figure = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The running config, or undefined with the reason (permission errors are kept as such). */
export async function runningConfig(ctx: ViewContext): Promise<{ loaded?: LoadedConfig; error?: TernError }> {
  try {
    return { loaded: await loadConfig(ctx.paths.configFile) };
  } catch (err) {
    if (isPermissionError(err)) return { error: permissionError('read config', ctx.paths.configFile, err) };
    return { error: isTernError(err) ? err : new TernError('TERN_E_CONFIG_READ', errorMessage(err)) };
  }
}

/** The running config or a thrown error (for commands that cannot do without it). */
export async function requireConfig(ctx: ViewContext): Promise<LoadedConfig> {
  const r = await runningConfig(ctx);
  if (!r.loaded) throw r.error!;
  return r.loaded;
}

async function fromDaemon(ctx: ViewContext, daemon: string, method: string, sources: Sources, key: string, params?: Obj): Promise<unknown> {
  const live = await ctx.daemons.liveness(daemon);
  if (live.state !== 'running') {
    const installed = (installedDaemons() as string[]).includes(daemon);
    sources[key] = live.state === 'not running' && !installed ? `${daemon} not installed` : `${daemon} ${live.state}`;
    return undefined;
  }
  try {
    const v = await ctx.daemons.call(daemon, method, params);
    sources[key] = 'ok';
    return v;
  } catch (err) {
    sources[key] = `${daemon} ${method}: ${errorMessage(err)}`;
    return undefined;
  }
}

/**
 * Every overlay path: the config's plan (so paths show even with tunneld
 * down), tunneld's tunnel state and counters, probed's health and metrics.
 */
export async function collectPaths(ctx: ViewContext, cfg: TernConfig | undefined): Promise<{ paths: PathView[]; sources: Sources }> {
  const sources: Sources = {};
  const [tun, probe] = await Promise.all([
    fromDaemon(ctx, 'tunneld', methods.tunneldPaths, sources, 'tunneld'),
    fromDaemon(ctx, 'probed', methods.probedPaths, sources, 'probed'),
  ]);
  const byName = new Map<string, PathView>();
  const get = (name: string, site = '', localWan = '', remoteWan = ''): PathView => {
    let p = byName.get(name);
    if (!p) {
      const [lw, s, rw] = name.split('/');
      p = {
        name, site: site || s || '', localWan: localWan || lw || '', remoteWan: remoteWan || rw || '', ifname: null,
        tunnel: null, health: null, lossPct: null, lossFwdPct: null, lossRevPct: null, rttMs: null, jitterMs: null, mos: null,
        handshakeAgeMs: null, endpoint: null, rxBytes: null, txBytes: null,
      };
      byName.set(name, p);
    }
    return p;
  };
  if (cfg) {
    try {
      for (const p of overlayPlan(cfg).paths) get(p.name, p.site, p.localWan, p.remoteWan).ifname = p.ifname;
    } catch (err) {
      sources.config = `overlay plan: ${errorMessage(err)}`;
    }
  }
  for (const t of records<PathTunnelT>(tun)) {
    const name = text(t.name);
    if (!name) continue;
    const p = get(name, text(t.site) ?? '', text(t.localWan) ?? '', text(t.remoteWan) ?? '');
    p.tunnel = t.state === 'up' || t.state === 'down' || t.state === 'connecting' ? t.state : null;
    p.ifname = text(t.ifname) ?? p.ifname;
    p.handshakeAgeMs = figure(t.handshakeAgeMs);
    p.endpoint = text(t.endpoint);
    p.rxBytes = figure(t.rxBytes);
    p.txBytes = figure(t.txBytes);
  }
  for (const m of records<PathMetricsT>(probe)) {
    const name = text(m.path);
    if (!name) continue;
    const p = get(name);
    // The path verdict is `state` on the bus; ternctl's column is HEALTH (docs/glossary.md).
    p.health = healthWord(m.state);
    p.lossPct = figure(m.lossPct);
    p.lossFwdPct = figure(m.lossFwdPct);
    p.lossRevPct = figure(m.lossRevPct);
    p.rttMs = figure(m.rttMs);
    p.jitterMs = figure(m.jitterMs);
    p.mos = figure(m.mos);
  }
  const paths = [...byName.values()].sort((a, b) => a.site.localeCompare(b.site) || a.name.localeCompare(b.name));
  return { paths, sources };
}

/** Every WAN of the config, with probed's health when it answers. */
export async function collectWans(ctx: ViewContext, cfg: TernConfig | undefined): Promise<{ wans: WanView[]; sources: Sources }> {
  const sources: Sources = {};
  const probe = await fromDaemon(ctx, 'probed', methods.probedWans, sources, 'probed');
  const wans: WanView[] = (cfg?.wans ?? []).map((w) => ({
    name: w.name, interface: w.interface, address: w.address ?? (w.dhcp ? 'dhcp' : null),
    health: null, lossPct: null, rttMs: null, jitterMs: null,
  }));
  for (const m of records<WanMetricsT>(probe)) {
    const name = text(m.wan);
    if (!name) continue;
    let w = wans.find((x) => x.name === name);
    if (!w) {
      w = { name, interface: '', address: null, health: null, lossPct: null, rttMs: null, jitterMs: null };
      wans.push(w);
    }
    w.health = healthWord(m.state);
    w.lossPct = figure(m.lossPct);
    w.rttMs = figure(m.rttMs);
    w.jitterMs = figure(m.jitterMs);
  }
  return { wans, sources };
}

export interface PairView {
  /** paird's answer as it came (pair.status, or its daemon.status). */
  raw: Obj;
  role: string | null;
  priority: number | null;
  basePriority: number | null;
  vips: string[];
  /** Why the priority is below the configured one (tracked WANs and paths down); null when it is not. */
  reason: string | null;
  /** The last role change. */
  lastChange: { at: number | null; from: string | null; to: string | null; reason: string | null; detail: string | null } | null;
  /** The other box as paird last heard of it (address: where its messages come from). */
  peer: { box: string | null; role: string | null; priority: number | null; address: string | null } | null;
}

/** PAIR role and priority from paird: its pair method when it has one, else its daemon.status. */
export async function collectPair(ctx: ViewContext, cfg: TernConfig | undefined): Promise<{ pair: PairView | null; configured: boolean; sources: Sources }> {
  const sources: Sources = {};
  const configured = cfg?.pair !== undefined && cfg.pair.enabled;
  let raw = await fromDaemon(ctx, 'paird', methods.pair, sources, 'paird');
  if (raw === undefined) {
    const live = await ctx.daemons.liveness('paird');
    if (live.state === 'running' && Object.keys(live.status).length > 0) {
      raw = live.status;
      sources.paird = 'ok (daemon.status)';
    }
  }
  if (!isObj(raw)) return { pair: null, configured, sources };
  // pair.status (PairStatus in daemons/lib/api/paird.ts), or daemon.status's pair.
  const r = isObj(raw.pair) ? (raw.pair as Obj) : raw;
  const lt = isObj(r.lastTransition) ? (r.lastTransition as Obj) : undefined;
  const peer = isObj(r.peer) ? (r.peer as Obj) : undefined;
  return {
    configured,
    sources,
    pair: {
      raw: r,
      role: str(r, 'role'),
      priority: num(r, 'priority'),
      basePriority: num(r, 'basePriority') ?? cfg?.pair?.priority ?? null,
      vips: cfg?.pair?.vips ?? [],
      reason: whyOf(r),
      lastChange: lt ? { at: num(lt, 'at'), from: str(lt, 'from'), to: str(lt, 'to'), reason: str(lt, 'reason'), detail: str(lt, 'detail') } : null,
      // Where its messages come from, not the address it claims.
      peer: peer ? { box: str(peer, 'box'), role: str(peer, 'role'), priority: num(peer, 'priority'), address: str(peer, 'from') } : null,
    },
  };
}

/** Why the priority is below the configured one: paird's why, a line per tracked item. */
function whyOf(r: Obj): string | null {
  return Array.isArray(r.why) && r.why.length ? r.why.map(String).join('; ') : null;
}

/** A daemon's answer to method, for the pair/qos/flows screens. */
export async function collectRaw(ctx: ViewContext, daemon: string, method: string, params?: Obj): Promise<{ value: unknown; method: string | null; sources: Sources }> {
  const sources: Sources = {};
  const value = await fromDaemon(ctx, daemon, method, sources, daemon, params);
  return { value, method: value === undefined ? null : method, sources };
}
