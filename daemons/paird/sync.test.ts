import t from 'tap';
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { FakeClock } from '../lib/clock/index.js';
import { createLogger } from '../lib/log/index.js';
import { PairSync, refusalLogBudget, type PeerFacts, type SyncFacts, type SyncSocketFactory } from './sync.js';
import { decodeSync, deriveSyncKey, encodeSync, type SyncBody, type SyncHeader, type SyncKey } from './syncwire.js';

const key = deriveSyncKey(Buffer.alloc(32, 7), 'office', 1);
const lan = { office1: '10.1.0.2', office2: '10.1.0.3', host: '10.1.0.10' } as const;
const facts = (box: 'office1' | 'office2', over: Partial<SyncFacts> = {}): SyncFacts => ({
  site: 'office', box, vrid: 1, role: box === 'office1' ? 'master' : 'backup', priority: box === 'office1' ? 150 : 100,
  lanAddress: lan[box], wans: [{ name: box === 'office1' ? 'ispa' : 'ispb', up: true }], intervalMs: 100, ...over,
});
const body = (box: 'office1' | 'office2', over: Partial<SyncBody> = {}): SyncBody => {
  const { vrid: _vrid, ...b } = facts(box);
  return { ...b, ...over };
};

interface Datagram { from: string; to: string; bytes: Buffer }

/**
 * A LAN for PairSyncs: datagrams queue and are delivered by flush(), in
 * order (a send from inside a receive goes to the back), each one recorded
 * so a test can replay what it "captured".
 */
class Lan {
  readonly queue: Datagram[] = [];
  readonly seen: Datagram[] = [];
  private readonly hosts = new Map<string, (b: Buffer, from: string) => void>();
  socket(address: string): SyncSocketFactory {
    return async (_bind, _port, onMessage) => {
      this.hosts.set(address, onMessage);
      return {
        send: (bytes, to) => { this.queue.push({ from: address, to, bytes }); },
        close: () => { this.hosts.delete(address); },
      };
    };
  }

  /** Delivers until nothing is queued; returns how many datagrams went. */
  flush(): number {
    let n = 0;
    for (let d = this.queue.shift(); d; d = this.queue.shift()) {
      this.seen.push(d);
      n++;
      this.hosts.get(d.to)?.(d.bytes, d.from);
    }
    return n;
  }

  /** Lets ms pass 10 ms at a time, delivering as it goes (as a LAN would). */
  run(clock: FakeClock, ms: number): void {
    for (let left = ms; left > 0; left -= 10) {
      clock.advance(Math.min(10, left));
      this.flush();
    }
  }

  /** A datagram from anyone (a spoofer may put any source on it). */
  inject(to: string, from: string, bytes: Buffer): void {
    this.queue.push({ from, to, bytes });
    this.flush();
  }
}

/** A log that keeps its lines. */
function memoryLog(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  return { logger: createLogger({ name: 'paird', level: 'debug', destination: stream }), lines };
}

interface BoxOptions { clock: FakeClock; net: Lan; peers?: string[]; onPeer?: (p: PeerFacts | undefined) => void; logger?: ReturnType<typeof createLogger>; k?: SyncKey }
async function box(name: 'office1' | 'office2', o: BoxOptions): Promise<PairSync> {
  const s = new PairSync({
    facts: facts(name), key: o.k ?? key, lan: `${lan[name]}/24`, peers: o.peers ?? [], socket: o.net.socket(lan[name]), clock: o.clock,
    ...(o.onPeer ? { onPeer: o.onPeer } : {}), ...(o.logger ? { logger: o.logger } : {}),
  });
  await s.start();
  return s;
}

/** office1 (master) and office2 (backup, which learns office1 from its adverts), shaken hands. */
async function pair(opts: { peers?: boolean } = {}): Promise<{ clock: FakeClock; net: Lan; m: PairSync; b: PairSync; mPeers: string[] }> {
  const clock = new FakeClock();
  const net = new Lan();
  const mPeers: string[] = [];
  const m = await box('office1', { clock, net, ...(opts.peers ? { peers: [lan.office2] } : {}), onPeer: (p) => mPeers.push(p ? `${p.box} ${p.role} ${p.alive ? 'alive' : 'silent'} via ${p.via}` : 'none') });
  const b = await box('office2', { clock, net, ...(opts.peers ? { peers: [lan.office1] } : {}) });
  b.learn(lan.office1);
  net.flush();
  return { clock, net, m, b, mPeers };
}

