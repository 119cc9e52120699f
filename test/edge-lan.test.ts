// Lab test of tern-edged's LAN services (issue #17), every daemon on every
// appliance of the default topology with the lab's internet. home1 serves
// DHCP and DNS (dnsmasq, started and supervised by edged) with the lab's
// dns1 as upstream, and an app class `saas` matching saas2.example.test is
// steered to the metered WAN ispd while everything else goes by ispa.
// homehost takes its address with the stock client (dhclient), resolves
// through the resolver its lease names, and every claim about steering is
// read at the far end: the HTTP echo at saas1/saas2 answers the source it
// saw, which is the WAN address (198.18.1.6 ispa, 198.18.4.2 ispd).
// kill -9 of edged: dnsmasq keeps answering DHCP and DNS, and the restarted
// edged adopts it (same pid).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { Lab, defaultTopology, httpBurst, parseDig, repoRoot, serverWith, startDaemons, startDhcpClient, startInternet, waitForLease, type DhcpClient, type DnsAnswer } from './lab/index.js';
import { busCall, patience, waitFor } from './lab/wait.js';

const box = 'home1';
const host = 'homehost';
const boxLan = '10.2.0.1';
const ispaAddr = '198.18.1.6';
const ispdAddr = '198.18.4.2';
const range = { start: '10.2.0.100', end: '10.2.0.149' };

interface EdgeLan { enabled: boolean; dhcp: boolean; dns: boolean; running: boolean; pid?: number; adopted: boolean; restarts: number; problems: string[] }
interface Path_ { site: string; wan: string; state: string }

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-edgelan-'));
const lab = await Lab.up(defaultTopology(), { runDir });
t.teardown(async () => {
  await lab.down();
  if (t.passing()) fs.rmSync(runDir, { recursive: true, force: true });
  else t.comment(`logs kept in ${runDir}/logs`);
});
const internet = await startInternet(lab);
const server = (node: string): string => internet.servers.find((s) => s.node === node)!.address;
const saas1 = server('saas1');
const saas2 = server('saas2');
const inet = server('inet');
const dns1 = serverWith(lab.topology, 'dns').address;

const env = lab.applianceEnv(box);
const sock = (daemon: string): string => path.join(env.TERN_RUN_DIR!, `${daemon}.sock`);
const call = <T>(daemon: string, method: string): Promise<T> => busCall<T>(sock(daemon), method);

