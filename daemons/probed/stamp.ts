// STAMP (RFC 8762) test packets in unauthenticated mode, byte-exact, and the
// timestamp arithmetic they need. Decoding never throws: bad bytes from the
// network come back as a typed rejection so callers count and drop them.
//
// Session-Sender test packet (RFC 8762 §4.2.1, Figure 2), 44 octets:
//
//   0       4               12      14                            44
//   +-------+---------------+-------+-----------------------------+
//   | Seq   | Timestamp     | ErrEst| MBZ (30 octets)             |
//   +-------+---------------+-------+-----------------------------+
//
// Session-Reflector test packet (RFC 8762 §4.3.1, Figure 4), 44 octets:
//
//   0  Sequence Number (4)          4  Timestamp (8)
//   12 Error Estimate (2)           14 MBZ (2)
//   16 Receive Timestamp (8)        24 Session-Sender Sequence Number (4)
//   28 Session-Sender Timestamp (8) 36 Session-Sender Error Estimate (2)
//   38 MBZ (2)                      40 Session-Sender TTL (1)
//   41 MBZ (3)
//
// Octets beyond 44 are padding (or RFC 8972 TLVs from other implementations);
// they are never interpreted and never required to be zero.
import { TernError } from '../lib/errors.js';

/** Length of both unauthenticated STAMP test packets. */
export const STAMP_PACKET_BYTES = 44;
/** The largest UDP payload over IPv4; nothing longer can be a datagram. */
export const STAMP_MAX_BYTES = 65507;
/** IANA's well-known STAMP port (RFC 8762 §4.1). */
export const STAMP_PORT = 862;

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_SEC = 2_208_988_800;
const TWO32 = 0x1_0000_0000;

/**
 * A 64-bit STAMP timestamp as its two 32-bit words. With Z=0 (NTP, RFC 5905)
 * they are seconds since 1900 and a binary fraction of a second; with Z=1
 * (PTPv2 truncated, RFC 8186) seconds since 1970 and nanoseconds.
 */
export interface Timestamp {
  seconds: number;
  fraction: number;
}

/** Error Estimate (RFC 4656 §4.1.2, Z bit per RFC 8762 §4.2.1). */
export interface ErrorEstimate {
  /** S: the clock is synchronised to UTC by an external source. */
  synchronized: boolean;
  /** Z: timestamps are PTPv2 truncated (true) or NTP (false). */
  ptp: boolean;
  /** 6-bit scale; the error is multiplier × 2^(scale−32) seconds. */
  scale: number;
  /** 8-bit multiplier; RFC 4656 says it MUST NOT be zero. */
  multiplier: number;
}

export interface SenderPacket {
  seq: number;
  timestamp: Timestamp;
  errorEstimate: ErrorEstimate;
}

export interface ReflectorPacket {
  /** The reflector's own counter in stateful mode, the sender's seq in stateless mode. */
  seq: number;
  /** When the reflector sent the reply (T3). */
  timestamp: Timestamp;
  errorEstimate: ErrorEstimate;
  /** When the reflector received the test packet (T2). */
  receiveTimestamp: Timestamp;
  senderSeq: number;
  /** The sender's timestamp (T1), copied. */
  senderTimestamp: Timestamp;
  senderErrorEstimate: ErrorEstimate;
  /** TTL / Hop Limit of the received test packet; 0 when the reflector could not read it. */
  senderTtl: number;
}

/** Why a buffer is not an acceptable STAMP packet. */
export type StampRejection =
  | 'too-short'          // fewer than 44 octets
  | 'too-long'           // more than a UDP datagram can hold
  | 'mbz-nonzero'        // an MBZ field is not zero (strict mode)
  | 'bad-error-estimate' // multiplier zero (RFC 4656 §4.1.2: corrupt, discard)
  | 'bad-timestamp';     // a PTP timestamp with nanoseconds ≥ 10^9

export type Decoded<T> =
  | { ok: true; packet: T; length: number }
  | { ok: false; reason: StampRejection; detail: string };