const who = (s: PairSync): string | null => (s.peer() ? `${s.peer()!.box} from ${s.peer()!.from} via ${s.peer()!.via} ${s.peer()!.alive ? 'alive' : 'silent'}` : null);
const refusedTotal = (s: PairSync): number => Object.values(s.counters.refused).reduce((a, b) => a + b, 0);

t.test('two boxes: one round trip, then each takes the other; routes via the source', async (t) => {
  const clock = new FakeClock();
  const net = new Lan();
  const m = await box('office1', { clock, net });
  const b = await box('office2', { clock, net });
  t.same(net.queue, [], 'no peer known: nothing sent');
  b.learn(lan.office1);
  const n = net.flush();
  t.equal(who(m), 'office2 from 10.1.0.3 via 10.1.0.3 alive', 'the master takes the backup');
  t.equal(who(b), 'office1 from 10.1.0.2 via 10.1.0.2 alive', 'the backup takes the master');
  t.ok(n <= 4, `datagrams to shake hands: got ${n}; want at most 4 (hello, answer, two confirmations)`);
  t.equal(clock.pending(), 4, 'no time passed: each box has its send interval and its silence timer');
  for (const [name, s] of [['master', m], ['backup', b]] as const) {
    t.equal(s.counters.sessions, 1, `${name}: sessions got ${s.counters.sessions}; want 1`);
    t.equal(refusedTotal(s), 0, `${name}: refused got ${JSON.stringify(s.counters.refused)}; want none`);
  }
  t.equal(m.counters.unconfirmed, 1, 'the master saw one message made before the backup knew it');
  net.run(clock, 1000);
  t.ok(m.counters.accepted >= 10 && b.counters.accepted >= 10, `every interval both ways: master took ${m.counters.accepted}, backup ${b.counters.accepted}`);
  t.equal(refusedTotal(m) + refusedTotal(b), 0, 'nothing refused in steady state');
  const counters = net.seen.filter((d) => d.from === lan.office2).map((d) => decodeSync(d.bytes, { key, vrid: 1, site: 'office' })).map((r) => (r.ok ? r.frame.header.counter : -1));
  t.same(counters, counters.map((_, i) => counters[0]! + i), 'counters count up by one per datagram');
  b.set({ role: 'master' });
  net.flush();
  t.equal(m.peer()?.role, 'master', 'a change is sent at once');
  m.close();
  b.close();
  t.equal(clock.pending(), 0, `timers after close: got ${clock.pending()}; want 0`);
});

t.test('a restarted peer is taken at once, either side', async (t) => {
  const { clock, net, m, b } = await pair();
  // The backup restarts (a new run, a new boot id).
  b.close();
  const b2 = await box('office2', { clock, net });
  b2.learn(lan.office1);
  net.flush();
  t.equal(m.peer()?.boot, b2.boot, 'the master took the new run without waiting for the old one to go silent');
  t.equal(b2.peer()?.box, 'office1', 'and the new run took the master');
  t.equal(m.counters.sessions, 2, `master sessions: got ${m.counters.sessions}; want 2`);
  t.equal(refusedTotal(m), 0, `refused: got ${JSON.stringify(m.counters.refused)}; want none`);
  // The master restarts: it learns nobody from adverts (the backup sends
  // none), so it hears the backup's next message first.
  m.close();
  const m2 = await box('office1', { clock, net });
  net.run(clock, 100);
  t.equal(m2.peer()?.boot, b2.boot, 'the new master run took the backup within one interval');
  t.equal(b2.peer()?.boot, m2.boot, 'the backup took the new master run');
  t.equal(refusedTotal(b2) + refusedTotal(m2), 0, 'nothing refused');
  m2.close();
  b2.close();
});

