// tunneld whole, in-process, through the real runner and a real bus socket,
// with a fake kernel (rtnetlink and WireGuard devices that keep their state:
// kernel.fixture.ts), a fake resolver and a fake clock driving the poll:
// what a start makes, what a restart over the same kernel adopts, what a
// reload removes or refuses, how a name that does not resolve is reported,
// and the bus methods and path state topic.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BusClient } from '../lib/bus/index.js';
import { FakeClock } from '../lib/clock/index.js';
import { parseConfig } from '../lib/config/index.js';
import { generatePrivateKey, publicKeyOf } from '../lib/kernel/index.js';
import { silentLogger } from '../lib/log/index.js';
import { overlayPlan, type PathPlan } from '../lib/overlay/index.js';
import { runDaemon, type RunningDaemon } from '../lib/runner/index.js';
import { tunneldSpec } from './daemon.js';
import { FakeKernel } from './kernel.fixture.js';
import type { PathStatus } from './status.js';

const homeKey = publicKeyOf(generatePrivateKey());
const dcKey = publicKeyOf(generatePrivateKey());

interface ConfigOpts {
  /** Remote sites in the config (default both). */
  sites?: Array<'home' | 'dc'>;
  /** isp-b's interface (default wan1, which the fake kernel has). */
  wan1?: string;
  /** dc's second WAN's endpoint (default a name the fake resolver knows). */
  dcB?: string;
}

/** This site (branch, two DHCP WANs) and two remote sites: home with one WAN, dc with two, one of them by name. */
function configText(o: ConfigOpts = {}): string {
  const sites = {
    home: `
    - id: home
      publicKey: ${homeKey}
      overlayAddress: 100.64.0.2
      lanPrefixes: [10.2.0.0/24]
      wans:
        - {name: inet, endpoint: "198.18.3.2:51820"}`,
    dc: `
    - id: dc
      publicKey: ${dcKey}
      overlayAddress: 100.64.0.3
      lanPrefixes: [10.3.0.0/16]
      wans:
        - {name: dc-a, endpoint: "198.18.4.2:51820"}
        - {name: dc-b, endpoint: "${o.dcB ?? 'dc-b.example.test:51820'}"}`,
  };
  return `version: 1
identity: {site: branch, name: branch}
wans:
  - {name: isp-a, interface: wan0, dhcp: true}
  - {name: isp-b, interface: ${o.wan1 ?? 'wan1'}, dhcp: true}
lan: {interface: lan0, address: 10.1.0.1/24, prefixes: [10.1.0.0/24]}
overlay:
  address: 100.64.0.1/24
  sites:${(o.sites ?? ['home', 'dc']).map((s) => sites[s]).join('')}
`;
}

const plan = overlayPlan(parseConfig(configText()).config);
const pathsOf = (site: string): PathPlan[] => plan.paths.filter((p) => p.site === site);
const wanOf = (name: string) => plan.wans.find((w) => w.name === name)!;

/** The kernel of a box whose isp-a has a DHCP lease (main's default route) and isp-b none yet. */
function kernel(): FakeKernel {
  const k = new FakeKernel(['wan0', 'wan1', 'lan0']);
  k.routes.push({ family: 4, dst: '0.0.0.0/0', table: 254, type: 'unicast', dev: 'wan0', gateway: '198.18.1.1', src: null, metric: 100 });
  return k;
}

/** A throw-away etc/run/state tree; the state dir (site key) outlives a daemon, as on a box. */
function appliance(t: Test, text: string): { env: Record<string, string>; configFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-tunneld-'));
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state') };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.writeFileSync(path.join(env.TERN_ETC_DIR, 'tern.yaml'), text);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { env, configFile: path.join(env.TERN_ETC_DIR, 'tern.yaml') };
}

interface Running {
  daemon: RunningDaemon;
  client: BusClient;
  clock: FakeClock;
  /** Names the resolver was asked for. */
  lookups: string[];
  stop(): Promise<void>;
}

/** tunneld run by the runner over kernel k; the resolver knows dc-b.example.test only. */
async function start(t: Test, app: { env: Record<string, string> }, k: FakeKernel): Promise<Running> {
  const clock = new FakeClock({ now: Date.UTC(2026, 5, 1) });
  const lookups: string[] = [];
  const spec = tunneldSpec({
    rtnl: k.rtnl(),
    wireGuard: async () => k.wg(),
    resolve: async (host) => {
      lookups.push(host);
      if (host === 'dc-b.example.test') return '198.18.5.2';
      throw new Error(`getaddrinfo ENOTFOUND ${host}`);
    },
    inotifyCeiling: () => null,
  });
  const daemon = await runDaemon(spec, { env: { ...process.env, ...app.env }, logger: silentLogger(), notify: () => undefined, clock });
  const client = new BusClient({ socketPath: path.join(app.env.TERN_RUN_DIR!, 'tunneld.sock'), reconnect: false });
  await client.connect();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await client.close();
    await daemon.stop();
  };
  t.teardown(stop);
  return { daemon, client, clock, lookups, stop };
}