export interface DecodeOptions {
  /**
   * What to do with non-zero MBZ octets. RFC 8762 has senders zero them and
   * receivers ignore them; Tern talks to Tern, so by default ('reject') a
   * non-zero MBZ marks the packet as not ours (junk, a reflected reply, a
   * different protocol on the port). 'ignore' interoperates with senders
   * that reuse those octets (RFC 8972's SSID).
   */
  mbz?: 'reject' | 'ignore';
}

// Byte ranges that must be zero, per packet kind ([start, end)).
const SENDER_MBZ: ReadonlyArray<readonly [number, number]> = [[14, 44]];
const REFLECTOR_MBZ: ReadonlyArray<readonly [number, number]> = [[14, 16], [38, 40], [41, 44]];

/** Decode a Session-Sender test packet. Never throws. */
export function decodeSenderPacket(bytes: Uint8Array, opts: DecodeOptions = {}): Decoded<SenderPacket> {
  const bad = checkFrame(bytes, opts.mbz === 'ignore' ? [] : SENDER_MBZ);
  if (bad) return bad;
  const v = view(bytes);
  const errorEstimate = decodeErrorEstimate(v.getUint16(12));
  const timestamp = readTimestamp(v, 4);
  const invalid = checkEstimate(errorEstimate, 'error estimate') ?? checkTimestamp(timestamp, errorEstimate.ptp, 'timestamp');
  if (invalid) return invalid;
  return { ok: true, length: bytes.length, packet: { seq: v.getUint32(0), timestamp, errorEstimate } };
}

/** Decode a Session-Reflector test packet. Never throws. */
export function decodeReflectorPacket(bytes: Uint8Array, opts: DecodeOptions = {}): Decoded<ReflectorPacket> {
  const bad = checkFrame(bytes, opts.mbz === 'ignore' ? [] : REFLECTOR_MBZ);
  if (bad) return bad;
  const v = view(bytes);
  const errorEstimate = decodeErrorEstimate(v.getUint16(12));
  const senderErrorEstimate = decodeErrorEstimate(v.getUint16(36));
  const p: ReflectorPacket = {
    seq: v.getUint32(0),
    timestamp: readTimestamp(v, 4),
    errorEstimate,
    receiveTimestamp: readTimestamp(v, 16),
    senderSeq: v.getUint32(24),
    senderTimestamp: readTimestamp(v, 28),
    senderErrorEstimate,
    senderTtl: v.getUint8(40),
  };
  const invalid = checkEstimate(errorEstimate, 'error estimate')
    ?? checkEstimate(senderErrorEstimate, 'sender error estimate')
    ?? checkTimestamp(p.timestamp, errorEstimate.ptp, 'timestamp')
    ?? checkTimestamp(p.receiveTimestamp, errorEstimate.ptp, 'receive timestamp')
    ?? checkTimestamp(p.senderTimestamp, senderErrorEstimate.ptp, 'sender timestamp');
  if (invalid) return invalid;
  return { ok: true, length: bytes.length, packet: p };
}

/**
 * Encode a Session-Sender test packet, zero-padded to length octets (≥ 44).
 * Throws TERN_E_PROBE_ARG on out-of-range fields: that is our bug, not the
 * network's.
 */
export function encodeSenderPacket(p: SenderPacket, length = STAMP_PACKET_BYTES): Uint8Array {
  const bytes = frame('encodeSenderPacket', length);
  const v = view(bytes);
  v.setUint32(0, u32('encodeSenderPacket', 'seq', p.seq));
  writeTimestamp('encodeSenderPacket', v, 4, p.timestamp, p.errorEstimate.ptp);
  v.setUint16(12, encodeErrorEstimate(p.errorEstimate));
  return bytes;
}