t.test('issue 15: a spoofer on the LAN is refused and counted, the peer and its next hop stay', async (t) => {
  // The hole: any LAN host that sent one datagram with the site id and VRID
  // became "the peer", and the master routed the peer WAN via the address
  // the datagram claimed.
  const { clock, net, m, b, mPeers } = await pair();
  net.run(clock, 500);
  const captured = net.seen.filter((d) => d.from === lan.office2 && d.to === lan.office1).map((d) => d.bytes);
  const own = net.seen.filter((d) => d.from === lan.office1).at(-1)!.bytes;
  const genuine = decodeSync(captured.at(-1)!, { key, vrid: 1, site: 'office' });
  const h = genuine.ok ? genuine.frame.header : undefined as unknown as SyncHeader & { keyId: string };
  const guessed = deriveSyncKey(Buffer.alloc(32, 9), 'office', 1);
  const claim = body('office2', { lanAddress: lan.host });
  const v1 = Buffer.from(JSON.stringify({ tern: 'pair-sync', v: 1, ...claim, vrid: 1, seq: 99 }));
  const cases: Array<{ name: string; from: string; bytes: Buffer; reason: string }> = [
    { name: 'v1 claim from the spoofer', from: lan.host, bytes: v1, reason: 'wrongSource' },
    { name: 'v1 claim with the peer\'s source', from: lan.office2, bytes: v1, reason: 'version' },
    { name: 'guessed key, the peer\'s source', from: lan.office2, bytes: encodeSync({ ...h, counter: h.counter + 1 }, claim, guessed), reason: 'badAuth' },
    { name: 'right key id, guessed MAC', from: lan.office2, bytes: Buffer.concat([encodeSync({ ...h, counter: h.counter + 1 }, claim, key).subarray(0, -16), Buffer.alloc(16, 0xab)]), reason: 'badAuth' },
    { name: 'captured genuine message replayed, the peer\'s source', from: lan.office2, bytes: captured.at(-1)!, reason: 'replay' },
    { name: 'an older captured one', from: lan.office2, bytes: captured[1]!, reason: 'replay' },
    { name: 'captured message replayed from the spoofer', from: lan.host, bytes: captured.at(-1)!, reason: 'wrongSource' },
    { name: 'our own message sent back', from: lan.office2, bytes: own, reason: 'replay' },
    { name: 'from outside the LAN', from: '192.0.2.7', bytes: captured.at(-1)!, reason: 'wrongSource' },
  ];
  for (const c of cases) {
    const before = { ...m.counters.refused };
    net.inject(lan.office1, c.from, c.bytes);
    const grew = Object.entries(m.counters.refused).filter(([r, v]) => v !== before[r as keyof typeof before]).map(([r]) => r);
    t.same(grew, [c.reason], `${c.name}: counted as ${JSON.stringify(grew)}; want ${c.reason}`);
    t.equal(who(m), 'office2 from 10.1.0.3 via 10.1.0.3 alive', `${c.name}: the peer stays`);
  }
  t.same(mPeers, ['office2 backup alive via 10.1.0.3'], `the peer was reported once, never changed: ${JSON.stringify(mPeers)}`);
  t.notOk(m.destinations().includes(lan.host), 'nothing is sent to the spoofer');

  // With the peer silent, the spoofer's own source gets as far as the HMAC.
  b.close();
  clock.advance(400);
  t.equal(m.peer()?.alive, false, 'the peer went silent');
  const silentCases: Array<{ name: string; bytes: Buffer; reason: string }> = [
    { name: 'v1 claim', bytes: v1, reason: 'version' },
    { name: 'guessed key', bytes: encodeSync({ ...h, counter: h.counter + 100 }, claim, guessed), reason: 'badAuth' },
    { name: 'replay', bytes: captured.at(-1)!, reason: 'replay' },
  ];
  for (const c of silentCases) {
    const before = { ...m.counters.refused };
    net.inject(lan.office1, lan.host, c.bytes);
    const grew = Object.entries(m.counters.refused).filter(([r, v]) => v !== before[r as keyof typeof before]).map(([r]) => r);
    t.same(grew, [c.reason], `peer silent, ${c.name}: counted as ${JSON.stringify(grew)}; want ${c.reason}`);
    t.equal(who(m), 'office2 from 10.1.0.3 via 10.1.0.3 silent', `peer silent, ${c.name}: not taken`);
  }
  m.close();
});

