// The semantic checks of lan.dhcp, lan.dns and domain app classes (issue 17):
// each bad config is refused with the key path and line, each good one loads.
import t from 'tap';
import type { ErrorCode } from '../errors.js';
import { edit as editBase, failure } from './testkit.js';

// The base config is a PAIR appliance, where lan.dhcp is refused: the rows
// below run with pair.enabled false (in place of line 41, the priority, which
// has a default), except those about PAIR.
const edit = (changes: Record<number, string | string[]> = {}): string => editBase({ 41: '  enabled: false', ...changes });

// lan.dhcp / lan.dns go under lan (after line 15 of the base, so they start
// at line 16); domain app classes replace line 52 (voice follows them), shifted
// by the lan lines).
const lanLines = (dhcp: string[], dns: string[] = []): string[] => ['  prefixes: [10.10.0.0/24]', ...dhcp, ...dns];
const dhcpLines = (...lines: string[]): string[] => ['  dhcp:', ...lines];
const dnsOn = ['  dns:', '    upstreams: [{address: 198.51.100.53}]'];
const withClasses = (lan: string[], classes: string[]): string => edit({ 15: lanLines(lan), 52: [...classes, '  - name: voice'] });
const domainClass = (name: string, domains: string): string[] => [`  - name: ${name}`, `    match: {protocols: [tcp, udp], domains: ${domains}}`];

interface Row {
  name: string;
  text: string;
  /** Every issue, as "line path", in file order; empty: the config loads. */
  want: string[];
  message?: RegExp;
}

