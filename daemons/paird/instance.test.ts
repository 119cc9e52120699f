import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import type { PairConfig } from '../lib/config/schema.js';
import { PairInstance, type RoleChange, type Vips } from './instance.js';
import { addressBytes } from './addr.js';
import { complement, pseudoSumV6, sum16 } from './checksum.js';
import { decode, encode, vrrpGroupV4 } from './packet.js';
import { pairSettings } from './settings.js';
import type { AdvertSocket, AdvertSocketFactory, ReceivedAdvert } from './socket.js';
import type { FrameSenderFactory } from './vip.js';

const pair = (over: Partial<PairConfig> = {}): PairConfig => ({
  enabled: true, vrid: 7, vips: ['10.1.0.1/24'], priority: 150, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0,
  unicastPeers: [], peerWans: [], checksum: 'rfc9568', garp: { count: 2, spacingMs: 50 }, virtualMac: false,
  track: [], holdDownMs: 2000, ...over,
});

interface Sent { src: string; dst: string; priority: number }

class FakeSocket implements AdvertSocket {
  sent: Sent[] = [];
  beacons: Array<[number, number]> = [];
  closed = false;
  fail = false;
  send(src: string, dst: string, payload: Buffer): void {
    if (this.fail) throw new Error('ENETDOWN');
    const d = decode(payload, { src, dst, ttl: 255, mode: 'rfc9568' });
    if (!d.ok) throw new Error(`sent an advert that does not decode: ${d.detail}`);
    this.sent.push({ src, dst, priority: d.advert.priority });
  }
  beacon(intervalMs: number, maxStallMs: number): void { this.beacons.push([intervalMs, maxStallMs]); }
  stats() {
    return { device: 'lan0', ifindex: 2, family: 4 as const, receiving: !this.closed, received: 0, delivered: 0, dropped: 0, truncated: 0, receiveErrors: 0, sent: this.sent.length, sendErrors: 0, beaconSent: 0, lastError: null };
  }
  close(): void { this.closed = true; }
}

class FakeVips implements Vips {
  readonly device = 'lan0';
  readonly addresses = ['10.1.0.1/24'];
  on = false;
  ops: string[] = [];
  readonly counters = { added: 0, removed: 0, errors: 0 };
  lastError: string | null = null;
  async prepare(): Promise<void> { /* nothing to make */ }
  async present(): Promise<string[]> { return this.on ? [...this.addresses] : []; }
  async add(): Promise<void> { this.ops.push('add'); this.on = true; this.counters.added++; }
  async remove(): Promise<void> {
    this.ops.push('remove');
    if (this.on) this.counters.removed++;
    this.on = false;
  }
  async settled(): Promise<void> { /* synchronous fakes */ }
}

function setup(over: Partial<PairConfig> = {}, opts: { vipsOn?: boolean } = {}) {
  const clock = new FakeClock();
  const socket = new FakeSocket();
  const vips = new FakeVips();
  vips.on = opts.vipsOn ?? false;
  const frames: Buffer[] = [];
  const roles: RoleChange[] = [];
  const problems: string[] = [];
  const sockets: AdvertSocketFactory = () => { socket.closed = false; return socket; };
  const framesFactory: FrameSenderFactory = () => ({ send: (f) => frames.push(f), close: () => undefined });
  const s = pairSettings(pair(over));
  const inst = new PairInstance({
    settings: s, interface: 'lan0', localAddress: '10.1.0.2', priority: s.machine.priority, sockets, vips,
    frames: framesFactory, mac: () => '02:00:00:00:00:02', clock,
    onRole: (c) => roles.push(c), onProblem: (k, m) => { if (m) problems.push(`${k}: ${m}`); },
  });
  return { clock, socket, vips, frames, roles, problems, inst };
}

