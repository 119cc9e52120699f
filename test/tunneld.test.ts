// Lab test of tern-tunneld: the real daemon on every appliance of the
// default topology, real WireGuard (wireguard-go here), real routing.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../daemons/lib/config/index.js';
import { clientConfig, remoteAccessEndpoint } from '../daemons/lib/overlay/remote-access.js';
import { defaultTopology, Lab, pingOne, repoRoot } from './lab/index.js';
import { kernelEvents } from './lab/monitor.js';
import { busCall, patience, sleep, waitFor, waitForAdvance } from './lab/wait.js';

const tunneld = path.join(repoRoot, 'dist', 'daemons', 'tunneld', 'main.js');
const appliances = ['office1', 'office2', 'home1', 'cloud1'];
/** Paths each appliance must bring up: its own WANs × every remote site's WANs. */
// Paths are local WANs × remote WANs: home1 has two (ispa and the metered ispd).
const expectedPaths: Record<string, number> = { office1: 3, office2: 3, home1: 6, cloud1: 4 };

interface PathRow { name: string; site: string; state: string; ifname: string }
interface TunnelRow { ifname: string; ifindex: number | null; peers: Array<{ allowedIps: string[] }> }

const lab = await Lab.up(defaultTopology());
t.teardown(() => lab.down());

const call = <T>(node: string, method: string, params?: Record<string, unknown>): Promise<T> =>
  busCall<T>(path.join(lab.applianceEnv(node).TERN_RUN_DIR!, 'tunneld.sock'), method, params);

function start(node: string): void {
  lab.spawn(node, 'tunneld', [process.execPath, tunneld], { env: lab.applianceEnv(node) });
}

async function ready(node: string): Promise<void> {
  const file = path.join(lab.applianceEnv(node).TERN_RUN_DIR!, 'tunneld.ready');
  await waitFor(`${node} tunneld ready`, () => fs.existsSync(file), patience(10_000));
}

async function allUp(node: string, want: number): Promise<PathRow[]> {
  return waitFor(`${node}: ${want} paths up`, async () => {
    const rows = await call<PathRow[]>(node, 'paths.list');
    return rows.length === want && rows.every((r) => r.state === 'up') ? rows : undefined;
  }, patience(10_000));
}

// Remote access: the roadwarrior holds its own key (lab keys/user-rw.key);
// the boxes know only its public key, as after `ternctl ra add`.
for (const node of appliances) lab.writeApplianceConfig(node);
const userKey = fs.readFileSync(path.join(lab.runDir, 'keys', 'user-rw.key'), 'utf8').trim();
for (const node of appliances) start(node);
for (const node of appliances) await ready(node);

t.test('every expected path comes up: each local WAN to each remote WAN', async (t) => {
  for (const node of appliances) {
    const rows = await allUp(node, expectedPaths[node]!);
    t.equal(rows.length, expectedPaths[node], `${node}: got ${rows.length} paths; want ${expectedPaths[node]}`);
  }
  const office = [...await call<PathRow[]>('office1', 'paths.list'), ...await call<PathRow[]>('office2', 'paths.list')];
  t.same(office.map((p) => p.name).sort(), ['ispa/cloud/ispc', 'ispa/home/ispa', 'ispa/home/ispd', 'ispb/cloud/ispc', 'ispb/home/ispa', 'ispb/home/ispd'],
    'the office has its 2 WANs × every remote WAN');
});

t.test('LAN hosts and the cloud server reach each other over the overlay', async (t) => {
  const hosts = { officehost: '10.1.0.10', homehost: '10.2.0.10', cloudsrv: '10.3.0.10' };
  for (const [from] of Object.entries(hosts)) {
    for (const [to, addr] of Object.entries(hosts)) {
      if (from === to) continue;
      const r = await pingOne(lab, from, addr, { count: 20, periodMs: 20, timeoutMs: 1000 });
      t.equal(r.received, r.sent, `${from} → ${to}: got ${r.received}/${r.sent} replies; want all`);
    }
  }
});

