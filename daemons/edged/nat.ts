// NAT sessions per WAN, from the kernel's conntrack table as
// /proc/net/nf_conntrack shows it (per network namespace): a session is
// NATed through a WAN when its reply comes back to one of the WAN's
// addresses and that is not the address the flow started from.
import fs from 'node:fs';
import { TernError, errorMessage } from '../lib/errors.js';
import type { CommandRunner } from '../lib/kernel/nft/index.js';
import type { NatWanT } from '../lib/api/index.js';

export interface CtEntry {
  protocol: string;
  origSrc: string;
  replyDst: string;
}

/** Reads the conntrack table's text; lines it cannot read are skipped (the table changes while it is read). */
export function parseConntrack(text: string): CtEntry[] {
  const out: CtEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const protocol = f[2]!;
    const srcs = f.filter((x) => x.startsWith('src=')).map((x) => x.slice(4));
    const dsts = f.filter((x) => x.startsWith('dst=')).map((x) => x.slice(4));
    if (srcs.length < 2 || dsts.length < 2) continue;
    out.push({ protocol, origSrc: srcs[0]!, replyDst: dsts[1]! });
  }
  return out;
}

export interface WanAddresses {
  name: string;
  interface: string;
  nat: string;
  addresses: string[];
}

/** Sessions per WAN: each entry counted once, under the WAN whose address its reply returns to. */
export function natSessions(entries: readonly CtEntry[], wans: readonly WanAddresses[]): { total: number; wans: NatWanT[] } {
  const byAddress = new Map<string, NatWanT>();
  const rows = wans.map((w) => {
    const row: NatWanT = { wan: w.name, interface: w.interface, nat: w.nat, addresses: w.addresses, sessions: 0, tcp: 0, udp: 0, other: 0 };
    for (const a of w.addresses) byAddress.set(a, row);
    return row;
  });
  let total = 0;
  for (const e of entries) {
    if (e.origSrc === e.replyDst) continue;
    const row = byAddress.get(e.replyDst);
    if (!row) continue;
    row.sessions++;
    total++;
    if (e.protocol === 'tcp') row.tcp++;
    else if (e.protocol === 'udp') row.udp++;
    else row.other++;
  }
  return { total, wans: rows };
}

/** The addresses of each interface, from `ip -j addr show` (link-local IPv6 left out). */
export function parseIpAddr(json: string): Map<string, string[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new TernError('TERN_E_EDGE_RULES', `edged: ip: addresses: expected ip -j JSON: ${errorMessage(err)}`, { cause: err });
  }
  const out = new Map<string, string[]>();
  if (!Array.isArray(doc)) return out;
  for (const link of doc as Array<{ ifname?: unknown; addr_info?: Array<{ local?: unknown; scope?: unknown }> }>) {
    if (typeof link.ifname !== 'string') continue;
    const addrs = (link.addr_info ?? []).filter((a) => typeof a.local === 'string' && a.scope !== 'link').map((a) => a.local as string);
    out.set(link.ifname, addrs);
  }
  return out;
}

/** Reads conntrack and the WANs' addresses from the kernel. */
export async function readNat(run: CommandRunner, wans: ReadonlyArray<Omit<WanAddresses, 'addresses'>>, conntrackFile = '/proc/net/nf_conntrack'): Promise<{ total: number; wans: NatWanT[] }> {
  const r = await run(['ip', '-j', 'addr', 'show']);
  if (r.code !== 0) throw new TernError('TERN_E_EDGE_RULES', `edged: ip addr show: ${r.stderr.trim() || `exit ${r.code}`}`);
  const addrs = parseIpAddr(r.stdout);
  let text = '';
  try {
    text = await fs.promises.readFile(conntrackFile, 'utf8');
  } catch (err) {
    // No conntrack table yet (the module loads with the first NAT rule): no sessions.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TernError('TERN_E_EDGE_RULES', `edged: conntrack: read ${conntrackFile}: ${errorMessage(err)}`, { cause: err });
  }
  return natSessions(parseConntrack(text), wans.map((w) => ({ ...w, addresses: addrs.get(w.interface) ?? [] })));
}
