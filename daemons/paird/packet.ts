// VRRPv3 advertisements on the wire (RFC 9568 section 5, which obsoletes RFC
// 5798): encode one, and decode one into either the advert or a typed reason
// for discarding it, one reason per receive rule of RFC 9568 section 7.1.
import { TernError } from '../lib/errors.js';
import {
  addressBytes, formatAddressBytes, familyOf, isBroadcastV4, isLinkLocalV6, isLoopback, isMulticast,
  isUnspecified, sameBytes, type Family,
} from './addr.js';
import { complement, fold, pseudoSumV4, pseudoSumV6, sum16 } from './checksum.js';

/** IP protocol number (IPv4) and next header (IPv6) of VRRP. */
export const vrrpProtocol = 112;
/** The only VRRP version this codec speaks. */
export const vrrpVersion = 3;
/** The only VRRP message type (ADVERTISEMENT). */
export const vrrpTypeAdvertisement = 1;
/** TTL / hop limit every advert is sent with and must arrive with (RFC 9568 5.1.1.3, 5.1.2.3). */
export const vrrpTtl = 255;
/** The link-local groups adverts are multicast to. */
export const vrrpGroupV4 = '224.0.0.18';
export const vrrpGroupV6 = 'ff02::12';
/** Fixed part of an advert before the addresses. */
export const headerLength = 8;
/** Largest Max Advertise Interval the 12-bit field holds, in centiseconds. */
export const maxIntervalCs = 4095;

const groupV4 = addressBytes(vrrpGroupV4) as Uint8Array;
const groupV6 = addressBytes(vrrpGroupV6) as Uint8Array;

/**
 * How IPv4 adverts are checksummed; the `pair.checksum` setting. IPv6 adverts
 * always include the RFC 8200 pseudo-header, as RFC 5798 and RFC 9568 both
 * say and keepalived and FRR do.
 *
 * - `rfc9568` (default): RFC 9568 section 5.2.8 — for IPv4 the checksum covers
 *   the VRRP message only, no pseudo-header. This is what Cisco and Arista
 *   send, keepalived releases with `v3_checksum_as_v2` set and FRR with
 *   `no checksum-with-ipv4-pseudoheader`.
 * - `keepalived`: the RFC 5798 reading most Linux implementations took: an
 *   IPv4 pseudo-header (source, destination, 0, 112, length) comes first, with
 *   the advert's real destination — 224.0.0.18, or the peer for unicast. This
 *   is what keepalived sends by default since its 2017 unicast fix (2.2.7 in
 *   Debian 12 included), and FRR before its `checksum-with-ipv4-pseudoheader`
 *   option. Received unicast adverts are also accepted with the group
 *   224.0.0.18 in the pseudo-header, the form keepalived 1.3.6 and earlier
 *   send and later releases send with `old_unicast_checksum`; keepalived
 *   itself accepts both the same way.
 */
export type ChecksumMode = 'rfc9568' | 'keepalived';

/**
 * Which bytes a checksum covers, as seen on the wire:
 * `message` (VRRP message only), `pseudo-header` (pseudo-header with the real
 * destination, then the message), `pseudo-header-group` (IPv4 only:
 * pseudo-header with 224.0.0.18 whatever the destination).
 */
export type ChecksumForm = 'message' | 'pseudo-header' | 'pseudo-header-group';

/** One VRRPv3 advertisement, in the units Tern uses everywhere (ms). */
export interface Advertisement {
  /** Virtual router id, 1-255. */
  vrid: number;
  /** Sender's priority: 255 address owner, 1-254 backup, 0 the master resigning. */
  priority: number;
  /** Max Advertise Interval in ms (the wire carries centiseconds, 10-40950). */
  intervalMs: number;
  /** The virtual addresses, canonical text, one family (IPv6: link-local first). */
  addresses: string[];
}

export interface EncodeOptions {
  /** Source address of the IP packet (this router's primary or link-local address). */
  src: string;
  /** Destination: the VRRP group, or a unicast peer. */
  dst: string;
  mode: ChecksumMode;
  /** Send this checksum form instead of the mode's (to follow a peer using another). */
  form?: ChecksumForm;
}

