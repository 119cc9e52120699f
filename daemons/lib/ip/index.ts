// Package ip is Tern's one IPv4/IPv6 address and prefix module: parse (with
// a reason when the text is wrong), print canonically (RFC 5952), contain,
// overlap, and the network-order bytes wire formats and netlink carry. The
// config checks, the kernel wrappers, steerd's flow records and paird's
// VRRP packets all read addresses through it.
//
// Written by hand rather than with ipaddr.js: Tern refuses the inet_aton
// spellings (010.0.0.1, 0x0a.1, 10.1) that ipaddr.js's parse accepts, and
// every refusal here says why, which the config's error messages quote.

export type Family = 4 | 6;

/** One IP address; value is the address as an unsigned integer. */
export interface IpAddress {
  family: Family;
  value: bigint;
}

/**
 * A prefix as written: `address` keeps the host bits (10.1.0.2/24 names an
 * interface address), `network` has them cleared (10.1.0.0).
 */
export interface IpPrefix {
  family: Family;
  address: bigint;
  network: bigint;
  length: number;
}

/** The result of a parse: the value, or why the text is not one. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const bits = (family: Family): number => (family === 4 ? 32 : 128);

function mask(family: Family, length: number): bigint {
  const width = BigInt(bits(family));
  const all = (1n << width) - 1n;
  return all ^ ((1n << (width - BigInt(length))) - 1n);
}

function parseIPv4(text: string): Parsed<bigint> {
  const parts = text.split('.');
  if (parts.length !== 4) return { ok: false, reason: 'an IPv4 address has four numbers separated by dots' };
  let value = 0n;
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return { ok: false, reason: `'${part}' is not a number 0-255` };
    // A leading zero reads as octal to some tools (inet_aton) and decimal to others.
    if (part.length > 1 && part.startsWith('0')) return { ok: false, reason: `leading zero in '${part}' is ambiguous` };
    const n = Number(part);
    if (n > 255) return { ok: false, reason: `${n} is over 255` };
    value = (value << 8n) | BigInt(n);
  }
  return { ok: true, value };
}

function parseGroups(text: string, allowV4: boolean): Parsed<number[]> {
  if (text === '') return { ok: true, value: [] };
  const out: number[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (allowV4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (!v4.ok) return { ok: false, reason: `embedded IPv4: ${v4.reason}` };
      out.push(Number(v4.value >> 16n), Number(v4.value & 0xffffn));
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return { ok: false, reason: `'${part}' is not a group of 1-4 hex digits` };
    out.push(parseInt(part, 16));
  }
  return { ok: true, value: out };
}

function parseIPv6(text: string): Parsed<bigint> {
  if (text.includes('%')) return { ok: false, reason: 'zone indexes (%eth0) are not allowed here' };
  const halves = text.split('::');
  if (halves.length > 2) return { ok: false, reason: "'::' may appear only once" };
  const head = parseGroups(halves[0] as string, halves.length === 1);
  if (!head.ok) return head;
  let groups: number[];
  if (halves.length === 2) {
    const tail = parseGroups(halves[1] as string, true);
    if (!tail.ok) return tail;
    const fill = 8 - head.value.length - tail.value.length;
    if (fill < 1) return { ok: false, reason: "too many groups for '::'" };
    groups = [...head.value, ...new Array<number>(fill).fill(0), ...tail.value];
  } else {
    groups = head.value;
    if (groups.length !== 8) return { ok: false, reason: `an IPv6 address has 8 groups; got ${groups.length}` };
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return { ok: true, value };
}

/** Parse an IPv4 or IPv6 address (no prefix length, no zone). */
export function parseAddress(text: string): Parsed<IpAddress> {
  if (text.includes(':')) {
    const v6 = parseIPv6(text);
    return v6.ok ? { ok: true, value: { family: 6, value: v6.value } } : v6;
  }
  // Digits then a dot: meant as IPv4, so say what is wrong with it as IPv4.
  if (/^[0-9]+\./.test(text)) {
    const v4 = parseIPv4(text);
    return v4.ok ? { ok: true, value: { family: 4, value: v4.value } } : v4;
  }
  return { ok: false, reason: 'not an IPv4 or IPv6 address' };
}

/**
 * Parse `address/length`. With hostBits 'reject' (a network prefix such as a
 * LAN prefix) bits set past the length are an error naming the intended
 * network; with 'allow' (an interface address such as 10.1.0.2/24) they are kept.
 */
