import t from 'tap';
import type { RouteInfo, RouteSpec, RuleInfo, RuleSpec } from '../lib/kernel/index.js';
import { FakeClock } from '../lib/clock/index.js';
import { PeerPath, peerRulePriority, peerWanFacts, peerWanPlan, type PeerKernel } from './peer.js';
import { PairSync, type PeerFacts, type SyncSocketFactory } from './sync.js';

const cfg = {
  wans: [{ name: 'ispa', interface: 'wan0', address: '198.18.1.2/30', gateway: '198.18.1.1', upMbps: 100, downMbps: 100 }],
  pair: { peerWans: ['ispb', 'lte'] },
} as unknown as Parameters<typeof peerWanPlan>[0];

const peer = (over: Partial<PeerFacts> = {}): PeerFacts => ({
  site: 'office', box: 'office2', vrid: 1, role: 'backup', priority: 100, lanAddress: '10.1.0.3',
  wans: [{ name: 'ispb', up: true }, { name: 'lte', up: false }], intervalMs: 100, from: '10.1.0.3', via: '10.1.0.3',
  boot: '0123456789abcdef', counter: 1, heardAt: 0, alive: true, ...over,
});

t.test('peer WANs get the tables after our own and the WAN-mark convention', async (t) => {
  t.same(peerWanPlan(cfg), [{ name: 'ispb', table: 1001, mark: 0x10000 + 1001 }, { name: 'lte', table: 1002, mark: 0x10000 + 1002 }]);
  const pinned = { ...cfg, wans: [{ ...cfg.wans[0]!, table: 1001 }] } as typeof cfg;
  t.same(peerWanPlan(pinned).map((w) => w.table), [1000, 1002], 'a table our WAN pins is skipped');
  t.same(peerWanPlan({ wans: cfg.wans, pair: undefined } as typeof cfg), [], 'no pair: nothing');
});

t.test('usable only as master with a live backup peer whose WAN is up', async (t) => {
  const plan = peerWanPlan(cfg);
  const cases: Array<{ name: string; role: string; peer: PeerFacts | undefined; usable: boolean; why: RegExp; via?: Array<string | null> }> = [
    { name: 'master, peer backup', role: 'master', peer: peer(), usable: true, why: /office2 is backup and alive at 10\.1\.0\.3/, via: ['10.1.0.3', null] },
    { name: 'we are backup', role: 'backup', peer: peer({ role: 'master' }), usable: false, why: /only the master/ },
    { name: 'peer never heard', role: 'master', peer: undefined, usable: false, why: /not been heard/ },
    { name: 'peer silent', role: 'master', peer: peer({ alive: false }), usable: false, why: /went silent/ },
    { name: 'both master (split)', role: 'master', peer: peer({ role: 'master' }), usable: false, why: /could loop/ },
    { name: 'peer WANs down', role: 'master', peer: peer({ wans: [{ name: 'ispb', up: false }] }), usable: false, why: /no WAN of the peer/ },
  ];
  for (const c of cases) {
    const f = peerWanFacts(plan, c.role, 'lan0', c.peer);
    t.equal(f.usable, c.usable, `${c.name}: usable got ${f.usable}; want ${c.usable}`);
    t.match(f.why, c.why, `${c.name}: why "${f.why}"`);
    t.same(f.wans.map((w) => w.via), c.via ?? [null, null], `${c.name}: next hops`);
  }
  t.match(peerWanFacts([], 'master', 'lan0', peer()).why, /no pair\.peerWans/);
  const claimed = peerWanFacts(plan, 'master', 'lan0', peer({ lanAddress: '10.1.0.66' }));
  t.same(claimed.wans.map((w) => w.via), ['10.1.0.3', null], `the next hop is where the messages came from, not the lanAddress they claim: got ${JSON.stringify(claimed.wans.map((w) => w.via))}`);
  t.equal(claimed.peer?.address, '10.1.0.3', `the fact names the next hop: got ${claimed.peer?.address}`);
});

