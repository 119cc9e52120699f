// Unit tests of the topology description: the default network's address
// plan and names, and the validation errors (no root needed).
import t from 'tap';
import { isTernError } from '../../daemons/lib/errors.js';
import {
  applianceLan, applianceWans, defaultTopology, endsOf, hostOf, multiWanTopology, prefixContains, serverAddress,
  validateTopology, type Topology,
} from './topology.js';

t.test('the default topology validates and follows the address plan', async (t) => {
  const topo = defaultTopology();
  t.doesNotThrow(() => validateTopology(topo), 'default topology validates');

  for (const link of topo.links) {
    for (const end of [link.a, link.b]) {
      t.ok(end.ifname.length <= 15, `got ifname ${end.node}:${end.ifname} of ${end.ifname.length} chars; want at most 15`);
      if (link.use !== 'lan' && end.address) {
        t.ok(prefixContains('198.18.0.0/15', hostOf(end.address)), `got ${end.node}:${end.ifname} ${end.address}; want inside 198.18.0.0/15`);
      }
    }
  }

  const lan = (n: string) => hostOf(applianceLan(topo, n)?.address ?? '');
  const table: Array<[string, string, string]> = [
    ['office1 LAN', lan('office1'), '10.1.0.2'],
    ['office2 LAN', lan('office2'), '10.1.0.3'],
    ['home1 LAN', lan('home1'), '10.2.0.1'],
    ['cloud1 LAN', lan('cloud1'), '10.3.0.1'],
    ['office VIP', topo.sites.find((s) => s.name === 'office')?.vip ?? '', '10.1.0.1/24'],
  ];
  for (const [what, got, want] of table) t.equal(got, want, `${what}: got ${got}; want ${want}`);

  const hostAddr = (n: string) => hostOf(endsOf(topo, n)[0]?.end.address ?? '');
  t.equal(hostAddr('officehost'), '10.1.0.10', `got officehost ${hostAddr('officehost')}; want 10.1.0.10`);
  t.ok(prefixContains('10.2.0.0/24', hostAddr('homehost')), 'homehost is in 10.2.0.0/24');
  t.ok(prefixContains('10.3.0.0/24', hostAddr('cloudsrv')), 'cloudsrv is in 10.3.0.0/24');

  for (const a of topo.nodes.filter((n) => n.role === 'appliance')) {
    const wans = applianceWans(topo, a.name);
    const want = a.name === 'home1' ? 2 : 1;
    t.equal(wans.length, want, `got ${wans.length} WANs on ${a.name}; want ${want}`);
    const def = topo.routes.find((r) => r.node === a.name && r.to === 'default');
    t.equal(def?.via, wans[0]?.gateway, `got default route of ${a.name} via ${def?.via}; want its ISP gateway ${wans[0]?.gateway}`);
  }
  const rwEnds = endsOf(topo, 'rw');
  t.equal(rwEnds.length, 1, 'the roadwarrior has one link');
  t.equal(rwEnds[0]?.link.use, 'wan', 'the roadwarrior link is a WAN link');
  t.equal(topo.routes.find((r) => r.node === 'officehost')?.via, '10.1.0.2', 'officehost routes via office1 until the VIP exists');

  // The office LAN is one switch with office1, office2 and officehost on it.
  const ports = endsOf(topo, 'officelan').map((e) => e.peer.node).sort();
  t.same(ports, ['office1', 'office2', 'officehost'], `got officelan ports ${ports}; want office1, office2, officehost`);

  // Internet routers know only the public range: no route to a LAN prefix.
  for (const r of topo.routes.filter((x) => ['core', 'ispa', 'ispb', 'ispc', 'ispd'].includes(x.node))) {
    t.ok(r.to !== 'default' && prefixContains('198.18.0.0/15', r.to.split('/')[0]!), `got internet route ${r.node} ${r.to}; want inside 198.18.0.0/15`);
  }
});