/** Encode a Session-Reflector test packet, zero-padded to length octets (≥ 44). */
export function encodeReflectorPacket(p: ReflectorPacket, length = STAMP_PACKET_BYTES): Uint8Array {
  const where = 'encodeReflectorPacket';
  const bytes = frame(where, length);
  const v = view(bytes);
  v.setUint32(0, u32(where, 'seq', p.seq));
  writeTimestamp(where, v, 4, p.timestamp, p.errorEstimate.ptp);
  v.setUint16(12, encodeErrorEstimate(p.errorEstimate));
  writeTimestamp(where, v, 16, p.receiveTimestamp, p.errorEstimate.ptp);
  v.setUint32(24, u32(where, 'senderSeq', p.senderSeq));
  writeTimestamp(where, v, 28, p.senderTimestamp, p.senderErrorEstimate.ptp);
  v.setUint16(36, encodeErrorEstimate(p.senderErrorEstimate));
  if (!Number.isInteger(p.senderTtl) || p.senderTtl < 0 || p.senderTtl > 255) {
    throw new TernError('TERN_E_PROBE_ARG', `stamp: ${where}: senderTtl is ${p.senderTtl}; want an integer 0-255`);
  }
  v.setUint8(40, p.senderTtl);
  return bytes;
}

/** Error Estimate as its 16-bit wire value: S | Z | scale (6) | multiplier (8). */
export function encodeErrorEstimate(e: ErrorEstimate): number {
  if (!Number.isInteger(e.scale) || e.scale < 0 || e.scale > 63) {
    throw new TernError('TERN_E_PROBE_ARG', `stamp: encodeErrorEstimate: scale is ${e.scale}; want an integer 0-63`);
  }
  if (!Number.isInteger(e.multiplier) || e.multiplier < 1 || e.multiplier > 255) {
    throw new TernError('TERN_E_PROBE_ARG', `stamp: encodeErrorEstimate: multiplier is ${e.multiplier}; want an integer 1-255 (RFC 4656: never zero)`);
  }
  return (e.synchronized ? 0x8000 : 0) | (e.ptp ? 0x4000 : 0) | (e.scale << 8) | e.multiplier;
}

export function decodeErrorEstimate(word: number): ErrorEstimate {
  return {
    synchronized: (word & 0x8000) !== 0,
    ptp: (word & 0x4000) !== 0,
    scale: (word >> 8) & 0x3f,
    multiplier: word & 0xff,
  };
}

/** The error the estimate stands for, in seconds: multiplier × 2^(scale−32). */
export function errorEstimateSeconds(e: ErrorEstimate): number {
  return e.multiplier * 2 ** (e.scale - 32);
}

/**
 * What Tern puts in its own packets: an unsynchronised clock (S=0) in NTP
 * format with the smallest error the field can say. Only differences of one
 * side's timestamps are used (RTT, reflector processing time), which do not
 * depend on UTC synchronisation.
 */
export const TERN_ERROR_ESTIMATE: ErrorEstimate = Object.freeze({ synchronized: false, ptp: false, scale: 0, multiplier: 1 });

/** Wall-clock milliseconds (fractions allowed) as an NTP or PTP timestamp. */
export function msToTimestamp(ms: number, ptp = false): Timestamp {
  if (!Number.isFinite(ms)) throw new TernError('TERN_E_PROBE_ARG', `stamp: msToTimestamp: ms is ${ms}; want a finite number`);
  let secs = Math.floor(ms / 1000);
  const rest = ms - secs * 1000;
  if (ptp) {
    let ns = Math.round(rest * 1e6);
    if (ns >= 1e9) { secs += 1; ns -= 1e9; }
    return { seconds: mod32(secs), fraction: ns };
  }
  let fraction = Math.round((rest / 1000) * TWO32);
  if (fraction >= TWO32) { secs += 1; fraction -= TWO32; }
  return { seconds: mod32(secs + NTP_UNIX_OFFSET_SEC), fraction };
}

/** NTP timestamp from wall-clock milliseconds. */
export function msToNtp(ms: number): Timestamp {
  return msToTimestamp(ms, false);
}

/**
 * NTP timestamp to wall-clock milliseconds. NTP seconds wrap in 2036; as in
 * RFC 4330 §3, a value with the top bit clear is taken to be in era 1, so
 * this maps 1968-01-20 … 2104-02-26 correctly.
 */
