import t from 'tap';
import { parseConfig } from '../lib/config/index.js';
import { generatePrivateKey } from '../lib/kernel/index.js';
import { activePaths, desiredState, dhcpWans, mainRouteMetric, pathEndpoint, pathTableAction, wanGuardMetric } from './desired.js';
import { clientConfig, remoteAccessEndpoint } from '../lib/overlay/remote-access.js';
import type { PathReading } from './status.js';

const text = `
version: 1
identity: {site: office, name: office-a}
wans:
  - {name: isp-a, interface: wan0, address: 198.18.1.2/30, gateway: 198.18.1.1}
lan: {interface: lan0, address: 10.1.0.2/24, prefixes: [10.1.0.0/24]}
overlay:
  address: 100.64.0.1/24
  sites:
    - id: home
      publicKey: Qf10CYH3+JQXszhYsD0KNBGYJsUQ4NuCe6PBsI/tdk4=
      overlayAddress: 100.64.0.2
      lanPrefixes: [10.2.0.0/24]
      wans:
        - {name: inet, endpoint: "198.18.3.2:51820"}
    - id: cloud
      publicKey: bu73hXWXtZZhKjLnZ9cYLzbfxjvHjD+tOEBRhGorqU0=
      overlayAddress: 100.64.0.3
      lanPrefixes: [10.3.0.0/24]
      wans:
        - {name: inet, endpoint: "cloud.lab:51820"}
        - {name: backup, endpoint: "198.18.5.2:51820", behindNat: true}
remoteUsers:
  - name: jane
    publicKey: yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=
    address: 100.65.1.10/32
    allowedPrefixes: [10.1.0.0/24, 10.3.0.0/24]
  - name: gone
    publicKey: tfatpabNOdG885R7Z3yFVGlJXjawftJ15Q06pqUQOyo=
    address: 100.65.1.11/32
    allowedPrefixes: [10.1.0.0/24]
    revoked: true
`;
const config = parseConfig(text).config;
const privateKey = generatePrivateKey();
const base = { config, privateKey, presharedKeys: new Map(), userPresharedKeys: new Map(), resolved: new Map([['cloud.lab', '198.18.4.2']]) };

t.test('one interface per path plus remote access, with the right peers', async (t) => {
  const d = desiredState({ ...base, upPaths: new Set() });
  t.same(d.interfaces.map((i) => i.ifname), ['tn1-2-00', 'tn1-3-00', 'tn1-3-01', 'tnra1-0']);
  const home = d.interfaces[0]!;
  t.equal(home.device.listenPort, 51820 + 32, `got listen port ${home.device.listenPort}; want 51852`);
  t.equal(home.device.peers[0]!.endpoint, `198.18.3.2:${51820 + 16 + 0}`);
  t.same(home.device.peers[0]!.allowedIps, ['100.64.0.2/32', '10.2.0.0/24', 'fe80::/64']);
  t.equal(home.device.peers[0]!.persistentKeepalive, 25);
  t.same(home.addresses, ['100.64.0.1/32', 'fe80::1:0/64']);
  // cloud.lab is resolved; 'backup' is behind NAT: its endpoint is learnt, not set.
  const cloudInet = d.interfaces.find((i) => i.ifname === 'tn1-3-01')!;
  t.match(cloudInet.device.peers[0]!.endpoint, /^198\.18\.4\.2:/);
  const cloudBackup = d.interfaces.find((i) => i.ifname === 'tn1-3-00')!;
  t.equal(cloudBackup.device.peers[0]!.endpoint, undefined, 'a NATed WAN gets no endpoint from us');
  const ra = d.interfaces.find((i) => i.ifname === 'tnra1-0')!;
  t.same(ra.device.peers.map((p) => p.allowedIps), [['100.65.1.10/32']], 'revoked users are not peers');
  t.equal(ra.device.listenPort, 51819);
  t.same(d.rules, [{ priority: 10100, fwmark: 0x10000 + 1000, table: 1000, family: 4 }]);
  t.ok(d.routes.some((r) => r.table === 1000 && r.dst === '0.0.0.0/0' && r.gateway === '198.18.1.1'), 'WAN table default route');
});