t.test('the three-WAN topology: branch1 has one WAN per ISP, main leaves by ispa, every other site one WAN', async (t) => {
  const topo = multiWanTopology();
  t.doesNotThrow(() => validateTopology(topo), 'multiwan topology validates');
  const branch = applianceWans(topo, 'branch1').map((w) => `${w.name} ${w.ifname} ${w.isp} ${w.address} via ${w.gateway}`);
  t.same(branch, ['ispa wan0 ispa 198.18.1.2/30 via 198.18.1.1', 'ispb wan1 ispb 198.18.2.2/30 via 198.18.2.1', 'ispc wan2 ispc 198.18.3.2/30 via 198.18.3.1'],
    `branch1 WANs: got ${JSON.stringify(branch)}`);
  t.equal(topo.routes.find((r) => r.node === 'branch1' && r.to === 'default')?.via, '198.18.1.1', "branch1's main default route leaves by ispa");
  const others = topo.sites.filter((s) => s.name !== 'branch').map((s) => `${s.name}:${s.appliances.flatMap((a) => applianceWans(topo, a)).map((w) => w.name).join(',')}`);
  t.same(others, ['home:ispa', 'cloud:ispc', 'dc:ispb'], `got remote sites ${JSON.stringify(others)}; want one WAN each, one per ISP`);
  const remoteWans = topo.sites.filter((s) => s.name !== 'branch').flatMap((s) => s.appliances.flatMap((a) => applianceWans(topo, a)));
  t.equal(applianceWans(topo, 'branch1').length * remoteWans.length, 9, 'branch1 has 9 paths');
});

t.test('the internet behind the core: servers on 198.18.100.0/24, example.test, nothing else moved', async (t) => {
  const topo = defaultTopology();
  const servers = topo.internet?.servers.map((s) => `${s.node} ${serverAddress(topo, s.node)} ${s.services.join('+')} ${s.names.join(',')}`);
  t.same(servers, [
    'inet 198.18.100.10 http+iperf3 www,inet',
    'saas1 198.18.100.21 http saas1,*.saas1',
    'saas2 198.18.100.22 http saas2,*.cdn',
    'dns1 198.18.100.53 dns ns1',
  ], `got servers ${JSON.stringify(servers)}`);
  t.equal(topo.internet?.zone, 'example.test', `got zone ${topo.internet?.zone}; want example.test`);
  t.equal(topo.internet?.ttl, 10, `got ttl ${topo.internet?.ttl}; want 10`);
  const core = endsOf(topo, 'core').find((e) => e.end.ifname === 'servers');
  t.equal(core?.end.address, '198.18.100.1/24', `got core's server segment address ${core?.end.address}; want 198.18.100.1/24`);
  for (const s of topo.internet?.servers ?? []) {
    const def = topo.routes.find((r) => r.node === s.node && r.to === 'default')?.via;
    t.equal(def, '198.18.100.1', `got ${s.node} default via ${def}; want the core 198.18.100.1`);
  }
  // What other tests stand on is untouched: the ISPs' and the core's routes, and every link but the segment's.
  const routers = topo.routes.filter((r) => ['core', 'ispa', 'ispb', 'ispc', 'ispd'].includes(r.node)).map((r) => `${r.node} ${r.to}`);
  t.same(routers, ['core 198.18.1.0/24', 'core 198.18.2.0/24', 'core 198.18.3.0/24', 'core 198.18.4.0/24', 'ispa 198.18.0.0/15', 'ispb 198.18.0.0/15', 'ispc 198.18.0.0/15', 'ispd 198.18.0.0/15'],
    `got internet routes ${JSON.stringify(routers)}`);
  const segment = topo.links.filter((l) => l.b.node === 'servers');
  t.equal(segment.length, 5, `got ${segment.length} links on the server segment; want 5 (core and 4 servers)`);
  // 13 site and transit links, plus ispd's transit and home1's LTE link.
  t.equal(topo.links.length - segment.length, 15, `got ${topo.links.length - segment.length} other links; want 15`);
});

t.test('home1 has a second, metered WAN on ispd (LTE); main still leaves by ispa', async (t) => {
  const topo = defaultTopology();
  const home = applianceWans(topo, 'home1').map((w) => `${w.name} ${w.ifname} ${w.address} via ${w.gateway} ${w.downMbps}/${w.upMbps} metered=${w.metered} cost=${w.cost ?? 'default'}`);
  t.same(home, [
    'ispa wan0 198.18.1.6/30 via 198.18.1.5 100/20 metered=false cost=default',
    'ispd wan1 198.18.4.2/30 via 198.18.4.1 50/10 metered=true cost=50',
  ], `got home1 WANs ${JSON.stringify(home)}`);
  t.equal(topo.routes.find((r) => r.node === 'home1' && r.to === 'default')?.via, '198.18.1.5', "home1's main default route leaves by ispa");
  const ispd = topo.routes.filter((r) => r.node === 'ispd' || r.to === '198.18.4.0/24').map((r) => `${r.node} ${r.to} via ${r.via}`);
  t.same(ispd, ['core 198.18.4.0/24 via 198.18.0.14', 'ispd 198.18.0.0/15 via 198.18.0.13'], `got ispd routes ${JSON.stringify(ispd)}`);
  const metered = topo.nodes.filter((n) => n.role === 'appliance').flatMap((n) => applianceWans(topo, n.name).filter((w) => w.metered).map((w) => `${n.name}/${w.name}`));
  t.same(metered, ['home1/ispd'], `got metered WANs ${JSON.stringify(metered)}; want only home1's ispd`);
});