/** The checksum form a mode sends for a family. */
export function sendForm(mode: ChecksumMode, family: Family): ChecksumForm {
  return family === 6 || mode === 'keepalived' ? 'pseudo-header' : 'message';
}

const argError = (what: string, got: unknown, want: string): TernError =>
  new TernError('TERN_E_PAIRD_ARG', `paird: encode advert: got ${what} ${JSON.stringify(got)}; want ${want}`);

const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

// Partial sum of what precedes the message for a form; length is the VRRP message length.
function initialSum(form: ChecksumForm, src: Uint8Array, dst: Uint8Array, length: number): number {
  if (src.length === 16) return pseudoSumV6(src, dst, vrrpProtocol, length);
  if (form === 'message') return 0;
  return pseudoSumV4(src, form === 'pseudo-header-group' ? groupV4 : dst, vrrpProtocol, length);
}

/**
 * Builds the VRRP message (the IP payload; the IP header is the socket's).
 * Throws TERN_E_PAIRD_ARG when a field is out of range: the caller's values
 * come from validated config, so that is a bug to surface, not a packet to send.
 */
export function encode(adv: Advertisement, opts: EncodeOptions): Buffer {
  const src = addressBytes(opts.src);
  const dst = addressBytes(opts.dst);
  if (!src) throw argError('source', opts.src, 'an IPv4 or IPv6 address');
  if (!dst || dst.length !== src.length) throw argError('destination', opts.dst, `an IPv${familyOf(src)} address like the source`);
  if (!isInt(adv.vrid, 1, 255)) throw argError('vrid', adv.vrid, 'an integer 1-255');
  if (!isInt(adv.priority, 0, 255)) throw argError('priority', adv.priority, 'an integer 0-255');
  if (!isInt(adv.intervalMs, 10, maxIntervalCs * 10) || adv.intervalMs % 10 !== 0) {
    throw argError('intervalMs', adv.intervalMs, `a multiple of 10 from 10 to ${maxIntervalCs * 10}`);
  }
  if (!Array.isArray(adv.addresses) || adv.addresses.length < 1 || adv.addresses.length > 255) {
    throw argError('address count', Array.isArray(adv.addresses) ? adv.addresses.length : adv.addresses, '1-255 addresses');
  }
  const addrs = adv.addresses.map((a) => {
    const b = addressBytes(a);
    if (!b || b.length !== src.length) throw argError('address', a, `an IPv${familyOf(src)} address like the source`);
    return b;
  });
  // RFC 9568 5.2.9: receivers (erratum 8300) discard IPv6 adverts whose first address is not link-local.
  if (src.length === 16 && !isLinkLocalV6(addrs[0] as Uint8Array)) {
    throw argError('first IPv6 address', adv.addresses[0], 'a link-local address (fe80::/10), as RFC 9568 5.2.9 requires');
  }
  const length = headerLength + addrs.length * src.length;
  const out = Buffer.alloc(length);
  out[0] = (vrrpVersion << 4) | vrrpTypeAdvertisement;
  out[1] = adv.vrid;
  out[2] = adv.priority;
  out[3] = addrs.length;
  out.writeUInt16BE(adv.intervalMs / 10, 4); // the 4 reserved bits stay zero (5.2.6)
  addrs.forEach((a, i) => out.set(a, headerLength + i * src.length));
  const form = src.length === 16 ? 'pseudo-header' : (opts.form ?? sendForm(opts.mode, 4));
  out.writeUInt16BE(complement(initialSum(form, src, dst, length) + sum16(out)), 6);
  return out;
}

/** Why a received advert was dropped; each is one receive rule. */
export type DiscardReason =
  | 'ttl' // TTL / hop limit not 255 (5.1.1.3, 5.1.2.3)
  | 'version' // version not 3; VRRPv2 adverts land here (7.1)
  | 'type' // type not 1 = ADVERTISEMENT (5.2.2)
  | 'truncated' // shorter than the header, or than header + count x address length (7.1)
  | 'trailing' // bytes after the last address
  | 'checksum' // checksum wrong for the configured mode (5.2.8)
  | 'count' // IPvX Addr Count 0 (5.2.5, erratum 8299)
  | 'vrid' // VRID 0 or not the configured one (7.1)
  | 'interval' // Max Advertise Interval 0 (erratum 8301)
  | 'address' // IPv6 first address not link-local (5.2.9, erratum 8300)
  | 'source' // bad source: unparseable, not unicast, not link-local (IPv6 multicast), own, not a configured peer
  | 'destination'; // destination unparseable or of the other family

