// The IPv4 header in front of what a raw IPv4 socket receives: Linux hands
// protocol-112 sockets the whole datagram, so the advert's source,
// destination and TTL are read from it here. IPv6 raw sockets get only the
// payload, with addresses and hop limit as ancillary data.
import { formatAddressBytes } from './addr.js';

export interface Ipv4Datagram {
  ok: true;
  src: string;
  dst: string;
  ttl: number;
  protocol: number;
  /** The bytes after the header, up to the header's total length. */
  payload: Uint8Array;
}

export interface Ipv4Malformed {
  ok: false;
  /** What was wrong: `got X; want Y`. */
  detail: string;
}

/**
 * Splits a received IPv4 datagram into header facts and payload. Never throws.
 * The header checksum is not checked: the kernel drops datagrams whose header
 * checksum is wrong before any socket sees them.
 */
export function parseIpv4(bytes: Uint8Array): Ipv4Datagram | Ipv4Malformed {
  if (!(bytes instanceof Uint8Array) || bytes.length < 20) {
    return { ok: false, detail: `got ${bytes instanceof Uint8Array ? bytes.length : 0} bytes; want an IPv4 header of at least 20` };
  }
  const version = (bytes[0] as number) >> 4;
  if (version !== 4) return { ok: false, detail: `got IP version ${version}; want 4` };
  const ihl = ((bytes[0] as number) & 0x0f) * 4;
  if (ihl < 20 || ihl > bytes.length) return { ok: false, detail: `got header length ${ihl} in ${bytes.length} bytes; want 20-${Math.min(60, bytes.length)}` };
  const total = ((bytes[2] as number) << 8) | (bytes[3] as number);
  if (total < ihl) return { ok: false, detail: `got total length ${total}; want at least the header length ${ihl}` };
  // A datagram shorter than its total length is passed on as it is, so the
  // VRRP decoder names it truncated rather than this layer guessing.
  const end = Math.min(total, bytes.length);
  return {
    ok: true,
    src: formatAddressBytes(bytes.subarray(12, 16)),
    dst: formatAddressBytes(bytes.subarray(16, 20)),
    ttl: bytes[8] as number,
    protocol: bytes[9] as number,
    payload: bytes.subarray(ihl, end),
  };
}