t.test('validation names the problem', async (t) => {
  type Mutate = (topo: Topology) => void;
  const cases: Array<[string, Mutate, RegExp]> = [
    ['duplicate node', (x) => { x.nodes.push({ ...x.nodes[0]! }); }, /duplicate name/],
    ['bad node name', (x) => { x.nodes[0]!.name = 'Core_1'; }, /name must match/],
    ['unknown node in link', (x) => { x.links[0]!.a.node = 'nowhere'; }, /unknown node "nowhere"/],
    ['long ifname', (x) => { x.links[0]!.a.ifname = 'averyveryverylongname'; }, /at most 15/],
    ['reserved ifname', (x) => { x.links[0]!.a.ifname = 'br0'; }, /reserved/],
    ['relay ifname', (x) => { x.links[0]!.a.ifname = 'dly3'; }, /reserved/],
    ['bad address', (x) => { x.links[0]!.a.address = '198.18.0.300/30'; }, /not an IPv4 address/],
    ['network address', (x) => { x.links[0]!.a.address = '198.18.0.0/30'; }, /network or broadcast/],
    ['ends in different prefixes', (x) => { x.links[0]!.a.address = '198.18.0.6/30'; }, /different prefixes/],
    ['duplicate address', (x) => { x.links[4]!.a.address = '198.18.1.2/30'; }, /already used/],
    ['address on a switch port', (x) => { x.links.find((l) => l.b.node === 'officelan')!.b.address = '10.1.0.99/24'; }, /switch port carries no address/],
    ['route via off-link', (x) => { x.routes[0]!.via = '203.0.113.1'; }, /none of the node's connected prefixes/],
    ['route to bad prefix', (x) => { x.routes[0]!.to = '198.18.1.1/24'; }, /host bits set/],
    ['vip outside LAN', (x) => { x.sites[0]!.vip = '10.9.0.1/24'; }, /outside 10\.1\.0\.0\/24/],
    ['site with unknown appliance', (x) => { x.sites[1]!.appliances = ['homehost']; }, /not an appliance node/],
    ['remote user not /32', (x) => { x.remoteUsers[0]!.address = '100.65.1.100/24'; }, /want a \/32/],
    ['zone outside .test', (x) => { x.internet!.zone = 'example.com'; }, /ending in \.test/],
    ['zone with a bad label', (x) => { x.internet!.zone = 'ex_ample.test'; }, /ending in \.test/],
    ['ttl zero', (x) => { x.internet!.ttl = 0; }, /ttl 0; want whole seconds/],
    ['server not a host', (x) => { x.internet!.servers[0]!.node = 'core'; }, /server core: not a host node/],
    ['server in a site', (x) => { x.internet!.servers[0]!.node = 'homehost'; }, /belongs to a site/],
    ['unknown service', (x) => { (x.internet!.servers[0]!.services as string[]).push('ftp'); }, /service "ftp"/],
    ['wildcard not leading', (x) => { x.internet!.servers[1]!.names.push('a.*.b'); }, /name "a\.\*\.b"/],
    ['name twice', (x) => { x.internet!.servers[2]!.names.push('saas1'); }, /name saas1 already names saas1/],
    ['two dns servers', (x) => { x.internet!.servers[0]!.services.push('dns'); }, /a second dns server/],
    ['no dns server', (x) => { x.internet!.servers[3]!.services = ['http']; }, /no server runs dns/],
  ];
  for (const [name, mutate, want] of cases) {
    const topo = defaultTopology();
    mutate(topo);
    let err: unknown;
    try {
      validateTopology(topo);
    } catch (e) {
      err = e;
    }
    t.ok(isTernError(err, 'TERN_E_LAB_TOPOLOGY'), `${name}: got ${String(err)}; want TERN_E_LAB_TOPOLOGY`);
    t.match(String((err as Error | undefined)?.message), want, `${name}: got message ${String((err as Error | undefined)?.message)}; want ${want}`);
  }
});
