// Lab test of tern-tunneld: the real daemon on every appliance of the
// default topology, real WireGuard (wireguard-go here), real routing.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { BusClient } from '../daemons/lib/bus/index.js';
import { defaultTopology, Lab, pingOne, repoRoot } from './lab/index.js';

const tunneld = path.join(repoRoot, 'dist', 'daemons', 'tunneld', 'main.js');
const appliances = ['office1', 'office2', 'home1', 'cloud1'];
/** Paths each appliance must bring up: its own WANs × every remote site's WANs. */
const expectedPaths: Record<string, number> = { office1: 2, office2: 2, home1: 3, cloud1: 3 };

interface PathRow { name: string; site: string; state: string; ifname: string }
interface TunnelRow { ifname: string; ifindex: number | null; peers: Array<{ allowedIps: string[] }> }

const lab = await Lab.up(defaultTopology());
t.teardown(() => lab.down());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bus(node: string): BusClient {
  const c = new BusClient({ socketPath: path.join(lab.applianceEnv(node).TERN_RUN_DIR!, 'tunneld.sock'), timeoutMs: 5000, reconnect: false });
  return c;
}

async function call<T>(node: string, method: string, params?: Record<string, unknown>): Promise<T> {
  const c = bus(node);
  try {
    await c.connect();
    return await c.request<T>(method, params);
  } finally {
    await c.close();
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, tries = 120, everyMs = 250): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`tunneld.test: gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function start(node: string): void {
  lab.spawn(node, 'tunneld', [process.execPath, tunneld], { env: lab.applianceEnv(node) });
}

async function ready(node: string): Promise<void> {
  const file = path.join(lab.applianceEnv(node).TERN_RUN_DIR!, 'tunneld.ready');
  await waitFor(`${node} tunneld ready`, async () => (fs.existsSync(file) ? true : undefined));
}

async function allUp(node: string, want: number): Promise<PathRow[]> {
  return waitFor(`${node}: ${want} paths up`, async () => {
    const rows = await call<PathRow[]>(node, 'paths.list');
    return rows.length === want && rows.every((r) => r.state === 'up') ? rows : undefined;
  });
}

// Remote access: the lab issues the roadwarrior's key as `ternctl ra add`
// would, into the office appliances' key store.
for (const node of appliances) lab.writeApplianceConfig(node);
const userKey = fs.readFileSync(path.join(lab.runDir, 'keys', 'user-rw.key'), 'utf8');
for (const node of ['office1', 'office2']) {
  const dir = path.join(lab.applianceEnv(node).TERN_STATE_DIR!, 'keys', 'users');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'rw.key'), userKey, { mode: 0o600 });
}
for (const node of appliances) start(node);
for (const node of appliances) await ready(node);

t.test('every expected path comes up: each local WAN to each remote WAN', async (t) => {
  for (const node of appliances) {
    const rows = await allUp(node, expectedPaths[node]!);
    t.equal(rows.length, expectedPaths[node], `${node}: got ${rows.length} paths; want ${expectedPaths[node]}`);
  }
  const office = [...await call<PathRow[]>('office1', 'paths.list'), ...await call<PathRow[]>('office2', 'paths.list')];
  t.same(office.map((p) => p.name).sort(), ['ispa/cloud/ispc', 'ispa/home/ispa', 'ispb/cloud/ispc', 'ispb/home/ispa'],
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
  await sleep(300);
  const send = await lab.exec('officehost', ['socat', '-u', `OPEN:${file}`, 'TCP:10.3.0.10:5001'], { timeoutMs: 60_000 });
  t.equal(send.code, 0, `socat send: ${send.stderr}`);
  await server.exited;
  const got = (await lab.mustExec('cloudsrv', ['sha256sum', `${file}.recv`])).split(' ')[0];
  t.equal(got, want, `sha256 got ${got}; want ${want}`);
});

t.test('kill -9 and restart of tunneld loses no ping and keeps interface indexes', async (t) => {
  const before = await call<TunnelRow[]>('home1', 'tunnels.list');
  const stream = lab.exec('homehost', ['fping', '-c', '400', '-p', '10', '-t', '1000', '-q', '10.1.0.10'], { timeoutMs: 60_000 });
  await sleep(800);
  await lab.kill('home1', 'tunneld', 'SIGKILL');
  fs.rmSync(path.join(lab.applianceEnv('home1').TERN_RUN_DIR!, 'tunneld.ready'), { force: true });
  start('home1');
  await ready('home1');
  const r = await stream;
  const m = /xmt\/rcv\/%loss = (\d+)\/(\d+)\//.exec(r.stderr);
  t.ok(m, `fping summary: ${r.stderr}`);
  t.equal(Number(m?.[2]), Number(m?.[1]), `got ${m?.[2]}/${m?.[1]} replies across the restart; want all`);
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
  const gone = before.filter((b) => !after.some((a) => a.ifname === b.ifname)).map((x) => x.ifname);
  t.same(gone, ['tn2-3-00'], `got removed ${gone.join(', ')}; want only the tunnel to the cloud`);
  t.same(after.map((x) => [x.ifname, x.ifindex]), before.filter((b) => b.ifname !== 'tn2-3-00').map((x) => [x.ifname, x.ifindex]), 'the others untouched');
  const routes = await lab.mustExec('home1', ['ip', '-4', 'route', 'show', 'table', 'all']);
  t.notMatch(routes, /10\.3\.0\.0\/24/, 'no route to the cloud LAN is left in any table');
  t.notMatch(routes, /tn2-3-00/, 'no route through the removed tunnel');
  t.match(routes, /10\.1\.0\.0\/24 dev tn2-1-00/, 'the routes to the office remain');
  const r = await pingOne(lab, 'homehost', '10.1.0.10', { count: 10, periodMs: 20, timeoutMs: 1000 });
  t.equal(r.received, r.sent, 'the office is still reached');
  fs.writeFileSync(cfg, good);
  await call('home1', 'daemon.reload');
  await allUp('home1', expectedPaths.home1!);
});

t.test('the roadwarrior reaches the office LAN and the cloud server with the stock wg-quick, until revoked', async (t) => {
  const ra = await call<{ config: string; qr: string }>('office1', 'ra.config', { name: 'rw' });
  t.match(ra.config, /^\[Interface\]/m);
  t.ok(ra.qr.length > 100, 'a QR code is rendered');
  const conf = path.join(lab.runDir, 'rwtern0.conf');
  fs.writeFileSync(conf, ra.config, { mode: 0o600 });
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
  const err = await call('office1', 'ra.config', { name: 'rw' }).then(() => undefined, (e: unknown) => e as Error);
  t.match(err?.message ?? '', /revoked/, 'a revoked user gets no config');
});
