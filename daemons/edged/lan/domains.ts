// The addresses dnsmasq learned for the domain app classes, read from their
// nft sets (`nft -j list set`): each element checked, with its time left.
import { formatAddress, parseAddress } from '../../lib/ip/index.js';

/** The learned addresses of one domain app class in one family. */
export interface DomainSet {
  appClass: string;
  family: 4 | 6;
  set: string;
  elements: Array<{ address: string; expiresSec?: number }>;
  /** Why the set could not be read (missing: steerd has not declared it). */
  problem?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The elements of `nft -j list set` output, or why it is not such output. */
export function parseSetElements(json: string, family: 4 | 6): DomainSet['elements'] | string {
  let doc: unknown;
  try { doc = JSON.parse(json); } catch { return 'nft printed no JSON'; }
  if (!isRecord(doc) || !Array.isArray(doc.nftables)) return 'nft JSON without an nftables array';
  const set = doc.nftables.map((o) => (isRecord(o) ? o.set : undefined)).find(isRecord);
  if (!set) return 'nft JSON without a set';
  const elems = set.elem === undefined ? [] : set.elem;
  if (!Array.isArray(elems)) return 'set elements are not a list';
  const out: DomainSet['elements'] = [];
  for (const e of elems) {
    // A plain element is its value; one with a timeout is {elem: {val, timeout, expires}}.
    const inner = isRecord(e) && isRecord(e.elem) ? e.elem : undefined;
    const val = inner ? inner.val : e;
    if (typeof val !== 'string') continue;
    const a = parseAddress(val);
    if (!a.ok || a.value.family !== family) continue;
    const expires = inner?.expires;
    out.push({
      address: formatAddress(a.value),
      ...(typeof expires === 'number' && Number.isInteger(expires) && expires >= 0 ? { expiresSec: expires } : {}),
    });
  }
  return out;
}
