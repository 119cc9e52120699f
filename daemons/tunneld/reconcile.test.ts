// The reconciler's route and rule decisions against a fake kernel: a DHCP
// gateway copied into the WAN table and followed, a path's table emptied
// while the path is down, kept tables left alone, IPv6 WAN-mark rules and
// routes, and a restart (a second reconciler over the same kernel) that
// changes nothing.
import t, { type Test } from 'tap';
import { parseConfig } from '../lib/config/index.js';
import { generatePrivateKey, type RuleInfo } from '../lib/kernel/index.js';
import { silentLogger } from '../lib/log/index.js';
import { desiredState, type DesiredInputs } from './desired.js';
import { FakeKernel } from './kernel.fixture.js';
import { reconcile, routeKey } from './reconcile.js';
import type { PathReading } from './status.js';

const text = `
version: 1
identity: {site: office, name: office-a}
wans:
  - {name: isp-a, interface: wan0, dhcp: true}
  - {name: isp-b, interface: wan1, dhcp: true}
lan: {interface: lan0, address: 10.1.0.2/24, prefixes: [10.1.0.0/24]}
overlay:
  address: 100.64.0.1/24
  sites:
    - id: home
      publicKey: Qf10CYH3+JQXszhYsD0KNBGYJsUQ4NuCe6PBsI/tdk4=
      overlayAddress: 100.64.0.2
      lanPrefixes: [10.2.0.0/24, "2001:DB8:2::/64"]
      wans:
        - {name: inet, endpoint: "198.18.3.2:51820"}
`;
const config = parseConfig(text).config;
const base: Omit<DesiredInputs, 'upPaths'> = { config, privateKey: generatePrivateKey(), presharedKeys: new Map(), userPresharedKeys: new Map(), resolved: new Map() };
const want = (o: Partial<DesiredInputs> = {}) => desiredState({ ...base, upPaths: new Set(), ...o });
const plan = want().plan;
const wanTable = (name: string): number => plan.wans.find((w) => w.name === name)!.table;
const pathOf = (wan: string) => plan.paths.find((p) => p.localWan === wan)!;

async function pass(t: Test, k: FakeKernel, o: Partial<DesiredInputs> = {}) {
  k.ops = [];
  const report = await reconcile(want(o), { rtnl: k.rtnl(), wg: k.wg(), logger: silentLogger() });
  t.same(report.errors, [], 'the pass has no errors');
  return report;
}

