// A DHCP WAN's gateway followed as it comes, changes and goes (reading and
// checking the routes is tested in daemons/lib/kernel/gateway); and the
// daemon probing it, with the kernel's routes and the ICMP sockets faked.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { BusClient } from '../lib/bus/index.js';
import { loadConfig } from '../lib/config/index.js';
import { silentLogger } from '../lib/log/index.js';
import { overlayPlan } from '../lib/overlay/index.js';
import { runDaemon } from '../lib/runner/index.js';
import { probedSpec, type WanMetrics, type WanStateMessage } from './daemon.js';
import { dhcpWans, wanPlans } from './plans.js';
import { GatewayWatcher } from './gateway.js';
import type { IcmpReply, IcmpTransportFactory } from './icmp.js';
import type { PathSocketFactory } from './transport.js';

/** A route as rtnl's RouteInfo lists it; a default route out of wan0 via 198.18.9.1 unless told. */
const route = (o: Record<string, unknown> = {}): Record<string, unknown> => ({
  family: 4, dst: '0.0.0.0/0', table: 254, type: 'unicast', dev: 'wan0', gateway: '198.18.9.1', src: null, metric: 0, ...o,
});

t.test('GatewayWatcher follows a gateway that comes, changes and goes, and keeps it through a failed reading', async (t) => {
  let routes: unknown = [];
  let fail: Error | undefined;
  const reads: number[][] = [];
  const w = new GatewayWatcher({ read: async (tables) => { reads.push(tables); if (fail) throw fail; return routes as unknown[]; } });
  t.equal(await w.refresh(), false, 'nothing to watch: no reading');
  t.same(reads, [], 'no WAN waits on DHCP: the kernel is not asked');
  w.setWans([{ wan: 'inet', device: 'wan0', table: 1000 }]);
  t.ok(w.watching);

  const steps: Array<{ name: string; routes?: unknown; fail?: Error; changed: boolean; want: string[] | undefined; problem?: RegExp }> = [
    { name: 'before the lease', routes: [], changed: false, want: undefined },
    { name: 'the lease comes', routes: [route()], changed: true, want: ['198.18.9.1'] },
    { name: 'the same again', routes: [route()], changed: false, want: ['198.18.9.1'] },
    { name: 'a new lease, a new gateway', routes: [route({ gateway: '198.18.9.5' })], changed: true, want: ['198.18.9.5'] },
    { name: 'the kernel does not answer: the last gateway stays', fail: new Error('kernel: route list: ETIMEDOUT'), changed: false, want: ['198.18.9.5'], problem: /ETIMEDOUT/ },
    { name: 'not a list: the last gateway stays', routes: { dst: '0.0.0.0/0' }, changed: false, want: ['198.18.9.5'], problem: /want a list of routes/ },
    { name: 'the lease is gone', routes: [route({ gateway: null, dst: '198.18.9.0/30' })], changed: true, want: undefined },
  ];
  for (const s of steps) {
    routes = s.routes;
    fail = s.fail;
    const changed = await w.refresh();
    t.equal(changed, s.changed, `${s.name}: got changed ${changed}; want ${s.changed}`);
    t.same(w.gateways('inet'), s.want, `${s.name}: got gateways ${JSON.stringify(w.gateways('inet'))}; want ${JSON.stringify(s.want)}`);
    if (s.problem) t.match(w.problem, s.problem, `${s.name}: the problem says why`);
    else t.equal(w.problem, undefined, `${s.name}: got problem ${String(w.problem)}; want none`);
  }
  t.same(reads.at(-1), [1000, 254], 'the WAN\'s own table and main are read');

  // The WANs change while a reading is under way: its answer is for the
  // old set, so it changes nothing of the new WAN, and a refresh asked
  // meanwhile reads again once it is done.
  routes = [route(), route({ dev: 'wan1', gateway: '198.18.8.1' })];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const slow = new GatewayWatcher({ read: async (tables) => { reads.push(tables); await gate; return routes as unknown[]; } });
  slow.setWans([{ wan: 'inet', device: 'wan0', table: 1000 }]);
  const first = slow.refresh();
  t.ok(slow.busy, 'a reading is under way');
  slow.setWans([{ wan: 'inet', device: 'wan0', table: 1000 }, { wan: 'backup', device: 'wan1', table: 1001 }]);
  const second = slow.refresh();
  release();
  t.equal(await first, true);
  t.same(slow.gateways('backup'), undefined, 'the first reading did not cover backup');
  t.equal(await second, true);
  t.same(slow.gateways('backup'), ['198.18.8.1'], 'the second did');
  t.same(reads.at(-1), [1000, 1001, 254]);
  slow.setWans([]);
  t.equal(slow.gateways('inet'), undefined, 'a WAN no longer watched is forgotten');
});

