// ternctl firewall and ternctl nat: the zone firewall's counters (what was
// dropped where and why, anti-spoofing per WAN, port forwards, rules) and
// the NAT sessions per WAN, from edged.
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes } from './exit.js';
import { keyValues, table } from './format.js';
import { firewallSummary, natSummary } from '../lib/views/edge.js';

const unreachable = (why: string | undefined): boolean => /not running|not responding/.test(why ?? '');

export async function firewallCommand(ctx: CtlContext): Promise<CommandResult> {
  const f = await firewallSummary(ctx);
  if (!f.status && f.counters.length === 0) {
    return { data: f, text: `edged did not answer: ${f.sources.edged ?? 'unknown'}`, exitCode: unreachable(f.sources.edged) ? exitCodes.unreachable : exitCodes.ok };
  }
  const st = f.status ?? {};
  const lines = [
    keyValues([
      ['firewall', st.firewall === false ? 'off (firewall.enabled is false: nothing is filtered)' : 'on'],
      ['ruleset', `${String(st.fingerprint ?? '-')} (${String(st.outcome ?? '-')})`],
      ...(st.lastError ? [['last error', String(st.lastError)] as [string, string]] : []),
    ]),
    table(f.counters.filter((c) => c.packets > 0 || c.kind !== 'drop' || c.zone === 'wan'), [
      { header: 'COUNTER', get: (c) => c.name },
      { header: 'KIND', get: (c) => c.kind },
      { header: 'ZONE', get: (c) => c.zone ?? '-' },
      { header: 'WHAT', get: (c) => c.wan ?? c.reason ?? '-' },
      { header: 'PACKETS', get: (c) => String(c.packets), right: true },
      { header: 'BYTES', get: (c) => String(c.bytes), right: true },
    ], '  '),
  ];
  return { data: f, text: lines.join('\n'), exitCode: exitCodes.ok };
}

export async function natCommand(ctx: CtlContext): Promise<CommandResult> {
  const n = await natSummary(ctx);
  if (n.total === null) {
    return { data: n, text: `edged did not answer: ${n.sources.edged ?? 'unknown'}`, exitCode: unreachable(n.sources.edged) ? exitCodes.unreachable : exitCodes.ok };
  }
  const text = [
    `NAT sessions: ${n.total}`,
    table(n.wans, [
      { header: 'WAN', get: (w) => w.wan },
      { header: 'INTERFACE', get: (w) => w.interface ?? '-' },
      { header: 'NAT', get: (w) => w.nat ?? '-' },
      { header: 'ADDRESSES', get: (w) => w.addresses.join(', ') || '-' },
      { header: 'SESSIONS', get: (w) => String(w.sessions), right: true },
      { header: 'TCP', get: (w) => String(w.tcp ?? '-'), right: true },
      { header: 'UDP', get: (w) => String(w.udp ?? '-'), right: true },
      { header: 'OTHER', get: (w) => String(w.other ?? '-'), right: true },
    ], '  '),
  ].join('\n');
  return { data: n, text, exitCode: exitCodes.ok };
}
