// The zone firewall and NAT as ternctl and the exporter show them: edged's
// named counters (drops by zone and reason, anti-spoofing per WAN, port
// forwards, rules) and NAT sessions per WAN. Read without trusting the
// answer: a field edged did not send is left out, never guessed.
import type { AnyDaemonMethod } from '../api/index.js';
import { collectRaw, listOf, num, str, type Sources, type ViewContext } from './index.js';

/** edged's methods these views ask (daemons/lib/api/edged.ts). */
export const edgeMethods = { status: 'edge.status', firewall: 'edge.firewall', nat: 'edge.nat' } as const satisfies Record<string, AnyDaemonMethod>;

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