t.test('the main table sends each site through its first path that is up', async (t) => {
  const none = desiredState({ ...base, upPaths: new Set() });
  const mainCloud = (d: typeof none) => d.routes.filter((r) => r.table === 254 && r.dst === '10.3.0.0/24');
  t.same(mainCloud(none).map((r) => r.dev), ['tn1-3-00'], 'none up: the first path');
  t.ok(mainCloud(none).every((r) => r.metric === mainRouteMetric));
  t.ok(none.routes.filter((r) => r.dev?.startsWith('tn1-')).every((r) => r.src === '10.1.0.2'), 'overlay routes carry the LAN address as source');
  const some = desiredState({ ...base, upPaths: new Set(['isp-a/cloud/inet']) });
  t.same(mainCloud(some).map((r) => r.dev), ['tn1-3-01'], 'the first that is up');
  t.same([...activePaths(some.plan.paths, new Set(['isp-a/cloud/backup', 'isp-a/cloud/inet']))], [['home', 'isp-a/home/inet'], ['cloud', 'isp-a/cloud/backup']]);
  // Every path has its own table with the remote prefixes.
  for (const p of some.plan.paths) {
    const own = some.routes.filter((r) => r.table === p.table).map((r) => r.dst);
    t.same(own, p.remotePrefixes, `${p.name}: table ${p.table}`);
  }
  t.ok(some.routes.some((r) => r.table === 254 && r.dst === '100.65.1.10/32' && r.dev === 'tnra1-0'));
});

t.test('remote-access client config is a standard wg-quick file', async (t) => {
  const user = config.remoteUsers[0]!;
  const txt = clientConfig({ user, clientPrivateKey: privateKey, serverPublicKey: config.overlay.sites[0]!.publicKey, endpoint: remoteAccessEndpoint(config) });
  t.match(txt, /^\[Interface\]$/m);
  t.match(txt, /^Address = 100\.65\.1\.10\/32$/m);
  t.match(txt, /^Endpoint = 198\.18\.1\.2:51819$/m);
  t.match(txt, /^AllowedIPs = 10\.1\.0\.0\/24, 10\.3\.0\.0\/24$/m);
  t.notMatch(txt, /PresharedKey/);
});

t.test('the unsteered route avoids a metered or costlier WAN while a better one is up', async (t) => {
  const two = text.replace('  - {name: isp-a, interface: wan0, address: 198.18.1.2/30, gateway: 198.18.1.1}',
    '  - {name: lte, interface: wan1, address: 198.18.9.2/30, gateway: 198.18.9.1, metered: true, cost: 1}\n' +
    '  - {name: isp-a, interface: wan0, address: 198.18.1.2/30, gateway: 198.18.1.1, cost: 50}\n' +
    '  - {name: isp-b, interface: wan2, address: 198.18.8.2/30, gateway: 198.18.8.1, cost: 20}');
  const cfg = parseConfig(two).config;
  const main = (up: string[]): string | undefined => {
    const d = desiredState({ ...base, config: cfg, upPaths: new Set(up) });
    return d.active.get('home');
  };
  const plan = desiredState({ ...base, config: cfg, upPaths: new Set() }).plan;
  t.equal(plan.paths.find((p) => p.site === 'home')?.name, 'isp-a/home/inet', 'plan order alone puts home behind isp-a (dearer than isp-b)');
  t.equal(main(['lte/home/inet', 'isp-a/home/inet', 'isp-b/home/inet']), 'isp-b/home/inet', 'all up: the cheapest unmetered WAN');
  t.equal(main(['lte/home/inet', 'isp-a/home/inet']), 'isp-a/home/inet', 'cheapest down: the next unmetered one, though dearer');
  t.equal(main(['lte/home/inet']), 'lte/home/inet', 'only the metered WAN up: it carries the traffic');
  t.equal(main([]), 'isp-b/home/inet', 'nothing up: the same preference among all');
  const flat = [...activePaths(plan.paths, new Set(['lte/home/inet', 'isp-b/home/inet']))];
  t.same(flat.find(([s]) => s === 'home'), ['home', plan.paths.find((p) => p.site === 'home' && ['lte/home/inet', 'isp-b/home/inet'].includes(p.name))!.name], 'without WAN costs: plan order among the up paths');
});

// Two DHCP WANs (the image's default config has dhcp: true): each WAN's
// table must carry the gateway its own DHCP client put in main, or every
// tunnel's outer packets fall through to main's one default route.
const dhcpText = text.replace('  - {name: isp-a, interface: wan0, address: 198.18.1.2/30, gateway: 198.18.1.1}',
  '  - {name: isp-a, interface: wan0, dhcp: true}\n  - {name: lte, interface: wan1, dhcp: true}\n  - {name: dc, interface: wan2, address: "2001:db8:7::2/64", gateway: "2001:DB8:7::1"}');
const dhcpConfig = parseConfig(dhcpText).config;

