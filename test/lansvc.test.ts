// LAN services with real dnsmasq (issue 17), in namespaces of its own: a box
// with a LAN bridge and a WAN, an upstream resolver (nsd, authoritative for
// example.test with TTL 10), and two LAN hosts that take their addresses
// with Debian's stock DHCP client (isc-dhcp-client's dhclient). Needs root.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../daemons/lib/config/index.js';
import type { TernConfig } from '../daemons/lib/config/schema.js';
import { domainSetName } from '../daemons/lib/kernel/names.js';
import { silentLogger } from '../daemons/lib/log/index.js';
import { LanServices, answerTtlCap, realProcessIo, runCommand, type CommandRunner, type ProcessIo } from '../daemons/edged/lan/index.js';
import { patience, waitFor } from './lab/wait.js';

const p = `lsv${randomBytes(2).toString('hex')}`;
const ns = { box: `${p}-box`, up: `${p}-up`, h1: `${p}-h1`, h2: `${p}-h2` } as const;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${p}-`));
const lanIf = `${p}br`;
const wanIf = `${p}w`;
const staticMac = '52:54:00:77:00:02';
const setTtl = 10;

function sh(argv: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
}
const inNs = (n: string, argv: string[], input?: string) => sh(['ip', 'netns', 'exec', n, ...argv], input);
function must(n: string, argv: string[], input?: string): string {
  const r = inNs(n, argv, input);
  if (r.code !== 0) throw new Error(`${n}: ${argv.join(' ')}: ${r.err}`);
  return r.out;
}

function config(opts: { intercept: boolean; cacheSize?: number }): TernConfig {
  return parseConfig(configText(opts), 'tern.yaml').config;
}

function configText(opts: { intercept: boolean; cacheSize?: number }): string {
  return ([
    'version: 1',
    'identity: {site: lansvc, name: box}',
    'wans:',
    `  - {name: inet, interface: ${wanIf}, address: 192.0.2.1/24, gateway: 192.0.2.53}`,
    'lan:',
    `  interface: ${lanIf}`,
    '  address: 10.77.0.1/24',
    '  prefixes: [10.77.0.0/24]',
    '  dhcp:',
    '    ranges: [{start: 10.77.0.100, end: 10.77.0.149}]',
    '    leaseSec: 600',
    `    staticLeases: [{mac: "${staticMac}", address: 10.77.0.50, hostname: printer}]`,
    '    domain: lan.test',
    '  dns:',
    '    upstreams: [{address: 192.0.2.53, wan: inet}]',
    `    interceptPort53: ${opts.intercept}`,
    `    cacheSize: ${opts.cacheSize ?? 1000}`,
    `    maxSetTtlSec: ${setTtl}`,
    'overlay: {address: 100.64.0.1/24, sites: []}',
    'appClasses:',
    '  - name: saas',
    '    match: {protocols: [tcp, udp], domains: [saas1.example.test]}',
    '',
  ].join('\n'));
}

// LanServices as edged runs it, with dnsmasq and nft in the box's namespace:
// `ip netns exec` execs dnsmasq in place, so its pid and argv are dnsmasq's.
const proc: ProcessIo = { ...realProcessIo, spawn: (argv) => realProcessIo.spawn(['ip', 'netns', 'exec', ns.box, ...argv]) };
const nft: CommandRunner = (argv, input) => runCommand(['ip', 'netns', 'exec', ns.box, ...argv], input);
const runDir = path.join(dir, 'run');
const stateDir = path.join(dir, 'state');
const newLan = () => new LanServices({ runDir, stateDir, log: silentLogger(), proc, nft });

const nsdPids: number[] = [];
const dhclients: string[] = [];

/** Start dhclient (stock, with its stock script) on host n's interface and return the IPv4 address it configured. */
function dhcp(n: string, ifname: string, fresh: boolean): string {
  const pidFile = path.join(dir, `${n}.dhclient.pid`);
  const leases = path.join(dir, `${n}.dhclient.leases`);
  if (fresh) fs.rmSync(leases, { force: true });
  dhclients.push(pidFile);
  // -1: one try, exit non-zero without a lease; it forks to the background once bound.
  const r = inNs(n, ['dhclient', '-4', '-1', '-pf', pidFile, '-lf', leases, ifname]);
  if (r.code !== 0) throw new Error(`${n}: dhclient: ${r.err}`);
  const m = /inet (10\.77\.0\.\d+)\//.exec(must(n, ['ip', '-4', 'addr', 'show', 'dev', ifname]));
  if (!m) throw new Error(`${n}: dhclient exited 0 but ${ifname} has no 10.77.0.x address`);
  return m[1]!;
}

function stopDhclient(n: string): void {
  const pidFile = path.join(dir, `${n}.dhclient.pid`);
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 1) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  fs.rmSync(pidFile, { force: true });
}

/** dig from host n: the answer section as [name, ttl, address] rows, or the status when there is none. */
function dig(n: string, server: string, name: string): { status: string; answers: Array<{ ttl: number; address: string }> } {
  const r = inNs(n, ['dig', `@${server}`, name, 'A', '+time=2', '+tries=1', '+noall', '+comments', '+answer']);
  const status = /status: ([A-Z]+)/.exec(r.out)?.[1] ?? (r.code === 9 ? 'TIMEOUT' : `dig exit ${r.code}`);
  const answers = r.out.split('\n').filter((l) => /\sIN\s+A\s/.test(l)).map((l) => {
    const f = l.trim().split(/\s+/);
    return { ttl: Number(f[1]), address: f[4] ?? '' };
  });
  return { status, answers };
}

function setElements(family: 4 | 6): Array<{ val: string; expires?: number }> {
  const j = JSON.parse(must(ns.box, ['nft', '-j', 'list', 'set', 'inet', 'tern', domainSetName('saas', family)])) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  const elems = j.nftables.find((o) => o.set)?.set?.elem ?? [];
  return elems.map((e) => (typeof e === 'string' ? { val: e } : (e as { elem: { val: string; expires?: number } }).elem));
}

function interceptCount(): number {
  const out = inNs(ns.box, ['nft', 'list', 'chain', 'inet', 'tern', 'edge_dns_intercept']);
  return out.code === 0 ? Number(/counter packets (\d+)/.exec(out.out)?.[1] ?? 0) : -1;
}

t.before(() => {
  if (process.getuid?.() !== 0) throw new Error('lansvc: needs root (network namespaces)');
});

t.test('LAN services with real dnsmasq, dhclient and nsd', async (t) => {
  let lan: LanServices | undefined;
  for (const n of Object.values(ns)) {
    const r = sh(['ip', 'netns', 'add', n]);
    if (r.code !== 0) throw new Error(`ip netns add ${n}: ${r.err}`);
    must(n, ['ip', 'link', 'set', 'lo', 'up']);
  }
  t.teardown(async () => {
    await lan?.shutdown().catch(() => undefined);
    for (const f of dhclients) {
      try { const pid = Number(fs.readFileSync(f, 'utf8').trim()); if (pid > 1) process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
    for (const pid of nsdPids) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
    for (const n of Object.values(ns)) sh(['ip', 'netns', 'del', n]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // Box: a LAN bridge with both hosts on it, a WAN to the resolver.
  must(ns.box, ['ip', 'link', 'add', lanIf, 'type', 'bridge']);
  must(ns.box, ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', lanIf]);
  must(ns.box, ['ip', 'link', 'set', lanIf, 'up']);
  for (const [host, side, mac] of [[ns.h1, 'a', undefined], [ns.h2, 'b', staticMac]] as const) {
    must(ns.box, ['ip', 'link', 'add', `${p}${side}0`, 'type', 'veth', 'peer', 'name', `${p}${side}1`]);
    must(ns.box, ['ip', 'link', 'set', `${p}${side}1`, 'netns', host]);
    must(ns.box, ['ip', 'link', 'set', `${p}${side}0`, 'master', lanIf, 'up']);
    if (mac) must(host, ['ip', 'link', 'set', `${p}${side}1`, 'address', mac]);
    must(host, ['ip', 'link', 'set', `${p}${side}1`, 'up']);
    fs.mkdirSync(`/etc/netns/${host}`, { recursive: true });
    // ip netns exec binds this over /etc/resolv.conf, so dhclient-script writes here, not the machine's.
    fs.writeFileSync(`/etc/netns/${host}/resolv.conf`, '');
  }
  t.teardown(() => { for (const h of [ns.h1, ns.h2]) fs.rmSync(`/etc/netns/${h}`, { recursive: true, force: true }); });
  must(ns.box, ['ip', 'link', 'add', wanIf, 'type', 'veth', 'peer', 'name', `${p}u`]);
  must(ns.box, ['ip', 'link', 'set', `${p}u`, 'netns', ns.up]);
  must(ns.box, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', wanIf]);
  must(ns.box, ['ip', 'link', 'set', wanIf, 'up']);
  must(ns.up, ['ip', 'addr', 'add', '192.0.2.53/24', 'dev', `${p}u`]);
  must(ns.up, ['ip', 'link', 'set', `${p}u`, 'up']);

  // The resolver: nsd, authoritative for example.test, TTL 10 (like the lab's dns1).
  const nsdDir = path.join(dir, 'nsd');
  fs.mkdirSync(nsdDir);
  fs.writeFileSync(path.join(nsdDir, 'example.test.zone'), [
    '$ORIGIN example.test.', '$TTL 10',
    '@ IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 10', '@ IN NS ns1.example.test.',
    'ns1 IN A 192.0.2.53', 'saas1 IN A 198.18.100.21', 'saas2 IN A 198.18.100.22', '',
  ].join('\n'));
  const q = (f: string) => JSON.stringify(path.join(nsdDir, f));
  fs.writeFileSync(path.join(nsdDir, 'nsd.conf'), [
    'server:', '  ip-address: 192.0.2.53', '  port: 53', '  username: ""', '  chroot: ""', `  zonesdir: ${JSON.stringify(nsdDir)}`,
    '  database: ""', `  zonelistfile: ${q('zone.list')}`, `  xfrdfile: ${q('xfrd.state')}`, `  xfrdir: ${q('xfr')}`, `  pidfile: ${q('nsd.pid')}`,
    '  server-count: 1', 'remote-control:', '  control-enable: no', 'zone:', '  name: example.test', `  zonefile: ${q('example.test.zone')}`, '',
  ].join('\n'));
  const nsd = spawn('ip', ['netns', 'exec', ns.up, 'nsd', '-d', '-c', path.join(nsdDir, 'nsd.conf')], { stdio: 'ignore' });
  nsdPids.push(nsd.pid!);
  await waitFor('nsd answers', () => dig(ns.box, '192.0.2.53', 'saas1.example.test').status === 'NOERROR', patience(1000));

  // steerd declares the domain sets; here the test does, the same way.
  must(ns.box, ['nft', '-f', '-'], [
    'add table inet tern',
    `add set inet tern ${domainSetName('saas', 4)} { type ipv4_addr; flags timeout; timeout ${setTtl}s; }`,
    `add set inet tern ${domainSetName('saas', 6)} { type ipv6_addr; flags timeout; timeout ${setTtl}s; }`,
    '',
  ].join('\n'));

  lan = newLan();
  await lan.start(config({ intercept: true }));
  const first = lan.status();
  t.ok(first.running && first.pid !== undefined, `dnsmasq running: got ${JSON.stringify(first)}`);
  t.same(first.problems, [], 'no problems after start');
  // Least privilege: dnsmasq runs as its own user, with only the capabilities it keeps.
  const status = fs.readFileSync(`/proc/${first.pid}/status`, 'utf8');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  const want = Number(sh(['id', '-u', 'dnsmasq']).out.trim());
  t.equal(uid, want, `dnsmasq uid: got ${uid}; want ${want} (user dnsmasq)`);
  t.comment(`dnsmasq ${/^CapEff:.*$/m.exec(status)?.[0] ?? ''}`);

  await t.test('a LAN host gets a lease from the range with the stock client, and the static host its address', async (t) => {
    const a1 = dhcp(ns.h1, `${p}a1`, true);
    const n = Number(a1.split('.')[3]);
    t.ok(n >= 100 && n <= 149, `h1 address: got ${a1}; want 10.77.0.100-149`);
    t.equal(dhcp(ns.h2, `${p}b1`, true), '10.77.0.50', 'h2 (static lease by MAC)');
    const route = must(ns.h1, ['ip', '-4', 'route', 'show', 'default']);
    t.match(route, /via 10\.77\.0\.1 /, `h1 default route: got ${route.trim()}; want via 10.77.0.1 (option router)`);
    const resolv = fs.readFileSync(`/etc/netns/${ns.h1}/resolv.conf`, 'utf8');
    t.match(resolv, /nameserver 10\.77\.0\.1/, `h1 resolv.conf: got ${resolv}; want nameserver 10.77.0.1 (option dns-server)`);
    t.match(resolv, /lan\.test/, 'h1 resolv.conf has the domain (option 15)');
    const leases = await lan!.leases();
    const got = leases.map((l) => `${l.mac} ${l.address}`).sort();
    t.equal(leases.length, 2, `leases: got ${got.join(', ')}`);
    t.ok(leases.some((l) => l.mac === staticMac && l.address === '10.77.0.50'), 'the static lease is in the lease file');
  });

  await t.test('DNS answers from the box; a domain class lookup fills its set, and the element expires', async (t) => {
    const r = dig(ns.h1, '10.77.0.1', 'saas1.example.test');
    t.equal(r.status, 'NOERROR', 'status');
    t.same(r.answers.map((a) => a.address), ['198.18.100.21'], 'answer');
    // Clients are told at most the cap, so none holds the address longer than the set does.
    t.ok(r.answers.every((a) => a.ttl <= answerTtlCap(setTtl)), `answer TTL: got ${r.answers.map((a) => a.ttl).join(',')}; want <= ${answerTtlCap(setTtl)}`);
    const els = setElements(4);
    t.same(els.map((e) => e.val), ['198.18.100.21'], `set ${domainSetName('saas', 4)} after the lookup`);
    t.ok(els.every((e) => e.expires !== undefined && e.expires <= setTtl), `element expires within the set timeout: got ${JSON.stringify(els)}`);
    const seen = await lan!.domains();
    const v4 = seen.find((d) => d.family === 4);
    t.same(v4?.elements.map((e) => e.address), ['198.18.100.21'], `domains(): got ${JSON.stringify(seen)}`);
    dig(ns.h1, '10.77.0.1', 'saas2.example.test');
    t.same(setElements(4).map((e) => e.val), ['198.18.100.21'], 'a name outside the class is not learned');
    // Expiry by the set's timeout: wait on the state, bounded well past 10 s.
    await waitFor('the learned element expires', () => setElements(4).length === 0, { tries: 600, everyMs: 100 });
    t.pass('element gone after its timeout');
    // An address still in use is learned again: the cap keeps dnsmasq's cache short.
    await waitFor('saas1 learned again', () => {
      dig(ns.h1, '10.77.0.1', 'saas1.example.test');
      return setElements(4).length === 1;
    }, { tries: 100, everyMs: 200 });
    t.pass('learned again after expiry');
  });

  await t.test('intercept: a query to another resolver is answered by the box; off, it is not', async (t) => {
    const before = interceptCount();
    const r = dig(ns.h1, '203.0.113.99', 'saas2.example.test');
    t.equal(r.status, 'NOERROR', `query to 203.0.113.99: got ${r.status}`);
    t.same(r.answers.map((a) => a.address), ['198.18.100.22'], 'answered by the box');
    t.ok(interceptCount() > before, `intercept counter: got ${interceptCount()}; want above ${before}`);
    await lan!.reload(config({ intercept: false }));
    t.equal(interceptCount(), -1, 'chain removed with intercept off');
    t.equal(dig(ns.h1, '203.0.113.99', 'saas2.example.test').status, 'TIMEOUT', 'query to 203.0.113.99 without intercept');
    await lan!.reload(config({ intercept: true }));
    t.equal(interceptCount(), 0, 'chain back, once');
    const rules = must(ns.box, ['nft', 'list', 'chain', 'inet', 'tern', 'edge_dns_intercept']).split('\n').filter((l) => /redirect/.test(l));
    t.equal(rules.length, 1, `redirect rules: got ${rules.length}; want 1`);
  });

  await t.test('a restarted LanServices adopts dnsmasq; a config change restarts it; leases stay', async (t) => {
    const before = lan!.status();
    const h1Address = must(ns.h1, ['ip', '-4', 'addr', 'show', 'dev', `${p}a1`]).match(/inet (10\.77\.0\.\d+)\//)?.[1];
    await lan!.stop();
    lan = newLan();
    await lan.start(config({ intercept: true }));
    const adopted = lan.status();
    t.equal(adopted.pid, before.pid, `pid after restart: got ${adopted.pid}; want ${before.pid} (adopted)`);
    t.ok(adopted.adopted, 'status says adopted');
    t.equal(interceptCount() >= 0, true, 'intercept chain still there');
    const rules = must(ns.box, ['nft', 'list', 'chain', 'inet', 'tern', 'edge_dns_intercept']).split('\n').filter((l) => /redirect/.test(l));
    t.equal(rules.length, 1, `redirect rules after restart: got ${rules.length}; want 1 (no duplicate)`);

    await lan.reload(config({ intercept: true, cacheSize: 500 }));
    const changed = lan.status();
    t.not(changed.pid, before.pid, `pid after a config change: got ${changed.pid}; want a new one`);
    t.not(changed.configHash, before.configHash, 'config hash changed');
    // The new dnsmasq read the lease file: it names h1 by the hostname h1 sent, before h1 asks again.
    const named = dig(ns.h1, '10.77.0.1', `${os.hostname().split('.')[0]}.lan.test`);
    t.same(named.answers.map((a) => a.address), [h1Address], `h1's name from the kept lease: got ${named.status} ${JSON.stringify(named.answers)}`);
    // A fresh client (its own lease file gone) gets the address the lease file kept.
    stopDhclient(ns.h1);
    must(ns.h1, ['ip', '-4', 'addr', 'flush', 'dev', `${p}a1`]);
    t.equal(dhcp(ns.h1, `${p}a1`, true), h1Address, 'h1 gets the same address from the restarted dnsmasq');
    t.ok(fs.existsSync(path.join(stateDir, 'dnsmasq.leases')), 'lease file kept');
  });

  await t.test('edged killed (-9) while it runs dnsmasq: DHCP and DNS go on, and the next one adopts it', async (t) => {
    await lan!.shutdown();
    lan = undefined;
    const yaml = path.join(dir, 'tern.yaml');
    fs.writeFileSync(yaml, configText({ intercept: true }));
    const fixture = new URL('./lansvc.fixture.js', import.meta.url).pathname;
    const edged = spawn(process.execPath, [fixture, ns.box, yaml, runDir, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    edged.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const started = await waitFor('the stand-in edged started dnsmasq', () => (out.includes('\n') ? JSON.parse(out.split('\n')[0]!) as { pid: number; running: boolean } : undefined), patience(2000));
    t.ok(started.running, `stand-in status: ${out.trim()}`);
    const exited = new Promise((r) => edged.on('exit', r));
    edged.kill('SIGKILL');
    await exited;
    t.ok(fs.existsSync(`/proc/${started.pid}`), `dnsmasq ${started.pid} outlived its edged`);
    t.equal(dig(ns.h1, '10.77.0.1', 'saas2.example.test').status, 'NOERROR', 'DNS answers with no edged');
    stopDhclient(ns.h1);
    must(ns.h1, ['ip', '-4', 'addr', 'flush', 'dev', `${p}a1`]);
    const again = dhcp(ns.h1, `${p}a1`, true);
    t.match(again, /^10\.77\.0\.1[0-4]\d$/, `DHCP with no edged: got ${again}`);
    lan = newLan();
    await lan.start(config({ intercept: true }));
    t.equal(lan.status().pid, started.pid, `pid after the new edged started: got ${lan.status().pid}; want ${started.pid} (adopted)`);
    t.ok(lan.status().adopted, 'adopted');
  });

  await t.test('dnsmasq killed: restarted by the supervisor', async (t) => {
    const pid = lan!.status().pid!;
    process.kill(pid, 'SIGKILL');
    const now = await waitFor('dnsmasq restarted', () => { const s = lan!.status(); return s.running && s.pid !== pid ? s : undefined; }, patience(2000));
    t.equal(now.restarts, 1, `restarts: got ${now.restarts}; want 1`);
    t.equal(now.adopted, false, 'the restarted one is its own child');
    t.equal(dig(ns.h1, '10.77.0.1', 'saas2.example.test').status, 'NOERROR', 'answers again');
  });

  await lan.shutdown();
  lan = undefined;
});
