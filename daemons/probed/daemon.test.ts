// The daemon wired up, in-process, with the network faked at its edges: a
// fake tunneld on its bus socket, path sockets that reach an in-process
// reflector, and an ICMP transport that answers. What is real: the runner,
// the bus, the state database, timers, and everything in between.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BusClient, BusServer } from '../lib/bus/index.js';
import { loadConfig } from '../lib/config/index.js';
import { silentLogger } from '../lib/log/index.js';
import { overlayPlan } from '../lib/overlay/index.js';
import { runDaemon } from '../lib/runner/index.js';
import { Store } from '../lib/store/index.js';
import { probedSpec, type PathMetricsMessage, type PathStateMessage, type WanMetrics, type WanStateMessage } from './daemon.js';
import { pathMatches, pathSettings, wanPlans } from './plans.js';
import type { IcmpReply, IcmpTransportFactory } from './icmp.js';
import { Reflector } from './reflector.js';
import type { PathSocketFactory } from './transport.js';
import { pathTunnel } from '../lib/testkit/tunneld.fixture.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 8000): Promise<T> {
  for (let waited = 0; waited < ms; waited += 25) {
    const v = await fn();
    if (v) return v;
    await sleep(25);
  }
  throw new Error(`daemon.test: gave up waiting for ${what}`);
}

// Below 51819: overlay.remoteUserPort and the tunnel ports (listenPort 51820 + 16n + 4a + b) are refused as the probe port.
const port = 20000 + Math.floor(Math.random() * 30000);
const configText = `
version: 1
identity: { site: home, name: home }
wans:
  - { name: inet, interface: eth0, address: 198.18.9.2/30, gateway: 198.18.9.1 }
lan: { interface: eth1, address: 10.20.0.1/24, prefixes: [10.20.0.0/24] }
overlay:
  address: 100.64.0.2/24
  sites:
    - id: office
      publicKey: RlJ9XWdw2g9g5hnh+qQOo4Umr/1vtxHlt24JfGkARWk=
      overlayAddress: 100.64.0.1
      wans:
        - { name: isp-a, endpoint: 198.51.100.10:51820 }
        - { name: isp-b, endpoint: 203.0.113.20:51820 }
    - id: cloud
      publicKey: Qf10CYH3+JQXszhYsD0KNBGYJsUQ4NuCe6PBsI/tdk4=
      overlayAddress: 100.64.0.3
      wans:
        - { name: inet, endpoint: 203.0.113.30:51820 }
probes:
  port: ${port}
  pathRatePerSec: 20
  wanRatePerSec: 10
  pathClasses:
    - { name: slow, paths: ['*/cloud/*'], ratePerSec: 4 }
`;

