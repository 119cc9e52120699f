// The fixed-size records flows, decisions and moves cross the N-API boundary
// in (the layouts are those of native/src/flow.rs and native/src/lib.rs),
// and addresses as the 16 bytes those records hold.
import { addressToBytes, formatAddressBytes as formatBytes, parseAddress } from '../lib/ip/index.js';
import { TernError } from '../lib/errors.js';
import type { Flow, FlowTuple } from './types.js';

/**
 * A flow record, little-endian: family u8, protocol u8, srcPort u16,
 * dstPort u16, src 16 bytes, dst 16 bytes (IPv4: 4 bytes then 12 zero
 * bytes), dscp u8, flags u8 (bit 0: ports present), bytes u32, domain hint
 * u8 (0: none), 3 reserved zero bytes. The first KEY_SIZE bytes are the flow key.
 */
export const FLOW_RECORD_SIZE = 48;
export const KEY_SIZE = 38;
/** A decision record: pathId u32, class index u16, moved u8, one zero byte. */
export const DECISION_SIZE = 8;
/** A move record: the 38-byte key, class index u16, from u32, to u32. */
export const MOVE_SIZE = 48;

/** Protocols with 16-bit source and destination ports first: TCP, UDP, SCTP, UDP-Lite. */
export const portProtocols: ReadonlySet<number> = new Set([6, 17, 132, 136]);

/** The 16 record bytes of an address ("192.0.2.1", "2001:db8::1") and its family. */
export function addressBytes(text: string): { family: 4 | 6; bytes: Uint8Array } {
  const parsed = parseAddress(text);
  if (!parsed.ok) {
    throw new TernError('TERN_E_STEER_INPUT', `steerd: address: ${JSON.stringify(text)}: ${parsed.reason}`);
  }
  const bytes = new Uint8Array(16);
  bytes.set(addressToBytes(parsed.value));
  return { family: parsed.value.family, bytes };
}

/** An address's record bytes as text (lib/ip formatAddressBytes: RFC 5952 for IPv6). */
export function formatAddressBytes(family: 4 | 6, bytes: Uint8Array): string {
  return formatBytes(family === 4 ? bytes.subarray(0, 4) : bytes.subarray(0, 16));
}

/** A flow from readable parts; ports only for protocols that have them. */
export function makeFlow(parts: {
  src: string; dst: string; protocol: number; srcPort?: number; dstPort?: number; dscp?: number; bytes?: number; hasPorts?: boolean;
}): Flow {
  const src = addressBytes(parts.src);
  const dst = addressBytes(parts.dst);
  if (src.family !== dst.family) {
    throw new TernError('TERN_E_STEER_INPUT', `steerd: flow: ${parts.src} is IPv${src.family} but ${parts.dst} is IPv${dst.family}`);
  }
  const hasPorts = parts.hasPorts ?? portProtocols.has(parts.protocol);
  return {
    family: src.family,
    protocol: parts.protocol,
    srcPort: hasPorts ? parts.srcPort ?? 0 : 0,
    dstPort: hasPorts ? parts.dstPort ?? 0 : 0,
    src: src.bytes,
    dst: dst.bytes,
    dscp: parts.dscp ?? 0,
    hasPorts,
    bytes: parts.bytes ?? 0,
  };
}

/** Writes `flow`'s key (the first KEY_SIZE record bytes) at `offset`. */
export function writeKey(flow: Flow, out: Uint8Array, offset = 0): void {
  out[offset] = flow.family;
  out[offset + 1] = flow.protocol;
  out[offset + 2] = flow.srcPort & 0xff;
  out[offset + 3] = flow.srcPort >>> 8;
  out[offset + 4] = flow.dstPort & 0xff;
  out[offset + 5] = flow.dstPort >>> 8;
  out.set(flow.src.subarray(0, 16), offset + 6);
  out.set(flow.dst.subarray(0, 16), offset + 22);
}

/** Writes `flow` as one record at `offset` of `out`. */
export function encodeFlow(flow: Flow, out: Uint8Array = new Uint8Array(FLOW_RECORD_SIZE), offset = 0): Uint8Array {
  out.fill(0, offset, offset + FLOW_RECORD_SIZE);
  writeKey(flow, out, offset);
  out[offset + 38] = flow.dscp;
  out[offset + 39] = flow.hasPorts ? 1 : 0;
  const b = flow.bytes >>> 0;
  out[offset + 40] = b & 0xff;
  out[offset + 41] = (b >>> 8) & 0xff;
  out[offset + 42] = (b >>> 16) & 0xff;
  out[offset + 43] = b >>> 24;
  out[offset + 44] = flow.domainHint ?? 0;
  return out;
}

