import t from 'tap';
import { isTernError } from '../../lib/errors.js';
import { answerTtlCap, nftsetDomain, renderDnsmasq, renderIntercept } from './render.js';
import { lanConfig } from './testkit.js';

const paths = { runDir: '/run/tern/edged', stateDir: '/var/lib/tern/edged', dnsmasq: '/usr/sbin/dnsmasq' };
const lines = (conf: string): string[] => conf.split('\n').filter((l) => l && !l.startsWith('#'));

t.test('dnsmasq config of a LAN with DHCP, DNS and domain classes', async (t) => {
  const plan = renderDnsmasq(lanConfig(), paths);
  t.same(lines(plan.conf), [
    'interface=eth1', 'bind-dynamic', 'user=dnsmasq', 'no-hosts', 'no-resolv', 'no-poll',
    'domain-needed', 'bogus-priv', 'cache-size=2000',
    'server=9.9.9.9', 'server=2620:fe::fe@eth0',
    'nftset=/slack.com/slack-edge.com/4#inet#tern#dom4_chat_app,6#inet#tern#dom6_chat_app',
    'nftset=/docs.example.test/4#inet#tern#dom4_docs,6#inet#tern#dom6_docs',
    'max-ttl=60', 'max-cache-ttl=60',
    'dhcp-authoritative', 'dhcp-lease-max=112',
    'dhcp-range=10.10.0.100,10.10.0.199,255.255.255.0,3600', 'dhcp-range=10.10.0.210,10.10.0.219,255.255.255.0,3600',
    'dhcp-host=52:54:00:aa:00:01,10.10.0.50,printer', 'dhcp-host=52:54:00:aa:00:02,10.10.0.51',
    'dhcp-option=option:router,10.10.0.2', 'dhcp-option=option:dns-server,10.10.0.2', 'dhcp-option=option:ntp-server,10.10.0.5',
    'domain=office.example', 'local=/office.example/',
  ]);
  t.same(plan.argv, ['/usr/sbin/dnsmasq', '--keep-in-foreground', '--conf-file=/run/tern/edged/dnsmasq.conf', '--pid-file=/run/tern/edged/dnsmasq.pid', '--dhcp-leasefile=/var/lib/tern/edged/dnsmasq.leases']);
  t.same(plan.domainSets.map((d) => d.set4), ['dom4_chat_app', 'dom4_docs']);
  t.equal(renderDnsmasq(lanConfig(), paths).hash, plan.hash, 'hash is stable');
  const other = lanConfig();
  other.lan.dns!.cacheSize = 10;
  t.not(renderDnsmasq(other, paths).hash, plan.hash, 'hash follows the config');
});

t.test('defaults: router is the PAIR VIP; no DNS means port=0 and no option 6', async (t) => {
  const standalone = lines(renderDnsmasq(lanConfig({ pair: true }), paths).conf);
  t.ok(standalone.includes('dhcp-option=option:router,10.10.0.2'), `got ${standalone.filter((l) => l.includes('router'))}; want lan.address 10.10.0.2 (a disabled pair holds no VIP)`);
  const enabled = lanConfig({ pair: true });
  enabled.pair!.enabled = true;
  const pair = lines(renderDnsmasq(enabled, paths).conf);
  t.ok(pair.includes('dhcp-option=option:router,10.10.0.1'), `got ${pair.filter((l) => l.includes('router'))}; want the VIP 10.10.0.1`);
  t.ok(pair.includes('dhcp-option=option:dns-server,10.10.0.1'), 'DNS server defaults to the gateway handed out');
  const noDns = lines(renderDnsmasq(lanConfig({ dns: false }), paths).conf);
  t.ok(noDns.includes('port=0'), 'port=0 without lan.dns');
  t.notOk(noDns.some((l) => l.includes('dns-server') || l.startsWith('server=') || l.startsWith('nftset=')), `got ${noDns.join(' | ')}`);
  const noDhcp = lines(renderDnsmasq(lanConfig({ dhcp: false }), paths).conf);
  t.notOk(noDhcp.some((l) => l.startsWith('dhcp-')), 'no dhcp lines without lan.dhcp');
});

t.test('values dnsmasq would misread are refused, naming the key', async (t) => {
  const cases: Array<{ name: string; edit: (c: ReturnType<typeof lanConfig>) => void; want: RegExp }> = [
    { name: 'interface with a comma', edit: (c) => { c.lan.interface = 'eth1,x'; }, want: /lan.interface "eth1,x"/ },
    { name: 'WAN interface with @', edit: (c) => { c.wans[0]!.interface = 'eth0@x'; }, want: /wans\[0\].interface "eth0@x"/ },
    { name: 'upstream address with a port', edit: (c) => { c.lan.dns!.upstreams[0]!.address = '9.9.9.9#53'; }, want: /lan.dns.upstreams\[0\].address/ },
    { name: 'hostname with a newline', edit: (c) => { c.lan.dhcp!.staticLeases[0]!.hostname = 'a\nserver=6.6.6.6'; }, want: /staticLeases\[0\].hostname/ },
    { name: 'MAC with a comma', edit: (c) => { c.lan.dhcp!.staticLeases[0]!.mac = '52:54:00:aa:00:01,x'; }, want: /staticLeases\[0\].mac/ },
    { name: 'domain with a slash', edit: (c) => { c.appClasses[0]!.match.domains = ['a.com/#/x']; }, want: /domains\[0\] "a.com\/#\/x"/ },
    { name: 'subdomains-only domain', edit: (c) => { c.appClasses[1]!.match.domains = ['*.docs.example.test']; }, want: /cannot leave the domain itself out; write 'docs.example.test'/ },
    { name: 'LAN domain with a space', edit: (c) => { c.lan.dhcp!.domain = 'a b'; }, want: /lan.dhcp.domain/ },
  ];
  for (const k of cases) {
    const c = lanConfig();
    k.edit(c);
    try {
      renderDnsmasq(c, paths);
      t.fail(`${k.name}: got a config; want TERN_E_LAN_CONFIG`);
    } catch (err) {
      t.ok(isTernError(err, 'TERN_E_LAN_CONFIG'), `${k.name}: got ${String(err)}`);
      t.match((err as Error).message, k.want, `${k.name}: message`);
    }
  }
});

t.test('nftset domains and the TTL cap', async (t) => {
  t.equal(nftsetDomain('k', 'Slack.COM.'), 'slack.com');
  t.equal(answerTtlCap(10), 1);
  t.equal(answerTtlCap(3600), 360);
  t.equal(answerTtlCap(15), 1);
});

t.test('intercept chain: on, off', async (t) => {
  const on = renderIntercept(lanConfig({ intercept: true }));
  t.match(on, /add chain inet tern edge_dns_intercept \{ type nat hook prerouting priority dstnat - 5; policy accept; \}/);
  t.match(on, /flush chain inet tern edge_dns_intercept\n/);
  t.match(on, /add rule inet tern edge_dns_intercept iifname "eth1" fib daddr type != local meta l4proto \{ tcp, udp \} th dport 53 counter redirect to :53\n$/);
  const off = renderIntercept(lanConfig({ intercept: false }));
  t.match(off, /delete chain inet tern edge_dns_intercept\n$/);
  t.notMatch(off, /redirect/);
  t.match(renderIntercept(lanConfig({ dns: false })), /delete chain/, 'no DNS, no intercept');
});