t.test('path class patterns and settings', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['*/cloud/*', 'inet/cloud/inet', true],
    ['inet/*/isp-b', 'inet/office/isp-b', true],
    ['inet/*/isp-b', 'inet/office/isp-a', false],
    ['*/*', 'inet/office/isp-a', false],
  ];
  for (const [pat, p, want] of cases) t.equal(pathMatches(pat, p), want, `${pat} vs ${p}: got ${!want}; want ${want}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-probed-cfg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'tern.yaml'), configText);
  const { config } = await loadConfig(path.join(dir, 'tern.yaml'));
  t.equal(pathSettings(config, 'inet/cloud/inet').pathRatePerSec, 4, 'the class rate');
  t.equal(pathSettings(config, 'inet/office/isp-a').pathRatePerSec, 20, 'the default rate');
  const plans = wanPlans(config, overlayPlan(config));
  t.match(plans, [{ settings: { wan: 'inet', targets: ['198.18.9.1'], ratePerSec: 10 }, source: { address: '198.18.9.2', device: 'eth0', mark: 0x10000 + 1000, dscp: 46 } }],
    'the gateway is the default target; probes leave from the WAN address with the WAN mark and device, marked EF');

  // probes.wans[].dscp: the WAN's own marking; out of range is a config error naming the key.
  const dscpCases: Array<{ name: string; dscp: unknown; want: number | RegExp }> = [
    { name: 'unmarked', dscp: 0, want: 0 },
    { name: 'CS5', dscp: 40, want: 40 },
    { name: 'above 63', dscp: 64, want: /probes\.wans\[0\]\.dscp/ },
    { name: 'not an integer', dscp: 4.5, want: /probes\.wans\[0\]\.dscp/ },
  ];
  for (const c of dscpCases) {
    fs.writeFileSync(path.join(dir, 'tern.yaml'), `${configText}  wans:\n    - { wan: inet, dscp: ${String(c.dscp)} }\n`);
    const got = await loadConfig(path.join(dir, 'tern.yaml')).then(
      ({ config: cfg }) => { const p = wanPlans(cfg, overlayPlan(cfg))[0]; return p && 'source' in p ? p.source.dscp : undefined; },
      (err: unknown) => String((err as Error).message ?? err));
    if (typeof c.want === 'number') t.equal(got, c.want, `${c.name}: got dscp ${String(got)}; want ${c.want}`);
    else t.match(got, c.want, `${c.name}: got ${String(got)}; want a config error naming the key`);
  }
});

t.test('the daemon probes tunneld\'s paths and the WAN, publishes, records, reloads and outlives tunneld', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-probed-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_CONFIG: path.join(dir, 'etc', 'tern.yaml') };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.writeFileSync(env.TERN_CONFIG, configText);
  const { config } = await loadConfig(env.TERN_CONFIG);
  const plan = overlayPlan(config);

  // tunneld, faked: the planned paths.
  const tunneld = new BusServer({ socketPath: path.join(env.TERN_RUN_DIR, 'tunneld.sock'), group: false });
  tunneld.method('paths.list', () => plan.paths.map((p) => pathTunnel(p)));
  await tunneld.listen();

  // The far ends: one reflector, reached through fake sockets that can be cut.
  const far = new Reflector({ isKnownPeer: () => true });
  const cut = new Set<string>();
  let nextPort = 40000;
  const sockets: PathSocketFactory = (ends, _port, onMessage, onOpen) => {
    const local = nextPort++;
    setImmediate(() => onOpen?.());
    return {
      send: (bytes) => {
        if (cut.has(ends.name)) return;
        const r = far.reflect({ bytes, from: { address: `${ends.localAddress}%${ends.ifname}`, port: local }, rxTimeMs: Date.now() });
        if (r.ok) setTimeout(() => onMessage(r.reply, performance.now()), 1);
      },
      close: () => undefined,
      counters: () => ({ opens: 1, openErrors: 0, sendErrors: 0, received: 0, port: local }),
    };
  };
  const opened: Array<{ source: string; mark: number; device: string; dscp?: number }> = [];
  const icmp: IcmpTransportFactory = (o) => {
    opened.push({ source: o.source, mark: o.mark, device: o.device, dscp: o.dscp });
    const inbox: IcmpReply[] = [];
    return {
      send: (target, seq) => {
        const tx = performance.now();
        setTimeout(() => inbox.push({ from: target, seq, sentMs: tx, rxMs: tx + 2 }), 2);
        return tx;
      },
      receive: (max) => inbox.splice(0, max),
      stats: () => ({}),
      close: () => undefined,
    };
  };

  const d = await runDaemon(probedSpec({ pathSockets: () => sockets, icmp: () => icmp, tunneldGraceMs: 60_000 }), { env, logger: silentLogger() });
  let stopped = false;
  t.teardown(async () => { if (!stopped) await d.stop(); await tunneld.close(); });
  t.same(opened, [{ source: '198.18.9.2', mark: 0x10000 + 1000, device: 'eth0', dscp: 46 }], 'the WAN socket is bound to the WAN and marks its probes EF');

  const client = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock') });
  t.teardown(() => client.close());
  const seen = { pathMetrics: [] as PathMetricsMessage[], pathState: [] as PathStateMessage[], wanMetrics: [] as WanMetrics[], wanState: [] as WanStateMessage[] };
  await client.subscribe(['path.metrics'], (p) => { seen.pathMetrics.push(p as PathMetricsMessage); });
  await client.subscribe(['path.state'], (p) => { seen.pathState.push(p as PathStateMessage); });
  await client.subscribe(['wan.metrics'], (p) => { seen.wanMetrics.push(p as WanMetrics); });
  await client.subscribe(['wan.state'], (p) => { seen.wanState.push(p as WanStateMessage); });

  // The first transitions may come before the subscriptions: poll the methods.
  let list: PathMetricsMessage[] = [];
  await until('every path up', async () => {
    list = await client.request<PathMetricsMessage[]>('paths.metrics');
    return list.length === plan.paths.length && list.every((m) => m.state === 'up');
  });
  await until('the WAN up', async () => (await client.request<WanMetrics[]>('wans.metrics'))[0]?.state === 'up');
  await sleep(1000);
  list = await client.request<PathMetricsMessage[]>('paths.metrics');
  t.same(list.map((m) => [m.path, m.state, m.ratePerSec]), [
    ['inet/cloud/inet', 'up', 4], ['inet/office/isp-a', 'up', 20], ['inet/office/isp-b', 'up', 20],
  ], 'every path up, the cloud one at its class rate');
  t.ok(seen.pathMetrics.length > 10, `got ${seen.pathMetrics.length} path.metrics; want one per path per round`);
  const w = seen.wanMetrics.at(-1)!;
  t.match(w, { wan: 'inet', state: 'up', lossPct: 0, rttMs: Number, rttBaselineMs: Number, jitterMs: Number, ts: Number }, 'wan.metrics carries what qosd reads');
  t.ok(Math.abs(w.rttMs! - 2) < 0.01, `got WAN rtt ${w.rttMs}; want 2 (the transport's own times)`);

  // Cut one path: down at once on the bus, with the counts that decided it.
  cut.add('inet/office/isp-b');
  const down = await until('path down', () => seen.pathState.find((s) => s.path === 'inet/office/isp-b' && s.to === 'down'));
  t.equal(down.consecutiveLost, 3, `got ${down.consecutiveLost} lost in a row at down; want downAfter = 3`);
  t.equal(down.reason, '3 consecutive probes lost');
  cut.delete('inet/office/isp-b');
  const back = await until('path back', () => seen.pathState.find((s) => s.path === 'inet/office/isp-b' && s.from === 'down'));
  t.ok(back.consecutiveAnswered >= 10, `got back after ${back.consecutiveAnswered} answers; want upAfter = 10`);

  // History and events reach the database; history.query flushes first.
  const now = Date.now();
  const q = await client.request<{ resolution: string; totals: { sent: number; lost: number } }>('history.query', { subject: 'inet/office/isp-a', from: now - 60_000, to: now + 1000, resolution: 'raw' });
  // Seconds are recorded once every probe in them is final: all but the last one or two.
  t.ok(q.totals.sent >= 20 && q.totals.lost === 0, `got ${JSON.stringify(q.totals)}; want the probes of the seconds done`);
  const subjects = await client.request<string[]>('history.subjects');
  t.ok(['inet', 'inet@198.18.9.1', 'inet/office/isp-a'].every((s) => subjects.includes(s)), `got subjects ${subjects}; want paths, the WAN and its target`);
  const bad = await client.request('history.query', { subject: 'x', from: 'yesterday', to: 1 }).then(() => undefined, (e: unknown) => e as Error & { code: string });
  t.equal(bad?.code, 'TERN_E_BUS_INVALID_PARAMS', 'a malformed query is refused');
  const store = await Store.open(path.join(env.TERN_STATE_DIR, 'tern.db'));
  const events = await store.all<{ kind: string; subject: string; detail: string }>("SELECT kind, subject, detail FROM events WHERE daemon = 'probed' ORDER BY id");
  await store.close();
  t.ok(events.some((e) => e.kind === 'path.state' && e.subject === 'inet/office/isp-b' && JSON.parse(e.detail).to === 'down'), 'the down transition is an event');

  // Reload: a new class rate remakes the paths it covers.
  fs.writeFileSync(env.TERN_CONFIG, configText.replace('ratePerSec: 4 }', 'ratePerSec: 2 }'));
  await d.reload();
  const after = await client.request<PathMetricsMessage[]>('paths.metrics', { path: 'inet/cloud/inet' });
  t.equal(after[0]?.ratePerSec, 2, `got rate ${after[0]?.ratePerSec} after reload; want 2`);

  // tunneld goes away: the last known paths are still probed.
  await tunneld.close();
  const sentBefore = (await client.request<Array<{ counters: { sent: number } }>>('paths.metrics', { path: 'inet/office/isp-a' }))[0]!.counters.sent;
  await sleep(1000);
  const sentAfter = (await client.request<Array<{ counters: { sent: number } }>>('paths.metrics', { path: 'inet/office/isp-a' }))[0]!.counters.sent;
  t.ok(sentAfter - sentBefore >= 15, `got ${sentAfter - sentBefore} probes in 1 s without tunneld; want about 20`);
  const status = await client.request<{ paths: { total: number } }>('daemon.status');
  t.equal(status.paths.total, 3);

  stopped = true;
  await d.stop();
});
