// The Rust selector through N-API: raw packets read as the fast path reads
// them, handles that refuse to be anything else, the hash pinned to the
// TypeScript copy, and selectors freed by the garbage collector.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { loadNative } from '../lib/native/index.js';
import { NativeSelector } from './native.js';
import { mixHash } from './reference.fixture.js';
import { decodeFlow, encodeFlow, makeFlow } from './wire.js';
import { Rng } from './workload.fixture.js';

const native = loadNative();

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// IPv4 TCP 10.0.0.1:5060 -> 192.0.2.7:443, DSCP 46 (TOS 0xb8), 28 bytes.
const v4tcp = '45b8001c 00010000 4006 0000 0a000001 c0000207 13c401bb 00000000';
// IPv6 UDP 2001:db8::1 -> 2001:db8::2 port 53 behind hop-by-hop (8) and routing (8) headers.
const v6chain = '60000000 00180040 20010db8000000000000000000000001 20010db8000000000000000000000002'
  + '2b000000 00000000' + '11000000 00000000' + 'd4310035 00000000';

t.test('debugParsePacket reads flows and names what it cannot read', async (t) => {
  const cases: Array<{ name: string; packet: Buffer; want: Record<string, unknown> }> = [
    {
      name: 'IPv4 TCP',
      packet: hex(v4tcp),
      want: { ok: true, family: 4, protocol: 6, src: '10.0.0.1', dst: '192.0.2.7', srcPort: 5060, dstPort: 443, hasPorts: true, dscp: 46, fragment: false, bytes: 28 },
    },
    {
      name: 'IPv6 UDP behind two extension headers',
      packet: hex(v6chain),
      want: { ok: true, family: 6, protocol: 17, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 54321, dstPort: 53, hasPorts: true, dscp: 0, fragment: false, bytes: 64 },
    },
    {
      name: 'IPv4 later fragment: no ports',
      packet: hex(v4tcp.replace('00010000 4006', '00010010 4006')),
      want: { ok: true, protocol: 6, srcPort: 0, dstPort: 0, hasPorts: false, fragment: true },
    },
    { name: 'empty', packet: Buffer.alloc(0), want: { ok: false, reason: 'truncated' } },
    { name: 'version 5', packet: hex(v4tcp.replace(/^45/, '55')), want: { ok: false, reason: 'badVersion' } },
    { name: 'IHL 4', packet: hex(v4tcp.replace(/^45/, '44')), want: { ok: false, reason: 'badHeader' } },
    { name: 'total length past the buffer', packet: hex(v4tcp.replace('001c', '0100')), want: { ok: false, reason: 'truncated' } },
    { name: 'IPv6 cut inside the chain', packet: hex(v6chain).subarray(0, 50), want: { ok: false, reason: 'truncated' } },
  ];
  for (const c of cases) {
    const got = native.debugParsePacket(c.packet);
    const shown = { ...got, flow: undefined };
    t.match(got, c.want, `${c.name}: got ${JSON.stringify(shown)}; want ${JSON.stringify(c.want)}`);
  }
  const parsed = native.debugParsePacket(hex(v4tcp));
  if (parsed.ok) {
    const want = encodeFlow(makeFlow({ src: '10.0.0.1', dst: '192.0.2.7', protocol: 6, srcPort: 5060, dstPort: 443, dscp: 46, bytes: 28 }));
    t.same([...parsed.flow], [...want], 'the flow record of a parsed packet is what wire.ts encodes');
  }
});

t.test('selectorDecidePacket: the domain hint picks the hinted class; a bad hint is refused', async (t) => {
  const s = new NativeSelector({
    classes: [
      { name: 'saas', domainHint: 5, match: {}, sla: {}, mode: 'best', preferWans: ['isp-b'], hysteresisPct: 20, holdMs: 0 },
      { name: 'web', match: { ports: [[443, 443]] }, sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 },
    ],
    default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 },
    flows: { max: 100, idleTimeoutMs: 60_000 },
  });
  s.setPaths([
    { id: 1, wan: 'isp-a', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 10, jitterMs: 1, mos: 4.4 },
    { id: 2, wan: 'isp-b', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 30, jitterMs: 1, mos: 4.4 },
  ]);
  const packet = (srcLast: number): Buffer => {
    const p = hex(v4tcp);
    p[15] = srcLast;
    return p;
  };
  const cases = [
    { hint: undefined, want: { pathId: 1, class: 'web' } },
    { hint: 5, want: { pathId: 2, class: 'saas' } },
    { hint: 6, want: { pathId: 1, class: 'web' } },
  ];
  cases.forEach((c, i) => {
    const d = c.hint === undefined ? s.decidePacket(packet(i + 1), 0) : s.decidePacket(packet(i + 1), 0, c.hint);
    t.match(d, c.want, `hint ${String(c.hint)}: got ${JSON.stringify(d)}; want ${JSON.stringify(c.want)}`);
  });
  for (const bad of [-1, 256, 1.5]) {
    t.throws(() => native.selectorDecidePacket(s.handle, packet(9), 0, bad), /argument domainHint: expected an integer 0-255/, `hint ${bad} refused`);
  }
});

