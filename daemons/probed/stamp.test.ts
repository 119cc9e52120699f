import t from 'tap';
import { isTernError } from '../lib/errors.js';
import {
  STAMP_PACKET_BYTES, decodeErrorEstimate, decodeReflectorPacket, decodeSenderPacket, encodeErrorEstimate,
  encodeReflectorPacket, encodeSenderPacket, errorEstimateSeconds, msToNtp, msToTimestamp, ntpToMs,
  timestampDiffMs, timestampToMs, type ReflectorPacket, type SenderPacket,
} from './stamp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// RFC 8762 Figure 2 (Session-Sender, unauthenticated), field by field.
const senderHex = `
  0000002a                 # Sequence Number 42
  ed003780 80000000        # Timestamp 2026-01-01T00:00:00.500Z (NTP: 3976214400 s + 2^31/2^32 s)
  8a01                     # Error Estimate: S=1 Z=0 Scale=10 Multiplier=1
  000000000000000000000000000000000000000000000000000000000000  # MBZ, 30 octets
`;
const senderWant: SenderPacket = {
  seq: 42,
  timestamp: { seconds: 0xed003780, fraction: 0x80000000 },
  errorEstimate: { synchronized: true, ptp: false, scale: 10, multiplier: 1 },
};

// RFC 8762 Figure 4 (Session-Reflector, unauthenticated), field by field.
const reflectorHex = `
  00000007                 # Sequence Number 7 (the reflector's own counter)
  ed003781 40000000        # Timestamp T3 = 00:00:01.250
  0001                     # Error Estimate: S=0 Z=0 Scale=0 Multiplier=1
  0000                     # MBZ
  ed003781 00000000        # Receive Timestamp T2 = 00:00:01.000
  0000002a                 # Session-Sender Sequence Number 42
  ed003780 80000000        # Session-Sender Timestamp T1 = 00:00:00.500
  8a01                     # Session-Sender Error Estimate
  0000                     # MBZ
  3f                       # Session-Sender TTL 63
  000000                   # MBZ
`;
const reflectorWant: ReflectorPacket = {
  seq: 7,
  timestamp: { seconds: 0xed003781, fraction: 0x40000000 },
  errorEstimate: { synchronized: false, ptp: false, scale: 0, multiplier: 1 },
  receiveTimestamp: { seconds: 0xed003781, fraction: 0 },
  senderSeq: 42,
  senderTimestamp: { seconds: 0xed003780, fraction: 0x80000000 },
  senderErrorEstimate: { synchronized: true, ptp: false, scale: 10, multiplier: 1 },
  senderTtl: 63,
};

t.test('fixtures are 44 octets', async (t) => {
  t.equal(hex(senderHex).length, STAMP_PACKET_BYTES, `got sender fixture ${hex(senderHex).length} octets; want 44`);
  t.equal(hex(reflectorHex).length, STAMP_PACKET_BYTES, `got reflector fixture ${hex(reflectorHex).length} octets; want 44`);
});

t.test('Session-Sender packet decodes and encodes byte-exact', async (t) => {
  const d = decodeSenderPacket(hex(senderHex));
  t.ok(d.ok, `got rejection ${JSON.stringify(d)}; want ok`);
  if (d.ok) t.same(d.packet, senderWant, `got ${JSON.stringify(d.packet)}; want ${JSON.stringify(senderWant)}`);
  const enc = toHex(encodeSenderPacket(senderWant));
  t.equal(enc, toHex(hex(senderHex)), `got ${enc}; want fixture`);
});

t.test('Session-Reflector packet decodes and encodes byte-exact', async (t) => {
  const d = decodeReflectorPacket(hex(reflectorHex));
  t.ok(d.ok, `got rejection ${JSON.stringify(d)}; want ok`);
  if (d.ok) t.same(d.packet, reflectorWant, `got ${JSON.stringify(d.packet)}; want ${JSON.stringify(reflectorWant)}`);
  const enc = toHex(encodeReflectorPacket(reflectorWant));
  t.equal(enc, toHex(hex(reflectorHex)), `got ${enc}; want fixture`);
  if (d.ok) {
    const processing = timestampDiffMs(d.packet.timestamp, d.packet.receiveTimestamp);
    t.equal(processing, 250, `got T3-T2 ${processing} ms; want 250`);
  }
});

t.test('padding beyond 44 octets is kept in the length and never interpreted', async (t) => {
  const padded = new Uint8Array(64);
  padded.set(hex(senderHex));
  padded.fill(0xee, 44);
  const d = decodeSenderPacket(padded);
  t.ok(d.ok && d.length === 64, `got ${JSON.stringify(d)}; want ok with length 64`);
  const enc = encodeSenderPacket(senderWant, 64);
  t.equal(enc.length, 64, `got ${enc.length} octets; want 64`);
  t.ok(enc.subarray(44).every((b) => b === 0), 'got non-zero padding; want zeros');
});

