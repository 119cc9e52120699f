import t from 'tap';
import { natSessions, parseConntrack, parseIpAddr } from './nat.js';

// /proc/net/nf_conntrack lines: a masqueraded TCP flow and UDP flow through 198.18.1.6,
// an un-NATed flow of the box itself, a flow through the other WAN, a torn line.
const table = [
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.2.0.10 dst=198.18.100.10 sport=40000 dport=80 src=198.18.100.10 dst=198.18.1.6 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2',
  'ipv4     2 udp      17 29 src=10.2.0.11 dst=198.18.100.53 sport=5353 dport=53 src=198.18.100.53 dst=198.18.1.6 sport=53 dport=5353 mark=0 zone=0 use=2',
  'ipv4     2 udp      17 170 src=198.18.1.6 dst=198.18.1.2 sport=51852 dport=51852 src=198.18.1.2 dst=198.18.1.6 sport=51852 dport=51852 [ASSURED] mark=0 zone=0 use=2',
  'ipv4     2 icmp     1 29 src=10.2.0.10 dst=198.18.100.10 type=8 code=0 id=7 src=198.18.100.10 dst=198.18.4.2 type=0 code=0 id=7 mark=0 zone=0 use=2',
  'ipv4     2 tcp      6 10 SYN_SENT src=10.2.0.10',
  '',
].join('\n');

t.test('sessions per WAN: NATed ones only, under the WAN their reply returns to', async (t) => {
  const entries = parseConntrack(table);
  t.equal(entries.length, 4, `got ${entries.length} entries; want 4 (the torn line skipped)`);
  const got = natSessions(entries, [
    { name: 'ispa', interface: 'wan0', nat: 'masquerade', addresses: ['198.18.1.6'] },
    { name: 'ispd', interface: 'wan1', nat: 'masquerade', addresses: ['198.18.4.2'] },
  ]);
  t.equal(got.total, 3);
  t.same(got.wans.map((w) => [w.wan, w.sessions, w.tcp, w.udp, w.other]), [['ispa', 2, 1, 1, 0], ['ispd', 1, 0, 0, 1]], 'the box\'s own tunnel flow is not a NAT session');
});

t.test('interface addresses from ip -j, link-local left out; bad JSON refused', async (t) => {
  const m = parseIpAddr(JSON.stringify([
    { ifname: 'wan0', addr_info: [{ local: '198.18.1.6', scope: 'global' }, { local: 'fe80::1', scope: 'link' }, { local: '2001:db8:1::6', scope: 'global' }] },
    { ifname: 'lo', addr_info: [{ local: '127.0.0.1', scope: 'host' }] },
  ]));
  t.same(m.get('wan0'), ['198.18.1.6', '2001:db8:1::6']);
  t.throws(() => parseIpAddr('<html>'), { code: 'TERN_E_EDGE_RULES' });
});