/** Waits (bounded: 400 tries) for fn to give a value; the error says what was awaited and what there was. */
async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, got: () => unknown = () => 'nothing'): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`daemon.test: gave up waiting for ${what}: got ${JSON.stringify(got())}`);
}

/** Kernel changes of a kind, in order: create, destroy, configure, up, route, rule. */
const opsOf = (k: FakeKernel, kind: string): string[] => k.ops.filter((o) => o.startsWith(`${kind} `));
/** A table's routes as `ip route` would print them, sorted. */
const table = (k: FakeKernel, n: number): string[] =>
  k.routes.filter((r) => r.table === n).map((r) => `${r.type === 'unicast' ? '' : `${r.type} `}${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`).sort();
/** What the devices hold, per ifname: port, fwmark, and each peer's key and endpoint. */
const devices = (k: FakeKernel): Record<string, string> => Object.fromEntries([...k.devices].sort().map(([n, d]) =>
  [n, `port ${d.listenPort} fwmark 0x${d.fwmark.toString(16)} ${d.peers.map((p) => `peer ${p.publicKey.slice(0, 8)} ${p.endpoint ?? 'none'}`).join(' ')}`]));
/** The devices the config asks for, from the plan: port, local WAN's mark, the site's key and its WAN's endpoint. */
function wantDevices(paths: PathPlan[], endpointOf: (p: PathPlan) => string): Record<string, string> {
  return Object.fromEntries(paths.map((p) => [p.ifname, `port ${p.listenPort} fwmark 0x${wanOf(p.localWan).mark.toString(16)} peer ${(p.site === 'home' ? homeKey : dcKey).slice(0, 8)} ${endpointOf(p)}`]).sort());
}
const endpoints: Record<string, string> = { inet: '198.18.3.2', 'dc-a': '198.18.4.2', 'dc-b': '198.18.5.2' };
const endpoint = (p: PathPlan): string => `${endpoints[p.remoteWan]}:${p.endpointPort}`;

/** Every path read once more (a poll) and, when the reading asks for one, its pass done. */
async function pollOnce(r: Running, what: string, done: () => boolean | Promise<boolean>, got?: () => unknown): Promise<void> {
  r.clock.advance(1000);
  await until(what, async () => ((await done()) ? true : undefined), got);
}

