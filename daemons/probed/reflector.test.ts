import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { isTernError } from '../lib/errors.js';
import { Reflector, type ReflectResult } from './reflector.js';
import {
  TERN_ERROR_ESTIMATE, decodeReflectorPacket, encodeReflectorPacket, encodeSenderPacket, msToNtp, timestampDiffMs,
  type ReflectorPacket,
} from './stamp.js';

const T0 = Date.UTC(2026, 0, 1);
const peer = { address: '100.64.0.2', port: 40000 };
const stranger = { address: '203.0.113.9', port: 40001 };

const request = (seq: number, length = 44): Uint8Array =>
  encodeSenderPacket({ seq, timestamp: msToNtp(T0 + seq), errorEstimate: { synchronized: true, ptp: false, scale: 10, multiplier: 1 } }, length);

const reply = (r: ReflectResult): ReflectorPacket => {
  if (!r.ok) throw new Error(`got drop ${r.reason} (${r.detail}); want a reply`);
  const d = decodeReflectorPacket(r.reply);
  if (!d.ok) throw new Error(`got undecodable reply ${d.reason}`);
  return d.packet;
};

const known = (a: string): boolean => a === peer.address;

t.test('a reply carries T2, T3, the copied sender fields and the TTL', async (t) => {
  const clock = new FakeClock({ now: T0 + 1000, monotonic: 0 });
  const r = new Reflector({ clock, isKnownPeer: known });
  const req = request(42);
  const got = reply(r.reflect({ bytes: req, from: peer, rxTimeMs: T0 + 999.5, ttl: 63 }));
  t.equal(got.seq, 0, `got reflector seq ${got.seq}; want 0 (first packet of the session)`);
  t.equal(got.senderSeq, 42, `got sender seq ${got.senderSeq}; want 42`);
  t.same(got.senderTimestamp, msToNtp(T0 + 42), 'got a different sender timestamp; want it copied');
  t.same(got.senderErrorEstimate, { synchronized: true, ptp: false, scale: 10, multiplier: 1 });
  t.same(got.errorEstimate, TERN_ERROR_ESTIMATE);
  t.equal(got.senderTtl, 63, `got TTL ${got.senderTtl}; want 63`);
  const processing = timestampDiffMs(got.timestamp, got.receiveTimestamp);
  t.ok(Math.abs(processing - 0.5) < 1e-6, `got T3-T2 ${processing} ms; want 0.5`);
  const noTtl = reply(r.reflect({ bytes: req, from: peer, rxTimeMs: T0 + 1000 }));
  t.equal(noTtl.senderTtl, 0, `got TTL ${noTtl.senderTtl} without one; want 0 (unknown)`);
});

t.test('the reply is as long as the request, never longer, and zero past 44 octets', async (t) => {
  const clock = new FakeClock({ now: T0 });
  const r = new Reflector({ clock, isKnownPeer: known });
  for (const len of [44, 45, 64, 100, 1400]) {
    const req = request(1, len);
    req.fill(0x5a, 44);
    const res = r.reflect({ bytes: req, from: peer, rxTimeMs: T0 });
    t.ok(res.ok && res.reply.length === len, `length ${len}: got ${res.ok ? res.reply.length : res.reason}; want a ${len}-octet reply`);
    if (res.ok) t.ok(res.reply.subarray(44).every((b) => b === 0), `length ${len}: got echoed padding; want zeros`);
  }
  const big = r.reflect({ bytes: request(1, 9217), from: peer, rxTimeMs: T0 });
  t.same(big.ok ? 'ok' : big.reason, 'malformed', 'a request above maxPacketBytes must not be answered');
});

