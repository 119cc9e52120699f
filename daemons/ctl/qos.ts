// ternctl qos: the shapers per WAN — configured rates and what qosd runs
// now (autorate may have moved them).
import type { TernConfig } from '../lib/config/index.js';
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes } from './exit.js';
import { brief, keyValues, rate, table } from './format.js';
import { qosSummary } from '../lib/views/qos.js';

export { qosSummary, type QosSummary, type QosWanLine } from '../lib/views/qos.js';

export async function qosCommand(ctx: CtlContext, cfg: TernConfig | undefined): Promise<CommandResult> {
  const q = await qosSummary(ctx, cfg);
  const note = q.sources.qosd && q.sources.qosd !== 'ok' ? `qosd: ${q.sources.qosd}` : '';
  const lines = [
    `QoS ${q.enabled ? 'on' : 'off (qos.enabled is false)'}`,
    table(q.wans, [
      { header: 'WAN', get: (w) => w.wan },
      { header: 'SHAPED', get: (w) => (w.enabled ? 'yes' : 'no') },
      { header: 'STATE', get: (w) => w.state ?? '-' },
      { header: 'UP NOW', get: (w) => rate(w.upBps), right: true },
      { header: 'DOWN NOW', get: (w) => rate(w.downBps), right: true },
      { header: 'UP CONF', get: (w) => rate(w.configuredUpBps), right: true },
      { header: 'DOWN CONF', get: (w) => rate(w.configuredDownBps), right: true },
      { header: 'AUTORATE', get: (w) => (w.autorate ? 'on' : 'off') },
      { header: 'DROPS UP/DOWN', get: (w) => `${w.drops.up ?? '-'}/${w.drops.down ?? '-'}`, right: true },
    ], '  '),
  ];
  if (q.raw && typeof q.raw === 'object' && !Array.isArray(q.raw)) {
    const extra = Object.entries(q.raw as Record<string, unknown>).filter(([k]) => !['wans', 'shapers', 'dscp'].includes(k));
    if (extra.length) lines.push(keyValues(extra.map(([k, v]) => [k, brief(v)]), '  '));
  }
  if (note) lines.push(note);
  const down = q.enabled && q.sources.qosd !== 'ok';
  return { data: q, text: lines.join('\n'), exitCode: down && /not running|not responding/.test(q.sources.qosd ?? '') ? exitCodes.unreachable : exitCodes.ok };
}