/** Every discard reason, in the order the rules are checked. */
export const discardReasons: readonly DiscardReason[] = [
  'destination', 'source', 'ttl', 'version', 'type', 'truncated', 'trailing', 'checksum', 'count', 'vrid', 'interval', 'address',
];

export interface DecodeOptions {
  /** Source address from the IP header. */
  src: string;
  /** Destination address from the IP header. */
  dst: string;
  /** TTL (IPv4) or hop limit (IPv6) the packet arrived with. */
  ttl: number;
  mode: ChecksumMode;
  /** Discard adverts for any other VRID. */
  expectedVrid?: number;
  /** With unicast peers: discard adverts from any other source. */
  peers?: string[];
  /** This router's own addresses: its adverts looped back are discarded. */
  localAddresses?: string[];
  /** The configured virtual addresses; a mismatch is flagged, not discarded. */
  expectedAddresses?: string[];
}

export interface Decoded {
  ok: true;
  advert: Advertisement;
  family: Family;
  /** The checksum form that matched (lets the daemon follow a peer's form). */
  checksumForm: ChecksumForm;
  /**
   * With expectedAddresses: whether the advert carries the same set. RFC 9568
   * 7.1 asks only to log a mismatch; dropping the advert would make two masters.
   */
  addressesMatch?: boolean;
}

export interface Discarded {
  ok: false;
  reason: DiscardReason;
  /** What was wrong, for logs: `got X; want Y`. */
  detail: string;
  /** For 'checksum': another form the checksum does match, which names the peer's setting. */
  checksumHint?: ChecksumForm;
}

export type DecodeResult = Decoded | Discarded;

const discard = (reason: DiscardReason, detail: string, checksumHint?: ChecksumForm): Discarded =>
  checksumHint === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, checksumHint };

/** Forms a mode accepts for a received advert. */
function acceptedForms(mode: ChecksumMode, family: Family, dst: Uint8Array): ChecksumForm[] {
  if (family === 6) return ['pseudo-header'];
  if (mode === 'rfc9568') return ['message'];
  return sameBytes(dst, groupV4) ? ['pseudo-header'] : ['pseudo-header', 'pseudo-header-group'];
}

const allFormsV4: ChecksumForm[] = ['message', 'pseudo-header', 'pseudo-header-group'];

/**
 * Checks one received VRRP message (the IP payload) against every receive
 * rule and returns the advert or the first rule it breaks. Never throws,
 * whatever the bytes or options.
 */
