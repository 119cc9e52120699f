import t from 'tap';
import { parseConfig, type TernConfig } from '../config/index.js';
import { ifbPrefix, ifnamePrefix, virtualMacIfname } from '../kernel/names.js';
import { ownFileName, renderNetworkd, unmanagedGlobs, wanPreference, type NetworkdFile } from './render.js';

/** A valid config (YAML reads JSON) with these wans, lan and pair. */
function config(o: { wans: unknown[]; lan?: unknown; pair?: unknown }): TernConfig {
  return parseConfig(JSON.stringify({
    version: 1,
    identity: { site: 's1', name: 'a' },
    wans: o.wans,
    lan: o.lan ?? { interface: 'eth1', address: '10.10.0.2/24', prefixes: ['10.10.0.0/24'] },
    overlay: { address: '100.64.0.1/24' },
    ...(o.pair ? { pair: o.pair } : {}),
  }), 'test.yaml').config;
}

const staticWan = { name: 'isp', interface: 'eth0', address: '198.51.100.10/24', gateway: '198.51.100.1' };
const dhcpWan = { name: 'wan', interface: 'eth0', dhcp: true };

const byName = (files: NetworkdFile[], name: string): string => {
  const f = files.find((x) => x.name === name);
  if (!f) throw new Error(`no file ${name}; got ${files.map((x) => x.name).join(', ')}`);
  return f.text;
};
/** The key=value lines of a file (comments and section headers dropped), to compare settings. */
const settings = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