t.test('an old run\'s messages are refused once the peer restarted; reordered ones too', async (t) => {
  const { clock, net, m, b } = await pair();
  net.run(clock, 300);
  const old = net.seen.filter((d) => d.from === lan.office2 && d.to === lan.office1).map((d) => d.bytes);
  b.close();
  const b2 = await box('office2', { clock, net });
  b2.learn(lan.office1);
  net.run(clock, 200);
  t.equal(m.peer()?.boot, b2.boot, 'the new run is the peer');
  for (const [i, bytes] of old.entries()) {
    const before = m.counters.refused.replay;
    net.inject(lan.office1, lan.office2, bytes);
    t.equal(m.counters.refused.replay, before + 1, `old run's message ${i}: counted as a replay`);
  }
  t.equal(m.peer()?.boot, b2.boot, 'the new run stays the peer');
  // Reordering: the newer of two datagrams arrives first.
  clock.advance(100);
  const pending = net.queue.splice(0).filter((d) => d.to === lan.office1);
  b2.set({ priority: 99 });
  const newer = net.queue.splice(0).filter((d) => d.to === lan.office1);
  net.inject(lan.office1, lan.office2, newer[0]!.bytes);
  const before = m.counters.refused.replay;
  net.inject(lan.office1, lan.office2, pending[0]!.bytes);
  t.equal(m.counters.refused.replay, before + 1, 'the older one, arriving late, is refused');
  t.equal(m.peer()?.priority, 99, 'and does not undo the newer facts');
  m.close();
  b2.close();
});

t.test('a run never seen before, echoing an older counter of ours than the current run did, is refused', async (t) => {
  // A message of a peer run we never heard (lost, or captured off the wire
  // by someone else) is genuine and echoes this run of ours; but the run we
  // took since heard newer messages of ours, so it is the older one.
  const clock = new FakeClock();
  const net = new Lan();
  const m = await box('office1', { clock, net });
  const from = (boot: string, counter: number, echoCounter: number): Buffer =>
    encodeSync({ vrid: 1, boot, counter, echoBoot: m.boot, echoCounter }, body('office2'), key);
  net.inject(lan.office1, lan.office2, from('6666666666666666', 1, 5));
  t.equal(m.peer()?.boot, '6666666666666666', 'a run echoing us is taken');
  net.inject(lan.office1, lan.office2, from('7777777777777777', 1, 4));
  t.equal(m.counters.refused.replay, 1, `echoing our counter 4 after a run that echoed 5: replay (got ${JSON.stringify(m.counters.lastRefused)})`);
  net.inject(lan.office1, lan.office2, from('8888888888888888', 1, 6));
  t.equal(m.peer()?.boot, '8888888888888888', 'echoing a newer counter: taken');
  net.inject(lan.office1, lan.office2, from('6666666666666666', 2, 9));
  t.equal(m.counters.refused.replay, 2, 'the run it replaced is refused outright, whatever it echoes');
  m.close();
});

t.test('pair.unicastPeers: only those sources, even before the peer is known', async (t) => {
  const { net, m } = await pair({ peers: true });
  t.equal(who(m), 'office2 from 10.1.0.3 via 10.1.0.3 alive', 'the configured peer is taken');
  const clock = new FakeClock();
  const net2 = new Lan();
  const lone = await box('office1', { clock, net: net2, peers: [lan.office2] });
  const probe = encodeSync({ vrid: 1, boot: '1111111111111111', counter: 1, echoBoot: lone.boot, echoCounter: 1 }, body('office2'), key);
  net2.inject(lan.office1, lan.host, probe);
  t.equal(lone.counters.refused.wrongSource, 1, 'a genuine-looking message from another LAN host: wrong source');
  t.equal(lone.peer(), undefined, 'not taken');
  net2.inject(lan.office1, lan.office2, probe);
  t.equal(lone.peer()?.box, 'office2', 'the same from the configured address is taken');
  lone.close();
  m.close();
  void net;
});