t.test('a TCP transfer of a few MB arrives intact across the overlay', async (t) => {
  const file = path.join(lab.runDir, 'blob.bin');
  fs.writeFileSync(file, Buffer.alloc(4 * 1024 * 1024, 0).map((_, i) => (i * 7919 + 13) & 0xff));
  const want = (await lab.mustExec('officehost', ['sha256sum', file])).split(' ')[0];
  const server = lab.spawn('cloudsrv', 'sink', ['socat', '-u', 'TCP-LISTEN:5001,reuseaddr', `OPEN:${file}.recv,creat,trunc`]);
  await waitFor('cloudsrv: the sink listening on 5001', async () => (await lab.mustExec('cloudsrv', ['ss', '-Hltn', 'sport = :5001'])).trim() !== '', patience(1000));
  const send = await lab.exec('officehost', ['socat', '-u', `OPEN:${file}`, 'TCP:10.3.0.10:5001'], { timeoutMs: 60_000 });
  t.equal(send.code, 0, `socat send: ${send.stderr}`);
  await server.exited;
  const got = (await lab.mustExec('cloudsrv', ['sha256sum', `${file}.recv`])).split(' ')[0];
  t.equal(got, want, `sha256 got ${got}; want ${want}`);
});

t.test('kill -9 and restart of tunneld loses no ping and keeps interface indexes', async (t) => {
  const before = await call<TunnelRow[]>('home1', 'tunnels.list');
  // A ping stream (100/s) from before the kill until well after the
  // restart, however long that takes: counted by homehost's kernel, so
  // the stream's span follows the restart rather than a guess of its length.
  const e0 = await echoCounters('homehost');
  lab.spawn('homehost', 'stream', ['fping', '-l', '-p', '10', '-t', '1000', '-q', '10.1.0.10']);
  const sent = async (): Promise<number> => (await echoCounters('homehost')).requests;
  await waitFor('the ping stream under way (50 requests)', async () => (await sent()) - e0.requests >= 50, patience(500));
  await lab.kill('home1', 'tunneld', 'SIGKILL');
  fs.rmSync(path.join(lab.applianceEnv('home1').TERN_RUN_DIR!, 'tunneld.ready'), { force: true });
  start('home1');
  await ready('home1');
  await waitForAdvance('the ping stream after the restart', sent, 100, patience(1000));
  await lab.kill('homehost', 'stream', 'SIGTERM');
  const requests = (await sent()) - e0.requests;
  // Replies still on their way when fping stopped are counted by the kernel all the same.
  const replies = await waitFor('a reply to every request', async () => {
    const got = (await echoCounters('homehost')).replies - e0.replies;
    return got >= requests ? got : undefined;
  }, patience(1000)).catch(async () => (await echoCounters('homehost')).replies - e0.replies);
  t.equal(replies, requests, `got ${replies}/${requests} replies across the restart; want all`);
  const after = await call<TunnelRow[]>('home1', 'tunnels.list');
  t.same(after.map((x) => [x.ifname, x.ifindex]), before.map((x) => [x.ifname, x.ifindex]), 'same interfaces, same indexes');
  const info = await call<{ lastReconcile: { created: string[]; destroyed: string[]; configured: Record<string, string[]> } }>('home1', 'overlay.info');
  t.same([info.lastReconcile.created, info.lastReconcile.destroyed, info.lastReconcile.configured], [[], [], {}], 'the restart adopted everything and changed nothing');
});

t.test('bad config on reload is refused and the tunnels stay up', async (t) => {
  const cfg = lab.applianceEnv('home1').TERN_CONFIG!;
  const good = fs.readFileSync(cfg, 'utf8');
  const before = await call<TunnelRow[]>('home1', 'tunnels.list');
  const cases = [
    { name: 'endpoint that does not resolve', text: good.replace(/endpoint: 198\.18\.3\.2:51820/, 'endpoint: nowhere.invalid:51820'), want: /overlay\.sites\[\d\]\.wans\[0\]\.endpoint: host 'nowhere\.invalid' does not resolve/ },
    { name: 'WAN interface that does not exist', text: good.replace(/interface: wan0/, 'interface: wan9'), want: /wans\[0\]\.interface: no interface 'wan9'/ },
    { name: 'malformed peer key', text: good.replace(/publicKey: [A-Za-z0-9+/]{43}=/, 'publicKey: not-a-key'), want: /publicKey/ },
  ];
  for (const c of cases) {
    t.not(c.text, good, `${c.name}: the test edits the config`);
    fs.writeFileSync(cfg, c.text);
    const err = await call('home1', 'daemon.reload').then(() => undefined, (e: unknown) => e as Error);
    t.ok(err, `${c.name}: reload refused`);
    t.match(err?.message ?? '', c.want, `${c.name}: the error names the key`);
    const after = await call<TunnelRow[]>('home1', 'tunnels.list');
    t.same(after.map((x) => [x.ifname, x.ifindex]), before.map((x) => [x.ifname, x.ifindex]), `${c.name}: tunnels untouched`);
    const r = await pingOne(lab, 'homehost', '10.3.0.10', { count: 10, periodMs: 20, timeoutMs: 1000 });
    t.equal(r.received, r.sent, `${c.name}: traffic still flows`);
  }
  fs.writeFileSync(cfg, good);
  await call('home1', 'daemon.reload');
});