/** Records of all `flows`, back to back. */
export function encodeFlows(flows: readonly Flow[]): Buffer {
  const out = Buffer.alloc(flows.length * FLOW_RECORD_SIZE);
  flows.forEach((f, i) => encodeFlow(f, out, i * FLOW_RECORD_SIZE));
  return out;
}

const u16 = (b: Uint8Array, at: number): number => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u32 = (b: Uint8Array, at: number): number => (u16(b, at) + (u16(b, at + 2) * 0x10000));

/**
 * What is wrong with the record at `offset`, in the words native/src/flow.rs
 * uses, or undefined when it is well-formed.
 */
export function flowRecordProblem(b: Uint8Array, offset = 0): string | undefined {
  if (b.length - offset < FLOW_RECORD_SIZE) return `expected ${FLOW_RECORD_SIZE} bytes; got ${Math.max(b.length - offset, 0)}`;
  const family = b[offset]!;
  if (family !== 4 && family !== 6) return `family: expected 4 or 6; got ${family}`;
  if (family === 4) {
    for (let i = 4; i < 16; i++) {
      if (b[offset + 6 + i] !== 0 || b[offset + 22 + i] !== 0) return 'address: expected 12 zero bytes after an IPv4 address';
    }
  }
  const dscp = b[offset + 38]!;
  if (dscp > 63) return `dscp: expected 0-63; got ${dscp}`;
  const flags = b[offset + 39]!;
  if (flags > 1) return `flags: expected 0 or 1; got ${flags}`;
  const protocol = b[offset + 1]!;
  if (flags === 1 && !portProtocols.has(protocol)) {
    return `flags: ports present, but protocol ${protocol} has no ports (expected 6, 17, 132 or 136)`;
  }
  if (flags === 0 && (u16(b, offset + 2) !== 0 || u16(b, offset + 4) !== 0)) return 'ports: expected 0 when the ports-present flag is clear';
  for (let i = 45; i < 48; i++) if (b[offset + i] !== 0) return 'reserved: expected bytes 45-47 to be zero';
  return undefined;
}

/** Reads the record at `offset`; it must be well-formed (flowRecordProblem). */
export function decodeFlow(b: Uint8Array, offset = 0): Flow {
  return {
    family: b[offset] as 4 | 6,
    protocol: b[offset + 1]!,
    srcPort: u16(b, offset + 2),
    dstPort: u16(b, offset + 4),
    src: b.subarray(offset + 6, offset + 22),
    dst: b.subarray(offset + 22, offset + 38),
    dscp: b[offset + 38]!,
    hasPorts: b[offset + 39] === 1,
    bytes: u32(b, offset + 40),
    domainHint: b[offset + 44]!,
  };
}

/** One decision record, as written at `offset` of a decideBatch answer. */
export function writeDecision(out: Uint8Array, offset: number, pathId: number, classIndex: number, moved: boolean): void {
  out[offset] = pathId & 0xff;
  out[offset + 1] = (pathId >>> 8) & 0xff;
  out[offset + 2] = (pathId >>> 16) & 0xff;
  out[offset + 3] = pathId >>> 24;
  out[offset + 4] = classIndex & 0xff;
  out[offset + 5] = classIndex >>> 8;
  out[offset + 6] = moved ? 1 : 0;
  out[offset + 7] = 0;
}

export interface DecisionRecord {
  pathId: number;
  classIndex: number;
  moved: boolean;
}

export function readDecision(b: Uint8Array, offset: number): DecisionRecord {
  return { pathId: u32(b, offset), classIndex: u16(b, offset + 4), moved: b[offset + 6] === 1 };
}

/** The readable identity of the key at `offset`. */
export function readTuple(b: Uint8Array, offset = 0): FlowTuple {
  const family = b[offset] as 4 | 6;
  return {
    family,
    protocol: b[offset + 1]!,
    src: formatAddressBytes(family, b.subarray(offset + 6, offset + 22)),
    dst: formatAddressBytes(family, b.subarray(offset + 22, offset + 38)),
    srcPort: u16(b, offset + 2),
    dstPort: u16(b, offset + 4),
  };
}

export interface MoveRecord {
  /** Offset of the 38-byte key in the buffer. */
  keyOffset: number;
  classIndex: number;
  from: number;
  to: number;
}

export function readMove(b: Uint8Array, offset: number): MoveRecord {
  return { keyOffset: offset, classIndex: u16(b, offset + 38), from: u32(b, offset + 40), to: u32(b, offset + 44) };
}
