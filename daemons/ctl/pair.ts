// ternctl pair: the PAIR election as paird sees it — role, priority and why,
// VIPs, tracked WANs and paths, pair sync (and what it refused), counters.
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes } from './exit.js';
import { brief, keyValues, painter, stateColour, timestamp } from './format.js';
import { collectPair, isObj, requireConfig } from './views.js';

// Fields shown in their own lines, or too long for this screen (ternctl pair --json has them all).
const shown = new Set(['role', 'state', 'priority', 'effectivePriority', 'basePriority', 'configuredPriority', 'vips', 'reason', 'why',
  'vrid', 'lastTransition', 'peer', 'tracking', 'enabled', 'box', 'instance', 'sync', 'hooks', 'health', 'peerWan']);

export async function pairCommand(ctx: CtlContext): Promise<CommandResult> {
  const cfg = (await requireConfig(ctx)).config;
  const r = await collectPair(ctx, cfg);
  const paint = painter(ctx.color);
  if (!r.configured) {
    return { data: { configured: false, pair: r.pair, sources: r.sources }, text: 'standalone: this appliance has no (enabled) pair section' };
  }
  if (!r.pair) {
    return {
      data: { configured: true, pair: null, sources: r.sources },
      text: `PAIR configured (vrid ${cfg.pair!.vrid}, priority ${cfg.pair!.priority}, VIP ${cfg.pair!.vips.join(', ')}), but paird did not answer: ${r.sources.paird ?? 'unknown'}`,
      exitCode: exitCodes.unreachable,
    };
  }
  const p = r.pair;
  const word = (w: string | null): string => (w ? paint(w, stateColour(w)) : '-');
  const raw = p.raw;
  const tracking = Array.isArray(raw.tracking)
    ? (raw.tracking as Array<Record<string, unknown>>).map((x) => `${String(x.name)} ${String(x.state)} (-${String(x.weight)} when down)`).join(', ')
    : undefined;
  const lc = p.lastChange;
  const pairs: Array<[string, string]> = [
    ['role', word(p.role)],
    ['priority', `${p.priority ?? '-'}${p.basePriority !== null ? ` (configured ${p.basePriority})` : ''}${p.reason ? `: ${p.reason}` : ''}`],
    ['vips', p.vips.join(', ') || '-'],
    ['vrid', String(cfg.pair!.vrid)],
    ['advert interval', `${cfg.pair!.advertIntervalMs} ms`],
    ...(tracking ? [['tracking', tracking] as [string, string]] : []),
    ...(p.peer ? [['peer', `${p.peer.box ?? '?'} ${word(p.peer.role)}, priority ${p.peer.priority ?? '-'}${p.peer.address ? ` at ${p.peer.address}` : ''}`] as [string, string]] : []),
    ...(isObj(raw.sync) ? [['pair sync', syncLine(raw.sync as Record<string, unknown>)] as [string, string]] : []),
    ...(lc ? [['last change', `${lc.from ?? '?'} → ${lc.to ?? '?'}${lc.at ? ` at ${timestamp(lc.at)}` : ''}: ${lc.reason ?? ''}${lc.detail ? ` (${lc.detail})` : ''}`] as [string, string]] : []),
    ...Object.entries(raw).filter(([k]) => !shown.has(k)).map(([k, v]): [string, string] => [k, brief(v)]),
  ];
  return { data: { configured: true, pair: p, sources: r.sources }, text: `${keyValues(pairs)}\n(ternctl pair --json has paird's whole answer: counters, sync, hooks)` };
}

const reasonWords: Record<string, string> = {
  badAuth: 'bad auth', replay: 'replay', wrongSource: 'wrong source', malformed: 'malformed', version: 'old version', vrid: 'other VRID',
};

/**
 * Pair sync in one line: its key id (both boxes must show the same), what
 * it took, and what it refused by reason — a spoofer on the LAN shows here.
 */
export function syncLine(sync: Record<string, unknown>): string {
  if (sync.running === false) return `off: ${typeof sync.problem === 'string' ? sync.problem : 'not running'}`;
  const refused = isObj(sync.refused) ? Object.entries(sync.refused as Record<string, unknown>).filter(([, v]) => typeof v === 'number' && v > 0) : [];
  const total = refused.reduce((a, [, v]) => a + (v as number), 0);
  const last = isObj(sync.lastRefused) ? (sync.lastRefused as Record<string, unknown>) : undefined;
  return [
    `key ${typeof sync.keyId === 'string' ? sync.keyId : '?'}`,
    `${typeof sync.accepted === 'number' ? sync.accepted : '?'} accepted`,
    total === 0 ? 'nothing refused' : `refused ${total}: ${refused.map(([k, v]) => `${reasonWords[k] ?? k} ${String(v)}`).join(', ')}`,
    ...(last && total > 0 ? [`last from ${String(last.from)} (${reasonWords[String(last.reason)] ?? String(last.reason)})`] : []),
  ].join('; ');
}
