// The whole daemon (runner, bus, health) on an in-memory kernel and fake
// time: status, autorate driven by wan.metrics, restart adoption of the
// autorate rate, reloads refused whole, kernel errors named per WAN.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { BusClient, BusServer } from '../lib/bus/index.js';
import { FakeClock } from '../lib/clock/index.js';
import { silentLogger } from '../lib/log/index.js';
import { runDaemon, type RunningDaemon } from '../lib/runner/index.js';
import { TC_H_ROOT, tcHandle } from '../lib/kernel/index.js';
import type { CapabilityProber, Feature } from './capabilities.js';
import { qosdSpec, type RateEvent } from './daemon.js';
import { FakeKernel } from './testkit.js';
import type { WanStatus } from './status.js';

const sandbox: Feature[] = ['ifb', 'htb', 'bfifo', 'tbf', 'ingress', 'mirred'];
const prober = (): CapabilityProber => ({ probe: async (f) => sandbox.includes(f), close: async () => undefined });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function configText(opts: { wans?: Array<Record<string, unknown>>; qos?: Record<string, unknown> } = {}): string {
  return stringify({
    version: 1,
    identity: { site: 'office', name: 'office-a' },
    wans: opts.wans ?? [{ name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 20, downMbps: 50 }],
    lan: { interface: 'lan0', address: '10.10.0.2/24', prefixes: ['10.10.0.0/24'] },
    overlay: { address: '100.64.0.1/24' },
    qos: { enabled: true, ...(opts.qos ?? {}) },
  });
}

const autorate = { wans: [{ wan: 'isp', autorate: { enabled: true, minUpMbps: 5, maxUpMbps: 20, minDownMbps: 5, maxDownMbps: 50, intervalMs: 250 } }] };

interface Box {
  dir: string;
  config: string;
  runDir: string;
  clock: FakeClock;
  kernel: FakeKernel;
  start(): Promise<RunningDaemon>;
  call<T>(method: string, params?: Record<string, unknown>): Promise<T>;
}

async function box(t: Tap.Test, text: string, kernel = new FakeKernel([{ name: 'lo' }, { name: 'wan0', kind: 'veth' }, { name: 'lan0', kind: 'veth' }])): Promise<Box> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qosd-d-'));
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  const config = path.join(dir, 'etc', 'tern.yaml');
  fs.writeFileSync(config, text);
  const clock = new FakeClock({ now: Date.now() });
  const running: RunningDaemon[] = [];
  t.teardown(async () => {
    for (const d of running) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir, config, runDir, clock, kernel,
    async start() {
      const d = await runDaemon(qosdSpec({ tc: kernel, links: kernel, prober }), {
        paths: { etcDir: path.join(dir, 'etc'), runDir, stateDir: path.join(dir, 'state'), configFile: config },
        clock, logger: silentLogger(), notify: () => undefined, env: {},
      });
      running.push(d);
      return d;
    },
    async call<T>(method: string, params?: Record<string, unknown>): Promise<T> {
      const c = new BusClient({ socketPath: path.join(runDir, 'qosd.sock'), reconnect: false, timeoutMs: 5000 });
      try {
        await c.connect();
        return await c.request<T>(method, params);
      } finally {
        await c.close();
      }
    },
  };
}

declare namespace Tap { type Test = import('tap').Test }

/** Fake time moves; the daemon's async work runs on real time, so wait until cond holds. */
async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(10);
  }
  throw new Error(`daemon.test: gave up waiting for ${what}`);
}

t.test('start: the WAN is shaped; qos.status has mode, rates and classes with counters', async (t) => {
  const b = await box(t, configText());
  await b.start();
  const s = await b.call<{ choice: unknown; capabilities: Record<string, boolean>; wans: WanStatus[]; dscp: Record<string, string> }>('qos.status');
  t.same(s.choice, { mode: 'htb', leaf: 'bfifo', ingress: true });
  t.equal(s.capabilities.cake, false);
  const w = s.wans[0]!;
  t.match(w, { wan: 'isp', interface: 'wan0', ifb: 'tqi-isp', mode: 'htb', state: 'shaped', error: null });
  t.match(w.egress, { dev: 'wan0', rateMbps: 20, configuredMbps: 20, kernelRateMbps: 20 });
  t.match(w.ingress, { dev: 'tqi-isp', rateMbps: 50, kernelRateMbps: 50 });
  t.same(w.egress.classes.map((c) => [c.name, c.classid, c.rateMbps, c.dscp.length]), [
    ['realtime', '7471:11', 5, 3], ['interactive', '7471:12', 6, 8], ['besteffort', '7471:13', 7, 1], ['bulk', '7471:14', 2, 2],
  ]);
  b.kernel.traffic('wan0', 4000, tcHandle(0x7471, 0x11));
  const s2 = await b.call<{ wans: WanStatus[] }>('qos.status');
  t.equal(s2.wans[0]!.egress.classes[0]!.bytes, 4000, 'class counters come from the kernel');
  t.equal(s.dscp['46'], 'realtime');
  const caps = await b.call<{ cached: boolean }>('qos.capabilities');
  t.equal(caps.cached, false, 'first detection of this boot');
  await t.rejects(b.call('qos.capabilities', { refresh: 'yes' }), { code: 'TERN_E_BUS_INVALID_PARAMS' });
});

