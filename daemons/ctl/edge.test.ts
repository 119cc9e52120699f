import t from 'tap';
import { fakeDaemon, tempAppliance, ternctl } from './testkit.js';

const status = {
  firewall: true, internet: true, fingerprint: 'tern-edged 0123456789abcdef', outcome: 'adopted', appliedAt: 1, loads: 0, lastError: null,
  zones: { wan: ['eth0'], lan: ['eth1'], pair: [], overlay: 'tn* except tnra1-0', remote: 'tnra1-0' }, peers: { v4: ['203.0.113.30'], v6: [] },
};
const counters = [
  { name: 'edge_drop_fwd_wan', packets: 12, bytes: 720, kind: 'drop', zone: 'wan', reason: 'forward', wan: null },
  { name: 'edge_spoof_isp_a', packets: 5, bytes: 420, kind: 'spoof', zone: 'wan', reason: 'spoof', wan: 'isp-a' },
  { name: 'edge_forward_web', packets: 1, bytes: 60, kind: 'forward', zone: 'wan', reason: 'web', wan: null },
];

t.test('ternctl firewall and nat: edged\'s counters and sessions, --json whole', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const d = await fakeDaemon(app, 'edged', (ctx) => {
    ctx.bus.method('edge.status', () => status);
    ctx.bus.method('edge.firewall', () => ({ counters }));
    ctx.bus.method('edge.nat', () => ({ total: 3, wans: [{ wan: 'isp-a', interface: 'eth0', nat: 'masquerade', addresses: ['198.51.100.10'], sessions: 3, tcp: 2, udp: 1, other: 0 }] }));
    return {};
  });
  t.teardown(() => d.stop());
  const fw = await ternctl(app, ['firewall']);
  t.equal(fw.code, 0, `exit code: got ${fw.code}; want 0 (${fw.err})`);
  t.match(fw.out, /ruleset:\s+tern-edged 0123456789abcdef \(adopted\)/);
  t.match(fw.out, /edge_spoof_isp_a\s+spoof\s+wan\s+isp-a\s+5\s+420/, `the anti-spoofing counter with its WAN:\n${fw.out}`);
  const json = await ternctl(app, ['firewall', '--json']);
  const data = (JSON.parse(json.out) as { data: { counters: Array<{ name: string; packets: number }> } }).data;
  t.same(data.counters.map((c) => [c.name, c.packets]), counters.map((c) => [c.name, c.packets]), 'every counter in --json');
  const nat = await ternctl(app, ['nat']);
  t.match(nat.out, /NAT sessions: 3\n/);
  t.match(nat.out, /isp-a\s+eth0\s+masquerade\s+198\.51\.100\.10\s+3\s+2\s+1\s+0/, nat.out);
});

t.test('ternctl firewall without edged says so and exits unreachable', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const r = await ternctl(app, ['firewall']);
  t.equal(r.code, 3, `got exit ${r.code}; want 3 (unreachable)`);
  t.match(r.out + r.err, /edged did not answer: .*not running/);
});

t.test('ternctl leases and domains: edged\'s leases and learned addresses, --json whole', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const far = Math.floor(Date.now() / 1000) + 3600;
  const leases = [
    { mac: '52:54:00:00:00:01', address: '10.10.0.100', hostname: 'laptop', expiresAt: far },
    { mac: '52:54:00:00:00:02', address: '10.10.0.50', expiresAt: null },
  ];
  const d = await fakeDaemon(app, 'edged', (ctx) => {
    ctx.bus.method('edge.lan', () => ({ enabled: true, dhcp: true, dns: true, intercept: false, running: true, pid: 4242, adopted: true, restarts: 1, problems: [] }));
    ctx.bus.method('edge.leases', () => ({ leases }));
    ctx.bus.method('edge.domains', () => ({
      sets: [
        { appClass: 'saas', family: 4, set: 'dom4_saas', elements: [{ address: '198.18.102.10', expiresSec: 250 }] },
        { appClass: 'saas', family: 6, set: 'dom6_saas', elements: [] },
        { appClass: 'chat', family: 4, set: 'dom4_chat', elements: [], problem: 'nft list set: No such file or directory' },
      ],
    }));
    return {};
  });
  t.teardown(() => d.stop());
  const l = await ternctl(app, ['leases']);
  t.equal(l.code, 0, `exit code: got ${l.code}; want 0 (${l.err})`);
  t.match(l.out, /dnsmasq:\s+running, pid 4242 \(adopted\), 1 restart\(s\)/, l.out);
  t.match(l.out, /10\.10\.0\.100\s+52:54:00:00:00:01\s+laptop\s+(59m\d\ds|1h00m)/, l.out);
  t.match(l.out, /10\.10\.0\.50\s+52:54:00:00:00:02\s+-\s+never/, l.out);
  const lj = (JSON.parse((await ternctl(app, ['leases', '--json'])).out) as { data: { leases: Array<{ address: string; hostname: string | null }> } }).data;
  t.same(lj.leases.map((x) => [x.address, x.hostname]), [['10.10.0.100', 'laptop'], ['10.10.0.50', null]], `got ${JSON.stringify(lj.leases)}`);
  const dm = await ternctl(app, ['domains']);
  t.equal(dm.code, 0, `exit code: got ${dm.code}; want 0 (${dm.err})`);
  t.match(dm.out, /saas\s+1\s+-/, dm.out);
  t.match(dm.out, /chat\s+0\s+IPv4: nft list set: No such file/, dm.out);
  t.match(dm.out, /saas\s+198\.18\.102\.10\s+4m10s/, dm.out);
  const dj = (JSON.parse((await ternctl(app, ['domains', '--json'])).out) as { data: { addresses: Array<{ appClass: string; address: string; expiresSec: number | null }> } }).data;
  t.same(dj.addresses, [{ appClass: 'saas', family: 4, address: '198.18.102.10', expiresSec: 250 }], `got ${JSON.stringify(dj.addresses)}`);
});

t.test('ternctl leases and domains without edged say so and exit unreachable', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  for (const cmd of ['leases', 'domains']) {
    const r = await ternctl(app, [cmd]);
    t.equal(r.code, 3, `${cmd}: got exit ${r.code}; want 3 (unreachable)`);
    t.match(r.out + r.err, /edged did not answer: .*not running/, cmd);
  }
});
