import t from 'tap';
import { parseConfig, type TernConfig } from '../config/index.js';
import { overlayPlan, siteNumber, tunnelPort, wanSlots, type PathPlan } from './index.js';

const keys = {
  office: 'yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=',
  home: 'Qf10CYH3+JQXszhYsD0KNBGYJsUQ4NuCe6PBsI/tdk4=',
  cloud: 'bu73hXWXtZZhKjLnZ9cYLzbfxjvHjD+tOEBRhGorqU0=',
};

interface Site { id: keyof typeof keys; n: number; wans: Array<{ name: string; addr: string }>; lan: string }
const sites: Site[] = [
  { id: 'office', n: 1, wans: [{ name: 'isp-a', addr: '198.18.1.2' }, { name: 'isp-b', addr: '198.18.2.2' }], lan: '10.1.0.0/24' },
  { id: 'home', n: 2, wans: [{ name: 'inet', addr: '198.18.3.2' }], lan: '10.2.0.0/24' },
  { id: 'cloud', n: 3, wans: [{ name: 'inet', addr: '198.18.4.2' }, { name: 'backup', addr: '198.18.5.2' }], lan: '10.3.0.0/24' },
];

/** The config of one box of a site that owns `own` of the site's WANs (the rest are its PAIR peer's). */
function configFor(site: Site, own: string[], opts: { topology?: string; hub?: string; base?: number } = {}): TernConfig {
  const peerWans = site.wans.map((w) => w.name).filter((n) => !own.includes(n));
  const lines = [
    'version: 1',
    `identity: {site: ${site.id}, name: ${site.id}-${own.join('-')}}`,
    'wans:',
    ...own.map((name, i) => `  - {name: ${name}, interface: eth${i}, address: ${site.wans.find((w) => w.name === name)!.addr}/30, gateway: ${site.wans.find((w) => w.name === name)!.addr.replace(/\.2$/, '.1')}}`),
    `lan: {interface: lan0, address: ${site.lan.replace('.0/24', '.2/24')}, prefixes: [${site.lan}]}`,
    'overlay:',
    `  topology: ${opts.topology ?? 'mesh'}`,
    ...(opts.hub ? [`  hub: ${opts.hub}`] : []),
    `  listenPort: ${opts.base ?? 51820}`,
    `  address: 100.64.0.${site.n}/24`,
    '  sites:',
    ...sites.filter((s) => s.id !== site.id).flatMap((s) => [
      `    - id: ${s.id}`,
      `      publicKey: ${keys[s.id]}`,
      `      overlayAddress: 100.64.0.${s.n}`,
      `      lanPrefixes: [${s.lan}]`,
      '      wans:',
      // Every site uses the same base port here except where a test says otherwise.
      ...s.wans.map((w) => `        - {name: ${w.name}, endpoint: "${w.addr}:${opts.base ?? 51820}"}`),
    ]),
    ...(peerWans.length ? ['pair:', '  vrid: 10', `  vips: [${site.lan.replace('.0/24', '.1/24')}]`, `  peerWans: [${peerWans.join(', ')}]`] : []),
  ];
  return parseConfig(lines.join('\n') + '\n', `${site.id}.yaml`).config;
}

t.test('site numbers and WAN slots', async (t) => {
  t.equal(siteNumber('100.64.0.1/24', '100.64.0.3'), 3);
  t.equal(siteNumber('100.64.0.1/16', '100.64.1.3/32'), 259);
  t.same([...wanSlots(['isp-b', 'isp-a', 'lte'])], [['isp-a', 0], ['isp-b', 1], ['lte', 2]]);
  t.equal(tunnelPort(51820, 3, 1, 0), 51820 + 48 + 4);
});

t.test('every box agrees with every other on each tunnel: ports, slots and link addresses', async (t) => {
  // The office is a PAIR: office-a has isp-a, office-b has isp-b.
  const boxes = [
    { site: sites[0]!, cfg: configFor(sites[0]!, ['isp-a']) },
    { site: sites[0]!, cfg: configFor(sites[0]!, ['isp-b']) },
    { site: sites[1]!, cfg: configFor(sites[1]!, ['inet']) },
    { site: sites[2]!, cfg: configFor(sites[2]!, ['inet', 'backup']) },
  ];
  const all: Array<{ box: string; site: string; p: PathPlan }> = [];
  for (const b of boxes) {
    const plan = overlayPlan(b.cfg);
    t.equal(plan.siteNumber, b.site.n);
    const names = plan.paths.map((p) => p.ifname);
    t.equal(new Set(names).size, names.length, `${b.cfg.identity.name}: interface names unique: ${names.join(' ')}`);
    t.ok(names.every((n) => n.length <= 15), 'interface names fit IFNAMSIZ');
    const tables = plan.paths.map((p) => p.table);
    t.equal(new Set(tables).size, tables.length, 'tables unique');
    const ports = plan.paths.map((p) => p.listenPort);
    t.equal(new Set(ports).size, ports.length, 'listen ports unique');
    for (const p of plan.paths) all.push({ box: b.cfg.identity.name, site: b.site.id, p });
  }
  // office: 2 WANs (one per box) × home 1 + cloud 2 = 6 paths; home: 2 office + 2 cloud; cloud: 2 × (2 + 1).
  t.equal(all.filter((x) => x.site === 'office').length, 6);
  t.equal(all.filter((x) => x.site === 'home').length, 4);
  t.equal(all.filter((x) => x.site === 'cloud').length, 6);
  const everywhere = all.map((a) => a.p.ifname);
  t.equal(new Set(everywhere).size, everywhere.length, `interface names unique across every box: ${everywhere.join(' ')}`);
  for (const a of all) {
    const mirror = all.filter((b) => b.site === a.p.site && b.p.site === a.site && b.p.localWan === a.p.remoteWan && b.p.remoteWan === a.p.localWan);
    t.equal(mirror.length, 1, `${a.box} ${a.p.name}: got ${mirror.length} mirror paths; want 1`);
    const m = mirror[0]!.p;
    t.equal(a.p.endpointPort, m.listenPort, `${a.box} ${a.p.name}: sends to port ${a.p.endpointPort}; the other end listens on ${m.listenPort}`);
    t.equal(a.p.remoteLinkAddress, m.localLinkAddress, `${a.p.name}: link addresses mirror`);
    const other = sites.find((s) => s.id === a.p.site)!;
    t.equal(a.p.endpointHost, other.wans.find((w) => w.name === a.p.remoteWan)!.addr);
  }
});

t.test('hub-spoke: a spoke builds tunnels only to the hub and routes the other sites through it', async (t) => {
  const home = overlayPlan(configFor(sites[1]!, ['inet'], { topology: 'hub-spoke', hub: 'cloud' }));
  t.same([...new Set(home.paths.map((p) => p.site))], ['cloud']);
  const via = home.paths[0]!.remotePrefixes;
  t.ok(via.includes('10.1.0.0/24') && via.includes('100.64.0.1/32'), `the hub's paths carry the office too: ${via.join(' ')}`);
  const hub = overlayPlan(configFor(sites[2]!, ['inet', 'backup'], { topology: 'hub-spoke', hub: 'cloud' }));
  t.same([...new Set(hub.paths.map((p) => p.site))].sort(), ['home', 'office']);
  t.notOk(hub.paths.some((p) => p.remotePrefixes.includes('10.2.0.0/24') && p.site === 'office'), 'the hub routes each site only through its own paths');
});
