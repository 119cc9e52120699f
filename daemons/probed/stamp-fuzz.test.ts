// Fuzz: random and mutated buffers through every decoder, the reflector and
// the session. Deterministic (seeded), so a failure names the seed and
// iteration that reproduce it.
import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { Reflector } from './reflector.js';
import { Session } from './session.js';
import {
  STAMP_PACKET_BYTES, decodeReflectorPacket, decodeSenderPacket, encodeReflectorPacket, encodeSenderPacket, msToNtp,
  type StampRejection,
} from './stamp.js';

const SEED = Number(process.env.TERN_FUZZ_SEED ?? 0x5eed_c0de);
const ITERATIONS = Number(process.env.TERN_FUZZ_ITERATIONS ?? 100_000);

/** mulberry32: small, fast and good enough to drive a fuzzer. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const REJECTIONS = new Set<StampRejection>(['too-short', 'too-long', 'mbz-nonzero', 'bad-error-estimate', 'bad-timestamp']);
const DROPS = new Set(['malformed', 'rate-limited', 'foreign']);
const RECEIVE = new Set(['answered', 'late', 'duplicate', 'malformed', 'stale', 'foreign']);

t.test(`${ITERATIONS} random and mutated buffers: no throw, only defined outcomes (seed ${SEED})`, async (t) => {
  const rnd = prng(SEED);
  const int = (n: number): number => Math.floor(rnd() * n);
  const clock = new FakeClock({ now: Date.UTC(2026, 0, 1), monotonic: 0 });
  const reflector = new Reflector({ clock, isKnownPeer: () => true });
  const session = new Session({ ratePerSec: 50, clock, send: () => undefined });
  session.start();
  const seeds = [
    encodeSenderPacket({ seq: 1, timestamp: msToNtp(clock.now()), errorEstimate: { synchronized: false, ptp: false, scale: 0, multiplier: 1 } }),
    encodeReflectorPacket({
      seq: 0, timestamp: msToNtp(clock.now()), errorEstimate: { synchronized: true, ptp: false, scale: 3, multiplier: 9 },
      receiveTimestamp: msToNtp(clock.now()), senderSeq: 0, senderTimestamp: msToNtp(clock.now()),
      senderErrorEstimate: { synchronized: false, ptp: false, scale: 0, multiplier: 1 }, senderTtl: 64,
    }),
  ];
  const failures: string[] = [];
  const fail = (i: number, what: string, bytes: Uint8Array): void => {
    if (failures.length < 5) failures.push(`iteration ${i} (seed ${SEED}): ${what}; bytes ${Buffer.from(bytes.subarray(0, 64)).toString('hex')}`);
  };
  const counts = { ok: 0, rejected: 0, replied: 0 };
  for (let i = 0; i < ITERATIONS; i++) {
    let bytes: Uint8Array;
    const mode = int(4);
    if (mode === 0) {
      bytes = new Uint8Array(int(120));
      for (let k = 0; k < bytes.length; k++) bytes[k] = int(256);
    } else {
      // A valid packet with a few mutations: bit flips, truncation, extension.
      const base = seeds[int(seeds.length)]!;
      bytes = Uint8Array.from(base);
      const flips = 1 + int(4);
      for (let k = 0; k < flips; k++) bytes[int(bytes.length)]! ^= 1 << int(8);
      if (mode === 2) bytes = bytes.subarray(0, int(STAMP_PACKET_BYTES + 1));
      if (mode === 3) {
        const longer = new Uint8Array(bytes.length + int(64));
        longer.set(bytes);
        for (let k = bytes.length; k < longer.length; k++) longer[k] = int(256);
        bytes = longer;
      }
    }
    try {
      for (const d of [decodeSenderPacket(bytes), decodeSenderPacket(bytes, { mbz: 'ignore' }), decodeReflectorPacket(bytes), decodeReflectorPacket(bytes, { mbz: 'ignore' })]) {
        if (d.ok) {
          counts.ok++;
          if (d.length !== bytes.length) fail(i, `decoded length ${d.length}; want ${bytes.length}`, bytes);
        } else {
          counts.rejected++;
          if (!REJECTIONS.has(d.reason)) fail(i, `undefined rejection ${String(d.reason)}`, bytes);
          if (typeof d.detail !== 'string' || !d.detail) fail(i, 'rejection without detail', bytes);
        }
      }
      const s = decodeSenderPacket(bytes);
      if (s.ok) {
        // What decodes must encode back to the same 44 octets (MBZ all zero in strict mode).
        const again = encodeSenderPacket(s.packet);
        if (Buffer.compare(Buffer.from(again), Buffer.from(bytes.subarray(0, STAMP_PACKET_BYTES))) !== 0) fail(i, 'sender round trip differs', bytes);
      }
      const r = reflector.reflect({ bytes, from: { address: '100.64.0.2', port: 1024 + int(60000) }, rxTimeMs: clock.now(), ttl: int(300) - 20 });
      if (r.ok) {
        counts.replied++;
        if (r.reply.length > bytes.length) fail(i, `reply ${r.reply.length} octets for a ${bytes.length}-octet request (amplification)`, bytes);
        if (!decodeReflectorPacket(r.reply).ok) fail(i, 'reflector produced an undecodable reply', bytes);
      } else if (!DROPS.has(r.reason)) {
        fail(i, `undefined drop ${String(r.reason)}`, bytes);
      }
      const o = session.receive(bytes);
      if (!RECEIVE.has(o)) fail(i, `undefined receive outcome ${String(o)}`, bytes);
    } catch (err) {
      fail(i, `threw ${String(err)}`, bytes);
    }
    if (i % 1000 === 0) clock.advance(20);
  }
  session.stop();
  t.same(failures, [], `got ${failures.length} failures; want none:\n${failures.join('\n')}`);
  t.ok(counts.ok > 0 && counts.rejected > 0 && counts.replied > 0, `got ${JSON.stringify(counts)}; want every outcome exercised`);
  const k = reflector.counters();
  t.equal(k.received, k.replied + k.malformed + k.rateLimited + k.foreign, `reflector counters do not add up: ${JSON.stringify(k)}`);
});
