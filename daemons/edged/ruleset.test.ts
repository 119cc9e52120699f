import t from 'tap';
import { parseConfig } from '../lib/config/index.js';
import { edit } from '../lib/config/testkit.js';
import { edgePlan, spoofPrefixes } from './plan.js';
import { counterNames, fingerprint, quoteIf, renderRuleset, renderZoneRule } from './ruleset.js';

const load = (changes: Record<number, string | string[]> = {}, append: string[] = []) => parseConfig(edit(changes, append), 'tern.yaml').config;

const withForwards = load({}, [
  'firewall:',
  '  portForwards:',
  '    - {name: web, port: 8080, to: 10.10.0.20, toPort: 80, sources: [203.0.113.0/24]}',
  '    - {name: games, protocol: udp, port: "6000-6010", to: 10.10.0.21}',
  '  rules:',
  '    - {name: ssh-in, from: wan, to: box, protocols: [tcp], ports: [2222], sources: [192.0.2.0/24]}',
]);

t.test('the ruleset: one transaction that creates, flushes and refills only edge_ objects', async (t) => {
  const text = renderRuleset(edgePlan(withForwards));
  const lines = text.trim().split('\n');
  for (const l of lines) {
    const m = /^(?:add|flush|delete) (?:table|chain|set|counter|rule|element) inet tern(?: (\S+))?/.exec(l) ?? /^chain inet tern (\S+)/.exec(l);
    t.ok(m, `got line ${JSON.stringify(l)}; want an operation on inet tern`);
    if (m?.[1]) t.match(m[1], /^edge_/, `line ${JSON.stringify(l)} touches ${m[1]}; want only edge_ objects`);
  }
  const firstRule = lines.findIndex((l) => l.startsWith('add rule'));
  const lastFlush = lines.map((l) => l.startsWith('flush')).lastIndexOf(true);
  t.ok(lastFlush < firstRule, `got a flush at line ${lastFlush + 1} after the first rule at ${firstRule + 1}; want every flush before any rule`);
  t.notMatch(text, /flush counter|reset counter/, 'named counters are never flushed or reset');
  t.match(text, /add chain inet tern edge_input \{ type filter hook input priority 0; policy drop; \}/);
  t.match(text, /add chain inet tern edge_forward \{ type filter hook forward priority 0; policy drop; \}/);
  t.match(text, /add chain inet tern edge_spoof \{ type filter hook prerouting priority -300;/);
});

t.test('WAN input: WireGuard ports, STAMP from peers only, ICMP rate-limited, the rest dropped and counted', async (t) => {
  const text = renderRuleset(edgePlan(withForwards));
  const wan = text.split('\n').filter((l) => l.startsWith('add rule inet tern edge_in_wan')).map((l) => l.replace('add rule inet tern edge_in_wan ', ''));
  // base: sites home (n=2) and cloud (n=3) from isp-a (slot 0) to their one WAN (slot 0); remote users on 51819.
  t.same(wan.find((l) => l.startsWith('udp dport {')), 'udp dport { 51819, 51852, 51868 } accept', 'the tunnels\' and remote users\' ports');
  t.ok(wan.includes('udp dport 862 ip saddr @edge_peers4 accept'), 'STAMP only from the peer set');
  t.notOk(wan.some((l) => /dport 862 accept/.test(l)), 'STAMP is not open to everyone');
  t.equal(wan[0], 'iifname "eth0" meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto tcp th dport 2222 counter name "edge_rule_ssh_in" accept', 'configured rules come first');
  t.equal(wan.at(-1), `counter name "${counterNames.inputDrop('wan')}" drop`, 'the rest is dropped and counted');
  t.ok(wan.some((l) => /limit rate over 20\/second burst 20 packets counter name "edge_drop_icmp_wan" drop/.test(l)), 'ICMP over the rate is dropped and counted');
});

t.test('forward: a NATed flow cleared on failover is reset; WAN → anything is dropped and counted; DNAT passes', async (t) => {
  const text = renderRuleset(edgePlan(withForwards));
  t.match(text, /add rule inet tern edge_forward oifname "eth0" ct state new meta l4proto tcp tcp flags & \(fin\|syn\|rst\|ack\) != syn counter name "edge_reset_nosyn" reject with tcp reset/);
  t.match(text, /add rule inet tern edge_forward ct status dnat accept/);
  t.match(text, /add rule inet tern edge_fwd_wan counter name "edge_drop_fwd_wan" drop\n/);
  t.notMatch(text, /edge_fwd_wan [^\n]*accept/, 'nothing from the WAN is accepted by zone');
  t.match(text, /add rule inet tern edge_fwd_lan oifname "eth0" accept/, 'LAN → internet');
  t.match(text, /add rule inet tern edge_forward iifname \{ "eth1", "tpair\*" \} jump edge_fwd_lan/, 'every virtual-MAC macvlan is LAN, configured or not');
  t.match(text, /add rule inet tern edge_dnat iifname "eth0" meta nfproto ipv4 ip saddr 203.0.113.0\/24 tcp dport 8080 counter name "edge_forward_web" dnat ip to 10.10.0.20:80/);
  t.match(text, /add rule inet tern edge_dnat iifname "eth0" meta nfproto ipv4 udp dport 6000-6010 counter name "edge_forward_games" dnat ip to 10.10.0.21\n/);
});

t.test('NAT per WAN: masquerade, snat to the static address, off; forwarded packets only; nothing without internet', async (t) => {
  const cases: Array<[string, Record<number, string | string[]>, string[], RegExp | undefined]> = [
    ['masquerade (default)', {}, [], /add rule inet tern edge_snat oifname "eth0" meta iif != 0 meta nfproto ipv4 masquerade/],
    ['snat', { 8: ['    address: 198.51.100.10/24', '    nat: snat'] }, [], /add rule inet tern edge_snat oifname "eth0" meta iif != 0 meta nfproto ipv4 snat ip to 198.51.100.10/],
    ['off', { 8: ['    address: 198.51.100.10/24', '    nat: "off"'] }, [], undefined],
    ['internet disabled', {}, ['internet: {enabled: false}'], undefined],
  ];
  for (const [name, changes, append, want] of cases) {
    const text = renderRuleset(edgePlan(load(changes, append)));
    const snat = text.split('\n').filter((l) => l.startsWith('add rule inet tern edge_snat'));
    if (want) t.match(snat.join('\n'), want, `${name}: got ${JSON.stringify(snat)}`);
    else t.same(snat, [], `${name}: got ${JSON.stringify(snat)}; want no source NAT`);
  }
  t.notMatch(renderRuleset(edgePlan(load({}, ['internet: {enabled: false}']))), /edge_fwd_lan oifname "eth0" accept/, 'internet disabled: no LAN → WAN');
});

t.test('firewall disabled: filter chains accept, NAT and forwards stay', async (t) => {
  const text = renderRuleset(edgePlan(load({}, ['firewall: {enabled: false}'])));
  t.match(text, /edge_input \{ type filter hook input priority 0; policy accept; \}/);
  t.notMatch(text, /edge_in_wan [^\n]*drop/);
  t.match(text, /edge_snat [^\n]*masquerade/);
});

t.test('anti-spoofing: LAN, overlay, remote users, remote LANs, own addresses; never a prefix holding the WAN', async (t) => {
  t.same(spoofPrefixes(withForwards), ['10.10.0.0/24', '10.10.0.1/32', '10.10.0.2/32', '10.20.0.0/24', '10.30.0.0/16', '100.64.0.0/24', '100.64.0.101/32', '100.64.0.2/32', '100.64.0.3/32']);
  // The config check refuses both (a default route as a LAN, a remote LAN over the WAN subnet); the plan
  // leaves them out anyway, as a second line: either would drop everything the ISP sends.
  const hub = structuredClone(withForwards);
  hub.overlay.sites[0]!.lanPrefixes = ['10.20.0.0/24', '0.0.0.0/0', '198.51.0.0/16'];
  const got = spoofPrefixes(hub);
  t.notOk(got.includes('0.0.0.0/0'), `got ${got.join(', ')}; want no default route among spoofed sources`);
  t.notOk(got.includes('198.51.0.0/16'), 'a remote prefix holding the WAN subnet is left out');
  const text = renderRuleset(edgePlan(withForwards));
  t.match(text, /add rule inet tern edge_spoof iifname "eth0" ip saddr @edge_spoof4 counter name "edge_spoof_isp_a" drop/);
});

t.test('zone rules: one rule per family they can match', async (t) => {
  const plan = edgePlan(withForwards);
  const base = { action: 'accept' as const, sources: [] as string[], destinations: [] as string[] };
  const cases: Array<[string, Parameters<typeof renderZoneRule>[1], number]> = [
    ['any family', { ...base, name: 'a', from: 'lan', to: 'overlay' }, 2],
    ['v4 sources only', { ...base, name: 'b', from: 'lan', to: 'overlay', sources: ['10.10.0.0/24'] }, 1],
    ['mixed sources, v6 destinations', { ...base, name: 'c', from: 'lan', to: 'overlay', sources: ['10.10.0.0/24', '2001:db8::/64'], destinations: ['2001:db8:1::/64'] }, 1],
    ['v4 sources, v6 destinations: none', { ...base, name: 'd', from: 'lan', to: 'overlay', sources: ['10.10.0.0/24'], destinations: ['2001:db8:1::/64'] }, 0],
    ['pair zone absent on this box', { ...base, name: 'e', from: 'pair', to: 'lan' }, 0],
  ];
  for (const [name, rule, want] of cases) {
    const got = renderZoneRule(plan, rule);
    t.equal(got.length, want, `${name}: got ${JSON.stringify(got)}; want ${want} rules`);
  }
  t.match(renderZoneRule(plan, { ...base, name: 'o', from: 'overlay', to: 'lan', protocols: ['icmp'] })[1]!, /meta l4proto ipv6-icmp/, 'icmp is ICMPv6 in the IPv6 rule');
});

t.test('interface names cannot inject nft syntax', async (t) => {
  for (const bad of ['eth0" accept', 'a b', 'eth*', '']) t.throws(() => quoteIf(bad), { code: 'TERN_E_EDGE_RULES' }, JSON.stringify(bad));
  t.equal(quoteIf('wan0.100'), '"wan0.100"');
});

t.test('the fingerprint follows the plan and nothing else', async (t) => {
  const a = fingerprint(edgePlan(withForwards));
  t.equal(fingerprint(edgePlan(withForwards)), a, 'same config, same fingerprint');
  t.not(fingerprint(edgePlan(load())), a, 'another plan, another fingerprint');
  t.match(a, /^tern-edged [0-9a-f]{16}$/);
  t.match(renderRuleset(edgePlan(withForwards)), new RegExp(`add rule inet tern edge_input iifname "lo" accept comment "${a}"`));
});