t.test('autorate: bufferbloat in wan.metrics cuts the rate, publishes qos.rate, and a restart keeps the rate', async (t) => {
  const b = await box(t, configText({ qos: autorate }));
  fs.mkdirSync(b.runDir, { recursive: true });
  const probed = new BusServer({ socketPath: path.join(b.runDir, 'probed.sock'), group: false });
  await probed.listen();
  t.teardown(() => probed.close());
  const d = await b.start();
  const events: RateEvent[] = [];
  const sub = new BusClient({ socketPath: path.join(b.runDir, 'qosd.sock'), reconnect: false });
  await sub.connect();
  await sub.subscribe(['qos.rate'], (p) => { events.push(p as RateEvent); });
  t.teardown(() => sub.close());
  await until('qosd subscribed to probed', () => (probed.stats().subscribers > 0 ? true : undefined));
  let ts = b.clock.now();
  const fact = (rttMs: number): void => { probed.publish('wan.metrics', { wan: 'isp', rttLatestMs: rttMs, lossPct: 0, jitterMs: 0, ts: ts += 1 }); };
  const step = async (downBytes: number, rttMs: number): Promise<void> => {
    // Three replies per step: bufferbloat needs three delayed ones among the latest six.
    for (let i = 0; i < 3; i++) fact(rttMs);
    await sleep(30);
    b.kernel.traffic('tqi-isp', downBytes);
    b.clock.advance(250);
    await sleep(30);
  };
  await step(0, 20); // baseline 20 ms; first counter reading
  await step(625000, 120); // 20 Mbit/s got through while latency rose 100 ms
  const ev = await until('a qos.rate event', () => events[0]);
  // The baseline creeps up by 0.1 % of each higher sample (20 → 20.1 → 20.2 → 20.3); the third delay is 120 - 20.3.
  t.match(ev, { wan: 'isp', direction: 'down', fromMbps: 50, toMbps: 18, reason: 'bufferbloat', step: 1, rttMs: 120, baselineMs: 20.3, deltaMs: 99.7, achievedMbps: 20 });
  const ifb = { name: 'tqi-isp', ifindex: (await b.kernel.link('tqi-isp'))!.index };
  const shaperRate = async (): Promise<number | undefined> => (await b.kernel.classes(ifb)).find((c) => c.classid === tcHandle(0x7471, 1))?.options?.rateBps;
  t.equal(await shaperRate(), 18e6, 'the kernel shapes the IFB at 18 Mbit/s');
  const s = await b.call<{ wans: WanStatus[] }>('qos.status');
  t.match(s.wans[0]!.autorate, { intervalMs: 250, down: { rateMbps: 18, minMbps: 5, maxMbps: 50, steps: 1 }, up: { rateMbps: 20, steps: 0 } });
  t.equal(s.wans[0]!.ingress?.rateMbps, 18);
  t.equal(s.wans[0]!.ingress?.configuredMbps, 50);

  await d.stop();
  const before = b.kernel.ops.length;
  await b.start();
  t.same(b.kernel.ops.slice(before), [], 'a restart adopts the kernel as it is: no mutation');
  const s2 = await b.call<{ wans: WanStatus[] }>('qos.status');
  t.equal(s2.wans[0]!.autorate?.down.rateMbps, 18, 'autorate starts from the rate the kernel has, not the configured 50');
  t.equal(await shaperRate(), 18e6);
});

t.test('autorate without latency facts holds the rate and says so', async (t) => {
  const b = await box(t, configText({ qos: autorate }));
  const d = await b.start();
  for (let i = 0; i < 14; i++) { b.clock.advance(250); await sleep(5); }
  await until('the stale warning', () => d.ctx.health.get('qos.autorate.isp'));
  t.match(d.ctx.health.get('qos.autorate.isp'), { severity: 'warning', text: /WAN isp: no latency fact from probed \(wan\.metrics\) for ever; the rate is held/ });
  const s = await b.call<{ wans: WanStatus[] }>('qos.status');
  t.equal(s.wans[0]!.autorate?.down.rateMbps, 50);
});

