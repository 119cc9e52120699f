// ternctl firewall, nat, leases and domains: the zone firewall's counters
// (what was dropped where and why, anti-spoofing per WAN, port forwards,
// rules), the NAT sessions per WAN, the LAN's DHCP leases and the addresses
// learned per domain app class, from edged.
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes } from './exit.js';
import { keyValues, table } from './format.js';
import { domainsSummary, firewallSummary, leasesSummary, natSummary } from '../lib/views/edge.js';

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

const seconds = (n: number): string => (n >= 3600 ? `${Math.floor(n / 3600)}h${String(Math.floor((n % 3600) / 60)).padStart(2, '0')}m` : n >= 60 ? `${Math.floor(n / 60)}m${String(n % 60).padStart(2, '0')}s` : `${n}s`);

export async function leasesCommand(ctx: CtlContext): Promise<CommandResult> {
  const l = await leasesSummary(ctx);
  if (l.leases === null) {
    return { data: l, text: `edged did not answer: ${l.sources.edged ?? 'unknown'}`, exitCode: unreachable(l.sources.edged) ? exitCodes.unreachable : exitCodes.ok };
  }
  const lan = l.lan ?? {};
  const nowSec = Math.floor(ctx.clock.now() / 1000);
  const problems = Array.isArray(lan.problems) ? lan.problems.filter((p): p is string => typeof p === 'string') : [];
  const dnsmasq = lan.enabled === false ? 'not run by this edged'
    : lan.running === true ? `running, pid ${String(lan.pid ?? '-')}${lan.adopted === true ? ' (adopted)' : ''}, ${String(lan.restarts ?? 0)} restart(s)`
      : lan.dhcp === true || lan.dns === true ? 'NOT running' : 'off (no lan.dhcp, no lan.dns)';
  const text = [
    keyValues([
      ['dhcp', lan.dhcp === true ? 'on' : 'off'],
      ['dns', lan.dns === true ? `on${lan.intercept === true ? ' (port 53 intercepted)' : ''}` : 'off'],
      ['dnsmasq', dnsmasq],
      ...problems.map((p) => ['problem', p] as [string, string]),
    ]),
    l.leases.length === 0 ? 'no leases' : table(l.leases, [
      { header: 'ADDRESS', get: (x) => x.address },
      { header: 'MAC', get: (x) => x.mac },
      { header: 'HOSTNAME', get: (x) => x.hostname ?? '-' },
      { header: 'EXPIRES IN', get: (x) => (x.expiresAt === null ? 'never' : x.expiresAt <= nowSec ? 'expired' : seconds(x.expiresAt - nowSec)), right: true },
    ], '  '),
  ].join('\n');
  return { data: l, text, exitCode: exitCodes.ok };
}

export async function domainsCommand(ctx: CtlContext): Promise<CommandResult> {
  const d = await domainsSummary(ctx);
  if (d.addresses === null) {
    return { data: d, text: `edged did not answer: ${d.sources.edged ?? 'unknown'}`, exitCode: unreachable(d.sources.edged) ? exitCodes.unreachable : exitCodes.ok };
  }
  if (d.classes.length === 0) return { data: d, text: 'no app class matches by domains', exitCode: exitCodes.ok };
  const text = [
    table(d.classes, [
      { header: 'APP CLASS', get: (c) => c.appClass },
      { header: 'ADDRESSES', get: (c) => String(c.addresses), right: true },
      { header: 'PROBLEM', get: (c) => c.problems.join('; ') || '-' },
    ], '  '),
    ...(d.addresses.length ? ['', table(d.addresses, [
      { header: 'APP CLASS', get: (a) => a.appClass },
      { header: 'ADDRESS', get: (a) => a.address },
      { header: 'EXPIRES IN', get: (a) => (a.expiresSec === null ? '-' : seconds(a.expiresSec)), right: true },
    ], '  ')] : []),
  ].join('\n');
  return { data: d, text, exitCode: exitCodes.ok };
}