export function decode(bytes: Uint8Array, opts: DecodeOptions): DecodeResult {
  const dst = addressBytes(opts.dst);
  const src = addressBytes(opts.src);
  if (!dst) return discard('destination', `got destination ${JSON.stringify(opts.dst)}; want an IPv4 or IPv6 address`);
  if (!src || src.length !== dst.length) {
    return discard('source', `got source ${JSON.stringify(opts.src)}; want an IPv${familyOf(dst)} address like the destination`);
  }
  const family = familyOf(src);
  if (opts.ttl !== vrrpTtl) return discard('ttl', `got ${family === 4 ? 'TTL' : 'hop limit'} ${opts.ttl}; want ${vrrpTtl}`);
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) return discard('truncated', 'got 0 bytes; want a VRRP header');
  const version = (bytes[0] as number) >> 4;
  if (version !== vrrpVersion) {
    return discard('version', `got version ${version}${version === 2 ? ' (VRRPv2)' : ''}; want ${vrrpVersion}`);
  }
  const type = (bytes[0] as number) & 0x0f;
  if (type !== vrrpTypeAdvertisement) return discard('type', `got type ${type}; want ${vrrpTypeAdvertisement} (ADVERTISEMENT)`);
  if (bytes.length < headerLength) return discard('truncated', `got ${bytes.length} bytes; want at least ${headerLength}`);
  const count = bytes[3] as number;
  const length = headerLength + count * src.length;
  if (bytes.length < length) {
    return discard('truncated', `got ${bytes.length} bytes; want ${length} for ${count} IPv${family} addresses`);
  }
  if (bytes.length > length) {
    return discard('trailing', `got ${bytes.length} bytes; want ${length} for ${count} IPv${family} addresses`);
  }

  const body = sum16(bytes, 0, length);
  const matches = (form: ChecksumForm): boolean => fold(initialSum(form, src, dst, length) + body) === 0xffff;
  const accepted = acceptedForms(opts.mode, family, dst);
  const checksumForm = accepted.find(matches);
  if (checksumForm === undefined) {
    const got = ((bytes[6] as number) << 8) | (bytes[7] as number);
    const hint = family === 4 ? allFormsV4.find((f) => !accepted.includes(f) && matches(f)) : undefined;
    const want = accepted.map((f) => `0x${complement(initialSum(f, src, dst, length) + body - got).toString(16).padStart(4, '0')} (${f})`);
    const peer = hint === undefined ? '' : `; it matches the ${hint} form, so the sender is set to checksum ${hint === 'message' ? 'rfc9568' : 'keepalived'}`;
    return discard('checksum', `got checksum 0x${got.toString(16).padStart(4, '0')}; want ${want.join(' or ')}${peer}`, hint);
  }

  if (count === 0) return discard('count', 'got IPvX Addr Count 0; want at least 1');
  const vrid = bytes[1] as number;
  if (vrid === 0 || (opts.expectedVrid !== undefined && vrid !== opts.expectedVrid)) {
    return discard('vrid', `got VRID ${vrid}; want ${opts.expectedVrid ?? '1-255'}`);
  }
  const intervalCs = (((bytes[4] as number) & 0x0f) << 8) | (bytes[5] as number);
  if (intervalCs === 0) return discard('interval', 'got Max Advertise Interval 0; want 1-4095 centiseconds');

  const addrs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) addrs.push(bytes.subarray(headerLength + i * src.length, headerLength + (i + 1) * src.length));
  if (family === 6 && !isLinkLocalV6(addrs[0] as Uint8Array)) {
    return discard('address', `got first address ${formatAddressBytes(addrs[0] as Uint8Array)}; want an IPv6 link-local address`);
  }

  const srcText = formatAddressBytes(src);
  if (isUnspecified(src) || isMulticast(src) || isLoopback(src) || isBroadcastV4(src)) {
    return discard('source', `got source ${srcText}; want a unicast address`);
  }
  // RFC 9568 5.1.2.1: multicast IPv6 adverts come from the sender's link-local address.
  if (family === 6 && sameBytes(dst, groupV6) && !isLinkLocalV6(src)) {
    return discard('source', `got source ${srcText}; want an IPv6 link-local address`);
  }
  if (opts.localAddresses?.some((a) => sameAddress(a, src))) {
    return discard('source', `got source ${srcText}; want another router (this is our own advert)`);
  }
  if (opts.peers !== undefined && opts.peers.length > 0 && !opts.peers.some((a) => sameAddress(a, src))) {
    return discard('source', `got source ${srcText}; want one of the unicast peers ${opts.peers.join(', ')}`);
  }

  const addresses = addrs.map(formatAddressBytes);
  const advert: Advertisement = { vrid, priority: bytes[2] as number, intervalMs: intervalCs * 10, addresses };
  const result: Decoded = { ok: true, advert, family, checksumForm };
  if (opts.expectedAddresses !== undefined) result.addressesMatch = sameAddressSet(opts.expectedAddresses, addresses);
  return result;
}

function sameAddress(text: string, bytes: Uint8Array): boolean {
  const b = addressBytes(text);
  return b !== undefined && sameBytes(b, bytes);
}

// Order-insensitive: RFC 9568 5.2.9 only asks senders to keep the configured order.
function sameAddressSet(expected: string[], got: string[]): boolean {
  const canon = new Set(expected.map((a) => { const b = addressBytes(a); return b ? formatAddressBytes(b) : a; }));
  return canon.size === new Set(got).size && got.every((a) => canon.has(a));
}