t.test('a reload with bad input is refused whole and the kernel stays as it was', async (t) => {
  const b = await box(t, configText());
  const d = await b.start();
  const snap = b.kernel.snapshot();
  const cases = [
    { name: 'rate outside autorate bounds', text: configText({ qos: { wans: [{ wan: 'isp', autorate: { enabled: true, minUpMbps: 1, maxUpMbps: 5, minDownMbps: 1, maxDownMbps: 100 } }] } }), want: /qos\.wans\[0\]\.autorate: the upstream rate 20 Mbit\/s is outside/ },
    { name: 'WAN interface missing', text: configText({ wans: [{ name: 'isp', interface: 'wan9', dhcp: true, upMbps: 20, downMbps: 50 }] }), want: /wans\[0\]\.interface: no interface 'wan9' on this box/ },
    { name: 'zero rate', text: configText({ qos: { wans: [{ wan: 'isp', upMbps: 0 }] } }), want: /qos\.wans\[0\]\.upMbps: must be a number > 0/ },
  ];
  for (const c of cases) {
    fs.writeFileSync(b.config, c.text);
    await t.rejects(d.reload(), { message: c.want }, c.name);
    t.equal(b.kernel.snapshot(), snap, `${c.name}: kernel untouched`);
  }
});

t.test('a kernel error on one WAN during a reload puts every WAN back', async (t) => {
  const wans = [
    { name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 20, downMbps: 50 },
    { name: 'lte', interface: 'wan1', dhcp: true, upMbps: 5, downMbps: 10 },
  ];
  const kernel = new FakeKernel([{ name: 'lo' }, { name: 'wan0', kind: 'veth' }, { name: 'wan1', kind: 'veth' }, { name: 'lan0', kind: 'veth' }]);
  const b = await box(t, configText({ wans }), kernel);
  const d = await b.start();
  const snap = kernel.snapshot();
  fs.writeFileSync(b.config, configText({ wans: [{ ...wans[0], upMbps: 15 }, { ...wans[1], upMbps: 4 }] }));
  kernel.failNext((op) => op.startsWith('setClass wan1 '), 'ENOMEM');
  await t.rejects(d.reload(), { code: 'TERN_E_QOS_KERNEL', message: /^qosd: apply: WAN lte \(wan1\): .*ENOMEM.*the previous shaping stays in place$/ });
  t.equal(kernel.snapshot(), snap, 'isp, already changed, is back at 20 Mbit/s; lte never changed');
  t.match(d.ctx.health.get('qos.wan.lte'), { severity: 'error', text: /WAN lte \(wan1\)/ });
  t.equal(d.ctx.health.get('qos.wan.isp'), undefined);
});

t.test('at start a kernel error and a missing interface are per-WAN health, not a crash; resync shapes the WAN when it appears', async (t) => {
  const wans = [
    { name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 20, downMbps: 50 },
    { name: 'lte', interface: 'wwan0', dhcp: true, upMbps: 5, downMbps: 10 },
  ];
  const kernel = new FakeKernel([{ name: 'lo' }, { name: 'wan0', kind: 'veth' }, { name: 'lan0', kind: 'veth' }]);
  kernel.failNext((op) => op === 'replaceQdisc wan0 74710000 htb', 'EPERM');
  const b = await box(t, configText({ wans }), kernel);
  const d = await b.start();
  t.match(d.ctx.health.get('qos.wan.isp'), { severity: 'error', text: /^qosd: apply: WAN isp \(wan0\): .*EPERM.*the WAN stays unshaped$/ });
  t.match(d.ctx.health.get('qos.wan.lte'), { severity: 'warning', text: /no interface 'wwan0'/ });
  const s = await b.call<{ wans: WanStatus[] }>('qos.status');
  t.same(s.wans.map((w) => [w.wan, w.state]), [['isp', 'error'], ['lte', 'waiting']]);
  kernel.linkTable.set('wwan0', { name: 'wwan0', index: 99, kind: null, up: true, mtu: 1500 });
  b.clock.advance(30_000);
  await until('both WANs shaped', async () => {
    const x = await b.call<{ wans: WanStatus[] }>('qos.status');
    return x.wans.every((w) => w.state === 'shaped') ? true : undefined;
  });
  t.equal(d.ctx.health.list().length, 0, `health: got ${JSON.stringify(d.ctx.health.list())}; want nothing left`);
  const wwan0 = await kernel.qdiscs({ name: 'wwan0', ifindex: 99 });
  t.ok(wwan0.some((q) => q.parent === TC_H_ROOT && q.kind === 'htb'));
});

t.test('QoS switched off by a reload removes the shaping', async (t) => {
  const b = await box(t, configText());
  const d = await b.start();
  fs.writeFileSync(b.config, configText({ qos: { enabled: false } }));
  await d.reload();
  t.notOk(await b.kernel.link('tqi-isp'), 'the IFB is gone');
  const wan0 = { name: 'wan0', ifindex: (await b.kernel.link('wan0'))!.index };
  t.same(await b.kernel.qdiscs(wan0), [], 'wan0 is back to its default qdisc');
});