t.test('removing a site removes exactly its tunnels and routes', async (t) => {
  const cfg = lab.applianceEnv('home1').TERN_CONFIG!;
  const good = fs.readFileSync(cfg, 'utf8');
  const before = await call<TunnelRow[]>('home1', 'tunnels.list');
  const doc = (await import('yaml')).parseDocument(good);
  const sites = doc.getIn(['overlay', 'sites']) as { items: Array<{ get(k: string): unknown }> };
  sites.items = sites.items.filter((s) => s.get('id') !== 'cloud');
  fs.writeFileSync(cfg, doc.toString());
  await call('home1', 'daemon.reload');
  const after = await call<TunnelRow[]>('home1', 'tunnels.list');
  const gone = before.filter((b) => !after.some((a) => a.ifname === b.ifname)).map((x) => x.ifname).sort();
  // One tunnel to the cloud from each of home1's WANs (slot 0 ispa, slot 1 ispd).
  const toCloud = ['tn2-3-00', 'tn2-3-10'];
  t.same(gone, toCloud, `got removed ${gone.join(', ')}; want only the tunnels to the cloud ${toCloud.join(', ')}`);
  t.same(after.map((x) => [x.ifname, x.ifindex]), before.filter((b) => !toCloud.includes(b.ifname)).map((x) => [x.ifname, x.ifindex]), 'the others untouched');
  const routes = await lab.mustExec('home1', ['ip', '-4', 'route', 'show', 'table', 'all']);
  t.notMatch(routes, /10\.3\.0\.0\/24/, 'no route to the cloud LAN is left in any table');
  t.notMatch(routes, /tn2-3-/, 'no route through the removed tunnels');
  t.match(routes, /10\.1\.0\.0\/24 dev tn2-1-00/, 'the routes to the office remain');
  const r = await pingOne(lab, 'homehost', '10.1.0.10', { count: 10, periodMs: 20, timeoutMs: 1000 });
  t.equal(r.received, r.sent, 'the office is still reached');
  fs.writeFileSync(cfg, good);
  await call('home1', 'daemon.reload');
  await allUp('home1', expectedPaths.home1!);
});

t.test('the roadwarrior reaches the office LAN and the cloud server with the stock wg-quick, until revoked', async (t) => {
  // The config ternctl ra add prints, made from the same parts: the box's public key from tunneld, the user's own key.
  const cfg = parseConfig(fs.readFileSync(lab.applianceEnv('office1').TERN_CONFIG!, 'utf8')).config;
  const info = await call<{ publicKey: string }>('office1', 'overlay.info');
  const user = cfg.remoteUsers.find((u) => u.name === 'rw')!;
  const conf = path.join(lab.runDir, 'rwtern0.conf');
  fs.writeFileSync(conf, clientConfig({ user, clientPrivateKey: userKey, serverPublicKey: info.publicKey, endpoint: remoteAccessEndpoint(cfg) }), { mode: 0o600 });
  const up = await lab.exec('rw', ['wg-quick', 'up', conf], { timeoutMs: 30_000 });
  t.equal(up.code, 0, `wg-quick up: ${up.stderr}`);
  t.teardown(() => lab.exec('rw', ['wg-quick', 'down', conf]).then(() => undefined));
  for (const [what, addr] of [['office LAN host', '10.1.0.10'], ['cloud server', '10.3.0.10']] as const) {
    const r = await pingOne(lab, 'rw', addr, { count: 20, periodMs: 50, timeoutMs: 2000 });
    t.ok(r.received >= r.sent - 1, `rw → ${what}: got ${r.received}/${r.sent}; want all (the first may wait for the handshake)`);
  }
  for (const node of ['office1', 'office2']) {
    const cfg = lab.applianceEnv(node).TERN_CONFIG!;
    const doc = (await import('yaml')).parseDocument(fs.readFileSync(cfg, 'utf8'));
    doc.setIn(['remoteUsers', 0, 'revoked'], true);
    fs.writeFileSync(cfg, doc.toString());
    await call(node, 'daemon.reload');
  }
  const r = await pingOne(lab, 'rw', '10.1.0.10', { count: 10, periodMs: 50, timeoutMs: 500 });
  t.equal(r.received, 0, `after revoke: got ${r.received}/${r.sent}; want none`);
  const users = await call<Array<{ name: string; revoked: boolean }>>('office1', 'ra.list');
  t.same(users.find((u) => u.name === 'rw'), { name: 'rw', address: user.address, allowedPrefixes: user.allowedPrefixes, revoked: true, publicKey: user.publicKey }, 'ra.list shows rw revoked, by public key only');
});