t.test('a start makes one device per (local WAN, remote WAN) path, with its port, mark and peer, and the WAN tables and rules first', async (t) => {
  const k = kernel();
  const app = appliance(t, configText());
  const r = await start(t, app, k);
  t.equal(plan.paths.length, 6, `paths: got ${plan.paths.length}; want 6 (2 local WANs × (1 + 2) remote WANs)`);
  t.same(opsOf(k, 'create'), plan.paths.map((p) => `create ${p.ifname}`), `created: got ${JSON.stringify(opsOf(k, 'create'))}; want one per path`);
  const want = wantDevices(plan.paths, endpoint);
  t.same(devices(k), want, `devices: got ${JSON.stringify(devices(k), null, 1)}; want ${JSON.stringify(want, null, 1)}`);
  const ports = plan.paths.map((p) => p.listenPort);
  t.same(ports, [51852, 51856, 51868, 51869, 51872, 51873], `listen ports: got ${JSON.stringify(ports)}; want 51820 + 16·site + 4·local slot + remote slot`);
  t.same(r.lookups, ['dc-b.example.test'], `lookups: got ${JSON.stringify(r.lookups)}; want the one name`);

  const rules = k.rulesList.map((x) => `v${x.family} ${x.priority} fwmark 0x${x.fwmark?.toString(16)} table ${x.table}`).sort();
  const wantRules = plan.wans.flatMap((w) => [4, 6].map((f) => `v${f} 10100 fwmark 0x${w.mark.toString(16)} table ${w.table}`)).sort();
  t.same(rules, wantRules, `rules: got ${JSON.stringify(rules)}; want ${JSON.stringify(wantRules)}`);
  const [a, b] = [wanOf('isp-a'), wanOf('isp-b')];
  t.same(table(k, a.table), ['0.0.0.0/0 via 198.18.1.1 dev wan0', '198.18.1.1/32 dev wan0', 'unreachable 0.0.0.0/0', 'unreachable ::/0 dev lo'],
    `isp-a's table: got ${JSON.stringify(table(k, a.table))}; want its lease's gateway and the guards`);
  t.same(table(k, b.table), ['unreachable 0.0.0.0/0', 'unreachable ::/0 dev lo'], `isp-b's table (no lease): got ${JSON.stringify(table(k, b.table))}; want the guards only`);
  const firstTunnelOp = k.ops.findIndex((o) => /^(create|configure|up) /.test(o));
  const lastWanOp = Math.max(...k.ops.map((o, i) => (/^rule add|table 10(00|01)\b/.test(o) ? i : -1)));
  t.ok(lastWanOp < firstTunnelOp, `WAN rules and tables at ops up to ${lastWanOp}; want all before the first tunnel op at ${firstTunnelOp}`);
  t.same(plan.paths.map((p) => table(k, p.table)), plan.paths.map(() => []), 'path tables kept (empty) until the paths are read');

  // The first poll reads every device: no handshake yet, so every path is down and its table stays empty.
  let rows: PathStatus[] = [];
  await pollOnce(r, 'every path read: connecting', async () => {
    rows = await r.client.request<PathStatus[]>('paths.list');
    return rows.length === 6 && rows.every((p) => p.state === 'connecting');
  }, () => rows.map((p) => [p.name, p.state]));
  t.same(rows.map((p) => [p.name, p.ifname, p.listenPort, p.endpoint]), plan.paths.map((p) => [p.name, p.ifname, p.listenPort, endpoint(p)]),
    'paths.list: every path with its device, port and endpoint');
  const info = await r.client.request<{ site: string; siteNumber: number; backend: string; lastReconcile: { errors: string[] } }>('overlay.info');
  t.same([info.site, info.siteNumber, info.backend, info.lastReconcile.errors], ['branch', 1, 'kernel', []], `overlay.info: got ${JSON.stringify(info)}`);
  const tunnels = await r.client.request<Array<{ ifname: string; up: boolean; listenPort: number; peers: unknown[] }>>('tunnels.list');
  t.same(tunnels.map((d) => [d.ifname, d.up, d.listenPort, d.peers.length]), plan.paths.map((p) => [p.ifname, true, p.listenPort, 1]), 'tunnels.list: every device up with its one peer');
  t.same(await r.client.request('ra.list'), [], 'ra.list: no remote users');
});

t.test('a restart over the same kernel adopts it: no device made again, no route or rule changed', async (t) => {
  const k = kernel();
  const app = appliance(t, configText());
  const first = await start(t, app, k);
  k.handshake(plan.paths[0]!.ifname, first.clock.now());
  await pollOnce(first, 'the first path\'s table filled', () => table(k, plan.paths[0]!.table).length > 0, () => table(k, plan.paths[0]!.table));
  await first.stop();
  t.same(k.closed, { rtnl: 1, wg: 1 }, `closed at stop: got ${JSON.stringify(k.closed)}; want the rtnl handle and the backend once each`);
  const before = { routes: table(k, 254).concat(...plan.paths.map((p) => table(k, p.table))), rules: k.rulesList.length, devices: devices(k) };

  k.ops = [];
  const second = await start(t, app, k);
  t.same(k.ops.filter((o) => !o.startsWith('configure ')), [], `ops of the restart: got ${JSON.stringify(k.ops.filter((o) => !o.startsWith('configure ')))}; want none`);
  const info = await second.client.request<{ lastReconcile: { created: string[]; configured: Record<string, string[]>; routes: unknown; rules: unknown } }>('overlay.info');
  t.same([info.lastReconcile.created, info.lastReconcile.configured, info.lastReconcile.routes, info.lastReconcile.rules],
    [[], {}, { replaced: 0, removed: 0 }, { added: 0, removed: 0 }], `the restart's pass: got ${JSON.stringify(info.lastReconcile)}; want nothing changed`);
  const after = { routes: table(k, 254).concat(...plan.paths.map((p) => table(k, p.table))), rules: k.rulesList.length, devices: devices(k) };
  t.same(after, before, 'routes, rules and devices as the first tunneld left them');
  const dupRoutes = k.routes.map((x) => `${x.table} ${x.dst} ${x.metric}`).filter((x, i, all) => all.indexOf(x) !== i);
  t.same(dupRoutes, [], `duplicate routes: got ${JSON.stringify(dupRoutes)}; want none`);
});

