// The Internet checksum (RFC 1071) and the IPv4 and IPv6 pseudo-headers that
// VRRPv3 and ICMPv6 fold into it.

/**
 * One's-complement sum of bytes[start, end) as 16-bit big-endian words added
 * to initial, unfolded. An odd trailing byte is the high byte of a last word.
 */
export function sum16(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (i < end) sum += (bytes[i] as number) << 8;
  // Fold as we go would cost more; a VRRP or NA message is far below the
  // 2^16 words that could overflow a double's exact integer range.
  return sum;
}

/** Folds carries back in until the sum fits 16 bits. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value: the complement of the folded sum. */
export const complement = (sum: number): number => ~fold(sum) & 0xffff;

/**
 * Partial sum of the IPv4 pseudo-header (RFC 768 / RFC 793 form): source,
 * destination, a zero byte, the protocol and the upper-layer length.
 */
export function pseudoSumV4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return sum16(src) + sum16(dst) + protocol + length;
}

/**
 * Partial sum of the IPv6 pseudo-header (RFC 8200 section 8.1): source,
 * destination, 32-bit upper-layer length, three zero bytes and next header.
 */
export function pseudoSumV6(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): number {
  return sum16(src) + sum16(dst) + Math.floor(length / 0x10000) + (length & 0xffff) + nextHeader;
}