export function parsePrefix(text: string, hostBits: 'reject' | 'allow' = 'reject'): Parsed<IpPrefix> {
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, reason: 'missing /length' };
  const addr = parseAddress(text.slice(0, slash));
  if (!addr.ok) return addr;
  const lenText = text.slice(slash + 1);
  const { family, value } = addr.value;
  if (!/^[0-9]{1,3}$/.test(lenText)) return { ok: false, reason: `prefix length '${lenText}' is not a number` };
  const length = Number(lenText);
  if (length > bits(family)) return { ok: false, reason: `prefix length ${length} is over ${bits(family)}` };
  const prefix: IpPrefix = { family, address: value, network: value & mask(family, length), length };
  if (hostBits === 'reject' && prefix.network !== value) {
    return { ok: false, reason: `host bits set; did you mean ${formatPrefix(prefix)}?` };
  }
  return { ok: true, value: prefix };
}

/** Print an address canonically (RFC 5952 for IPv6: lowercase, longest zero run as '::'). */
export function formatAddress(a: IpAddress): string {
  if (a.family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((a.value >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((a.value >> s) & 0xffffn));
  return formatGroups(groups);
}

/**
 * Print network-order address bytes as formatAddress prints the address: 4
 * bytes dotted, 16 as RFC 5952 IPv6. Straight from the bytes, without a
 * bigint: steerd names thousands of flows at a time.
 */
export function formatAddressBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return formatGroups(groups);
}

/** The address as network-order bytes: 4 for IPv4, 16 for IPv6. */
export function addressToBytes(a: IpAddress): Uint8Array {
  const len = a.family === 4 ? 4 : 16;
  const out = new Uint8Array(len);
  let v = a.value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The address of 4 (IPv4) or 16 (IPv6) network-order bytes; undefined for any other length. */
export function addressFromBytes(bytes: Uint8Array): IpAddress | undefined {
  if (bytes.length !== 4 && bytes.length !== 16) return undefined;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family: bytes.length === 4 ? 4 : 6, value };
}

/** The IPv4 address inside 16 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), or undefined for any other. */
export function ipv4MappedBytes(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length !== 16 || !bytes.subarray(0, 10).every((x) => x === 0) || bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return bytes.subarray(12);
}

/** Eight IPv6 groups as RFC 5952 text. */
function formatGroups(groups: number[]): string {
  let best = -1;
  let bestLen = 1; // RFC 5952 4.2.2: a single zero group is not shortened
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    if (j > i) i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** Print a prefix by its network (10.1.0.0/24), or as written with 'address' (10.1.0.2/24). */
export function formatPrefix(p: IpPrefix, which: 'network' | 'address' = 'network'): string {
  const value = which === 'network' ? p.network : p.address;
  return `${formatAddress({ family: p.family, value })}/${p.length}`;
}

/** The /32 or /128 prefix of one address. */
export function hostPrefix(a: IpAddress): IpPrefix {
  return { family: a.family, address: a.value, network: a.value, length: bits(a.family) };
}

/** True when the prefix is a single host (/32 or /128). */
export function isHostPrefix(p: IpPrefix): boolean {
  return p.length === bits(p.family);
}

/** True when every address of inner (a prefix or one address) lies in outer. */
export function prefixContains(outer: IpPrefix, inner: IpPrefix | IpAddress): boolean {
  const p = 'length' in inner ? inner : hostPrefix(inner);
  if (p.family !== outer.family || p.length < outer.length) return false;
  return (p.network & mask(outer.family, outer.length)) === outer.network;
}

/** True when the two prefixes share at least one address. */
export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

/** The last address of a prefix (the IPv4 broadcast address). */
export function lastAddress(p: IpPrefix): bigint {
  return p.network | ((1n << BigInt(bits(p.family) - p.length)) - 1n);
}

// Ranges no host address may come from, with how a message names them.
const specialRanges: Array<{ prefix: string; what: string; range: string }> = [
  { prefix: '0.0.0.0/8', what: 'an unspecified address (0.0.0.0/8, "this network")', range: 'the "this network" range 0.0.0.0/8' },
  { prefix: '127.0.0.0/8', what: 'a loopback address (127.0.0.0/8)', range: 'the loopback range 127.0.0.0/8' },
  { prefix: '224.0.0.0/4', what: 'a multicast address (224.0.0.0/4)', range: 'the multicast range 224.0.0.0/4' },
  { prefix: '255.255.255.255/32', what: 'the limited broadcast address', range: 'the limited broadcast address 255.255.255.255' },
  { prefix: '240.0.0.0/4', what: 'a reserved address (240.0.0.0/4)', range: 'the reserved range 240.0.0.0/4' },
  { prefix: '::/128', what: 'the unspecified address (::)', range: 'the unspecified address ::' },
  { prefix: '::1/128', what: 'the loopback address (::1)', range: 'the loopback address ::1' },
  { prefix: '::ffff:0:0/96', what: 'an IPv4-mapped address (::ffff:0:0/96); write the IPv4 address itself', range: 'the IPv4-mapped range ::ffff:0:0/96' },
  { prefix: 'ff00::/8', what: 'a multicast address (ff00::/8)', range: 'the multicast range ff00::/8' },
];
const special = specialRanges.map((r) => ({ ...r, prefix: (parsePrefix(r.prefix) as { value: IpPrefix }).value }));

/**
 * Why an address cannot be a unicast host address (unspecified, loopback,
 * multicast, broadcast, reserved), in words; undefined when it can.
 */
export function specialAddress(a: IpAddress): string | undefined {
  return special.find((s) => prefixContains(s.prefix, a))?.what;
}

/** The special range a prefix overlaps (a LAN prefix of 127.0.0.0/8), in words ("the loopback range 127.0.0.0/8"); undefined when none. */
export function specialRangeOverlap(p: IpPrefix): string | undefined {
  return special.find((s) => prefixesOverlap(s.prefix, { ...p, address: p.network }))?.range;
}

/**
 * Whether a host address inside p is the network or broadcast address of p,
 * which no interface may take: IPv4 prefixes up to /30 (a /31 has no
 * broadcast, RFC 3021), IPv6 up to /126 (the all-zero host is the
 * Subnet-Router anycast address, RFC 4291 2.6.1).
 */
export function subnetEdge(p: IpPrefix, a: IpAddress): 'network' | 'broadcast' | undefined {
  if (a.family !== p.family || !prefixContains(p, a)) return undefined;
  if (p.length >= bits(p.family) - 1) return undefined;
  if (a.value === p.network) return 'network';
  if (p.family === 4 && a.value === lastAddress(p)) return 'broadcast';
  return undefined;
}

/**
 * For every prefix, the index of the first earlier one (in list order) that
 * overlaps it, or undefined. O(n log n): prefixes either nest or are
 * disjoint, so a sweep in address order with a stack of the enclosing
 * prefixes finds every nesting; a list of tens of thousands of prefixes (a
 * hostile file) must not take O(n²).
 */
export function firstOverlaps(prefixes: readonly IpPrefix[]): Array<number | undefined> {
  const order = prefixes.map((p, i) => ({ p, i, end: lastAddress(p) }));
  order.sort((x, y) => x.p.family - y.p.family || (x.p.network < y.p.network ? -1 : x.p.network > y.p.network ? 1 : 0) || x.p.length - y.p.length || x.i - y.i);
  // anc: lowest index among the enclosing prefixes; desc: among the enclosed ones.
  const anc: number[] = new Array<number>(prefixes.length).fill(Infinity);
  const desc: number[] = new Array<number>(prefixes.length).fill(Infinity);
  const stack: Array<{ i: number; family: Family; end: bigint; min: number }> = [];
  const pop = (): void => {
    const top = stack.pop() as (typeof stack)[number];
    const parent = stack[stack.length - 1];
    if (parent) desc[parent.i] = Math.min(desc[parent.i] as number, top.i, desc[top.i] as number);
  };
  for (const x of order) {
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as (typeof stack)[number];
      if (top.family === x.p.family && x.p.network <= top.end) break;
      pop();
    }
    const parent = stack[stack.length - 1];
    if (parent) anc[x.i] = parent.min;
    stack.push({ i: x.i, family: x.p.family, end: x.end, min: Math.min(parent?.min ?? Infinity, x.i) });
  }
  while (stack.length > 0) pop();
  return prefixes.map((_, i) => {
    const j = Math.min(anc[i] as number, desc[i] as number);
    return j < i ? j : undefined;
  });
}