t.test('stateful mode: one counter per sender address and port, reset after idle or eviction', async (t) => {
  const clock = new FakeClock({ now: T0, monotonic: 0 });
  const r = new Reflector({ clock, isKnownPeer: () => true, sessionIdleMs: 60_000, maxSessions: 2 });
  const seqOf = (from: { address: string; port: number }): number => reply(r.reflect({ bytes: request(7), from, rxTimeMs: clock.now() })).seq;
  const a = { address: '100.64.0.2', port: 1000 };
  const b = { address: '100.64.0.2', port: 1001 };
  const c = { address: '100.64.0.3', port: 1000 };
  const steps: Array<{ name: string; from: typeof a; advance?: number; want: number }> = [
    { name: 'a first', from: a, want: 0 },
    { name: 'a second', from: a, want: 1 },
    { name: 'b (same address, other port) first', from: b, want: 0 },
    { name: 'a third', from: a, want: 2 },
    { name: 'a after 59 s idle keeps counting', from: a, advance: 59_000, want: 3 },
    { name: 'a after 61 s idle starts again', from: a, advance: 61_000, want: 0 },
    { name: 'c evicts the least recently used (b)', from: c, want: 0 },
    { name: 'b again starts again', from: b, want: 0 },
    { name: 'a was evicted by b', from: a, want: 0 },
  ];
  for (const s of steps) {
    if (s.advance) clock.advance(s.advance);
    const got = seqOf(s.from);
    t.equal(got, s.want, `${s.name}: got seq ${got}; want ${s.want}`);
  }
  t.ok(r.tableSizes().sessions <= 2, `got ${r.tableSizes().sessions} sessions; want at most 2`);
});

t.test('one sender socket arriving on two local addresses keeps two counters', async (t) => {
  const clock = new FakeClock({ now: T0 });
  const r = new Reflector({ clock, isKnownPeer: () => true });
  const seqs = ['192.0.2.10', '192.0.2.10', '198.51.100.10', '192.0.2.10'].map((local) =>
    reply(r.reflect({ bytes: request(1), from: peer, local, rxTimeMs: T0 })).seq);
  t.same(seqs, [0, 1, 0, 2], `got ${JSON.stringify(seqs)}; want [0, 1, 0, 2]`);
});

t.test('unknown senders are rate-limited per address; known peers are not', async (t) => {
  const clock = new FakeClock({ now: T0, monotonic: 0 });
  const r = new Reflector({ clock, isKnownPeer: known, unknownRatePerSec: 5, unknownBurst: 10 });
  const burst = (from: typeof peer, n: number): number => {
    let ok = 0;
    for (let i = 0; i < n; i++) if (r.reflect({ bytes: request(i), from, rxTimeMs: clock.now() }).ok) ok++;
    return ok;
  };
  const cases: Array<{ name: string; from: typeof peer; advance: number; n: number; want: number }> = [
    { name: 'stranger burst', from: stranger, advance: 0, n: 20, want: 10 },
    { name: 'stranger after 1 s', from: stranger, advance: 1000, n: 20, want: 5 },
    { name: 'known peer at full rate', from: peer, advance: 0, n: 1000, want: 1000 },
    { name: 'another stranger has its own bucket', from: { address: '198.51.100.1', port: 5000 }, advance: 0, n: 3, want: 3 },
  ];
  for (const c of cases) {
    clock.advance(c.advance);
    const got = burst(c.from, c.n);
    t.equal(got, c.want, `${c.name}: got ${got} replies; want ${c.want}`);
  }
  const k = r.counters();
  t.equal(k.rateLimited, 25, `got rateLimited ${k.rateLimited}; want 25`);
});

t.test('rate-limited packets do not advance the sender counter (they look like forward loss)', async (t) => {
  const clock = new FakeClock({ now: T0, monotonic: 0 });
  const r = new Reflector({ clock, unknownRatePerSec: 1, unknownBurst: 1 });
  const seqs: Array<number | string> = [];
  for (let i = 0; i < 3; i++) {
    const res = r.reflect({ bytes: request(i), from: stranger, rxTimeMs: clock.now() });
    seqs.push(res.ok ? reply(res).seq : res.reason);
    clock.advance(500);
  }
  t.same(seqs, [0, 'rate-limited', 1], `got ${JSON.stringify(seqs)}; want [0, rate-limited, 1]`);
});