t.test('bad packets are rejected with their reason, never thrown', async (t) => {
  const set = (s: string, at: number, v: number): Uint8Array => { const b = hex(s); b[at] = v; return b; };
  const cases: Array<{ name: string; kind: 'sender' | 'reflector'; bytes: Uint8Array; want: string; mbz?: 'ignore' }> = [
    { name: 'empty', kind: 'sender', bytes: new Uint8Array(0), want: 'too-short' },
    { name: '43 octets', kind: 'sender', bytes: hex(senderHex).subarray(0, 43), want: 'too-short' },
    { name: 'reflector 43 octets', kind: 'reflector', bytes: hex(reflectorHex).subarray(0, 43), want: 'too-short' },
    { name: 'longer than a datagram', kind: 'sender', bytes: new Uint8Array(65508), want: 'too-long' },
    { name: 'sender MBZ first octet', kind: 'sender', bytes: set(senderHex, 14, 1), want: 'mbz-nonzero' },
    { name: 'sender MBZ last octet', kind: 'sender', bytes: set(senderHex, 43, 0x80), want: 'mbz-nonzero' },
    { name: 'sender MBZ ignored on request', kind: 'sender', bytes: set(senderHex, 20, 1), want: 'ok', mbz: 'ignore' },
    { name: 'reflector MBZ 14', kind: 'reflector', bytes: set(reflectorHex, 14, 1), want: 'mbz-nonzero' },
    { name: 'reflector MBZ 15', kind: 'reflector', bytes: set(reflectorHex, 15, 1), want: 'mbz-nonzero' },
    { name: 'reflector MBZ 38', kind: 'reflector', bytes: set(reflectorHex, 38, 1), want: 'mbz-nonzero' },
    { name: 'reflector MBZ 39', kind: 'reflector', bytes: set(reflectorHex, 39, 1), want: 'mbz-nonzero' },
    { name: 'reflector MBZ 41', kind: 'reflector', bytes: set(reflectorHex, 41, 1), want: 'mbz-nonzero' },
    { name: 'reflector MBZ 43', kind: 'reflector', bytes: set(reflectorHex, 43, 1), want: 'mbz-nonzero' },
    { name: 'reflector TTL octet is not MBZ', kind: 'reflector', bytes: set(reflectorHex, 40, 255), want: 'ok' },
    { name: 'sender multiplier 0', kind: 'sender', bytes: set(senderHex, 13, 0), want: 'bad-error-estimate' },
    { name: 'reflector multiplier 0', kind: 'reflector', bytes: set(reflectorHex, 13, 0), want: 'bad-error-estimate' },
    { name: 'reflector copied sender multiplier 0', kind: 'reflector', bytes: set(reflectorHex, 37, 0), want: 'bad-error-estimate' },
    // Z=1 (PTP) with the 0x40000000 fraction of T3 = 1 073 741 824 ns ≥ 10^9.
    { name: 'PTP nanoseconds out of range', kind: 'reflector', bytes: set(reflectorHex, 12, 0x40), want: 'bad-timestamp' },
  ];
  for (const c of cases) {
    const d = c.kind === 'sender' ? decodeSenderPacket(c.bytes, { mbz: c.mbz }) : decodeReflectorPacket(c.bytes, { mbz: c.mbz });
    const got = d.ok ? 'ok' : d.reason;
    t.equal(got, c.want, `${c.name}: got ${got}${d.ok ? '' : ` (${d.detail})`}; want ${c.want}`);
  }
});