t.test('an IPv6 instance: link-local sources, the next hop is the LAN address it says, inside the LAN', async (t) => {
  const clock = new FakeClock();
  const net = new Lan();
  const s = new PairSync({
    facts: facts('office1'), key, lan: '10.1.0.2/24', peers: [], bind: 'fe80::2%lan0', socket: net.socket('fe80::2'), clock,
  });
  await s.start();
  const msg = (over: Partial<SyncBody>, counter: number): Buffer =>
    encodeSync({ vrid: 1, boot: '2222222222222222', counter, echoBoot: s.boot, echoCounter: 1 }, body('office2', over), key);
  net.inject('fe80::2', lan.office2, msg({}, 1));
  t.equal(s.counters.refused.wrongSource, 1, 'an IPv4 source on a link-local socket: wrong source');
  net.inject('fe80::2', 'fe80::3', msg({ lanAddress: '192.0.2.9' }, 2));
  t.equal(s.counters.refused.malformed, 1, 'a lanAddress outside the LAN prefix is refused');
  net.inject('fe80::2', 'fe80::3', msg({ lanAddress: lan.office1 }, 3));
  t.equal(s.counters.refused.malformed, 2, 'so is our own');
  net.inject('fe80::2', 'fe80::3', msg({}, 4));
  t.equal(who(s), 'office2 from fe80::3 via 10.1.0.3 alive', 'from the link-local source, via the LAN address');
  s.learn('10.1.0.3');
  t.same(s.destinations(), ['fe80::3'], 'an IPv4 address is never learnt on a link-local socket');
  s.close();
});

t.test('refusals are logged at most once a minute per source, and never the key', async (t) => {
  const clock = new FakeClock();
  const net = new Lan();
  const log = memoryLog();
  const m = await box('office1', { clock, net, logger: log.logger });
  const forged = encodeSync({ vrid: 1, boot: '3333333333333333', counter: 1, echoBoot: null, echoCounter: 0 }, body('office2'), deriveSyncKey(Buffer.alloc(32, 1), 'office', 1));
  const refusals = (): Array<Record<string, unknown>> => log.lines.filter((l) => String(l.msg).includes('refused a datagram'));
  for (let i = 0; i < 100; i++) net.inject(lan.office1, lan.host, forged);
  t.equal(m.counters.refused.badAuth, 100, 'every one counted');
  t.equal(refusals().length, 1, `log lines for 100 from one source: got ${refusals().length}; want 1`);
  t.match(String(refusals()[0]!.msg), /refused a datagram from 10\.1\.0\.10 \(badAuth\): signed with key id/);
  clock.advance(60_000);
  net.inject(lan.office1, lan.host, forged);
  t.equal(refusals().length, 2, 'a minute later, one more');
  t.equal(refusals()[1]!.sinceLast, 99, 'saying how many went unlogged');
  // Forged sources: a budget per minute in all, and a line saying how many more.
  clock.advance(60_000);
  for (let i = 0; i < 50; i++) net.inject(lan.office1, `10.1.0.${100 + i}`, forged);
  t.equal(refusals().length, 2 + refusalLogBudget, `50 sources in one minute: got ${refusals().length - 2} lines; want ${refusalLogBudget}`);
  clock.advance(60_000);
  net.inject(lan.office1, lan.host, forged);
  t.ok(log.lines.some((l) => String(l.msg).includes(`${50 - refusalLogBudget} more refusals from other sources were not logged`)), 'the rest are summed up');
  // An older Tern: once per source, however long it goes on.
  const v1 = Buffer.from(JSON.stringify({ tern: 'pair-sync', v: 1, ...body('office2'), vrid: 1, seq: 1 }));
  for (let i = 0; i < 3; i++) {
    net.inject(lan.office1, lan.office2, v1);
    clock.advance(61_000);
  }
  const versions = log.lines.filter((l) => String(l.msg).includes('another pair-sync version'));
  t.equal(versions.length, 1, `version lines: got ${versions.length}; want 1`);
  t.equal(m.counters.refused.version, 3, 'each counted');
  // The handshake and the status, too, without the key.
  const b = await box('office2', { clock, net, logger: log.logger });
  b.learn(lan.office1);
  net.flush();
  const text = JSON.stringify(log.lines) + JSON.stringify(m.status()) + JSON.stringify(b.status());
  for (const form of ['hex', 'base64'] as const) {
    t.notOk(text.includes(key.secret.toString(form)), `the key (${form}) appears in no log line or status`);
  }
  t.equal(m.status().keyId, key.id, 'the status names the key by its id');
  m.close();
  b.close();
});

