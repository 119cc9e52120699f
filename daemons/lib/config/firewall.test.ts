// The semantic checks of the firewall keys (checkFirewall in semantic.ts):
// port forwards, zone rules and NAT per WAN, each refused by key path and
// line with what was expected.
import t from 'tap';
import { parseConfig } from './index.js';
import { edit, failure } from './testkit.js';

interface Row {
  name: string;
  text: string;
  /** Every issue reported, as "line path", in file order. */
  want: string[];
  message: RegExp;
}

// The base config (testkit.ts): LAN 10.10.0.0/24 (box 10.10.0.2), WAN isp-a
// static on line 8, tunnels on UDP 51836-51883, remote users on 51819, STAMP
// on 862. Appended lines start at 60.
const forwards = (...entries: string[]): string => edit({}, ['firewall:', '  portForwards:', ...entries.map((e) => `    - ${e}`)]);
const rules = (...entries: string[]): string => edit({}, ['firewall:', '  rules:', ...entries.map((e) => `    - ${e}`)]);

const rows: Row[] = [
  {
    name: 'a forward to a host outside the LAN',
    text: forwards('{name: web, port: 80, to: 192.168.9.10}'),
    want: ['62 firewall.portForwards[0].to'], message: /^192.168.9.10 is outside the LAN prefixes \(lan.prefixes: 10.10.0.0\/24\); a port forward goes to a LAN host$/,
  },
  {
    name: "a forward to the box's own LAN address",
    text: forwards('{name: web, port: 80, to: 10.10.0.2}'),
    want: ['62 firewall.portForwards[0].to'], message: /^10.10.0.2 is this box's own LAN address/,
  },
  {
    name: 'a forward to the broadcast address of nowhere',
    text: forwards('{name: web, port: 80, to: 255.255.255.255}'),
    want: ['62 firewall.portForwards[0].to'], message: /^255.255.255.255 is the limited broadcast address; a port forward's host must be a unicast host address$/,
  },
  {
    name: 'a UDP forward onto a tunnel port',
    text: forwards('{name: game, protocol: udp, port: 51840, to: 10.10.0.20}'),
    want: ['62 firewall.portForwards[0].port'], message: /^UDP 51840 overlaps 51836-51883, taken by the site tunnels/,
  },
  {
    name: "a UDP range over the remote users' port",
    text: forwards('{name: game, protocol: udp, port: "51800-51819", to: 10.10.0.20}'),
    want: ['62 firewall.portForwards[0].port'], message: /^UDP 51800-51819 overlaps 51819, overlay.remoteUserPort, where remote users connect; Tern serves it on the WANs/,
  },
  {
    name: 'a UDP forward onto the STAMP port',
    text: forwards('{name: stamp, protocol: udp, port: 862, to: 10.10.0.20}'),
    want: ['62 firewall.portForwards[0].port'], message: /^UDP 862 overlaps 862, probes.port, the probe reflector \(STAMP\)/,
  },
  {
    name: 'two forwards of one WAN port',
    text: forwards('{name: web, port: 8080, to: 10.10.0.20}', '{name: alt, port: "8000-8100", to: 10.10.0.21, wans: [isp-a]}'),
    want: ['63 firewall.portForwards[1].port'], message: /^TCP 8000-8100 on WAN isp-a overlaps port forward 'web' \(8080\) at firewall.portForwards\[0\].port \(line 62\)$/,
  },
  {
    name: 'a forward naming an unknown WAN',
    text: forwards('{name: web, port: 80, to: 10.10.0.20, wans: [isp-z]}'),
    want: ['62 firewall.portForwards[0].wans[0]'], message: /^no WAN 'isp-z'; WANs: isp-a/,
  },
  {
    name: 'toPort with a range',
    text: forwards('{name: games, port: "6000-6010", to: 10.10.0.20, toPort: 7000}'),
    want: ['62 firewall.portForwards[0].toPort'], message: /^toPort goes with a single port; port is the range 6000-6010/,
  },
  {
    name: 'an IPv6 source on a forward to an IPv4 host',
    text: forwards('{name: web, port: 80, to: 10.10.0.20, sources: ["2001:db8::/32"]}'),
    want: ['62 firewall.portForwards[0].sources[0]'], message: /^2001:db8::\/32 is IPv6 but the forward goes to an IPv4 host/,
  },
  {
    name: 'two forwards with one name',
    text: forwards('{name: web, port: 80, to: 10.10.0.20}', '{name: web, port: 81, to: 10.10.0.20}'),
    want: ['63 firewall.portForwards[1].name'], message: /^duplicate port forward name 'web'/,
  },
  {
    name: 'nat: snat on a DHCP WAN',
    text: edit({ 8: ['    dhcp: true', '    nat: snat'], 9: [] }),
    want: ['9 wans[0].nat'], message: /^nat: snat rewrites to the WAN's static address, and wans\[0\] has none \(dhcp: true\)/,
  },
  {
    name: 'a rule whose sources and destinations are of different families',
    text: rules('{name: odd, from: lan, to: overlay, sources: [10.10.0.0/24], destinations: ["2001:db8::/64"]}'),
    want: ['62 firewall.rules[0].destinations'], message: /can never match$/,
  },
  {
    name: 'a rule with ports but only ICMP',
    text: rules('{name: odd, from: wan, to: box, protocols: [icmp], ports: [22]}'),
    want: ['62 firewall.rules[0].ports'], message: /^ports need protocol tcp, udp or any/,
  },
  {
    name: 'a rule from wan to wan',
    text: rules('{name: transit, from: wan, to: wan}'),
    want: ['62 firewall.rules[0].to'], message: /^a rule from wan to wan/,
  },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const f = failure(row.text);
    if (typeof f === 'string') {
      t.fail(`got: ${f}; want TERN_E_CONFIG_SEMANTIC at ${row.want.join(', ')}`);
      return;
    }
    t.equal(f.code, 'TERN_E_CONFIG_SEMANTIC', `got code ${f.code}; want TERN_E_CONFIG_SEMANTIC`);
    const got = f.issues.map((i) => `${i.line} ${i.path}`);
    t.same(got, row.want, `got issues ${got.join('; ')}; want ${row.want.join('; ')}`);
    t.match(f.issues[0]?.message ?? '', row.message, `got message ${JSON.stringify(f.issues[0]?.message)}`);
  });
}

t.test('valid forwards, rules and NAT load', async (t) => {
  const text = edit({ 8: ['    address: 198.51.100.10/24', '    nat: snat'] }, [
    'firewall:',
    '  portForwards:',
    '    - {name: web, port: 8080, to: 10.10.0.20, toPort: 80, sources: [203.0.113.0/24]}',
    '    - {name: web-udp, protocol: udp, port: 8080, to: 10.10.0.20}',
    '    - {name: games, protocol: udp, port: "6000-6010", to: 10.10.0.21}',
    '    - {name: dns-host, protocol: udp, port: 53, to: 10.10.0.22}',
    '  rules:',
    '    - {name: ssh-in, from: wan, to: box, protocols: [tcp], ports: [22], sources: [192.0.2.0/24]}',
    '    - {name: mixed, from: overlay, to: lan, sources: [10.20.0.0/24, "2001:db8::/64"], destinations: ["2001:db8:1::/64"]}',
  ]);
  t.doesNotThrow(() => parseConfig(text, 'tern.yaml'));
});