t.test('NTP timestamps convert both ways, across the 2036 era wrap', async (t) => {
  const cases: Array<{ name: string; ms: number; seconds: number; fraction: number }> = [
    { name: 'unix epoch', ms: 0, seconds: 0x83aa7e80, fraction: 0 },
    { name: '2026-01-01 + 0.5 s', ms: Date.UTC(2026, 0, 1) + 500, seconds: 0xed003780, fraction: 0x80000000 },
    { name: 'quarter second', ms: Date.UTC(2026, 0, 1) + 250, seconds: 0xed003780, fraction: 0x40000000 },
    { name: 'era 1 starts 2036-02-07T06:28:16Z', ms: Date.UTC(2036, 1, 7, 6, 28, 16), seconds: 0, fraction: 0 },
    { name: 'one second into era 1', ms: Date.UTC(2036, 1, 7, 6, 28, 17), seconds: 1, fraction: 0 },
  ];
  for (const c of cases) {
    const ts = msToNtp(c.ms);
    t.same(ts, { seconds: c.seconds, fraction: c.fraction }, `${c.name}: got ${JSON.stringify(ts)}; want ${c.seconds}/${c.fraction}`);
    const back = ntpToMs(ts);
    t.equal(back, c.ms, `${c.name}: got ${back} ms back; want ${c.ms}`);
  }
  const fine = Date.UTC(2026, 0, 1) + 123.456789;
  const err = Math.abs(ntpToMs(msToNtp(fine)) - fine);
  t.ok(err < 1e-3, `got round-trip error ${err} ms for fractional ms; want < 1 µs`);
  const carry = msToNtp(999.99999999999);
  t.ok(carry.fraction < 2 ** 32, `got fraction ${carry.fraction}; want < 2^32 (carry into seconds)`);
});

t.test('timestamp differences are signed and survive the era wrap', async (t) => {
  const cases: Array<{ name: string; a: [number, number]; b: [number, number]; ptp?: boolean; want: number }> = [
    { name: 'a after b', a: [10, 0x80000000], b: [10, 0], want: 500 },
    { name: 'a before b', a: [10, 0], b: [10, 0x80000000], want: -500 },
    { name: 'across 2036 wrap', a: [0, 0], b: [0xffffffff, 0x80000000], want: 500 },
    { name: 'PTP', a: [5, 250_000_000], b: [4, 750_000_000], ptp: true, want: 500 },
  ];
  for (const c of cases) {
    const got = timestampDiffMs({ seconds: c.a[0], fraction: c.a[1] }, { seconds: c.b[0], fraction: c.b[1] }, c.ptp);
    t.equal(got, c.want, `${c.name}: got ${got} ms; want ${c.want}`);
  }
  const ptp = msToTimestamp(1500.25, true);
  t.same(ptp, { seconds: 1, fraction: 500_250_000 }, `got PTP ${JSON.stringify(ptp)}; want 1 s 500250000 ns`);
  t.equal(timestampToMs(ptp, true), 1500.25, `got ${timestampToMs(ptp, true)}; want 1500.25`);
});

t.test('error estimate packs S, Z, scale and multiplier', async (t) => {
  const cases = [
    { e: { synchronized: true, ptp: false, scale: 10, multiplier: 1 }, word: 0x8a01 },
    { e: { synchronized: false, ptp: true, scale: 63, multiplier: 255 }, word: 0x7fff },
    { e: { synchronized: false, ptp: false, scale: 0, multiplier: 1 }, word: 0x0001 },
  ];
  for (const c of cases) {
    const w = encodeErrorEstimate(c.e);
    t.equal(w, c.word, `got 0x${w.toString(16)}; want 0x${c.word.toString(16)}`);
    t.same(decodeErrorEstimate(c.word), c.e);
  }
  const s = errorEstimateSeconds({ synchronized: false, ptp: false, scale: 32, multiplier: 3 });
  t.equal(s, 3, `got ${s} s; want 3 (3 × 2^0)`);
});

t.test('encoding out-of-range fields throws TERN_E_PROBE_ARG', async (t) => {
  const cases: Array<{ name: string; fn: () => unknown }> = [
    { name: 'seq negative', fn: () => encodeSenderPacket({ ...senderWant, seq: -1 }) },
    { name: 'seq 2^32', fn: () => encodeSenderPacket({ ...senderWant, seq: 2 ** 32 }) },
    { name: 'length 43', fn: () => encodeSenderPacket(senderWant, 43) },
    { name: 'multiplier 0', fn: () => encodeSenderPacket({ ...senderWant, errorEstimate: { ...senderWant.errorEstimate, multiplier: 0 } }) },
    { name: 'scale 64', fn: () => encodeSenderPacket({ ...senderWant, errorEstimate: { ...senderWant.errorEstimate, scale: 64 } }) },
    { name: 'ttl 256', fn: () => encodeReflectorPacket({ ...reflectorWant, senderTtl: 256 }) },
    { name: 'fraction 1.5', fn: () => encodeSenderPacket({ ...senderWant, timestamp: { seconds: 1, fraction: 1.5 } }) },
    { name: 'ms NaN', fn: () => msToNtp(Number.NaN) },
  ];
  for (const c of cases) {
    let err: unknown;
    try { c.fn(); } catch (e) { err = e; }
    t.ok(isTernError(err, 'TERN_E_PROBE_ARG'), `${c.name}: got ${String(err)}; want TernError TERN_E_PROBE_ARG`);
  }
});