t.test('a DHCP WAN\'s table gets the gateway learned from main, per WAN and family; none while no lease; kept until known', async (t) => {
  const d = (gateways?: Map<string, string[]>) => desiredState({ ...base, config: dhcpConfig, upPaths: new Set(), ...(gateways ? { dhcpGateways: gateways } : {}) });
  const table = (s: ReturnType<typeof d>, wan: string) => s.plan.wans.find((w) => w.name === wan)!.table;
  // The gateway routes; the WAN guard, in every WAN table, has its own test.
  const wanRoutes = (s: ReturnType<typeof d>, wan: string) => s.routes.filter((r) => r.table === table(s, wan) && (r.type ?? 'unicast') === 'unicast').map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`);
  const cases: Array<{ name: string; gateways?: Map<string, string[]>; want: Record<string, string[]>; kept: string[] }> = [
    {
      name: 'two leases, one with an IPv6 router too',
      gateways: new Map([['isp-a', ['198.18.1.1', 'fe80::1']], ['lte', ['100.64.9.1']]]),
      want: {
        // The gateway's host route first: a lease's gateway may lie outside the subnet.
        'isp-a': ['198.18.1.1/32 dev wan0', '0.0.0.0/0 via 198.18.1.1 dev wan0', '::/0 via fe80::1 dev wan0'],
        lte: ['100.64.9.1/32 dev wan1', '0.0.0.0/0 via 100.64.9.1 dev wan1'],
        dc: ['::/0 via 2001:db8:7::1 dev wan2'],
      },
      kept: [],
    },
    {
      name: 'the lte lease gone: its table is emptied',
      gateways: new Map([['isp-a', ['198.18.1.1']]]),
      want: { 'isp-a': ['198.18.1.1/32 dev wan0', '0.0.0.0/0 via 198.18.1.1 dev wan0'], lte: [], dc: ['::/0 via 2001:db8:7::1 dev wan2'] },
      kept: [],
    },
    {
      name: 'main not read yet: the DHCP WANs\' tables are kept as they are; the static WAN\'s is not',
      want: { 'isp-a': [], lte: [], dc: ['::/0 via 2001:db8:7::1 dev wan2'] },
      kept: ['isp-a', 'lte'],
    },
  ];
  for (const c of cases) {
    const s = d(c.gateways);
    for (const [wan, routes] of Object.entries(c.want)) {
      t.same(wanRoutes(s, wan), routes, `${c.name}: ${wan}: got ${JSON.stringify(wanRoutes(s, wan))}; want ${JSON.stringify(routes)}`);
    }
    const kept = c.kept.map((w) => table(s, w));
    t.same([...s.keptTables].sort(), kept.sort(), `${c.name}: got kept tables ${[...s.keptTables].join(',')}; want ${kept.join(',')}`);
  }
  t.same(dhcpWans(dhcpConfig).map((w) => [w.wan, w.device]), [['isp-a', 'wan0'], ['lte', 'wan1']], 'the static WAN is not learned');
});

t.test('WAN-mark rules: IPv4 for every WAN, IPv6 too for a DHCP WAN or an IPv6 gateway', async (t) => {
  const s = desiredState({ ...base, config: dhcpConfig, upPaths: new Set(), dhcpGateways: new Map() });
  const got = s.rules.map((r) => `${s.plan.wans.find((w) => w.table === r.table)!.name} v${r.family} ${r.priority} 0x${r.fwmark!.toString(16)}`);
  const want = s.plan.wans.flatMap((w) => [`${w.name} v4 10100 0x${w.mark.toString(16)}`, `${w.name} v6 10100 0x${w.mark.toString(16)}`]);
  t.same(got.sort(), want.sort(), `got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
  const v4only = desiredState({ ...base, upPaths: new Set() }).rules;
  t.same(v4only.map((r) => r.family), [4], 'a static IPv4 WAN: the IPv4 rule only');
});

t.test('a path\'s table: filled while up or unknown, empty while known down, kept until read since start', async (t) => {
  const cases: Array<{ reading: PathReading | undefined; action: string }> = [
    { reading: 'up', action: 'fill' },
    { reading: 'down', action: 'empty' },
    { reading: 'failed', action: 'fill' },
    { reading: 'none', action: 'keep' },
    { reading: undefined, action: 'fill' },
  ];
  for (const c of cases) t.equal(pathTableAction(c.reading), c.action, `reading ${c.reading}: got ${pathTableAction(c.reading)}; want ${c.action}`);

  const readings = new Map<string, PathReading>([
    ['isp-a/home/inet', 'down'], ['isp-a/cloud/backup', 'none'], ['isp-a/cloud/inet', 'failed'],
  ]);
  const s = desiredState({ ...base, upPaths: new Set(['isp-a/cloud/inet']), pathReadings: readings });
  const path = (name: string) => s.plan.paths.find((p) => p.name === name)!;
  const own = (name: string) => s.routes.filter((r) => r.table === path(name).table).map((r) => r.dst);
  t.same(own('isp-a/home/inet'), [], 'down: empty, so a pinned flow falls through to main');
  t.same(own('isp-a/cloud/backup'), [], 'not read: nothing wanted...');
  t.ok(s.keptTables.has(path('isp-a/cloud/backup').table), '...and the table kept as it is');
  t.notOk(s.keptTables.has(path('isp-a/home/inet').table), 'a down path\'s table is not kept: it is emptied');
  t.same(own('isp-a/cloud/inet'), path('isp-a/cloud/inet').remotePrefixes, 'reading failed: filled, never emptied for want of news');
  // The main table still reaches home through its (only, down) path: the route must point somewhere.
  t.same(s.routes.filter((r) => r.table === 254 && r.dst === '10.2.0.0/24').map((r) => r.dev), ['tn1-2-00']);
});