t.test('spoofed source addresses cannot multiply the budget: total cap and bounded tables', async (t) => {
  const clock = new FakeClock({ now: T0, monotonic: 0 });
  const r = new Reflector({ clock, unknownRatePerSec: 5, unknownBurst: 10, unknownTotalRatePerSec: 50, unknownTotalBurst: 100, maxUnknownSources: 64 });
  let ok = 0;
  for (let i = 0; i < 1000; i++) {
    const from = { address: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 4000 };
    if (r.reflect({ bytes: request(i), from, rxTimeMs: clock.now() }).ok) ok++;
  }
  t.equal(ok, 100, `got ${ok} replies to 1000 spoofed sources; want 100 (total burst)`);
  const sizes = r.tableSizes();
  t.ok(sizes.buckets <= 64, `got ${sizes.buckets} buckets; want at most 64`);
});

t.test('foreign and malformed packets are counted and dropped, never answered', async (t) => {
  const clock = new FakeClock({ now: T0 });
  const r = new Reflector({ clock, isKnownPeer: () => true });
  const aReply = encodeReflectorPacket({
    seq: 1, timestamp: msToNtp(T0), errorEstimate: TERN_ERROR_ESTIMATE, receiveTimestamp: msToNtp(T0), senderSeq: 9,
    senderTimestamp: msToNtp(T0 - 5), senderErrorEstimate: TERN_ERROR_ESTIMATE, senderTtl: 64,
  });
  const mbz = request(1);
  mbz[30] = 1;
  const zeroMult = request(1);
  zeroMult[13] = 0;
  const cases: Array<{ name: string; bytes: Uint8Array; from: { address: string; port: number }; want: string }> = [
    { name: 'from the STAMP port (another reflector)', bytes: request(1), from: { address: '100.64.0.2', port: 862 }, want: 'foreign' },
    { name: 'from port 0', bytes: request(1), from: { address: '100.64.0.2', port: 0 }, want: 'foreign' },
    { name: 'bad source address', bytes: request(1), from: { address: 'not-an-ip', port: 4000 }, want: 'foreign' },
    { name: 'a reflected reply', bytes: aReply, from: peer, want: 'foreign' },
    { name: 'too short', bytes: request(1).subarray(0, 43), from: peer, want: 'malformed' },
    { name: 'MBZ set', bytes: mbz, from: peer, want: 'malformed' },
    { name: 'multiplier 0', bytes: zeroMult, from: peer, want: 'malformed' },
    { name: 'IPv6 peer is fine', bytes: request(1), from: { address: 'fd00::2', port: 4000 }, want: 'ok' },
  ];
  for (const c of cases) {
    const res = r.reflect({ bytes: c.bytes, from: c.from, rxTimeMs: T0 });
    const got = res.ok ? 'ok' : res.reason;
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
  }
  const k = r.counters();
  t.same(k, { received: 8, replied: 1, malformed: 3, rateLimited: 0, foreign: 4 }, `got ${JSON.stringify(k)}`);
});

t.test('bad options throw TERN_E_PROBE_ARG', async (t) => {
  const cases: Array<Record<string, unknown>> = [
    { unknownRatePerSec: 0 }, { unknownBurst: 0.5 }, { maxSessions: 0 }, { port: 70000 }, { maxPacketBytes: 20 },
    { errorEstimate: { synchronized: false, ptp: false, scale: 0, multiplier: 0 } },
  ];
  for (const c of cases) {
    let err: unknown;
    try { new Reflector(c); } catch (e) { err = e; }
    t.ok(isTernError(err, 'TERN_E_PROBE_ARG'), `${JSON.stringify(c)}: got ${String(err)}; want TERN_E_PROBE_ARG`);
  }
});