t.test('a reload that removes a site removes exactly its devices', async (t) => {
  const k = kernel();
  const app = appliance(t, configText());
  const r = await start(t, app, k);
  k.ops = [];
  fs.writeFileSync(app.configFile, configText({ sites: ['dc'] }));
  await r.client.request('daemon.reload');
  const gone = pathsOf('home').map((p) => `destroy ${p.ifname}`);
  t.same(opsOf(k, 'destroy'), gone, `destroyed: got ${JSON.stringify(opsOf(k, 'destroy'))}; want home's devices ${JSON.stringify(gone)}`);
  t.same(opsOf(k, 'create'), [], 'nothing made');
  t.same(devices(k), wantDevices(pathsOf('dc'), endpoint), 'dc\'s devices as they were');
  const rows = await r.client.request<PathStatus[]>('paths.list');
  t.same(rows.map((p) => p.site).filter((s) => s !== 'dc'), [], 'paths.list lists dc\'s paths only');
});

t.test('a reload naming a WAN interface the box does not have is refused; the devices stay as they were', async (t) => {
  const k = kernel();
  const app = appliance(t, configText());
  const r = await start(t, app, k);
  const before = devices(k);
  k.ops = [];
  fs.writeFileSync(app.configFile, configText({ wan1: 'wan9', sites: ['dc'] }));
  const err = await r.client.request('daemon.reload').then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
  t.equal(err?.code, 'TERN_E_CONFIG_SEMANTIC', `reload: got ${JSON.stringify(err)}; want TERN_E_CONFIG_SEMANTIC`);
  t.match(err?.message ?? '', /wans\[1\]\.interface: no interface 'wan9'/, 'the error names the key and the interface');
  t.same(k.ops, [], `kernel changes after the refused reload: got ${JSON.stringify(k.ops)}; want none`);
  t.same(devices(k), before, 'every device as it was, home\'s included');
  const st = await r.client.request<{ configHash: string; warnings: Array<{ name: string }> }>('daemon.status');
  t.ok(st.warnings.some((w) => w.name === 'config.reload'), `warnings: got ${JSON.stringify(st.warnings)}; want config.reload`);
});

t.test('an endpoint name that does not resolve is a problem in status; the other paths come up', async (t) => {
  const k = kernel();
  const app = appliance(t, configText({ dcB: 'nowhere.example.test:51820' }));
  const r = await start(t, app, k);
  const st = await r.client.request<{ warnings: Array<{ name: string; text: string }> }>('daemon.status');
  const w = st.warnings.find((x) => x.name === 'tunneld.config');
  t.match(w?.text ?? '', /overlay\.sites\[1\]\.wans\[1\]\.endpoint: host 'nowhere\.example\.test' does not resolve: .*ENOTFOUND.*TERN_E_TUNNEL_ENDPOINT/,
    `tunneld.config: got ${JSON.stringify(w)}; want the endpoint's key and why`);
  const want = wantDevices(plan.paths, (p) => (p.remoteWan === 'dc-b' ? 'none' : endpoint(p)));
  t.same(devices(k), want, `devices: got ${JSON.stringify(devices(k), null, 1)}; want all six, dc-b's peers without an endpoint`);
  t.same(r.lookups, ['nowhere.example.test'], 'the name was asked for');
});

t.test('a handshake is published as paths.changed, and the path\'s table filled', async (t) => {
  const k = kernel();
  const app = appliance(t, configText());
  const r = await start(t, app, k);
  const seen: PathStatus[] = [];
  await r.client.subscribe(['paths.changed'], (params) => { seen.push(params as PathStatus); });
  const p = plan.paths[2]!;
  await pollOnce(r, 'paths.changed for every path', () => seen.length >= 6, () => seen.map((s) => [s.name, s.state]));
  t.same(seen.map((s) => [s.name, s.state]).sort(), plan.paths.map((x) => [x.name, 'connecting']).sort(), 'the first reading: every path connecting');
  t.same(table(k, p.table), [], 'its table empty while it is not up');
  seen.length = 0;
  k.handshake(p.ifname, r.clock.now());
  await pollOnce(r, `paths.changed for ${p.name} and its table filled`, () => seen.length > 0 && table(k, p.table).length > 0,
    () => ({ published: seen.map((s) => [s.name, s.state]), table: table(k, p.table) }));
  t.same(seen.map((s) => [s.name, s.state, s.handshakeAgeMs]), [[p.name, 'up', 1000]], `published: got ${JSON.stringify(seen.map((s) => [s.name, s.state]))}; want ${p.name} up`);
  t.same(table(k, p.table), [`10.3.0.0/16 dev ${p.ifname}`, `100.64.0.3/32 dev ${p.ifname}`], `its table: got ${JSON.stringify(table(k, p.table))}`);
  const st = await r.client.request<{ paths: { total: number; up: number } }>('daemon.status');
  t.same(st.paths, { total: 6, up: 1, endpointDrifts: 0 }, `daemon.status paths: got ${JSON.stringify(st.paths)}`);
});
