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