const advert = (priority: number, src = '10.1.0.3', over: Partial<ReceivedAdvert> = {}): ReceivedAdvert => ({
  ok: true, src, dst: vrrpGroupV4, ttl: 255,
  payload: encode({ vrid: 7, priority, intervalMs: 100, addresses: ['10.1.0.1'] }, { src, dst: vrrpGroupV4, mode: 'rfc9568' }), ...over,
});

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('alone on the LAN: backup, then master with VIPs, announcements and the beacon', async (t) => {
  const { clock, socket, vips, frames, roles, inst } = setup();
  await inst.start({ carrier: true });
  t.equal(inst.role, 'backup');
  clock.advance(342);
  await flush();
  t.equal(inst.role, 'master', `after Master_Down_Interval (341.4 ms): got ${inst.role}; want master`);
  t.ok(vips.on, 'VIPs on');
  t.same(socket.sent[0], { src: '10.1.0.2', dst: vrrpGroupV4, priority: 150 }, 'first advert at the takeover, from our address to the group');
  t.same(socket.beacons.at(-1), [100, 2000], 'beacon armed for a master: interval 100 ms, up to 2 s of stall');
  clock.advance(50);
  await flush();
  t.equal(frames.length, 2, `announcement rounds: got ${frames.length}; want 2 (garp.count)`);
  t.equal(frames[0]!.readUInt16BE(12), 0x0806, 'a gratuitous ARP');
  t.same(roles.map((r) => `${r.from}>${r.to}:${r.reason}`), ['initialize>backup:startup', 'backup>master:masterDown']);
  clock.advance(1000);
  t.equal(socket.sent.length, 11, `adverts after 1 s as master: got ${socket.sent.length}; want 11`);
});

/** VIPs whose add completes only when the test says, as a netlink round trip would. */
class SlowVips extends FakeVips {
  private pending: Array<() => void> = [];
  private chain: Promise<void> = Promise.resolve();
  override add(): Promise<void> {
    this.ops.push('add');
    this.chain = this.chain.then(() => new Promise<void>((r) => this.pending.push(() => { this.on = true; this.counters.added++; r(); })));
    return this.chain;
  }
  override settled(): Promise<void> { return this.chain; }
  complete(): void { for (const f of this.pending.splice(0)) f(); }
}

// Regression (failover bench, LAN cut): the machine reports a takeover
// before it asks for the advert, the VIPs and the announcement, and the
// daemon's reaction (bus, events table, hooks, pair sync, peer-path netlink
// dumps on the VIPs' socket) ran first, putting the gratuitous ARP 16-28 ms
// after the first advert where keepalived sends it within 2 ms.
t.test('a takeover is reported only after its advert, VIPs and first announcement; later changes keep their order', async (t) => {
  const setupSlow = () => {
    const clock = new FakeClock();
    const socket = new FakeSocket();
    const vips = new SlowVips();
    const frames: Buffer[] = [];
    const seen: Array<{ change: string; adverts: number; vipsOn: boolean; frames: number }> = [];
    const s = pairSettings(pair());
    const inst = new PairInstance({
      settings: s, interface: 'lan0', localAddress: '10.1.0.2', priority: s.machine.priority, sockets: () => socket, vips,
      frames: () => ({ send: (f) => frames.push(f), close: () => undefined }), mac: () => '02:00:00:00:00:02', clock,
      onRole: (c) => seen.push({ change: `${c.from}>${c.to}`, adverts: socket.sent.length, vipsOn: vips.on, frames: frames.length }),
    });
    return { clock, socket, vips, frames, seen, inst, changes: () => seen.map((x) => x.change).join(',') };
  };
  await t.test('the report follows the announcement', async (t) => {
    const { clock, socket, vips, seen, inst, changes } = setupSlow();
    await inst.start({ carrier: true });
    t.equal(changes(), 'initialize>backup', 'startup reported at once');
    clock.advance(342);
    t.equal(inst.role, 'master');
    t.equal(socket.sent.length, 1, 'the first advert went out at the takeover');
    await flush();
    t.equal(changes(), 'initialize>backup', `reports while the VIP add is pending: got ${changes()}; want the takeover held`);
    vips.complete();
    await flush();
    t.equal(changes(), 'initialize>backup,backup>master');
    const m = seen[1]!;
    t.ok(m.adverts >= 1 && m.vipsOn && m.frames === 1,
      `when the takeover was reported: got ${m.adverts} adverts, VIPs ${m.vipsOn ? 'on' : 'off'}, ${m.frames} announcement frames; want >= 1, on, 1`);
    await inst.stop();
    t.equal(changes(), 'initialize>backup,backup>master,master>initialize', 'a stop is reported at once again');
  });
  await t.test('a step-down before the VIPs are on waits behind the takeover', async (t) => {
    const { clock, vips, frames, inst, changes } = setupSlow();
    await inst.start({ carrier: true });
    clock.advance(342);
    await flush();
    inst.receive(advert(200));
    t.equal(inst.role, 'backup');
    t.equal(changes(), 'initialize>backup', `got ${changes()}; want both changes held`);
    vips.complete();
    await flush();
    t.equal(changes(), 'initialize>backup,backup>master,master>backup', `order kept: got ${changes()}`);
    t.equal(frames.length, 0, 'no announcement from a box that stepped down');
    await inst.stop();
  });
  await t.test('halt (a reload) lets held reports out at once', async (t) => {
    const { clock, inst, changes } = setupSlow();
    await inst.start({ carrier: true });
    clock.advance(342);
    await flush();
    inst.halt();
    t.equal(changes(), 'initialize>backup,backup>master');
  });
});