export function ntpToMs(ts: Timestamp): number {
  const secs = ts.seconds >= 0x8000_0000 ? ts.seconds - NTP_UNIX_OFFSET_SEC : ts.seconds + TWO32 - NTP_UNIX_OFFSET_SEC;
  return secs * 1000 + (ts.fraction / TWO32) * 1000;
}

/** Timestamp (in the format Z says) to wall-clock milliseconds. */
export function timestampToMs(ts: Timestamp, ptp = false): number {
  return ptp ? ts.seconds * 1000 + ts.fraction / 1e6 : ntpToMs(ts);
}

/**
 * a − b in milliseconds for two timestamps of one clock and format. The
 * seconds difference is taken modulo 2^32 as a signed value, so it stays
 * right across the NTP era wrap.
 */
export function timestampDiffMs(a: Timestamp, b: Timestamp, ptp = false): number {
  const ds = (a.seconds - b.seconds) | 0;
  return ptp ? ds * 1000 + (a.fraction - b.fraction) / 1e6 : ds * 1000 + ((a.fraction - b.fraction) / TWO32) * 1000;
}

export function timestampsEqual(a: Timestamp, b: Timestamp): boolean {
  return a.seconds === b.seconds && a.fraction === b.fraction;
}

function checkFrame(bytes: Uint8Array, mbz: ReadonlyArray<readonly [number, number]>): Decoded<never> | undefined {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'too-short', detail: 'not a byte buffer' };
  if (bytes.length < STAMP_PACKET_BYTES) {
    return { ok: false, reason: 'too-short', detail: `${bytes.length} octets; want at least ${STAMP_PACKET_BYTES}` };
  }
  if (bytes.length > STAMP_MAX_BYTES) {
    return { ok: false, reason: 'too-long', detail: `${bytes.length} octets; want at most ${STAMP_MAX_BYTES}` };
  }
  for (const [from, to] of mbz) {
    for (let i = from; i < to; i++) {
      if (bytes[i] !== 0) return { ok: false, reason: 'mbz-nonzero', detail: `octet ${i} is 0x${bytes[i]!.toString(16).padStart(2, '0')}; want 0 (MBZ)` };
    }
  }
  return undefined;
}

function checkEstimate(e: ErrorEstimate, what: string): Decoded<never> | undefined {
  if (e.multiplier === 0) return { ok: false, reason: 'bad-error-estimate', detail: `${what} multiplier is 0; want 1-255 (RFC 4656 §4.1.2)` };
  return undefined;
}

function checkTimestamp(ts: Timestamp, ptp: boolean, what: string): Decoded<never> | undefined {
  if (ptp && ts.fraction >= 1e9) return { ok: false, reason: 'bad-timestamp', detail: `${what} has ${ts.fraction} ns; want < 10^9 (PTP format)` };
  return undefined;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readTimestamp(v: DataView, at: number): Timestamp {
  return { seconds: v.getUint32(at), fraction: v.getUint32(at + 4) };
}

function writeTimestamp(where: string, v: DataView, at: number, ts: Timestamp, ptp: boolean): void {
  v.setUint32(at, u32(where, 'timestamp seconds', ts.seconds));
  const frac = u32(where, 'timestamp fraction', ts.fraction);
  if (ptp && frac >= 1e9) throw new TernError('TERN_E_PROBE_ARG', `stamp: ${where}: PTP nanoseconds is ${frac}; want < 10^9`);
  v.setUint32(at + 4, frac);
}

function frame(where: string, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < STAMP_PACKET_BYTES || length > STAMP_MAX_BYTES) {
    throw new TernError('TERN_E_PROBE_ARG', `stamp: ${where}: length is ${length}; want an integer ${STAMP_PACKET_BYTES}-${STAMP_MAX_BYTES}`);
  }
  return new Uint8Array(length);
}

function u32(where: string, name: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= TWO32) {
    throw new TernError('TERN_E_PROBE_ARG', `stamp: ${where}: ${name} is ${n}; want an integer 0-4294967295`);
  }
  return n;
}

function mod32(n: number): number {
  return ((n % TWO32) + TWO32) % TWO32;
}
