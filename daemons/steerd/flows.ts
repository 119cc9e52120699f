// The steered flows as people read them (steer.flows): conntrack's flows
// with a path mark, their app class, path and counters, biggest first.
//
// The class is found again from the flow's 5-tuple with the policy's match
// rules (the same rules the selector applies, SELECTION.md): conntrack keeps
// the path, not the class. DSCP and domain hints are not in conntrack, so a
// class that matches on DSCP or by domain hint is taken to match when its
// other criteria do.
import { parseAddress, parsePrefix, prefixContains, type IpPrefix } from '../lib/ip/index.js';
import type { CtFlow } from './fastpath.js';
import type { ClassMatch, SelectorPolicy } from './types.js';
import { portProtocols } from './wire.js';

export interface FlowRow {
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  class: string;
  path: string;
  mark: number;
  packets: number;
  bytes: number;
}

const prefixCache = new Map<string, IpPrefix | null>();

function prefix(text: string): IpPrefix | null {
  let p = prefixCache.get(text);
  if (p === undefined) {
    const parsed = parsePrefix(text, 'allow');
    p = parsed.ok ? parsed.value : null;
    prefixCache.set(text, p);
  }
  return p;
}

function inAny(prefixes: readonly string[], address: string): boolean {
  const a = parseAddress(address);
  if (!a.ok) return false;
  return prefixes.some((t) => {
    const p = prefix(t);
    return p !== null && p.family === a.value.family && prefixContains(p, a.value);
  });
}

function matches(m: ClassMatch, f: Pick<CtFlow, 'protocol' | 'src' | 'dst' | 'dstPort'>): boolean {
  if (m.dst && !inAny(m.dst, f.dst)) return false;
  if (m.src && !inAny(m.src, f.src)) return false;
  if (m.protocols && !m.protocols.includes(f.protocol)) return false;
  if (m.ports && (!portProtocols.has(f.protocol) || !m.ports.some(([lo, hi]) => lo <= f.dstPort && f.dstPort <= hi))) return false;
  return true;
}

/**
 * The app class of a flow by its 5-tuple: the first class that matches,
 * else default. With `hint` (the domain hint of the destination, from the
 * domain sets; 0: in none), a domain class matches only with its own hint;
 * without it, on its other criteria, as the native sweeps judge a flow
 * (they cannot know the hint either).
 */
export function classOf(policy: SelectorPolicy, f: Pick<CtFlow, 'protocol' | 'src' | 'dst' | 'dstPort'>, hint?: number): string {
  return policy.classes.find((c) => (hint === undefined || c.domainHint === undefined || c.domainHint === hint) && matches(c.match, f))?.name ?? 'default';
}

/** The `limit` biggest flows by bytes (both directions), with class and path name. */
export function topFlows(flows: readonly CtFlow[], policy: SelectorPolicy, pathName: (mark: number) => string, limit: number, hintOf?: (dst: string) => number): FlowRow[] {
  return [...flows]
    .sort((a, b) => b.bytes - a.bytes || b.packets - a.packets)
    .slice(0, limit)
    .map((f) => ({
      protocol: f.protocol, src: f.src, dst: f.dst, srcPort: f.srcPort, dstPort: f.dstPort,
      class: classOf(policy, f, hintOf?.(f.dst)), path: pathName(f.mark), mark: f.mark, packets: f.packets, bytes: f.bytes,
    }));
}
