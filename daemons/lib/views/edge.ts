// The zone firewall, NAT and the LAN services as ternctl and the exporter
// show them: edged's named counters (drops by zone and reason,
// anti-spoofing per WAN, port forwards, rules), NAT sessions per WAN, DHCP
// leases and the addresses learned per domain app class. Read without
// trusting the answer: a field edged did not send is left out, never guessed.
import type { AnyDaemonMethod } from '../api/index.js';
import { collectRaw, listOf, num, str, type Sources, type ViewContext } from './index.js';

/** edged's methods these views ask (daemons/lib/api/edged.ts). */
export const edgeMethods = { status: 'edge.status', firewall: 'edge.firewall', nat: 'edge.nat', lan: 'edge.lan', leases: 'edge.leases', domains: 'edge.domains' } as const satisfies Record<string, AnyDaemonMethod>;

export interface FirewallCounterLine {
  name: string;
  kind: string;
  zone: string | null;
  reason: string | null;
  wan: string | null;
  packets: number;
  bytes: number;
}

export interface FirewallSummary {
  /** edge.status as it came (fingerprint, loaded or adopted, last error); null when edged did not answer. */
  status: Record<string, unknown> | null;
  counters: FirewallCounterLine[];
  sources: Sources;
}

export interface NatWanLine {
  wan: string;
  interface: string | null;
  nat: string | null;
  addresses: string[];
  sessions: number;
  tcp: number | null;
  udp: number | null;
  other: number | null;
}

export interface NatSummary {
  total: number | null;
  wans: NatWanLine[];
  sources: Sources;
}

export async function firewallSummary(ctx: ViewContext): Promise<FirewallSummary> {
  const [status, counters] = await Promise.all([collectRaw(ctx, 'edged', edgeMethods.status), collectRaw(ctx, 'edged', edgeMethods.firewall)]);
  const lines = listOf(counters.value, 'counters').flatMap((c): FirewallCounterLine[] => {
    const name = str(c, 'name');
    const packets = num(c, 'packets');
    if (name === null || packets === null) return [];
    return [{ name, kind: str(c, 'kind') ?? 'other', zone: str(c, 'zone'), reason: str(c, 'reason'), wan: str(c, 'wan'), packets, bytes: num(c, 'bytes') ?? 0 }];
  });
  const s = status.value && typeof status.value === 'object' && !Array.isArray(status.value) ? (status.value as Record<string, unknown>) : null;
  return { status: s, counters: lines, sources: { ...status.sources, ...counters.sources } };
}

export async function natSummary(ctx: ViewContext): Promise<NatSummary> {
  const r = await collectRaw(ctx, 'edged', edgeMethods.nat);
  const wans = listOf(r.value, 'wans').flatMap((w): NatWanLine[] => {
    const wan = str(w, 'wan');
    const sessions = num(w, 'sessions');
    if (wan === null || sessions === null) return [];
    const addrs = Array.isArray(w.addresses) ? w.addresses.filter((a): a is string => typeof a === 'string') : [];
    return [{ wan, interface: str(w, 'interface'), nat: str(w, 'nat'), addresses: addrs, sessions, tcp: num(w, 'tcp'), udp: num(w, 'udp'), other: num(w, 'other') }];
  });
  const total = r.value && typeof r.value === 'object' ? num(r.value as Record<string, unknown>, 'total') : null;
  return { total, wans, sources: r.sources };
}

export interface LeaseLine {
  mac: string;
  address: string;
  hostname: string | null;
  clientId: string | null;
  /** Seconds since the epoch; null: never. */
  expiresAt: number | null;
}

export interface LeasesSummary {
  /** edge.lan as it came (dhcp, dns, running, pid, adopted, restarts, problems); null when edged did not answer. */
  lan: Record<string, unknown> | null;
  /** null when edged did not answer edge.leases. */
  leases: LeaseLine[] | null;
  sources: Sources;
}

export interface DomainAddressLine {
  appClass: string;
  family: number;
  address: string;
  /** Seconds before the address leaves the set; null when nft did not say. */
  expiresSec: number | null;
}

export interface DomainsSummary {
  /** null when edged did not answer edge.domains. */
  addresses: DomainAddressLine[] | null;
  /** Per class, how many addresses it has now (classes with none included). */
  classes: Array<{ appClass: string; addresses: number; problems: string[] }>;
  sources: Sources;
}

const answered = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export async function leasesSummary(ctx: ViewContext): Promise<LeasesSummary> {
  const [lan, leases] = await Promise.all([collectRaw(ctx, 'edged', edgeMethods.lan), collectRaw(ctx, 'edged', edgeMethods.leases)]);
  const lines = answered(leases.value)
    ? listOf(leases.value, 'leases').flatMap((l): LeaseLine[] => {
      const mac = str(l, 'mac');
      const address = str(l, 'address');
      if (mac === null || address === null) return [];
      return [{ mac, address, hostname: str(l, 'hostname'), clientId: str(l, 'clientId'), expiresAt: num(l, 'expiresAt') }];
    })
    : null;
  return { lan: answered(lan.value) ? lan.value : null, leases: lines, sources: { ...lan.sources, ...leases.sources } };
}

export async function domainsSummary(ctx: ViewContext): Promise<DomainsSummary> {
  const r = await collectRaw(ctx, 'edged', edgeMethods.domains);
  if (!answered(r.value)) return { addresses: null, classes: [], sources: r.sources };
  const addresses: DomainAddressLine[] = [];
  const classes = new Map<string, { appClass: string; addresses: number; problems: string[] }>();
  for (const s of listOf(r.value, 'sets')) {
    const appClass = str(s, 'appClass');
    const family = num(s, 'family');
    if (appClass === null || family === null) continue;
    const c = classes.get(appClass) ?? { appClass, addresses: 0, problems: [] };
    classes.set(appClass, c);
    const problem = str(s, 'problem');
    if (problem !== null) c.problems.push(`IPv${family}: ${problem}`);
    for (const e of listOf(s, 'elements')) {
      const address = str(e, 'address');
      if (address === null) continue;
      addresses.push({ appClass, family, address, expiresSec: num(e, 'expiresSec') });
      c.addresses++;
    }
  }
  return { addresses, classes: [...classes.values()], sources: r.sources };
}