t.test('PairSync: the peer goes silent after 3.5 intervals, and comes back', async (t) => {
  const { clock, net, m, b, mPeers } = await pair();
  b.close();
  clock.advance(351);
  t.same(mPeers, ['office2 backup alive via 10.1.0.3', 'office2 backup silent via 10.1.0.3'], `silence after 3.5 intervals: got ${JSON.stringify(mPeers)}`);
  const b2 = await box('office2', { clock, net });
  b2.set({ role: 'master' });
  b2.learn(lan.office1);
  net.flush();
  t.equal(mPeers.at(-1), 'office2 master alive via 10.1.0.3', 'back, with its new role');
  m.close();
  b2.close();
});

t.test('PairSync on an IPv6 instance: between link-local addresses (issue 6 regression)', async (t) => {
  // In the lab the backup learnt the master's link-local advert source and
  // sent to it from the IPv4 socket, which cannot: neither box ever heard
  // the other. Now an IPv6 instance binds its link-local address, and an
  // address the socket cannot reach is never learnt.
  const run = async (bind: string | undefined, learn: string[]): Promise<{ bound: string; to: string[] }> => {
    let bound = '';
    const to: string[] = [];
    const socket: SyncSocketFactory = async (b) => {
      bound = b;
      return { send: (_b, a) => { to.push(a); }, close: () => undefined };
    };
    const sync = new PairSync({
      facts: facts('office2'), key, lan: '10.1.0.3/24', peers: [], socket, clock: new FakeClock(), ...(bind ? { bind } : {}),
    });
    await sync.start();
    for (const a of learn) sync.learn(a);
    sync.close();
    return { bound, to };
  };
  const cases = [
    { name: 'IPv4 instance', bind: undefined, learn: ['10.1.0.2'], want: { bound: '10.1.0.3', to: ['10.1.0.2'] } },
    { name: 'IPv4 socket, link-local source: ignored', bind: undefined, learn: ['fe80::1', '10.1.0.2', 'fe80::1'], want: { bound: '10.1.0.3', to: ['10.1.0.2'] } },
    { name: 'IPv6 instance learns the master\'s link-local source', bind: 'fe80::3%lan0', learn: ['fe80::2'], want: { bound: 'fe80::3%lan0', to: ['fe80::2'] } },
    { name: 'IPv6 socket: an IPv4 address and its own are ignored', bind: 'fe80::3%lan0', learn: ['10.1.0.2', 'fe80::3'], want: { bound: 'fe80::3%lan0', to: [] } },
  ];
  for (const c of cases) {
    const got = await run(c.bind, c.learn);
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

t.test('PairSync: a deferred silence verdict is dropped when a message was read meanwhile', async (t) => {
  const clock = new FakeClock();
  const deferred: Array<() => void> = [];
  let deliver: ((b: Buffer, from: string) => void) | undefined;
  const socket: SyncSocketFactory = async (_bind, _port, onMessage) => {
    deliver = onMessage;
    return { send: () => undefined, close: () => undefined };
  };
  const peers: string[] = [];
  const sync = new PairSync({
    facts: facts('office1'), key, lan: '10.1.0.2/24', peers: [], socket, clock,
    defer: (fn) => deferred.push(fn), onPeer: (p) => peers.push(p ? (p.alive ? 'alive' : 'silent') : 'none'),
  });
  await sync.start();
  const msg = (counter: number): Buffer => encodeSync({ vrid: 1, boot: '4444444444444444', counter, echoBoot: sync.boot, echoCounter: 1 }, body('office2'), key);
  deliver!(msg(1), '10.1.0.3');
  clock.advance(351);
  t.equal(deferred.length, 1, `verdicts waiting after the deadline: got ${deferred.length}; want 1`);
  deliver!(msg(2), '10.1.0.3');
  deferred.shift()!();
  t.same(peers, ['alive'], `got ${JSON.stringify(peers)}; want the peer alive throughout`);
  t.equal(sync.counters.staleSilence, 1, `staleSilence: got ${sync.counters.staleSilence}; want 1`);
  clock.advance(351);
  deferred.shift()!();
  t.same(peers, ['alive', 'silent'], `with no message in between: got ${JSON.stringify(peers)}; want the silence reported`);
  sync.close();
});

/** Keep this process's event loop busy for ms (a GC pause, a starved CPU). */
function blockLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* busy */ }
}

t.test('PairSync: a loop blocked past the silence deadline does not turn a message already queued into silence', async (t) => {
  // Seen in the lab: the peer went silent → alive → silent within 11 ms,
  // the silence timer having run before the message waiting on the socket.
  // The control case (verdict at once) shows the scenario does reproduce
  // that order, so the first case can fail.
  const free = dgram.createSocket('udp4');
  await new Promise<void>((r) => free.bind(0, '127.0.0.1', () => r()));
  const port = free.address().port;
  free.close();
  const sender = dgram.createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.2', () => r()));
  t.teardown(() => sender.close());

  const cases: Array<{ name: string; defer?: (fn: () => void) => void; want: string[]; stale: number }> = [
    { name: 'default (system clock: after the poll phase)', want: ['alive'], stale: 1 },
    { name: 'control: verdict at once', defer: (fn) => fn(), want: ['alive', 'silent', 'alive'], stale: 0 },
  ];
  for (const c of cases) {
    const peers: string[] = [];
    let notify: (() => void) | undefined;
    const sync = new PairSync({
      facts: facts('office1', { lanAddress: '127.0.0.1', role: 'backup', intervalMs: 1000 }), key, lan: '127.0.0.1/8', peers: [], port,
      ...(c.defer ? { defer: c.defer } : {}),
      onPeer: (p) => { peers.push(p ? (p.alive ? 'alive' : 'silent') : 'none'); notify?.(); },
    });
    await sync.start();
    const heard = (n: number): Promise<void> => new Promise((resolve) => {
      const check = (): void => { if (sync.counters.accepted >= n) resolve(); else setTimeout(check, 5); };
      check();
    });
    let counter = 0;
    const send = (intervalMs: number): void => {
      const bytes = encodeSync({ vrid: 1, boot: '5555555555555555', counter: ++counter, echoBoot: sync.boot, echoCounter: 1 },
        body('office2', { lanAddress: '127.0.0.2', intervalMs }), key);
      sender.send(bytes, port, '127.0.0.1');
    };
    // 10 ms interval: silence after 35 ms.
    send(10);
    await heard(1);
    // Sent from one check-phase callback (its nextTicks hand it to the
    // kernel) and the loop blocked in the next, so the next loop turn meets
    // the expired silence timer before it polls the socket. The second
    // message has a long interval: its own deadline is far off.
    await new Promise<void>((resolve) => {
      setImmediate(() => send(1000));
      setImmediate(() => { blockLoop(200); resolve(); });
    });
    await heard(2);
    await new Promise((r) => setImmediate(r));
    t.same(peers, c.want, `${c.name}: got ${JSON.stringify(peers)}; want ${JSON.stringify(c.want)}`);
    t.equal(sync.counters.staleSilence, c.stale, `${c.name}: staleSilence: got ${sync.counters.staleSilence}; want ${c.stale}`);
    if (!c.defer) {
      // A peer that really stops still goes silent.
      const silent = new Promise<void>((resolve) => { notify = () => { if (peers.at(-1) === 'silent') resolve(); }; });
      send(10);
      await silent;
      t.same(peers, ['alive', 'silent'], `a silent peer: got ${JSON.stringify(peers)}; want ['alive', 'silent']`);
    }
    sync.close();
  }
});