t.test('issue 15: one forged datagram from a LAN host does not become the next hop of the peer WANs', async (t) => {
  // Before, the master took any datagram with the site id and VRID as the
  // peer, and routed its peer WANs via the address the datagram claimed.
  let deliver: ((b: Buffer, from: string) => void) | undefined;
  const socket: SyncSocketFactory = async (_bind, _port, onMessage) => {
    deliver = onMessage;
    return { send: () => undefined, close: () => undefined };
  };
  const sync = new PairSync({
    facts: { site: 'office', box: 'office1', vrid: 1, role: 'master', priority: 150, lanAddress: '10.1.0.2', wans: [], intervalMs: 100 },
    key: { secret: Buffer.alloc(32, 7), id: '0a0b0c0d' }, lan: '10.1.0.2/24', peers: [], socket, clock: new FakeClock(),
  });
  await sync.start();
  const forged = {
    tern: 'pair-sync', v: 1, site: 'office', box: 'office2', vrid: 1, role: 'backup', priority: 100,
    lanAddress: '10.1.0.10', wans: [{ name: 'ispb', up: true }], intervalMs: 100, seq: 1,
  };
  deliver!(Buffer.from(JSON.stringify(forged)), '10.1.0.10');
  const f = peerWanFacts(peerWanPlan(cfg), 'master', 'lan0', sync.peer());
  t.equal(sync.peer(), undefined, `the peer after a forged datagram: got ${JSON.stringify(sync.peer())}; want none`);
  t.same(f.wans.map((w) => w.via), [null, null], `next hops: got ${JSON.stringify(f.wans.map((w) => w.via))}; want none`);
  sync.close();
});

class FakeKernel implements PeerKernel {
  rulesHave: RuleInfo[] = [];
  routesHave = new Map<number, RouteInfo[]>();
  log: string[] = [];
  async rules(): Promise<RuleInfo[]> { return this.rulesHave.map((r) => ({ ...r })); }
  async addRule(s: RuleSpec): Promise<boolean> {
    this.log.push(`rule add ${s.priority} ${s.fwmark} ${s.table}`);
    this.rulesHave.push({ family: 4, priority: s.priority, action: 'lookup', table: s.table, fwmark: s.fwmark ?? null, fwmask: null, from: null, to: null });
    return true;
  }
  async deleteRule(s: RuleSpec): Promise<void> {
    this.log.push(`rule del ${s.priority} ${s.fwmark} ${s.table}`);
    this.rulesHave = this.rulesHave.filter((r) => !(r.priority === s.priority && r.table === s.table && r.fwmark === (s.fwmark ?? null)));
  }
  async routes(table: number): Promise<RouteInfo[]> { return [...(this.routesHave.get(table) ?? [])]; }
  async replaceRoute(s: RouteSpec): Promise<void> {
    this.log.push(`route replace ${s.dst} table ${s.table} via ${s.gateway} dev ${s.dev}`);
    this.routesHave.set(s.table, [{ family: 4, dst: s.dst, table: s.table, type: 'unicast', dev: s.dev ?? null, gateway: s.gateway ?? null, src: null, metric: 0 }]);
  }
  async deleteRoute(s: RouteSpec): Promise<void> {
    this.log.push(`route del ${s.dst} table ${s.table}`);
    this.routesHave.set(s.table, []);
  }
}

t.test('PeerPath: rules always, the route only while usable; stale rules go; redirects off', async (t) => {
  const k = new FakeKernel();
  // A rule left by an older config (another peer WAN).
  k.rulesHave.push({ family: 4, priority: peerRulePriority, action: 'lookup', table: 1009, fwmark: 0x10000 + 1009, fwmask: null, from: null, to: null });
  const sysctls: string[] = [];
  const pp = new PeerPath({ kernel: k, sysctl: (key, v) => sysctls.push(`${key}=${v}`) });
  const plan = peerWanPlan(cfg);
  await pp.apply(peerWanFacts(plan, 'master', 'lan0', peer()));
  t.same(k.log, [
    `rule del ${peerRulePriority} ${0x10000 + 1009} 1009`,
    `rule add ${peerRulePriority} ${0x10000 + 1001} 1001`,
    'route replace 0.0.0.0/0 table 1001 via 10.1.0.3 dev lan0',
    `rule add ${peerRulePriority} ${0x10000 + 1002} 1002`,
  ]);
  t.same(sysctls, ['net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.lan0.send_redirects=0']);
  k.log = [];
  await pp.apply(peerWanFacts(plan, 'master', 'lan0', peer()));
  t.same(k.log, [], 'a second pass with the same facts changes nothing');
  await pp.apply(peerWanFacts(plan, 'backup', 'lan0', peer({ role: 'master' })));
  t.same(k.log, ['route del 0.0.0.0/0 table 1001'], 'as backup the route is withdrawn, the rules stay');
  k.log = [];
  await pp.clear(plan);
  t.same(k.log, [`rule del ${peerRulePriority} ${0x10000 + 1001} 1001`, `rule del ${peerRulePriority} ${0x10000 + 1002} 1002`], 'clear removes the rules');
  t.equal(pp.lastError, null);
});
