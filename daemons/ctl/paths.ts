// ternctl paths (one table, or a live one with --watch) and ternctl tunnels
// (the WireGuard interfaces and peers behind the paths).
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes, usageError } from './exit.js';
import { bytes, duration, ms, painter, pct, stateColour, table, timestamp } from './format.js';
import { parseDuration } from './time.js';
import { collectPaths, runningConfig, type PathView, type Sources } from './views.js';

export function renderPaths(ctx: CtlContext, paths: PathView[], sources: Sources): string {
  const paint = painter(ctx.color);
  const word = (w: string | null): string => (w ? paint(w, stateColour(w)) : '-');
  const lines = [table(paths, [
    { header: 'PATH', get: (p) => p.name },
    { header: 'SITE', get: (p) => p.site },
    { header: 'TUNNEL', get: (p) => word(p.tunnel) },
    { header: 'HEALTH', get: (p) => word(p.health) },
    { header: 'LOSS', get: (p) => pct(p.lossPct), right: true },
    { header: 'FWD/REV', get: (p) => (p.lossFwdPct === null && p.lossRevPct === null ? '-' : `${pct(p.lossFwdPct)}/${pct(p.lossRevPct)}`), right: true },
    { header: 'RTT', get: (p) => ms(p.rttMs), right: true },
    { header: 'JITTER', get: (p) => ms(p.jitterMs), right: true },
    { header: 'MOS', get: (p) => (p.mos === null ? '-' : p.mos.toFixed(2)), right: true },
    { header: 'HANDSHAKE', get: (p) => (p.handshakeAgeMs === null ? '-' : duration(p.handshakeAgeMs)), right: true },
    { header: 'RX', get: (p) => bytes(p.rxBytes), right: true },
    { header: 'TX', get: (p) => bytes(p.txBytes), right: true },
    { header: 'ENDPOINT', get: (p) => p.endpoint ?? '-' },
  ])];
  for (const [k, v] of Object.entries(sources)) if (v !== 'ok') lines.push(`${k}: ${v}`);
  return lines.join('\n');
}

const unreachable = (sources: Sources): boolean => Object.values(sources).some((v) => /not running|not responding/.test(v));

export async function pathsOnce(ctx: CtlContext, opts: { site?: string }): Promise<{ paths: PathView[]; sources: Sources }> {
  const cfg = (await runningConfig(ctx)).loaded?.config;
  const r = await collectPaths(ctx, cfg);
  return { paths: opts.site ? r.paths.filter((p) => p.site === opts.site) : r.paths, sources: r.sources };
}

/** ternctl paths [--site S] [--watch [--interval D] [--count N]]. */
export async function pathsCommand(ctx: CtlContext, opts: { site?: string; watch?: boolean; interval?: string; count?: string }): Promise<CommandResult> {
  if (!opts.watch) {
    const r = await pathsOnce(ctx, opts);
    return { data: r, text: renderPaths(ctx, r.paths, r.sources), exitCode: r.paths.length > 0 && unreachable(r.sources) ? exitCodes.unreachable : exitCodes.ok };
  }
  const every = parseDuration(opts.interval ?? '2s', '--interval');
  if (every < 200) throw usageError('--interval must be at least 200ms', '--interval 2s');
  const count = opts.count === undefined ? Infinity : Number(opts.count);
  if (!(count === Infinity || (Number.isInteger(count) && count > 0))) throw usageError(`--count ${opts.count} is not a positive whole number`, '--count 10');
  for (let i = 0; i < count && !ctx.signal.aborted; i++) {
    if (i > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, every);
        ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
      if (ctx.signal.aborted) break;
    }
    ctx.daemons.fresh();
    const r = await pathsOnce(ctx, opts);
    const now = ctx.clock.now();
    if (ctx.json) {
      ctx.io.out(`${JSON.stringify({ ok: true, command: 'paths', data: { t: now, ...r } })}\n`);
    } else {
      const clear = ctx.io.isTTY ? '\x1b[H\x1b[2J' : i > 0 ? '\n' : '';
      ctx.io.out(`${clear}paths at ${timestamp(now)} (every ${duration(every)}; Ctrl-C to stop)\n${renderPaths(ctx, r.paths, r.sources)}\n`);
    }
  }
  return { data: null, text: '', streamed: true };
}

interface TunnelRow {
  ifname: string;
  ifindex: number | null;
  up: boolean;
  listenPort: number | null;
  fwmark: number | null;
  peers: Array<{ publicKey: string; endpoint: string | null; allowedIps: string[]; lastHandshakeMs: number | null; rxBytes: number; txBytes: number; persistentKeepalive: number }>;
}

/** ternctl tunnels: tunneld's tunnels.list. */
export async function tunnelsCommand(ctx: CtlContext): Promise<CommandResult> {
  const rows = await ctx.daemons.call<TunnelRow[]>('tunneld', 'tunnels.list');
  const now = ctx.clock.now();
  const paint = painter(ctx.color);
  const flat = rows.flatMap((t) => (t.peers.length ? t.peers : [null]).map((p) => ({ t, p })));
  const text = table(flat, [
    { header: 'IF', get: ({ t }) => t.ifname },
    { header: 'IDX', get: ({ t }) => String(t.ifindex ?? '-'), right: true },
    { header: 'LINK', get: ({ t }) => paint(t.up ? 'up' : 'down', stateColour(t.up ? 'up' : 'down')) },
    { header: 'PORT', get: ({ t }) => String(t.listenPort ?? '-'), right: true },
    { header: 'FWMARK', get: ({ t }) => (t.fwmark ? `0x${t.fwmark.toString(16)}` : '-') },
    { header: 'PEER', get: ({ p }) => (p ? `${p.publicKey.slice(0, 10)}...` : '(no peer)') },
    { header: 'ENDPOINT', get: ({ p }) => p?.endpoint ?? '-' },
    { header: 'HANDSHAKE', get: ({ p }) => (p?.lastHandshakeMs ? `${duration(now - p.lastHandshakeMs)} ago` : '-'), right: true },
    { header: 'RX', get: ({ p }) => bytes(p?.rxBytes), right: true },
    { header: 'TX', get: ({ p }) => bytes(p?.txBytes), right: true },
    { header: 'ALLOWED IPS', get: ({ p }) => p?.allowedIps.join(', ') ?? '-' },
  ]);
  return { data: { tunnels: rows }, text };
}