t.test('every WAN table ends in the WAN guard (unreachable, last metric) of each family it has a rule for, kept or not', async (t) => {
  const cases: Array<{ name: string; gateways?: Map<string, string[]>; want: Record<string, string[]> }> = [
    { name: 'leases known', gateways: new Map([['isp-a', ['198.18.1.1']]]), want: { 'isp-a': ['v4', 'v6'], lte: ['v4', 'v6'], dc: ['v4', 'v6'] } },
    { name: 'no lease anywhere', gateways: new Map(), want: { 'isp-a': ['v4', 'v6'], lte: ['v4', 'v6'], dc: ['v4', 'v6'] } },
    { name: 'main not read yet', want: { 'isp-a': ['v4', 'v6'], lte: ['v4', 'v6'], dc: ['v4', 'v6'] } },
  ];
  for (const c of cases) {
    const s = desiredState({ ...base, config: dhcpConfig, upPaths: new Set(), ...(c.gateways ? { dhcpGateways: c.gateways } : {}) });
    for (const w of s.plan.wans) {
      const guards = s.routes.filter((r) => r.table === w.table && r.type === 'unreachable');
      const got = guards.map((r) => (r.dst.includes(':') ? 'v6' : 'v4')).sort();
      t.same(got, c.want[w.name], `${c.name}: ${w.name}: got guards ${JSON.stringify(got)}; want ${JSON.stringify(c.want[w.name])}`);
      t.ok(guards.every((r) => r.metric === wanGuardMetric && /^(0\.0\.0\.0|::)\/0$/.test(r.dst) && r.dev === undefined && r.gateway === undefined),
        `${c.name}: ${w.name}: a guard is a default route at metric ${wanGuardMetric} with no next hop: got ${JSON.stringify(guards)}`);
      const rules = s.rules.filter((r) => r.table === w.table).map((r) => `v${r.family}`).sort();
      t.same(got, rules, `${c.name}: ${w.name}: a guard for each family with a WAN-mark rule: got ${JSON.stringify(got)}; want ${JSON.stringify(rules)}`);
    }
  }
  const s = desiredState({ ...base, upPaths: new Set() });
  const only = s.routes.filter((r) => r.type === 'unreachable').map((r) => `${r.dst} table ${r.table}`);
  t.same(only, [`0.0.0.0/0 table ${s.plan.wans[0]!.table}`], `a static IPv4 WAN: got guards ${JSON.stringify(only)}; want the IPv4 one`);
});

t.test('pathEndpoint: the remote WAN address the config names, none behind NAT or unresolved', async (t) => {
  const plan = desiredState({ ...base, upPaths: new Set() }).plan;
  const path = (name: string) => plan.paths.find((p) => p.name === name)!;
  const cases: Array<[string, string, Map<string, string>, string | undefined]> = [
    ['an address', 'isp-a/home/inet', new Map(), `198.18.3.2:${path('isp-a/home/inet').endpointPort}`],
    ['a name not resolved yet', 'isp-a/cloud/inet', new Map(), undefined],
    ['a name resolved', 'isp-a/cloud/inet', new Map([['cloud.lab', '198.18.4.2']]), `198.18.4.2:${path('isp-a/cloud/inet').endpointPort}`],
    ['a name resolved to IPv6', 'isp-a/cloud/inet', new Map([['cloud.lab', '2001:db8::4']]), `[2001:db8::4]:${path('isp-a/cloud/inet').endpointPort}`],
    ['behind NAT', 'isp-a/cloud/backup', new Map(), undefined],
  ];
  for (const [name, p, resolved, want] of cases) {
    const got = pathEndpoint(path(p), resolved);
    t.equal(got, want, `${name}: got ${got}; want ${want}`);
    const peer = desiredState({ ...base, resolved, upPaths: new Set() }).interfaces.find((i) => i.path?.name === p)!.device.peers[0]!;
    t.equal(peer.endpoint, want, `${name}: the peer's endpoint is the same: got ${peer.endpoint}; want ${want}`);
  }
});