t.test('a static WAN and the LAN: address, gateway route above tunneld\'s metric, kept through carrier loss', async (t) => {
  const files = renderNetworkd(config({ wans: [staticWan] }));
  t.same(files.map((f) => `${f.dir}/${f.name}`), [
    'network/00-tern-unmanaged.network', 'network/10-tern-eth0.network', 'network/20-tern-eth1.network', 'networkd.conf.d/90-tern-foreign.conf',
  ]);
  t.same(settings(byName(files, '10-tern-eth0.network')), [
    '[Match]', 'Name=eth0',
    '[Link]', 'RequiredForOnline=no-carrier',
    '[Network]', 'Address=198.51.100.10/24', 'DHCP=no', 'LinkLocalAddressing=ipv6', 'IPv6AcceptRA=no', 'ConfigureWithoutCarrier=yes',
    '[Route]', 'Gateway=198.51.100.1', 'Metric=1000',
  ]);
  t.same(settings(byName(files, '20-tern-eth1.network')), [
    '[Match]', 'Name=eth1',
    '[Link]', 'RequiredForOnline=no-carrier',
    '[Network]', 'Address=10.10.0.2/24', 'DHCP=no', 'LinkLocalAddressing=ipv6', 'IPv6AcceptRA=no', 'ConfigureWithoutCarrier=yes', 'KeepConfiguration=static',
  ]);
  t.match(byName(files, '10-tern-eth0.network'), /^# Written by `ternctl config networkd`/, 'says where it comes from');
});

t.test('the drop-in keeps networkd off the daemons\' routes and rules; Tern\'s own interfaces are unmanaged', async (t) => {
  const files = renderNetworkd(config({ wans: [staticWan] }));
  const dropIn = files.find((f) => f.dir === 'networkd.conf.d')!;
  t.same(settings(dropIn.text), ['[Network]', 'ManageForeignRoutingPolicyRules=no', 'ManageForeignRoutes=no']);
  t.same(settings(byName(files, '00-tern-unmanaged.network')), ['[Match]', 'Name=tn* tpair* tqi-* tqp-* ifb*', '[Link]', 'Unmanaged=yes']);
  // The globs are declared here by hand; each must cover what its owner really names its links.
  const owned = [`${ifnamePrefix}ra1-0`, `${ifnamePrefix}wgp1a`, virtualMacIfname(10), `${ifbPrefix}isp-a`, 'tqp-0a1b2c', 'ifb0'];
  for (const name of owned) {
    t.ok(unmanagedGlobs.some((g) => new RegExp(`^${g.replace(/[-]/g, '\\-').replace(/\*/g, '.*')}$`).test(name)), `${name} is unmanaged`);
  }
  t.ok(files.every((f) => ownFileName.test(f.name)), 'every file is recognised as Tern\'s (stale ones can be removed)');
  t.notOk(files.some((f) => f.name.endsWith('.link')), 'no .link files: the MTU is set in .network [Link]');
});

t.test('a DHCP WAN: metric on DHCP and RA routes, DNS, the lease kept across a networkd restart', async (t) => {
  const text = byName(renderNetworkd(config({ wans: [dhcpWan] })), '10-tern-eth0.network');
  t.same(settings(text), [
    '[Match]', 'Name=eth0',
    '[Link]', 'RequiredForOnline=no',
    '[Network]', 'DHCP=yes', 'LinkLocalAddressing=ipv6', 'IPv6AcceptRA=yes', 'KeepConfiguration=dhcp-on-stop',
    '[DHCPv4]', 'RouteMetric=1000', 'UseDNS=yes',
    '[DHCPv6]', 'UseDNS=yes',
    '[IPv6AcceptRA]', 'RouteMetric=1000', 'UseDNS=yes',
  ]);
  t.notMatch(text, /Address=|\[Route\]/, 'no static address or route');
});

t.test('two WANs: distinct metrics, unmetered and cheaper first, DNS from the preferred DHCP WAN only', async (t) => {
  const cases: Array<{ name: string; wans: unknown[]; metric: Record<string, number>; dns: Record<string, boolean> }> = [
    {
      name: 'config order when equal',
      wans: [{ ...dhcpWan, name: 'a', interface: 'eth0' }, { ...dhcpWan, name: 'b', interface: 'eth2' }],
      metric: { eth0: 1000, eth2: 1001 }, dns: { eth0: true, eth2: false },
    },
    {
      name: 'a metered LTE listed first still comes last',
      wans: [{ ...dhcpWan, name: 'lte', interface: 'wwan0', metered: true }, { ...dhcpWan, name: 'fibre', interface: 'eth0', cost: 50 }],
      metric: { wwan0: 1001, eth0: 1000 }, dns: { wwan0: false, eth0: true },
    },
    {
      name: 'the cheaper WAN first; a static best WAN leaves DNS to the DHCP one',
      wans: [{ ...dhcpWan, name: 'dsl', interface: 'eth0', cost: 20 }, { ...staticWan, name: 'fibre', interface: 'eth2', cost: 5 }],
      metric: { eth0: 1001, eth2: 1000 }, dns: { eth0: true },
    },
  ];
  for (const c of cases) {
    const cfg = config({ wans: c.wans });
    const files = renderNetworkd(cfg);
    for (const [ifname, want] of Object.entries(c.metric)) {
      const text = byName(files, `10-tern-${ifname}.network`);
      const got = [...text.matchAll(/^(?:Route)?Metric=(\d+)$/gm)].map((m) => Number(m[1]));
      t.ok(got.length > 0 && got.every((m) => m === want), `${c.name}: ${ifname}: got metrics ${got.join(',')}; want ${want}`);
    }
    for (const [ifname, want] of Object.entries(c.dns)) {
      const text = byName(files, `10-tern-${ifname}.network`);
      t.equal(/UseDNS=yes/.test(text), want, `${c.name}: ${ifname}: UseDNS ${want ? 'yes' : 'no'}`);
      t.notOk(want && /UseDNS=no/.test(text), `${c.name}: ${ifname}: no section says no`);
    }
    t.same(wanPreference(cfg.wans).map((w) => w.interface), Object.entries(c.metric).sort((a, b) => a[1] - b[1]).map(([i]) => i), `${c.name}: preference order`);
  }
});

t.test('mtu: MTUBytes in [Link] when set, nothing when not; an off-subnet gateway is on-link', async (t) => {
  const files = renderNetworkd(config({ wans: [
    { ...staticWan, mtu: 1492, address: '198.51.100.10/32' },
    // 1500: the tunnels' 1420 plus WireGuard over IPv6 (a smaller WAN MTU is refused by the config checks, issue 15).
    { ...dhcpWan, name: 'lte', interface: 'wwan0', mtu: 1500 },
    { ...dhcpWan, name: 'cable', interface: 'eth2' },
  ] }));
  t.match(byName(files, '10-tern-eth0.network'), /\[Link\]\nMTUBytes=1492\n/);
  t.match(byName(files, '10-tern-eth0.network'), /\[Route\]\nGateway=198\.51\.100\.1\nGatewayOnLink=yes\nMetric=1000\n/, '/32 address: the gateway is on-link');
  t.match(byName(files, '10-tern-wwan0.network'), /\[Link\]\nMTUBytes=1500\n/);
  t.notMatch(byName(files, '10-tern-eth2.network'), /MTUBytes/);
  t.notMatch(byName(renderNetworkd(config({ wans: [staticWan] })), '10-tern-eth0.network'), /GatewayOnLink/, 'a gateway in the subnet is not');
});

t.test('PAIR: the interface carrying the VIPs keeps foreign addresses', async (t) => {
  const pair = { vrid: 10, vips: ['10.10.0.1/24'] };
  const cases: Array<{ name: string; wans: unknown[]; pair: Record<string, unknown>; want: Record<string, RegExp>; absent?: string[] }> = [
    { name: 'on the LAN (default): no extra file', wans: [staticWan], pair, want: { '20-tern-eth1.network': /KeepConfiguration=static/ }, absent: ['30-tern-eth1.network'] },
    {
      name: 'an interface of its own: up, link-local only',
      wans: [staticWan], pair: { ...pair, interface: 'eth3' },
      want: { '30-tern-eth3.network': /\[Match\]\nName=eth3\n[\s\S]*\[Network\]\nDHCP=no\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\nKeepConfiguration=static\n/ },
    },
    { name: 'disabled: as a standalone box', wans: [staticWan], pair: { ...pair, interface: 'eth3', enabled: false }, want: {}, absent: ['30-tern-eth3.network'] },
  ];
  for (const c of cases) {
    const files = renderNetworkd(config({ wans: c.wans, pair: c.pair }));
    for (const [name, re] of Object.entries(c.want)) t.match(byName(files, name), re, `${c.name}: ${name}`);
    for (const name of c.absent ?? []) t.notOk(files.some((f) => f.name === name), `${c.name}: no ${name}`);
    t.equal(new Set(files.map((f) => f.name)).size, files.length, `${c.name}: one file per interface`);
  }
});

// Tern's own names are refused by the config checks already (issue 15); the renderer keeps its own check as well.
t.test('names networkd would match wrongly are refused with the key that names them', async (t) => {
  const cases: Array<{ name: string; cfg: () => TernConfig; want: RegExp }> = [
    { name: 'a WAN named like a tunnel', cfg: () => config({ wans: [{ ...staticWan, interface: 'tn0' }] }), want: /wans\[0\]\.interface: interface 'tn0' has a name Tern's daemons give their own interfaces \(tn\*\)/ },
    { name: 'a LAN named like an IFB', cfg: () => config({ wans: [staticWan], lan: { interface: 'ifb1', address: '10.10.0.2/24', prefixes: ['10.10.0.0/24'] } }), want: /lan\.interface: interface 'ifb1' .*\(ifb\*\)/ },
    { name: 'a PAIR interface named like paird\'s macvlan', cfg: () => config({ wans: [staticWan], pair: { vrid: 3, interface: 'tpair3', vips: ['10.10.0.1/24'] } }), want: /pair\.interface: interface 'tpair3' .*\(tpair\*\)/ },
    { name: 'a second WAN named like a qosd IFB', cfg: () => config({ wans: [staticWan, { ...dhcpWan, name: 'b', interface: 'tqi-b' }] }), want: /wans\[1\]\.interface: interface 'tqi-b'/ },
    { name: 'a glob', cfg: () => config({ wans: [{ ...staticWan, interface: 'eth*' }] }), want: /wans\[0\]\.interface: interface 'eth\*' has characters networkd's Name= reads as a pattern/ },
    { name: 'an inverted match', cfg: () => config({ wans: [staticWan], lan: { interface: '!eth0', address: '10.10.0.2/24', prefixes: ['10.10.0.0/24'] } }), want: /lan\.interface: interface '!eth0' has characters/ },
  ];
  for (const c of cases) {
    t.throws(() => renderNetworkd(c.cfg()), { code: 'TERN_E_CONFIG_SEMANTIC', message: c.want }, c.name);
  }
  t.doesNotThrow(() => renderNetworkd(config({ wans: [{ ...staticWan, interface: 'enp1s0' }, { ...dhcpWan, name: 'b', interface: 'wwan0.1' }], lan: { interface: 'br-lan', address: '10.10.0.2/24', prefixes: ['10.10.0.0/24'] } })), 'ordinary names pass');
});

t.test('the image\'s default config: DHCP on eth0, 192.168.50.1/24 on eth1', async (t) => {
  const fs = await import('node:fs');
  const text = fs.readFileSync(new URL('../../../../image/rootfs/usr/lib/tern-image/tern.yaml.default', import.meta.url), 'utf8').replace(/@SITE@/g, 'tern-0123abcd');
  const files = renderNetworkd(parseConfig(text, 'tern.yaml.default').config);
  t.match(byName(files, '10-tern-eth0.network'), /\nDHCP=yes\n/);
  t.match(byName(files, '20-tern-eth1.network'), /\nAddress=192\.168\.50\.1\/24\n/);
});
