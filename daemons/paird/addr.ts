// IP addresses as the VRRP wire carries them: text to network-order bytes and
// back (lib/ip), without throwing, plus the few address tests the receive rules need.
import { addressToBytes, parseAddress } from '../lib/ip/index.js';

/** Canonical text of 4 or 16 address bytes (RFC 5952 for IPv6). */
export { formatAddressBytes } from '../lib/ip/index.js';

/** Address family by IP version. */
export type Family = 4 | 6;

/** Network-order bytes of an IPv4 or IPv6 address, or undefined for anything else. */
export function addressBytes(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const parsed = parseAddress(text);
  return parsed.ok ? addressToBytes(parsed.value) : undefined;
}

/** Family of address bytes. */
export const familyOf = (bytes: Uint8Array): Family => (bytes.length === 4 ? 4 : 6);

/**
 * Compares two addresses of one family as unsigned integers in network byte
 * order, as RFC 9568 section 6.4.3 breaks priority ties: negative, 0 or positive.
 */
export function compareAddresses(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True for fe80::/10. */
export const isLinkLocalV6 = (b: Uint8Array): boolean => b.length === 16 && b[0] === 0xfe && ((b[1] as number) & 0xc0) === 0x80;

/** True for 224.0.0.0/4 and ff00::/8. */
export const isMulticast = (b: Uint8Array): boolean =>
  b.length === 4 ? ((b[0] as number) & 0xf0) === 0xe0 : b[0] === 0xff;

/** True for 0.0.0.0 and ::. */
export const isUnspecified = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** True for 127.0.0.0/8 and ::1. */
export const isLoopback = (b: Uint8Array): boolean =>
  b.length === 4 ? b[0] === 127 : b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;

/** True for the IPv4 limited broadcast 255.255.255.255. */
export const isBroadcastV4 = (b: Uint8Array): boolean => b.length === 4 && b.every((x) => x === 255);

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
