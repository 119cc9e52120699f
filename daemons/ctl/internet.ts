// ternctl internet: WAN usage per app class (steerd's steer.internet): each
// WAN's internet path with its state and failback hold, flows and bytes per
// class, NATed flows, and the last clears.
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes } from './exit.js';
import { brief, bytes, table } from './format.js';
import { collectRaw, listOf, methods, num, str } from './views.js';

type Obj = Record<string, unknown>;

export async function internetCommand(ctx: CtlContext): Promise<CommandResult> {
  const { value, sources } = await collectRaw(ctx, 'steerd', methods.internet);
  if (value === undefined || value === null || typeof value !== 'object') {
    return { data: { paths: [], classes: [], clears: [], sources }, text: `no internet view: ${sources.steerd ?? 'steerd did not answer'}`, exitCode: /not running|not responding/.test(sources.steerd ?? '') ? exitCodes.unreachable : exitCodes.failed };
  }
  const v = value as Obj;
  if (v.enabled === false) return { data: { ...v, sources }, text: 'internet breakout is off (internet.enabled false, or no WANs)' };
  const paths = listOf(v, 'paths');
  const wans = paths.map((p) => str(p, 'wan') ?? '?');
  const pathTable = table(paths, [
    { header: 'WAN', get: (p) => str(p, 'wan') ?? '?' },
    { header: 'STATE', get: (p) => { const hold = num(p, 'holdSec') ?? 0; return hold > 0 ? `held ${Math.ceil(hold)}s` : str(p, 'state') ?? '-'; } },
    { header: 'PROBED', get: (p) => str(p, 'wanState') ?? '-' },
    { header: 'METERED', get: (p) => (p.metered === true ? 'yes' : 'no') },
    { header: 'FLOWS', get: (p) => brief(num(p, 'flows')), right: true },
    { header: 'NAT', get: (p) => brief(num(p, 'natFlows')), right: true },
    { header: 'BYTES', get: (p) => bytes(num(p, 'bytes')), right: true },
  ]);
  const classes = listOf(v, 'classes');
  const usage = (c: Obj, wan: string): Obj | undefined => {
    const w = c.wans && typeof c.wans === 'object' ? (c.wans as Record<string, Obj>)[wan] : undefined;
    return w && typeof w === 'object' ? w : undefined;
  };
  const classTable = table(classes, [
    { header: 'CLASS', get: (c) => str(c, 'name') ?? '?' },
    ...wans.map((w) => ({ header: w.toUpperCase(), get: (c: Obj) => `${brief(num(usage(c, w), 'flows'))} / ${bytes(num(usage(c, w), 'bytes'))}`, right: true })),
  ]);
  const clears = listOf(v, 'clears').slice(-5);
  const clearLines = clears.map((c) => `${new Date(num(c, 'at') ?? 0).toISOString()} ${str(c, 'wan')} ${str(c, 'reason')}: ${num(c, 'deleted')} flows cleared, ${num(c, 'provoked')} TCP clients provoked${str(c, 'error') ? ` (${str(c, 'error')})` : ''}`);
  const text = [pathTable, '', 'flows / bytes per app class and WAN:', classTable, ...(clearLines.length ? ['', 'last clears:', ...clearLines] : [])].join('\n');
  return { data: { ...v, sources }, text };
}
