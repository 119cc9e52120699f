// IP addresses, prefixes and endpoints as the kernel sees them: text in,
// network-order bytes out, and back to canonical text (RFC 5952 for IPv6).
// Addresses are parsed and printed by lib/ip; this adds netlink's families,
// prefixes as bytes, endpoints and TERN_E_KERNEL_ARG errors.
import { TernError } from '../../errors.js';
import { addressToBytes, formatAddressBytes, ipv4MappedBytes, parseAddress } from '../../ip/index.js';

export type Family = 4 | 6;

/** Linux address family numbers (AF_INET, AF_INET6) for netlink headers. */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** One address: its family and its bytes in network order (4 or 16). */
export interface IpAddr {
  family: Family;
  bytes: Buffer;
}

/** A prefix: address bytes (host bits kept as written) and prefix length. */
export interface IpPrefix extends IpAddr {
  length: number;
}

/** An IP endpoint (address and UDP port), as WireGuard peers have. */
export interface IpEndpoint extends IpAddr {
  port: number;
}

const argError = (what: string, text: string, expected: string): TernError =>
  new TernError('TERN_E_KERNEL_ARG', `kernel: parse ${what}: got '${text}'; want ${expected}`);

/** Parses an IPv4 or IPv6 address (no zone index, no prefix). */
export function parseIp(text: string): IpAddr {
  const parsed = typeof text === 'string' ? parseAddress(text) : undefined;
  if (parsed?.ok) return { family: parsed.value.family, bytes: Buffer.from(addressToBytes(parsed.value)) };
  throw argError('address', String(text), 'an IPv4 address like 192.0.2.1 or an IPv6 address like 2001:db8::1');
}

/** Canonical text of address bytes: dotted quad, or RFC 5952 IPv6 (lib/ip) with an IPv4-mapped address's IPv4 part dotted. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length !== 4 && bytes.length !== 16) throw new TernError('TERN_E_KERNEL_ARG', `kernel: format address: got ${bytes.length} bytes; want 4 or 16`);
  // IPv4-mapped addresses print with the IPv4 part dotted, as RFC 5952 section 5 recommends and iproute2 does.
  const v4 = ipv4MappedBytes(bytes);
  return v4 ? `::ffff:${formatAddressBytes(v4)}` : formatAddressBytes(bytes);
}

/** Prefix length limit of a family. */
export const maxPrefix = (family: Family): number => (family === 4 ? 32 : 128);

/** A copy of bytes with every bit past `length` cleared. */
export function maskBytes(bytes: Uint8Array, length: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, length - i * 8));
    out[i] = (out[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export interface ParseCidrOptions {
  /**
   * Require the host bits to be zero (routes, rule selectors): the kernel
   * refuses 10.2.0.1/24 as a route destination, and silently masking it
   * would hide a configuration mistake.
   */
  network?: boolean;
}

/** Parses `address/length`; a bare address means a host prefix (/32, /128). */
export function parseCidr(text: string, opts: ParseCidrOptions = {}): IpPrefix {
  if (typeof text !== 'string') throw argError('prefix', String(text), 'a prefix like 10.2.0.0/24 or 2001:db8::/64');
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const addr = (() => {
    try { return parseIp(addrText); } catch { return undefined; }
  })();
  if (!addr) throw argError('prefix', text, 'a prefix like 10.2.0.0/24 or 2001:db8::/64');
  let length = maxPrefix(addr.family);
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > maxPrefix(addr.family)) {
      throw argError('prefix', text, `a prefix length 0-${maxPrefix(addr.family)}`);
    }
    length = Number(lenText);
  }
  if (opts.network && !maskBytes(addr.bytes, length).equals(addr.bytes)) {
    throw argError('prefix', text, `a network address with the host bits zero (${formatIp(maskBytes(addr.bytes, length))}/${length})`);
  }
  return { ...addr, length };
}

/** Canonical `address/length` text. */
export function formatCidr(p: { bytes: Uint8Array; length: number }): string {
  return `${formatIp(p.bytes)}/${p.length}`;
}

/** The canonical network form of a prefix text (host bits cleared). */
export function canonicalNetwork(text: string): string {
  const p = parseCidr(text);
  return formatCidr({ bytes: maskBytes(p.bytes, p.length), length: p.length });
}

/** Parses `192.0.2.1:51820` or `[2001:db8::1]:51820` (IP literals only: no DNS here). */
export function parseEndpoint(text: string): IpEndpoint {
  const m = typeof text === 'string' ? /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text) : null;
  const fail = (): TernError => argError('endpoint', String(text), 'an IP endpoint like 192.0.2.1:51820 or [2001:db8::1]:51820');
  if (!m) throw fail();
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw fail();
  let addr: IpAddr;
  try { addr = parseIp(host); } catch { throw fail(); }
  // An IPv6 literal must be bracketed and an IPv4 one must not be.
  if ((addr.family === 6) !== (m[1] !== undefined)) throw fail();
  return { ...addr, port };
}

/** Canonical endpoint text. */
export function formatEndpoint(e: { family: Family; bytes: Uint8Array; port: number }): string {
  return e.family === 6 ? `[${formatIp(e.bytes)}]:${e.port}` : `${formatIp(e.bytes)}:${e.port}`;
}

/** The netlink family number of an address family. */
export const afOf = (family: Family): number => (family === 4 ? AF_INET : AF_INET6);

/** The address family of a netlink family number, or undefined for others. */
export function familyOf(af: number | undefined): Family | undefined {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  return undefined;
}