/** The unicast routes of a table (the WAN guards have a test of their own). */
const inTable = (k: FakeKernel, table: number): string[] => k.routes.filter((r) => r.table === table && r.type === 'unicast').map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`).sort();

t.test('routeKey: an IPv6 route without a metric is the kernel\'s 1024; spelling does not matter', async (t) => {
  t.equal(routeKey({ table: 1000, dst: '::/0' }), routeKey({ table: 1000, dst: '::/0', metric: 1024 }));
  t.equal(routeKey({ table: 1000, dst: '0.0.0.0/0' }), '1000 0.0.0.0/0 0');
  t.equal(routeKey({ table: 10016, dst: '2001:DB8:2::/64' }), '10016 2001:db8:2::/64 1024');
});

t.test('a DHCP WAN\'s gateway: copied into its table, followed, adopted on restart without a flap, removed with the lease', async (t) => {
  const k = new FakeKernel(['wan0', 'wan1', 'lan0']);
  const ta = wanTable('isp-a');
  const tb = wanTable('isp-b');
  // Before main is read (start, or the reading failed): whatever the WAN
  // tables hold stays, even a route tunneld does not want now.
  // What a tunneld before this one left.
  k.routes.push({ family: 4, dst: '198.18.1.1/32', table: ta, type: 'unicast', dev: 'wan0', gateway: null, src: null, metric: 0 });
  k.routes.push({ family: 4, dst: '0.0.0.0/0', table: ta, type: 'unicast', dev: 'wan0', gateway: '198.18.1.1', src: null, metric: 0 });
  await pass(t, k);
  t.same(inTable(k, ta), ['0.0.0.0/0 via 198.18.1.1 dev wan0', '198.18.1.1/32 dev wan0'], 'unknown: the WAN table is kept');
  t.same(k.routeOps().filter((o) => o.includes(`table ${ta}`)), [], 'and not touched');

  const a1 = ['0.0.0.0/0 via 198.18.1.1 dev wan0', '198.18.1.1/32 dev wan0'];
  const a5 = ['0.0.0.0/0 via 198.18.1.5 dev wan0', '198.18.1.5/32 dev wan0'];
  const b1 = ['0.0.0.0/0 via 198.18.2.1 dev wan1', '198.18.2.1/32 dev wan1'];
  const steps: Array<{ name: string; gateways: Map<string, string[]>; a: string[]; b: string[]; ops: number }> = [
    { name: 'the same lease as the kernel has (a restart): nothing changes', gateways: new Map([['isp-a', ['198.18.1.1']]]), a: a1, b: [], ops: 0 },
    { name: 'isp-b gets its lease: its own gateway in its own table', gateways: new Map([['isp-a', ['198.18.1.1']], ['isp-b', ['198.18.2.1']]]), a: a1, b: b1, ops: 2 },
    { name: 'a new lease on isp-a (a gateway only on the link, not in the subnet): replaced, the old host route gone', gateways: new Map([['isp-a', ['198.18.1.5']], ['isp-b', ['198.18.2.1']]]), a: a5, b: b1, ops: 3 },
    { name: 'an IPv6 router on isp-a', gateways: new Map([['isp-a', ['198.18.1.5', 'fe80::1']], ['isp-b', ['198.18.2.1']]]), a: [...a5, '::/0 via fe80::1 dev wan0'], b: b1, ops: 1 },
    { name: 'the same again: the IPv6 route (metric 1024 in the kernel) is not churned', gateways: new Map([['isp-a', ['198.18.1.5', 'fe80::1']], ['isp-b', ['198.18.2.1']]]), a: [...a5, '::/0 via fe80::1 dev wan0'], b: b1, ops: 0 },
    { name: 'isp-b\'s lease is gone: its table is emptied', gateways: new Map([['isp-a', ['198.18.1.5', 'fe80::1']]]), a: [...a5, '::/0 via fe80::1 dev wan0'], b: [], ops: 2 },
  ];
  for (const s of steps) {
    const r = await pass(t, k, { dhcpGateways: s.gateways });
    t.same(inTable(k, ta), s.a, `${s.name}: isp-a table: got ${JSON.stringify(inTable(k, ta))}; want ${JSON.stringify(s.a)}`);
    t.same(inTable(k, tb), s.b, `${s.name}: isp-b table: got ${JSON.stringify(inTable(k, tb))}; want ${JSON.stringify(s.b)}`);
    const wanOps = k.routeOps().filter((o) => o.includes(`table ${ta}`) || o.includes(`table ${tb}`));
    t.equal(wanOps.length, s.ops, `${s.name}: got WAN-table changes ${JSON.stringify(wanOps)}; want ${s.ops}`);
    t.equal(r.routes.replaced + r.routes.removed >= s.ops, true);
  }
});

t.test('WAN-mark rules of both families: added, adopted, and a stale IPv6 one removed by its family', async (t) => {
  const k = new FakeKernel(['wan0', 'wan1', 'lan0']);
  const stale: RuleInfo = { family: 6, priority: 10100, action: 'lookup', table: 1050, fwmark: 0x10000 + 1050, fwmask: null, from: null, to: null };
  k.rulesList.push(stale);
  let r = await pass(t, k, { dhcpGateways: new Map() });
  const got = k.rulesList.map((x) => `v${x.family} ${x.table}`).sort();
  const wantRules = plan.wans.flatMap((w) => [`v4 ${w.table}`, `v6 ${w.table}`]).sort();
  t.same(got, wantRules, `got rules ${JSON.stringify(got)}; want ${JSON.stringify(wantRules)}`);
  t.same([r.rules.added, r.rules.removed], [4, 1]);
  r = await pass(t, k, { dhcpGateways: new Map() });
  t.same([r.rules.added, r.rules.removed], [0, 0], 'a second pass adopts them');
});

t.test('a path\'s table: emptied while the path is down, refilled when up, kept until read, never emptied on a failed reading', async (t) => {
  const k = new FakeKernel(['wan0', 'wan1', 'lan0']);
  const p = pathOf('isp-a');
  const other = pathOf('isp-b');
  const full = ['10.2.0.0/24 dev ' + p.ifname, '100.64.0.2/32 dev ' + p.ifname, '2001:db8:2::/64 dev ' + p.ifname].sort();
  const readings = (a: PathReading, b: PathReading = 'up') => new Map<string, PathReading>([[p.name, a], [other.name, b]]);
  const gw = { dhcpGateways: new Map<string, string[]>() };
  await pass(t, k, { ...gw, pathReadings: readings('up') });
  t.same(inTable(k, p.table), full, 'up: the remote prefixes through the tunnel');

  const steps: Array<{ name: string; reading: PathReading; want: string[]; ops: number }> = [
    { name: 'up again: no change (IPv6 prefix adopted at metric 1024)', reading: 'up', want: full, ops: 0 },
    { name: 'down: emptied, so a pinned flow falls through to main', reading: 'down', want: [], ops: 3 },
    { name: 'the reading fails: filled (unknown counts as up)', reading: 'failed', want: full, ops: 3 },
    { name: 'down again', reading: 'down', want: [], ops: 3 },
    { name: 'a restart, nothing read yet: kept empty', reading: 'none', want: [], ops: 0 },
    { name: 'a restart with the path still down: still empty, no change', reading: 'down', want: [], ops: 0 },
    { name: 'up: refilled', reading: 'up', want: full, ops: 3 },
    { name: 'a restart, nothing read yet: kept full', reading: 'none', want: full, ops: 0 },
  ];
  for (const s of steps) {
    await pass(t, k, { ...gw, pathReadings: readings(s.reading), upPaths: new Set(s.reading === 'up' ? [p.name, other.name] : [other.name]) });
    t.same(inTable(k, p.table), s.want, `${s.name}: got ${JSON.stringify(inTable(k, p.table))}; want ${JSON.stringify(s.want)}`);
    const ops = k.routeOps().filter((o) => o.includes(`table ${p.table}`));
    t.equal(ops.length, s.ops, `${s.name}: got table changes ${JSON.stringify(ops)}; want ${s.ops}`);
    t.equal(inTable(k, other.table).length, 3, `${s.name}: the other path's table is untouched`);
  }
  // A kept table is left alone whatever it holds: a route tunneld would not put there stays.
  k.routes.push({ family: 4, dst: '10.9.0.0/24', table: p.table, type: 'unicast', dev: p.ifname, gateway: null, src: null, metric: 0 });
  await pass(t, k, { ...gw, pathReadings: readings('none') });
  t.ok(inTable(k, p.table).includes(`10.9.0.0/24 dev ${p.ifname}`), 'kept means kept');
  await pass(t, k, { ...gw, pathReadings: readings('up') });
  t.same(inTable(k, p.table), full, 'once read, the table is made exact');
});