t.test('graceful stop: priority 0, VIPs off, beacon off, socket closed', async (t) => {
  const { clock, socket, vips, inst } = setup();
  await inst.start({ carrier: true });
  clock.advance(400);
  await inst.stop();
  t.equal(socket.sent.at(-1)?.priority, 0, 'the last advert resigns (priority 0)');
  t.notOk(vips.on, 'VIPs off');
  t.same(socket.beacons.at(-1), [0, 0], 'beacon off');
  t.ok(socket.closed, 'socket closed');
});

t.test('restart after a crash: VIPs found on the interface are adopted, not flapped', async (t) => {
  await t.test('winning again: the VIPs are never removed', async (t) => {
    const { clock, vips, inst } = setup({}, { vipsOn: true });
    await inst.start({ carrier: true });
    t.ok(inst.status().adopted, 'adopted at start');
    t.same(vips.ops, [], `startup did not clear them: got ops ${vips.ops}; want none`);
    clock.advance(400);
    await flush();
    t.equal(inst.role, 'master');
    t.same(vips.ops, ['add'], 'the takeover re-asserts them (an in-place replace)');
    t.equal(vips.counters.removed, 0, 'never removed');
    t.notOk(inst.status().adopted, 'no longer adopted once master');
  });
  await t.test('hearing a better master: the left-over VIPs come off', async (t) => {
    const { clock, vips, inst } = setup({ priority: 100 }, { vipsOn: true });
    await inst.start({ carrier: true });
    clock.advance(100);
    inst.receive(advert(150));
    await flush();
    t.equal(inst.role, 'backup');
    t.notOk(vips.on, 'VIPs off: the other box is master');
    t.equal(vips.counters.removed, 1);
  });
  await t.test('preempting a lower master keeps them through the takeover', async (t) => {
    const { clock, vips, inst } = setup({ priority: 150 }, { vipsOn: true });
    await inst.start({ carrier: true });
    for (let i = 0; i < 5; i++) {
      clock.advance(80);
      inst.receive(advert(100));
    }
    await flush();
    t.equal(inst.role, 'master', 'preempted the lower-priority master');
    t.equal(vips.counters.removed, 0, 'never removed');
  });
  await t.test('graceful stop while still adopted releases them', async (t) => {
    const { vips, inst } = setup({}, { vipsOn: true });
    await inst.start({ carrier: true });
    await inst.stop();
    await flush();
    t.notOk(vips.on);
  });
});