/** ternctl as an operator runs it on home1, with --json: its data. */
function ternctl<T>(...args: string[]): T {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'daemons', 'ctl', 'main.js'), ...args, '--json'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`ternctl ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { data: T }).data;
}

/** A lookup from homehost with recursion asked, as a stub resolver does. */
async function dig(server: string, name: string): Promise<DnsAnswer> {
  const r = await lab.exec(host, ['dig', '+time=2', '+tries=1', '+noall', '+comments', '+answer', `@${server}`, name, 'A'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`dig @${server} ${name}: exit ${r.code}: ${(r.stdout + r.stderr).trim()}`);
  return parseDig(r.stdout);
}

async function flows(dst: string, n: number): Promise<{ counts: Record<string, number>; failed: number }> {
  return httpBurst(lab, host, dst, n, 10);
}

const dhclientAcks = (c: DhcpClient): number => (fs.existsSync(c.process.log) ? fs.readFileSync(c.process.log, 'utf8').match(/DHCPACK/g)?.length ?? 0 : 0);

// Every appliance with the lab's config; home1's with the LAN services,
// internet breakout, WAN health from a target on the internet, and the
// domain class steered to the metered WAN.
for (const n of lab.nodes('appliance').map((x) => x.name)) lab.writeApplianceConfig(n);
{
  const file = env.TERN_CONFIG!;
  const cfg = parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;
  cfg.lan.dhcp = { ranges: [range], leaseSec: 600 };
  cfg.lan.dns = { upstreams: [{ address: dns1 }], maxSetTtlSec: 600 };
  cfg.internet = { enabled: true };
  cfg.probes = { pathRatePerSec: 5, wanTargets: [inet] };
  cfg.appClasses = [{ name: 'saas', match: { domains: ['saas2.example.test'] } }];
  cfg.policies = [
    { appClass: 'saas', mode: 'weighted', weights: { ispd: 1 } },
    { appClass: 'default', mode: 'weighted', weights: { ispa: 1 } },
  ];
  fs.writeFileSync(file, stringify(cfg, { lineWidth: 0 }));
}
const started = startDaemons(lab);
for (const n of lab.nodes('appliance').map((x) => x.name)) {
  for (const d of started.daemons) {
    await waitFor(`${n} ${d} ready`, () => fs.existsSync(path.join(lab.applianceEnv(n).TERN_RUN_DIR!, `${d}.ready`)), patience(15_000));
  }
}

let client!: DhcpClient;

t.test('edged runs dnsmasq: homehost takes a lease and resolves through the box', async (t) => {
  const lan = await waitFor('edged: dnsmasq running', async () => { const s = await call<EdgeLan>('edged', 'edge.lan'); return s.running ? s : undefined; }, patience(10_000));
  t.same([lan.enabled, lan.dhcp, lan.dns, lan.adopted], [true, true, true, false], `edge.lan: got ${JSON.stringify(lan)}; want enabled, dhcp, dns, started by this edged`);
  const stateMode = fs.statSync(path.join(env.TERN_STATE_DIR!, 'edge')).mode & 0o777;
  t.equal(stateMode, 0o700, `<stateDir>/edge: got mode ${stateMode.toString(8)}; want 700`);
  t.ok(fs.existsSync(path.join(env.TERN_STATE_DIR!, 'edge', 'dnsmasq.leases')), 'the lease file is in <stateDir>/edge');

  client = await startDhcpClient(lab, host, 'eth0');
  const lease = await waitForLease(lab, client);
  const a = Number(lease.address.split('.')[3]);
  t.ok(lease.address.startsWith('10.2.0.') && a >= 100 && a <= 149, `got lease ${lease.address}; want one in ${range.start}-${range.end}`);
  t.same(lease.routers, [boxLan], `routers: got ${lease.routers.join(', ')}; want the box ${boxLan}`);
  t.same(lease.dnsServers, [boxLan], `DNS servers: got ${lease.dnsServers.join(', ')}; want the box ${boxLan}`);
  // The default route comes from the lease (the static one was flushed).
  const route = await lab.mustExec(host, ['ip', '-4', 'route', 'show', 'default']);
  t.match(route, new RegExp(`via ${boxLan.replace(/\./g, '\\.')}`), `default route: got ${route.trim()}; want via ${boxLan}`);

  const ans = await dig(lease.dnsServers[0]!, 'saas1.example.test');
  t.equal(ans.status, 'NOERROR', `saas1.example.test via the box: got ${ans.status}`);
  t.same(ans.answers.filter((r) => r.type === 'A').map((r) => r.data), [saas1], `saas1.example.test: got ${JSON.stringify(ans.answers)}; want ${saas1}`);

  const leases = ternctl<{ leases: Array<{ address: string; mac: string; hostname: string | null }> }>('leases');
  t.ok(leases.leases.some((l) => l.address === lease.address), `ternctl leases --json: got ${JSON.stringify(leases.leases)}; want homehost's ${lease.address}`);
});