// ---------------------------------------------------------------------------
// A DHCP WAN's gateway in the WAN's table, and fail-open of flows pinned to a
// dead path. Both on home1 (site 2: one WAN, ispa on wan0, table 1000;
// gateway 198.18.1.5).

const sh = (node: string, cmd: string): Promise<string> => lab.mustExec(node, ['sh', '-c', cmd]);
const table = async (node: string, n: number | string): Promise<string> => (await lab.mustExec(node, ['ip', 'route', 'show', 'table', String(n)])).trim();

/** A node's ICMP echo requests sent and replies received, as its kernel counts them (its namespace's /proc/net/snmp). */
async function echoCounters(node: string): Promise<{ requests: number; replies: number }> {
  const [head, values] = (await lab.mustExec(node, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Icmp:')).map((l) => l.split(/\s+/));
  const at = (name: string): number => Number(values![head!.indexOf(name)]);
  return { requests: at('OutEchos'), replies: at('InEchoReps') };
}

async function restart(node: string): Promise<void> {
  await lab.kill(node, 'tunneld', 'SIGKILL');
  fs.rmSync(path.join(lab.applianceEnv(node).TERN_RUN_DIR!, 'tunneld.ready'), { force: true });
  start(node);
  await ready(node);
}


/**
 * A few seconds of tunneld polls (1 s each) after a restart: long enough for
 * a pass a reading would trigger. A genuine pause, not a wait for a state:
 * what follows checks that nothing happened, and tunneld counts no polls to
 * wait for. A loaded machine fits fewer polls in it, which weakens the
 * check but cannot fail it wrongly.
 */
const settle = (): Promise<void> => sleep(4000);

async function reachesAll(t: Test, what: string): Promise<void> {
  // A first exchange may wait for a handshake; what is asserted is after it.
  await pingOne(lab, 'homehost', '10.1.0.10', { count: 3, periodMs: 100, timeoutMs: 2000 });
  await pingOne(lab, 'homehost', '10.3.0.10', { count: 3, periodMs: 100, timeoutMs: 2000 });
  for (const [to, addr] of [['office', '10.1.0.10'], ['cloud', '10.3.0.10']] as const) {
    const r = await pingOne(lab, 'homehost', addr, { count: 10, periodMs: 50, timeoutMs: 1000 });
    t.equal(r.received, r.sent, `${what}: homehost → ${to}: got ${r.received}/${r.sent} replies; want all`);
  }
}

t.test('a DHCP WAN: the gateway its client put in main goes into the WAN table, adopted on restart, follows a new lease, leaves with the lease', async (t) => {
  const cfg = lab.applianceEnv('home1').TERN_CONFIG!;
  const good = fs.readFileSync(cfg, 'utf8');
  const yaml = await import('yaml');
  const doc = yaml.parseDocument(good);
  doc.setIn(['wans', 0, 'dhcp'], true);
  doc.deleteIn(['wans', 0, 'address']);
  doc.deleteIn(['wans', 0, 'gateway']);
  t.teardown(async () => {
    // Back to the lab's static WAN: the config, main's default route, the
    // ISP's address, and a tunneld that reads it.
    fs.writeFileSync(cfg, good);
    await sh('home1', 'while ip route del default 2>/dev/null; do :; done; ip route add default via 198.18.1.5').catch(() => undefined);
    await sh('ispa', 'ip address del 198.18.1.254/32 dev home1').catch(() => undefined);
    await restart('home1');
    await allUp('home1', expectedPaths.home1!);
  });

  // What networkd or dhclient leaves: the lease's default route in main,
  // proto dhcp. And a cheaper default route out of another interface (as
  // another WAN's lease could be), which unmarked traffic prefers: a
  // tunnel's packets marked for ispa must still leave by wan0 — by the WAN
  // table, since main would send them to lan0 (homehost does not forward).
  await lab.kill('home1', 'tunneld', 'SIGTERM');
  fs.rmSync(path.join(lab.applianceEnv('home1').TERN_RUN_DIR!, 'tunneld.ready'), { force: true });
  await sh('home1', 'ip route del default via 198.18.1.5 && ip route add default via 198.18.1.5 dev wan0 proto dhcp metric 1024 && ip route add default via 10.2.0.10 dev lan0 metric 10 && ip route flush table 1000');
  t.equal(await table('home1', 1000), '', 'a DHCP box starts with an empty WAN table');
  fs.writeFileSync(cfg, doc.toString());
  start('home1');
  await ready('home1');
  const learned = await waitFor('home1 WAN table: the DHCP gateway', async () => {
    const s = await table('home1', 1000);
    return /^default via 198\.18\.1\.5 dev wan0/m.test(s) ? s : undefined;
  }, patience(3000));
  t.match(learned, /^default via 198\.18\.1\.5 dev wan0 proto static/m, `WAN table: got '${learned}'`);
  t.notMatch(learned, /10\.2\.0\.10|lan0/, 'only the default route out of the WAN\'s own interface');
  await allUp('home1', expectedPaths.home1!);
  await reachesAll(t, 'DHCP gateway learned');
  const v6rule = await lab.mustExec('home1', ['ip', '-6', 'rule', 'show', 'pref', '10100']);
  t.match(v6rule, /fwmark 0x103e8 lookup 1000/, 'a DHCP WAN has its IPv6 WAN-mark rule too');

  // A restart adopts the learned route: not one route event.
  const events = await kernelEvents(lab, 'home1', 'route', async () => { await restart('home1'); await settle(); });
  t.same(events, [], `route events during a restart: got ${JSON.stringify(events)}; want none`);
  t.equal(await table('home1', 1000), learned, 'the WAN table is as it was');

  // A new lease with another gateway, outside wan0's /30 (as DHCP's
  // classless static routes give one: `onlink`): the ISP answers on
  // 198.18.1.254 too.
  await sh('ispa', 'ip address add 198.18.1.254/32 dev home1');
  await sh('home1', 'ip route del default via 198.18.1.5 dev wan0 && ip route add default via 198.18.1.254 dev wan0 proto dhcp onlink metric 1024');
  const moved = await waitFor('home1 WAN table: the new lease\'s gateway', async () => {
    const s = await table('home1', 1000);
    return /^default via 198\.18\.1\.254 dev wan0/m.test(s) ? s : undefined;
  }, patience(3000));
  t.notMatch(moved, /198\.18\.1\.5\b/, `the old gateway is gone from the WAN table: got '${moved}'`);
  await reachesAll(t, 'after the lease change');
  const info = await call<{ lastReconcile: { errors: string[] } }>('home1', 'overlay.info');
  t.same(info.lastReconcile.errors, [], 'the kernel took the route via a gateway outside the subnet');

  // The lease goes: so does the WAN table's route. What stays is the WAN
  // guard (issue #15): what is marked for the WAN meets it instead of
  // falling through to main and leaving by another WAN.
  await sh('home1', 'ip route del default via 198.18.1.254 dev wan0');
  await waitFor('home1 WAN table emptied', async () => (await table('home1', 1000)) === 'unreachable default proto static metric 4294967295', patience(3000));
  t.pass('no lease, no WAN route');
});

t.test('a flow pinned to a dead path, steerd gone: the path\'s table empties and the flow reaches the office through main; back when the path is', async (t) => {
  // steerd leaves its path-mark rules behind when killed: the flows it
  // pinned keep their marks, and their lookup starts in the path's table.
  lab.spawn('home1', 'steerd', [process.execPath, path.join(repoRoot, 'dist', 'daemons', 'steerd', 'main.js')], { env: lab.applianceEnv('home1') });
  const rows = await allUp('home1', expectedPaths.home1!);
  const dead = rows.find((r) => r.name === 'ispa/office/ispb') as PathRow & { table: number; mark: number; probeAddress: string } | undefined;
  const live = rows.find((r) => r.name === 'ispa/office/ispa');
  t.ok(dead && live, 'home1 has both paths to the office');
  if (!dead || !live) return;
  const mark = `0x${dead.mark.toString(16)}`;
  await waitFor('steerd\'s path-mark rule', async () => (await lab.mustExec('home1', ['ip', 'rule', 'show', 'pref', '10200'])).includes(`fwmark ${mark} lookup ${dead.table}`), patience(10_000));
  const exit = await lab.kill('home1', 'steerd', 'SIGKILL');
  t.equal(exit.signal, 'SIGKILL', 'steerd is gone (killed by its pid), its rules left behind');
  const pinned = async (): Promise<string> => (await lab.mustExec('home1', ['ip', 'route', 'get', '10.1.0.10', 'mark', mark])).trim();
  // A pinned flow: UDP to an echo on officehost from a socket carrying the
  // path's mark (SO_MARK, 36), as steerd's restore rule marks a pinned flow's packets.
  const echo = lab.spawn('officehost', 'udp-echo', ['socat', 'UDP4-LISTEN:5003,reuseaddr,fork', 'PIPE']);
  t.teardown(() => lab.kill('officehost', echo.name, 'SIGTERM').then(() => undefined));
  const pinnedEcho = async (text: string): Promise<string> =>
    (await lab.exec('home1', ['sh', '-c', `echo ${text} | socat -T2 - UDP4:10.1.0.10:5003,setsockopt-int=1:36:${dead.mark}`])).stdout.trim();
  await waitFor('officehost echo answers a pinned datagram', async () => (await pinnedEcho('warm')) === 'warm', { tries: 20, everyMs: 250 });
  t.match(await pinned(), new RegExp(`dev ${dead.ifname} table ${dead.table}`), 'while the path is up, the pinned flow takes it');
  const full = await table('home1', dead.table);
  t.match(full, new RegExp(`10\\.1\\.0\\.0/24 dev ${dead.ifname}`));

  // office2's WAN goes dark: ispa/office/ispb dies. tunneld calls it down
  // once its last handshake is older than WireGuard's 180 s.
  const office2 = lab.impair('office2:wan0');
  t.teardown(() => office2.clear().catch(() => undefined));
  await office2.blackhole();
  await waitFor('home1: ispa/office/ispb down', async () => {
    const r = (await call<PathRow[]>('home1', 'paths.list')).find((x) => x.name === dead.name);
    return r?.state === 'down';
  }, patience(180_000, 1000));
  await waitFor(`home1 table ${dead.table} emptied`, async () => (await table('home1', dead.table)) === '', patience(3000));
  t.pass('a down path\'s table is empty');
  t.match(await pinned(), new RegExp(`dev ${live.ifname} `), 'the pinned flow falls through to main, which uses the live path');
  const echoed = await pinnedEcho('fail-open');
  t.equal(echoed, 'fail-open', `a datagram with the dead path's mark to officehost's echo: got '${echoed}' back; want 'fail-open'`);

  // A restart while the path is down changes no route: the table stays
  // empty, main stays on the live path.
  const mainBefore = await table('home1', 'main');
  const events = await kernelEvents(lab, 'home1', 'route', async () => { await restart('home1'); await settle(); });
  t.same(events, [], `route events during a restart: got ${JSON.stringify(events)}; want none`);
  t.equal(await table('home1', dead.table), '', 'the dead path\'s table is still empty');
  t.equal(await table('home1', 'main'), mainBefore, 'main is as it was');

  // The path comes back. Its probes (probed's, here a ping to the far
  // end's link-local address) need no path table: they are what brings
  // the handshake back.
  await office2.clear();
  await waitFor('home1: ispa/office/ispb up again', async () => {
    await lab.exec('home1', ['ping', '-6', '-c', '1', '-W', '1', dead.probeAddress]);
    const r = (await call<PathRow[]>('home1', 'paths.list')).find((x) => x.name === dead.name);
    return r?.state === 'up';
  }, patience(10_000, 500));
  await waitFor(`home1 table ${dead.table} refilled`, async () => (await table('home1', dead.table)) === full, patience(3000));
  t.pass('the routes are back');
  t.match(await pinned(), new RegExp(`dev ${dead.ifname} table ${dead.table}`), 'and the pinned flow takes its path again');
});