// ---------------------------------------------------------------------------
// The daemon.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  for (let waited = 0; waited < ms; waited += 25) {
    const v = await fn();
    if (v) return v;
    await sleep(25);
  }
  throw new Error(`gateway.test: gave up waiting for ${what}`);
}

// The probe port is below 51819: overlay.remoteUserPort and the tunnel ports (listenPort 51820 + 16n + 4a + b) are refused as it.
const configText = (wan: string, probes = ''): string => `
version: 1
identity: { site: home, name: home }
wans:
  - ${wan}
lan: { interface: eth1, address: 10.20.0.1/24, prefixes: [10.20.0.0/24] }
overlay:
  address: 100.64.0.2/24
  sites:
    - id: office
      publicKey: RlJ9XWdw2g9g5hnh+qQOo4Umr/1vtxHlt24JfGkARWk=
      overlayAddress: 100.64.0.1
      wans:
        - { name: isp-a, endpoint: 198.51.100.10:51820 }
probes:
  port: ${20000 + Math.floor(Math.random() * 30000)}
  wanRatePerSec: 10
${probes}`;
const dhcpWan = '{ name: inet, interface: wan0, dhcp: true }';

async function configOf(text: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-probed-gw-cfg-'));
  try {
    fs.writeFileSync(path.join(dir, 'tern.yaml'), text);
    return (await loadConfig(path.join(dir, 'tern.yaml'))).config;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t.test('wanPlans: a DHCP WAN without targets waits for its gateway; configured targets and static gateways are as before', async (t) => {
  const learned = (w: string): string[] | undefined => (w === 'inet' ? ['198.18.9.1'] : undefined);
  const cases: Array<{ name: string; text: string; gateways?: (w: string) => readonly string[] | undefined; want: unknown; watched: number }> = [
    { name: 'DHCP, nothing learned', text: configText(dhcpWan), want: [{ wan: 'inet', waiting: 'waiting for a DHCP gateway on wan0 (no default route out of it yet)' }], watched: 1 },
    { name: 'DHCP, gateway learned', text: configText(dhcpWan), gateways: learned, want: [{ settings: { wan: 'inet', targets: ['198.18.9.1'] }, source: { address: undefined, device: 'wan0', mark: 0x10000 + 1000 } }], watched: 1 },
    { name: 'DHCP with probes.wans[].targets', text: configText(dhcpWan, '  wans:\n    - { wan: inet, targets: [192.0.2.1] }\n'), gateways: learned, want: [{ settings: { targets: ['192.0.2.1'] } }], watched: 0 },
    { name: 'DHCP with probes.wanTargets', text: configText(dhcpWan, '  wanTargets: [192.0.2.2]\n'), gateways: learned, want: [{ settings: { targets: ['192.0.2.2'] } }], watched: 0 },
    { name: 'static gateway', text: configText('{ name: inet, interface: wan0, address: 198.18.9.2/30, gateway: 198.18.9.1 }'), gateways: () => ['203.0.113.1'], want: [{ settings: { targets: ['198.18.9.1'] }, source: { address: '198.18.9.2' } }], watched: 0 },
  ];
  for (const c of cases) {
    const cfg = await configOf(c.text);
    const plans = wanPlans(cfg, overlayPlan(cfg), c.gateways);
    t.match(plans, c.want, `${c.name}: got ${JSON.stringify(plans)}`);
    t.equal(dhcpWans(cfg, overlayPlan(cfg)).length, c.watched, `${c.name}: got ${dhcpWans(cfg, overlayPlan(cfg)).length} WANs watched for a DHCP gateway; want ${c.watched}`);
  }
});

/** probed on a DHCP WAN, in-process, with fake routes and ICMP; `reachable` are the addresses that answer. */
async function dhcpDaemon(t: Test, text: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-probed-gw-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_CONFIG: path.join(dir, 'etc', 'tern.yaml') };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.writeFileSync(env.TERN_CONFIG, text);
  const kernel = { routes: [] as unknown[], reads: 0, opened: 0, closed: 0 };
  const reachable = new Set<string>();
  const opened: Array<{ source: string; mark: number; device: string }> = [];
  const sentTo = new Map<string, number>();
  const icmp: IcmpTransportFactory = (o) => {
    opened.push({ source: o.source, mark: o.mark, device: o.device });
    const inbox: IcmpReply[] = [];
    return {
      send: (target, seq) => {
        const tx = performance.now();
        sentTo.set(target, (sentTo.get(target) ?? 0) + 1);
        if (reachable.has(target)) setTimeout(() => inbox.push({ from: target, seq, sentMs: tx, rxMs: tx + 3 }), 2);
        return tx;
      },
      receive: (max) => inbox.splice(0, max),
      stats: () => ({}),
      close: () => undefined,
    };
  };
  const noPaths: PathSocketFactory = (_ends, _port, _onMessage, onOpen) => {
    setImmediate(() => onOpen?.());
    return { send: () => undefined, close: () => undefined, counters: () => ({ opens: 1, openErrors: 0, sendErrors: 0, received: 0, port: 1 }) };
  };
  const d = await runDaemon(probedSpec({
    pathSockets: () => noPaths,
    icmp: () => icmp,
    tunneldGraceMs: 60_000,
    routes: () => {
      kernel.opened++;
      return { read: async () => { kernel.reads++; return kernel.routes; }, close: () => { kernel.closed++; } };
    },
  }), { env, logger: silentLogger() });
  let stopped = false;
  const stop = async (): Promise<void> => { if (!stopped) { stopped = true; await d.stop(); } };
  t.teardown(stop);
  const client = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock') });
  t.teardown(() => client.close());
  const wanState: WanStateMessage[] = [];
  await client.subscribe(['wan.state'], (p) => { wanState.push(p as WanStateMessage); });
  const status = () => client.request<{ wans: Record<string, string>; warnings: Array<{ name: string; text: string }>; dhcpGateways?: Record<string, { interface: string; gateways: string[]; waiting?: string }> }>('daemon.status');
  const metrics = () => client.request<WanMetrics[]>('wans.metrics');
  return { d, kernel, reachable, opened, sentTo, client, wanState, status, metrics, stop, configPath: env.TERN_CONFIG };
}

t.test('the daemon probes a DHCP WAN\'s gateway once it is learned, follows a new lease, and waits again when it is gone', async (t) => {
  const p = await dhcpDaemon(t, configText(dhcpWan));
  const waitingText = 'waiting for a DHCP gateway on wan0 (no default route out of it yet)';

  // No lease yet: waiting, said so, and nothing probed.
  let s = await p.status();
  t.equal(s.wans.inet, 'waiting', `got WAN status ${s.wans.inet}; want waiting`);
  t.same(s.warnings.filter((w) => w.name === 'probed.wan.inet').map((w) => w.text), [waitingText], 'the health warning says what it waits for');
  t.notOk(s.warnings.some((w) => /no probe target/.test(w.text)), 'not "no probe target"');
  t.same(s.dhcpGateways, { inet: { interface: 'wan0', gateways: [], waiting: waitingText } });
  t.same(p.opened, [], 'no ICMP socket while there is nothing to probe');
  t.same(await p.metrics(), [], 'no figures: no WAN down through loss');

  // The lease comes: its gateway is probed through the WAN, and answers.
  p.reachable.add('198.18.9.1');
  p.reachable.add('198.18.9.5');
  p.kernel.routes = [route({ dev: 'eth1', gateway: '10.20.0.254' }), route({ family: 9 }), route()];
  const up = await until('the gateway probed and up', async () => {
    const m = (await p.metrics())[0];
    return m?.state === 'up' && m.targets[0]?.counters.answered ? m : undefined;
  });
  t.same(up.targets.map((x) => x.target), ['198.18.9.1'], 'the learned gateway is the target (the LAN\'s default and the malformed route are not)');
  t.ok(up.targets[0]!.counters.sent >= 1 && up.targets[0]!.counters.answered >= 1, `got ${up.targets[0]!.counters.sent} sent, ${up.targets[0]!.counters.answered} answered; want some of each`);
  t.same(p.opened, [{ source: '0.0.0.0', mark: 0x10000 + 1000, device: 'wan0' }], 'unbound (no configured address), with the WAN mark and device');
  s = await p.status();
  t.equal(s.wans.inet, 'up');
  t.notOk(s.warnings.some((w) => w.name === 'probed.wan.inet'), 'the waiting warning is cleared');

  // A new lease with another gateway: probing moves to it.
  p.kernel.routes = [route({ gateway: '198.18.9.5' })];
  const moved = await until('the new gateway probed and up', async () => {
    const m = (await p.metrics())[0];
    return m?.targets[0]?.target === '198.18.9.5' && m.state === 'up' ? m : undefined;
  });
  t.equal(moved.targets.length, 1, 'only the new gateway');
  const toOld = p.sentTo.get('198.18.9.1');
  await sleep(500);
  t.equal(p.sentTo.get('198.18.9.1'), toOld, 'nothing more is sent to the old gateway');

  // The lease is gone: waiting again, the WAN "unknown" on the bus, never
  // down. (The gateway still answers, as on a link whose connected route
  // outlives the default route: what is checked is that probed stops
  // probing and says why, not how fast it notices.)
  p.kernel.routes = [];
  await until('waiting again', async () => (await p.status()).wans.inet === 'waiting');
  s = await p.status();
  t.same(s.warnings.filter((w) => w.name === 'probed.wan.inet').map((w) => w.text), [waitingText]);
  t.same(await p.metrics(), [], 'no figures while waiting');
  const last = await until('wan.state to unknown', () => p.wanState.find((m) => m.target === undefined && m.to === 'unknown'));
  t.match(last, { wan: 'inet', from: 'up', to: 'unknown', cause: 'gateway', reason: waitingText });
  t.same(p.wanState.filter((m) => m.to === 'down').map((m) => `${m.target ?? 'WAN'} down: ${m.reason}`), [], 'nothing went down');
  const reads = p.kernel.reads;
  await until('another reading', () => p.kernel.reads > reads);
  t.equal(p.kernel.opened, 1, 'one route reader');
  await p.stop();
  t.equal(p.kernel.closed, 1, 'closed at stop');
});

t.test('a DHCP WAN with targets of its own, and a static WAN, never read the routes', async (t) => {
  for (const text of [
    configText(dhcpWan, '  wans:\n    - { wan: inet, targets: [192.0.2.1] }\n'),
    configText('{ name: inet, interface: wan0, address: 198.18.9.2/30, gateway: 198.18.9.1 }'),
  ]) {
    const p = await dhcpDaemon(t, text);
    p.reachable.add('192.0.2.1');
    p.reachable.add('198.18.9.1');
    p.kernel.routes = [route({ gateway: '198.18.9.77' })];
    await until('the WAN up', async () => (await p.metrics())[0]?.state === 'up');
    await sleep(1500);
    const s = await p.status();
    t.equal(p.kernel.opened, 0, `got ${p.kernel.opened} route readers; want none`);
    t.equal(s.dhcpGateways, undefined, 'no DHCP gateways in the status');
    t.notOk(p.sentTo.has('198.18.9.77'), 'the kernel\'s default route is not probed');
    await p.stop();
  }
});

t.test('a reload that makes a static WAN DHCP starts watching its routes; one back to static stops', async (t) => {
  const staticText = configText('{ name: inet, interface: wan0, address: 198.18.9.2/30, gateway: 198.18.9.1 }');
  const p = await dhcpDaemon(t, staticText);
  p.reachable.add('198.18.9.1');
  p.reachable.add('198.18.9.5');
  p.kernel.routes = [route({ gateway: '198.18.9.5' })];
  await until('the static gateway up', async () => (await p.metrics())[0]?.state === 'up');
  t.equal(p.kernel.opened, 0, 'a static WAN reads no routes');

  fs.writeFileSync(p.configPath, configText(dhcpWan));
  await p.d.reload();
  const m = await until('the learned gateway up', async () => {
    const x = (await p.metrics())[0];
    return x?.targets[0]?.target === '198.18.9.5' && x.state === 'up' ? x : undefined;
  });
  t.same(m.targets.map((x) => x.target), ['198.18.9.5'], 'a reload reads the routes at once');

  fs.writeFileSync(p.configPath, staticText);
  await p.d.reload();
  const reads = p.kernel.reads;
  await until('the static gateway again', async () => (await p.metrics())[0]?.targets[0]?.target === '198.18.9.1');
  await sleep(1500);
  t.equal(p.kernel.reads, reads, `got ${p.kernel.reads - reads} route readings after going back to static; want none`);
  t.equal((await p.status()).dhcpGateways, undefined);
});