// Issue #15 section 2: a tunnel sends its first handshake as soon as it is
// up with a peer endpoint. Before the WAN table and the WAN-mark rule exist
// that packet leaves by main's default route, from another WAN's address,
// and the remote end roams there for good.
t.test('order: every WAN table route, WAN guard and WAN-mark rule is in place before any tunnel is configured or brought up', async (t) => {
  const k = new FakeKernel(['wan0', 'wan1', 'lan0']);
  const gateways = new Map([['isp-a', ['198.18.1.1']], ['isp-b', ['198.18.2.1']]]);
  // The gateways' host routes, as a DHCP client's onlink routes would let the kernel take them.
  await pass(t, k, { dhcpGateways: gateways });
  const ops = k.ops;
  const firstTunnel = ops.findIndex((o) => /^(create|configure|up) /.test(o));
  t.ok(firstTunnel > 0, `a tunnel was made: got ops ${JSON.stringify(ops)}`);
  for (const w of plan.wans) {
    const wanOps = ops.map((o, i) => [o, i] as const).filter(([o]) => o.includes(`table ${w.table}`));
    const need = [`rule add v4 fwmark 0x${w.mark.toString(16)} table ${w.table}`, `route replace 0.0.0.0/0 table ${w.table} via`, `route replace unreachable 0.0.0.0/0 table ${w.table}`];
    for (const n of need) {
      const at = wanOps.find(([o]) => o.startsWith(n));
      t.ok(at && at[1] < firstTunnel, `${w.name}: '${n}' at ${at?.[1]}; want before the first tunnel operation at ${firstTunnel} (${ops[firstTunnel]})`);
    }
  }
  for (const p of plan.paths) {
    const configured = ops.indexOf(ops.find((o) => o.startsWith(`configure ${p.ifname} `))!);
    const up = ops.indexOf(`up ${p.ifname}`);
    t.ok(configured >= 0 && up > configured, `${p.ifname}: configured (fwmark, endpoint) at ${configured}, up at ${up}; want configured first`);
    t.match(ops[configured], new RegExp(`fwmark 0x${(0x10000 + wanTable(p.localWan)).toString(16)} endpoint 198\\.18\\.3\\.2:`), `${p.ifname}: its WAN's mark and the remote WAN's address`);
    const pathRoutes = ops.findIndex((o) => o.includes(`table ${p.table}`));
    t.ok(pathRoutes > up, `${p.ifname}: its path table filled at ${pathRoutes}, after the device exists (${up})`);
  }
});

t.test('the WAN guard: added with the WAN table, adopted by a restart (IPv6 one listed on lo), never in the way of the gateway route', async (t) => {
  const k = new FakeKernel(['wan0', 'wan1', 'lan0']);
  const gateways = new Map([['isp-a', ['198.18.1.1', 'fe80::1']]]);
  await pass(t, k, { dhcpGateways: gateways });
  const guards = (table: number) => k.routes.filter((r) => r.table === table && r.type === 'unreachable').map((r) => `${r.dst} metric ${r.metric} dev ${r.dev}`).sort();
  for (const w of plan.wans) {
    t.same(guards(w.table), ['0.0.0.0/0 metric 4294967295 dev null', '::/0 metric 4294967295 dev lo'], `${w.name}: got guards ${JSON.stringify(guards(w.table))}`);
  }
  const r = await pass(t, k, { dhcpGateways: gateways });
  t.same([k.guardOps(), r.routes], [[], { replaced: 0, removed: 0 }], 'a second pass (a restart) adopts them: no route changes');
  // The lease goes: the gateway route leaves, the guard stays.
  await pass(t, k, { dhcpGateways: new Map() });
  const ta = wanTable('isp-a');
  t.same(inTable(k, ta), [], 'isp-a: no route out of the WAN');
  t.same(guards(ta).length, 2, 'isp-a: what is marked for it now meets its guard, not main');
  t.same(k.guardOps(), [], 'the guards untouched');
});