t.test('carrier loss is a fault: VIPs off, silent; carrier back starts over', async (t) => {
  const { clock, socket, vips, roles, inst } = setup();
  await inst.start({ carrier: true });
  clock.advance(400);
  t.equal(inst.role, 'master');
  inst.setCarrier(false);
  await flush();
  t.equal(inst.role, 'fault');
  t.notOk(vips.on, 'VIPs off in fault');
  t.ok(socket.closed, 'socket closed (the link may come back as a new one)');
  const sent = socket.sent.length;
  clock.advance(1000);
  t.equal(socket.sent.length, sent, 'no adverts in fault');
  inst.receive(advert(200));
  t.equal(inst.role, 'fault', 'adverts ignored in fault');
  inst.setCarrier(true);
  t.equal(inst.role, 'backup', 'carrier back: backup, as at boot');
  clock.advance(400);
  t.equal(inst.role, 'master');
  await flush();
  t.same(roles.map((r) => `${r.from}>${r.to}`), ['initialize>backup', 'backup>master', 'master>fault', 'fault>initialize', 'initialize>backup', 'backup>master']);
});

t.test('received datagrams: discards are counted, checksum mismatches named, other VRIDs quiet', async (t) => {
  const { inst, problems } = setup();
  await inst.start({ carrier: true });
  inst.receive({ ok: false, detail: 'got 3 bytes' });
  inst.receive(advert(100, '10.1.0.3', { ttl: 64 }));
  const other = encode({ vrid: 8, priority: 100, intervalMs: 100, addresses: ['10.1.0.9'] }, { src: '10.1.0.3', dst: vrrpGroupV4, mode: 'rfc9568' });
  inst.receive({ ok: true, src: '10.1.0.3', dst: vrrpGroupV4, ttl: 255, payload: other });
  const ka = encode({ vrid: 7, priority: 100, intervalMs: 100, addresses: ['10.1.0.1'] }, { src: '10.1.0.3', dst: vrrpGroupV4, mode: 'keepalived' });
  inst.receive({ ok: true, src: '10.1.0.3', dst: vrrpGroupV4, ttl: 255, payload: ka });
  const st = inst.status();
  t.equal(st.malformed, 1);
  t.equal(st.counters.discards.ttl, 1);
  t.equal(st.counters.discards.vrid, 1);
  t.equal(st.counters.discards.checksum, 1);
  t.match(problems.join('\n'), /checksum: adverts from 10\.1\.0\.3 fail the rfc9568 checksum: .*sender is set to checksum keepalived/, 'the health warning names the peer\'s setting');
  t.equal(st.counters.advertsReceived, 0, 'none reached the machine');
});

t.test('a failing send is counted and reported, the election goes on', async (t) => {
  const { clock, socket, inst, problems } = setup();
  socket.fail = true;
  await inst.start({ carrier: true });
  clock.advance(600);
  t.equal(inst.role, 'master');
  t.ok(inst.status().sendErrors >= 2, `send errors: got ${inst.status().sendErrors}; want several`);
  t.match(problems.join('\n'), /socket: ENETDOWN/);
});

t.test('IPv6 adverts without a link-local address first: discarded and named (keepalived given only the global VIP)', async (t) => {
  const { inst, problems } = setup({ vips: ['2001:db8:1::1/64'] });
  await inst.start({ carrier: true });
  const src = 'fe80::3';
  // What keepalived sends with virtual_ipaddress { 2001:db8:1::1/64 } (encode refuses to).
  const payload = encode({ vrid: 7, priority: 150, intervalMs: 100, addresses: ['fe80::1'] }, { src, dst: 'ff02::12', mode: 'rfc9568' });
  payload.set(addressBytes('2001:db8:1::1')!, 8);
  payload.writeUInt16BE(0, 6);
  payload.writeUInt16BE(complement(sum16(payload, 0, payload.length, pseudoSumV6(addressBytes(src)!, addressBytes('ff02::12')!, 112, payload.length))), 6);
  inst.receive({ ok: true, src, dst: 'ff02::12', ttl: 255, payload });
  t.equal(inst.status().counters.discards.address, 1, `address discards: got ${inst.status().counters.discards.address}; want 1`);
  t.match(problems.join('\n'), /addresses: adverts from fe80::3 do not start with a link-local address .*list fe80::200:5eff:fe00:207\/64 first/,
    `the health warning says what to change: ${problems.join('; ')}`);
  await inst.stop();
});