t.test('selectorDecidePacket: unreadable packets use the default path and are counted', async (t) => {
  const s = new NativeSelector({
    classes: [{ name: 'web', match: { ports: [[443, 443]] }, sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }],
    default: { sla: {}, mode: 'best', preferWans: ['isp-b'], hysteresisPct: 20, holdMs: 0 },
    flows: { max: 100, idleTimeoutMs: 60_000 },
  });
  s.setPaths([
    { id: 1, wan: 'isp-a', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 10, jitterMs: 1, mos: 4.4 },
    { id: 2, wan: 'isp-b', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 30, jitterMs: 1, mos: 4.4 },
  ]);
  const good = s.decidePacket(hex(v4tcp), 0);
  t.same(good, { pathId: 1, class: 'web', moved: false, parseError: null }, `readable packet: got ${JSON.stringify(good)}`);

  // A seeded fuzz through the N-API path: every answer well-formed, every
  // unreadable packet counted once, none entering the flow table.
  const rng = new Rng(4242);
  const ROUNDS = 100_000;
  let failures = 0;
  const base = [hex(v4tcp), hex(v6chain)];
  for (let i = 0; i < ROUNDS; i++) {
    const p = Buffer.from(rng.pick(base));
    for (let n = rng.int(4); n > 0; n--) p[rng.int(p.length)] = rng.int(256);
    const packet = rng.chance(0.2) ? p.subarray(0, rng.int(p.length)) : p;
    const d = s.decidePacket(packet, i);
    if (d.parseError !== null) {
      failures++;
      if (d.class !== 'default' || d.pathId !== 2 || d.moved) {
        t.fail(`round ${i}: unreadable packet ${packet.toString('hex')}: got ${JSON.stringify(d)}; want the default class on path 2`);
        return;
      }
    }
  }
  const st = s.stats();
  const counted = Object.values(st.parseErrors).reduce((a, b) => a + b, 0);
  t.equal(counted, failures, `parse errors counted: got ${counted}; want ${failures}`);
  t.ok(failures > 1000 && failures < ROUNDS, `unreadable packets: got ${failures} of ${ROUNDS}; want some of both kinds`);
  t.equal(st.decisions, ROUNDS + 1 - failures, `decisions: got ${st.decisions}; want only the readable packets`);
});

t.test('debugHash is the TypeScript mixHash', async (t) => {
  const rng = new Rng(7);
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256)));
    const got = native.debugHash(bytes);
    const want = mixHash(bytes);
    if (got !== want) {
      t.fail(`hash of ${bytes.toString('hex')}: native ${got}; TypeScript ${want}`);
      return;
    }
  }
  t.pass('2000 random inputs hash alike');
});

t.test('selector arguments are checked', async (t) => {
  const policy = JSON.stringify({ classes: [], default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }, flows: { max: 10, idleTimeoutMs: 60000 } });
  const s = native.selectorCreate(policy);
  // Untyped on purpose: these calls are what index.d.ts forbids.
  const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
  const record = encodeFlow(makeFlow({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1 }));
  const cases: Array<{ fn: string; args: unknown[]; want: string }> = [
    { fn: 'selectorDecide', args: [{}, record, 0], want: 'native: selectorDecide: argument selector: expected a selector from selectorCreate; got object' },
    { fn: 'selectorStats', args: [undefined], want: 'native: selectorStats: argument selector: expected a selector from selectorCreate; got undefined' },
    { fn: 'selectorDecide', args: [s, 'flow', 0], want: 'native: selectorDecide: argument flow: expected a Buffer; got string' },
    { fn: 'selectorDecide', args: [s, record.subarray(0, 40), 0], want: 'native: selectorDecide: flow: expected 48 bytes; got 40' },
    { fn: 'selectorDecide', args: [s, record, Number.NaN], want: 'native: selectorDecide: argument nowMs: expected a finite number >= 0; got NaN' },
    { fn: 'selectorExpire', args: [s, '5'], want: 'native: selectorExpire: argument nowMs: expected a number; got string' },
    { fn: 'selectorSetPaths', args: [s, '[{"id":1}]'], want: 'native: selectorSetPaths: paths[0].wan: missing; expected a name of 1-31 characters a-z, 0-9 and \'-\', starting with a letter' },
    { fn: 'selectorCreate', args: ['{"classes":[]'], want: 'native: selectorCreate: policy: not valid JSON: expected \',\' or \'}\' at byte 13' },
  ];
  for (const c of cases) {
    try {
      n[c.fn]!(...c.args);
      t.fail(`${c.fn}: got a return; want TERN_E_NATIVE_ARG ${c.want}`);
    } catch (err) {
      const e = err as Error & { code?: unknown };
      t.equal(e.code, 'TERN_E_NATIVE_ARG', `${c.fn} code: got ${String(e.code)}; want TERN_E_NATIVE_ARG`);
      t.equal(e.message, c.want, `${c.fn} message: got ${e.message}; want ${c.want}`);
    }
  }
  const ok = native.selectorDecide(s, Buffer.from(record), 1);
  t.same(ok, { pathId: 0, class: 'default', moved: false }, `after the refusals: got ${JSON.stringify(ok)}; want a decision with no path`);
  t.same(decodeFlow(record).protocol, 1, 'record decodes');
});

t.test('selectors are freed by the garbage collector without harm', async (t) => {
  const loader = new URL('../lib/native/index.js', import.meta.url).href;
  const script = `import { loadNative } from ${JSON.stringify(loader)};
const n = loadNative();
const policy = JSON.stringify({ classes: [], default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }, flows: { max: 1000, idleTimeoutMs: 60000 } });
const flows = Buffer.alloc(48 * 100);
for (let i = 0; i < 100; i++) { flows[i * 48] = 4; flows[i * 48 + 1] = 1; flows[i * 48 + 6] = i; }
for (let round = 0; round < 2000; round++) {
  const s = n.selectorCreate(policy);
  n.selectorDecideBatch(s, flows, round);
  if (round % 200 === 0) globalThis.gc();
}
globalThis.gc();
console.log('done');`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(r.status, 0, `child exit: got ${r.status} (signal ${r.signal}, stderr ${r.stderr}); want 0`);
  t.equal(r.stdout.trim(), 'done', `child output: got ${JSON.stringify(r.stdout)}; want done`);
});