const range = '    ranges: [{start: 10.10.0.100, end: 10.10.0.199}]';
const rows: Row[] = [
  { name: 'DHCP on an enabled PAIR appliance', text: editBase({ 15: lanLines(dhcpLines(range)) }), want: ['16 lan.dhcp'], message: /^DHCP on a PAIR appliance \(pair.enabled is true\) would have both boxes hand out leases/ },
  { name: 'DNS on an enabled PAIR appliance loads', text: editBase({ 15: lanLines(dnsOn) }), want: [] },
  { name: 'a switched-off DHCP section on an enabled PAIR appliance loads', text: editBase({ 15: lanLines(dhcpLines('    enabled: false', range)) }), want: [] },
  { name: 'a plain DHCP and DNS config loads', text: edit({ 15: lanLines(dhcpLines(range, '    staticLeases: [{mac: "52:54:00:00:00:01", address: 10.10.0.50, hostname: printer}]'), dnsOn) }), want: [] },
  { name: 'range outside the LAN subnet', text: edit({ 15: lanLines(dhcpLines('    ranges: [{start: 10.10.1.10, end: 10.10.1.20}]')) }), want: ['17 lan.dhcp.ranges[0].start', '17 lan.dhcp.ranges[0].end'], message: /^10.10.1.10 is outside the LAN subnet 10.10.0.0\/24 \(lan.address\); a DHCP range must be in it$/ },
  { name: 'range end below start', text: edit({ 15: lanLines(dhcpLines('    ranges: [{start: 10.10.0.50, end: 10.10.0.40}]')) }), want: ['17 lan.dhcp.ranges[0].end'], message: /^10.10.0.40 is below start 10.10.0.50$/ },
  { name: 'range of the other family', text: edit({ 15: lanLines(dhcpLines('    ranges: [{start: "2001:db8::10", end: "2001:db8::20"}]')) }), want: ['17 lan.dhcp.ranges[0].start', '17 lan.dhcp.ranges[0].end'], message: /is IPv6; a DHCP range is IPv4/ },
  { name: 'range holding the LAN address', text: edit({ 15: lanLines(dhcpLines('    ranges: [{start: 10.10.0.2, end: 10.10.0.20}]')) }), want: ['17 lan.dhcp.ranges[0]'], message: /holds this appliance's address 10.10.0.2 \(lan.address\)/ },
  { name: 'range holding the PAIR VIP', text: edit({ 14: '  address: 10.10.0.3/24', 15: lanLines(dhcpLines('    ranges: [{start: 10.10.0.1, end: 10.10.0.1}]')) }), want: ['17 lan.dhcp.ranges[0]'], message: /holds the VIP 10.10.0.1 \(pair.vips\[0\] \(line 42\)\)/ },
  { name: 'range starting at the network address', text: edit({ 15: lanLines(dhcpLines('    ranges: [{start: 10.10.0.0, end: 10.10.0.9}]')) }), want: ['17 lan.dhcp.ranges[0].start'], message: /network address of 10.10.0.0\/24/ },
  { name: 'range ending at the broadcast address', text: edit({ 15: lanLines(dhcpLines('    ranges: [{start: 10.10.0.200, end: 10.10.0.255}]')) }), want: ['17 lan.dhcp.ranges[0].end'], message: /broadcast address of 10.10.0.0\/24/ },
  { name: 'overlapping ranges', text: edit({ 15: lanLines(dhcpLines('    ranges:', '      - {start: 10.10.0.100, end: 10.10.0.150}', '      - {start: 10.10.0.150, end: 10.10.0.160}')) }), want: ['19 lan.dhcp.ranges[1]'], message: /^10.10.0.150-10.10.0.160 overlaps the range at lan.dhcp.ranges\[0\] \(line 18\)$/ },
  { name: 'static lease inside a range', text: edit({ 15: lanLines(dhcpLines(range, '    staticLeases: [{mac: "52:54:00:00:00:01", address: 10.10.0.120}]')) }), want: ['18 lan.dhcp.staticLeases[0].address'], message: /inside the DHCP range at lan.dhcp.ranges\[0\] \(line 17\)/ },
  { name: 'static lease outside the LAN', text: edit({ 15: lanLines(dhcpLines(range, '    staticLeases: [{mac: "52:54:00:00:00:01", address: 10.99.0.5}]')) }), want: ['18 lan.dhcp.staticLeases[0].address'], message: /outside the LAN subnet/ },
  { name: 'static lease on the LAN address', text: edit({ 15: lanLines(dhcpLines(range, '    staticLeases: [{mac: "52:54:00:00:00:01", address: 10.10.0.2}]')) }), want: ['18 lan.dhcp.staticLeases[0].address'], message: /this appliance's address/ },
  {
    name: 'static leases sharing a MAC (any case) and an address',
    text: edit({ 15: lanLines(dhcpLines(range, '    staticLeases:', '      - {mac: "52:54:00:00:00:0a", address: 10.10.0.50}', '      - {mac: "52:54:00:00:00:0A", address: 10.10.0.50}')) }),
    want: ['20 lan.dhcp.staticLeases[1].mac', '20 lan.dhcp.staticLeases[1].address'], message: /^duplicate static lease MAC '52:54:00:00:00:0a'; lan.dhcp.staticLeases\[0\].mac \(line 19\) has it already$/,
  },
  { name: 'router off the LAN', text: edit({ 15: lanLines(dhcpLines(range, '    router: 192.0.2.1')) }), want: ['18 lan.dhcp.router'], message: /outside the LAN subnet/ },
  { name: 'IPv6 DNS server in option 6', text: edit({ 15: lanLines(dhcpLines(range, '    dnsServers: ["2001:db8::53"]')) }), want: ['18 lan.dhcp.dnsServers[0]'], message: /is IPv6/ },
  { name: 'upstream through an unknown WAN', text: edit({ 15: lanLines([], ['  dns:', '    upstreams: [{address: 198.51.100.53, wan: isp-z}]']) }), want: ['17 lan.dns.upstreams[0].wan'], message: /^no WAN 'isp-z' on this appliance; WANs: isp-a$/ },
  { name: 'upstream through the PAIR peer\'s WAN', text: edit({ 15: lanLines([], ['  dns:', '    upstreams: [{address: 198.51.100.53, wan: isp-b}]']) }), want: ['17 lan.dns.upstreams[0].wan'], message: /^no WAN 'isp-b' on this appliance/ },
  { name: 'LAN interface name dnsmasq would misread', text: edit({ 13: '  interface: "eth1,x"', 15: lanLines([], dnsOn) }), want: ['13 lan.interface'], message: /^interface 'eth1,x' cannot be given to the LAN's DHCP and DNS server \(dnsmasq\)/ },
  { name: 'the same interface name without LAN services loads', text: edit({ 13: '  interface: "eth1,x"' }), want: [] },
  { name: 'domain class without lan.dns', text: withClasses([], domainClass('saas', '[example.test]')), want: ['53 appClasses[0].match.domains'], message: /enable lan.dns/ },
  { name: 'domain class with lan.dns off', text: withClasses(['  dns:', '    enabled: false', '    upstreams: [{address: 198.51.100.53}]'], domainClass('saas', '[example.test]')), want: ['56 appClasses[0].match.domains'], message: /enable lan.dns/ },
  { name: 'domain class with lan.dns loads', text: withClasses(dnsOn, domainClass('saas', '[example.test, Slack.com]')), want: [] },
  { name: 'a class matched by domains alone is a match, not "matches nothing"', text: withClasses(dnsOn, ['  - name: saas', '    match: {domains: [slack.com]}']), want: [] },
  { name: 'subdomains-only form dnsmasq cannot express', text: withClasses(dnsOn, domainClass('saas', '["*.example.test"]')), want: ['55 appClasses[0].match.domains[0]'], message: /^'\*.example.test' \(subdomains only\) cannot be learned: .* write 'example.test'$/ },
  {
    name: 'one domain in two classes (any case)',
    text: withClasses(dnsOn, [...domainClass('a', '[example.test]'), ...domainClass('b', '[Example.TEST]')]),
    want: ['57 appClasses[1].match.domains[0]'], message: /^duplicate domain 'example.test'; appClasses\[0\].match.domains\[0\] \(line 55\) has it already$/,
  },
  {
    name: 'more domain classes than the mark carries',
    // 256 classes (the schema's most) in place of voice and its policy; class i's match is on line 55 + 2i.
    text: edit({ 15: lanLines(dnsOn), 52: Array.from({ length: 256 }, (_, i) => domainClass(`c${i}`, `[d${i}.example]`)).flat(), 53: [], 54: [], 55: [], 56: [], 57: [], 58: [], 59: [] }),
    want: [`${55 + 2 * 255} appClasses[255].match.domains`], message: /^more than 255 app classes match by domains/,
  },
];

t.test('lan services semantic checks', async (t) => {
  for (const row of rows) {
    const f = failure(row.text);
    if (row.want.length === 0) {
      t.equal(f, 'it loaded', `${row.name}: got ${typeof f === 'string' ? f : f.message}; want it to load`);
      continue;
    }
    if (typeof f === 'string') { t.fail(`${row.name}: got ${f}; want ${row.want.join(', ')}`); continue; }
    const code: ErrorCode = 'TERN_E_CONFIG_SEMANTIC';
    t.equal(f.code, code, `${row.name}: code`);
    const got = f.issues.map((i) => `${i.line} ${i.path}`);
    t.same(got, row.want, `${row.name}: got ${got.join(', ')}; want ${row.want.join(', ')}`);
    if (row.message) t.match(f.issues[0]?.message ?? '', row.message, `${row.name}: got ${f.issues[0]?.message}`);
  }
});