t.test('a domain class learned from the box\'s DNS goes 100 % by ispd; the rest by ispa', async (t) => {
  const paths = async (): Promise<Path_[]> => (await call<Path_[]>('steerd', 'steer.paths')).filter((p) => p.site === 'internet');
  await waitFor('both internet paths up', async () => { const p = await paths(); return p.length === 2 && p.every((x) => x.state === 'up') ? p : undefined; }, patience(20_000));

  // Before any lookup: saas2's address is not in the class, so its flows go by the default class (ispa) — the control.
  const before = await flows(saas2, 20);
  t.same(before, { counts: { [ispaAddr]: 20 }, failed: 0 }, `saas2 before the lookup: got ${JSON.stringify(before)}; want all by ispa (not learned yet)`);

  const ans = await dig(boxLan, 'saas2.example.test');
  t.same(ans.answers.filter((r) => r.type === 'A').map((r) => r.data), [saas2], `saas2.example.test via the box: got ${JSON.stringify(ans.answers)}`);
  const learned = await waitFor('ternctl domains lists saas2', async () => {
    const d = ternctl<{ addresses: Array<{ appClass: string; address: string; expiresSec: number | null }> }>('domains');
    return d.addresses.find((x) => x.appClass === 'saas' && x.address === saas2);
  }, patience(5000));
  t.ok(learned.expiresSec !== null && learned.expiresSec > 0 && learned.expiresSec <= 600, `expiresSec: got ${learned.expiresSec}; want 1..600 (maxSetTtlSec)`);

  const s2 = await flows(saas2, 100);
  t.same(s2, { counts: { [ispdAddr]: 100 }, failed: 0 }, `saas2: got ${JSON.stringify(s2)}; want all 100 from ispd's ${ispdAddr}`);
  const s1 = await flows(saas1, 100);
  t.same(s1, { counts: { [ispaAddr]: 100 }, failed: 0 }, `saas1: got ${JSON.stringify(s1)}; want all 100 from ispa's ${ispaAddr}`);
});

t.test('kill -9 of edged: dnsmasq goes on answering DHCP and DNS; the restart adopts it', async (t) => {
  const lan0 = await call<EdgeLan>('edged', 'edge.lan');
  t.ok(lan0.running && lan0.pid !== undefined, `edge.lan before: got ${JSON.stringify(lan0)}`);
  await lab.kill(box, 'edged', 'SIGKILL');

  // DNS with edged dead: a name not asked before, so dnsmasq forwards it.
  const ans = await dig(boxLan, 'inet.example.test');
  t.same(ans.answers.filter((r) => r.type === 'A').map((r) => r.data), [inet], `inet.example.test with edged dead: got ${ans.status} ${JSON.stringify(ans.answers)}; want ${inet}`);
  // DHCP with edged dead: a new dhclient asks for its lease again (INIT-REBOOT REQUEST) and must get an ACK.
  const acks = dhclientAcks(client);
  await lab.kill(host, `dhclient-${client.ifname}`);
  client = await startDhcpClient(lab, host, 'eth0', { keepStatic: true });
  // dhclient's log is appended to across runs: a new DHCPACK line is this exchange's.
  await waitFor('a DHCPACK with edged dead', () => dhclientAcks(client) > acks || undefined, patience(15_000));
  const lease = await waitForLease(lab, client);
  t.ok(lease.address.startsWith('10.2.0.'), `lease after the renew: ${lease.address}`);
  t.equal(fs.existsSync(`/proc/${lan0.pid}`), true, `dnsmasq pid ${lan0.pid} still runs`);

  lab.spawn(box, 'edged', [process.execPath, path.join(repoRoot, 'dist', 'daemons', 'edged', 'main.js')], { env });
  const lan1 = await waitFor('edged back, dnsmasq adopted', async () => {
    const s = await call<EdgeLan>('edged', 'edge.lan').catch(() => undefined);
    return s?.running ? s : undefined;
  }, patience(10_000));
  t.equal(lan1.pid, lan0.pid, `dnsmasq pid: got ${lan1.pid}; want ${lan0.pid} (adopted, not restarted)`);
  t.equal(lan1.adopted, true, `edge.lan after the restart: got ${JSON.stringify(lan1)}; want adopted`);
  t.same(lan1.problems, [], `problems: got ${JSON.stringify(lan1.problems)}`);
  const after = await dig(boxLan, 'saas1.example.test');
  t.same(after.answers.filter((r) => r.type === 'A').map((r) => r.data), [saas1], 'DNS answered after the restart');
});
