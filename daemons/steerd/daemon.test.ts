// steerd's wiring with fakes for the kernel and the fast path (the
// TypeScript reference selector stands in for the Rust one), and fake
// tunneld and probed on real bus sockets.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PathMetricsT, PathStateT, PathTunnelT, WanMetricsT } from '../lib/api/index.js';
import { BusClient, BusServer } from '../lib/bus/index.js';
import { loadConfig } from '../lib/config/index.js';
import { overlayPlan } from '../lib/overlay/index.js';
import { pathTunnel } from '../lib/testkit/tunneld.fixture.js';
import { FakeClock, type Clock } from '../lib/clock/index.js';
import { silentLogger } from '../lib/log/index.js';
import { runDaemon } from '../lib/runner/index.js';
import { Store } from '../lib/store/index.js';
import { steerdSpec, type SteerdDeps } from './daemon.js';
import type { CtClearReport, CtFlow, FastPath, MarkReport, QueueStats, RefreshReport, RefreshRequest, RemarkReport } from './fastpath.js';
import type { SteerRuleset } from './nft.js';
import { ReferenceSelector, referenceRefresh } from './reference.fixture.js';
import type { Move, PathSelector, SelectorPolicy } from './types.js';
import { makeFlow } from './wire.js';

const example = fs.readFileSync(fileURLToPath(new URL('../../../docs/examples/home.yaml', import.meta.url)), 'utf8');
const config = `${example}
appClasses:
  - name: voice
    match: { protocols: [udp], ports: ["5000-5099"] }
    sla: { maxLossPct: 1, maxLatencyMs: 150 }
policies:
  - appClass: voice
    mode: best
    sticky: { holdSec: 0 }
`;
const pathA = 'inet/office/isp-a';
const pathB = 'inet/office/isp-b';
const markA = 0x100010;
const markB = 0x100011;

class FakeFastPath implements FastPath {
  time = 1000;
  selectors: Array<{ selector: ReferenceSelector; policy: SelectorPolicy; prefixes: readonly string[] }> = [];
  opened: Array<[number, number, number]> = [];
  marks: Move[] = [];
  remarks: Array<[number, number]> = [];
  ct: CtFlow[] = [];
  closed = false;
  /** FastPath methods steerd called that reach the native module in production (stats aside). */
  calls: string[] = [];
  now(): number { this.calls.push('now'); return this.time; }
  createSelector(policy: SelectorPolicy): PathSelector {
    const s = new ReferenceSelector(policy);
    this.selectors.push({ selector: s, policy, prefixes: [] });
    return s;
  }
  refresh(selectors: readonly PathSelector[], request: RefreshRequest): RefreshReport {
    this.calls.push('refresh');
    const sites = selectors.map((s) => this.selectors.find((x) => x.selector === s)!);
    return referenceRefresh(sites, request, this.time, this.conntrack);
  }
  open(first: number, count: number, maxLen: number): void { this.opened.push([first, count, maxLen]); }
  route(selector: PathSelector, prefixes: readonly string[]): void {
    const e = this.selectors.find((x) => x.selector === selector);
    if (e) e.prefixes = prefixes;
  }
  stats(): QueueStats[] { return []; }
  close(): void { this.closed = true; }
  /** Conntrack as the refresh reaches it, inside its one call. */
  readonly conntrack = {
    setMarks: (moves: readonly Move[]): MarkReport => {
      this.marks.push(...moves);
      for (const m of moves) {
        const f = this.ct.find((c) => c.srcPort === m.flow.srcPort && c.dstPort === m.flow.dstPort && c.mark === m.from);
        if (f) f.mark = m.to;
      }
      return { updated: moves.length, missing: 0, failed: 0, skipped: 0 };
    },
    remark: (mark: number, newMark: number): RemarkReport => {
      this.remarks.push([mark, newMark]);
      const hit = this.ct.filter((c) => c.mark === mark);
      for (const c of hit) c.mark = newMark;
      return { matched: hit.length, updated: hit.length, failed: 0 };
    },
    flows: (value: number, mask: number, max: number): CtFlow[] =>
      this.ct.filter((c) => ((c.mark & mask) >>> 0) === ((value & mask) >>> 0)).slice(0, max),
  };
  setMarks(moves: readonly Move[]): MarkReport {
    this.calls.push('setMarks');
    return this.conntrack.setMarks(moves);
  }
  remark(mark: number, newMark: number): RemarkReport {
    this.calls.push('remark');
    return this.conntrack.remark(mark, newMark);
  }
  flows(value: number, mask: number, max: number): CtFlow[] {
    this.calls.push('flows');
    return this.conntrack.flows(value, mask, max);
  }
  clears: Array<[number, number, boolean]> = [];
  clear(mark: number, mask: number, provoke: boolean): CtClearReport {
    this.calls.push('clear');
    this.clears.push([mark, mask, provoke]);
    const hit = this.ct.filter((c) => ((c.mark & mask) >>> 0) === ((mark & mask) >>> 0));
    this.ct = this.ct.filter((c) => !hit.includes(c));
    const tcp = hit.filter((c) => c.protocol === 6).length;
    return { matched: hit.length, deleted: hit.length, tcp, provoked: provoke ? tcp : 0, errors: 0, error: null };
  }
  /** The office selector, as the fast path would reach it for 10.10.0.0/24. */
  office(): ReferenceSelector {
    return this.selectors.filter((s) => s.prefixes.includes('10.10.0.0/24')).at(-1)!.selector;
  }
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`daemon.test: gave up waiting for ${what}`);
}

interface Box {
  /** The runner's tern.yaml, and the state database steerd writes events to. */
  configFile: string;
  dbFile: string;
  fast: FakeFastPath;
  applied: SteerRuleset[];
  ipt: string[];
  tunneld: BusServer;
  /** tunneld's rows, whole, as the fake serves them. */
  tunnelRows: PathTunnelT[];
  probed: BusServer;
  client: BusClient;
  stop(): Promise<void>;
}

/** A path.metrics payload as probed publishes it (daemons/lib/api/probed.ts), with the figures given. */
function metrics(path: string, f: { state: 'up' | 'degraded' | 'down' | 'unknown'; lossPct: number; rttMs: number; jitterMs: number; mos: number }): PathMetricsT {
  const [localWan = '', site = '', remoteWan = ''] = path.split('/');
  return {
    path, site, localWan, remoteWan, ts: 1, ratePerSec: 5, windowSec: 10, probes: 50, answered: 50, lost: 0, lostFwd: 0, lostRev: 0, lostUnknown: 0,
    lossFwdPct: null, lossRevPct: null, rttMinMs: f.rttMs, rttMaxMs: f.rttMs, rttStddevMs: 0, ...f,
  };
}

/** paths.metrics adds each path's session counters to its path.metrics. */
const sessionCounters = { sent: 50, sendErrors: 0, answered: 50, late: 0, timeouts: 0, duplicates: 0, stale: 0, foreign: 0, malformed: 0, badProcessingTime: 0, beforeFirstAnswer: 0 };

/** A path.state payload as probed publishes it. */
function transition(path: string, from: PathStateT['from'], to: PathStateT['to'], cause: string, reason: string): PathStateT {
  const [localWan = '', site = '', remoteWan = ''] = path.split('/');
  return { path, site, localWan, remoteWan, from, to, cause, reason, ts: 1, consecutiveLost: 0, consecutiveAnswered: 0, sentSinceReply: 0 };
}

async function box(t: Tap.Test, hasQueue: boolean, opts: { tunneld?: boolean; clock?: Clock; enableAccounting?: () => void; config?: string } = {}): Promise<Box> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-steerd-'));
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state') };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.writeFileSync(path.join(env.TERN_ETC_DIR, 'tern.yaml'), opts.config ?? config);
  const tunneld = new BusServer({ socketPath: path.join(env.TERN_RUN_DIR, 'tunneld.sock') });
  // Whole rows, as tunneld's contract declares them: steerd refuses any other shape.
  const plan = overlayPlan((await loadConfig(path.join(env.TERN_ETC_DIR, 'tern.yaml'))).config);
  const tunnelRows = plan.paths.map((p) => pathTunnel(p));
  tunneld.method('paths.list', () => tunnelRows);
  const probed = new BusServer({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock') });
  probed.method('paths.metrics', () => [
    metrics(pathA, { state: 'up', lossPct: 0, rttMs: 40, jitterMs: 1, mos: 4.3 }),
    metrics(pathB, { state: 'up', lossPct: 0, rttMs: 10, jitterMs: 1, mos: 4.4 }),
  ].map((m) => ({ ...m, counters: sessionCounters, socket: { opens: 1, openErrors: 0, sendErrors: 0, received: 50, port: 40000 } })));
  if (opts.tunneld !== false) await tunneld.listen();
  await probed.listen();
  const fast = new FakeFastPath();
  const applied: SteerRuleset[] = [];
  const ipt: string[] = [];
  const rules = { async rules() { return []; }, async addRule() { return true; }, async deleteRule() { return undefined; } };
  const deps: SteerdDeps = {
    fastPath: fast,
    rules,
    nft: { async apply(rs) { applied.push(rs); return true; }, async remove() { return undefined; } },
    iptables: {
      async apply(q) { ipt.push(`apply ${q.join('-')}`); return true; },
      async remove() { ipt.push('remove'); },
      async present() { return true; },
    },
    detectQueue: async () => hasQueue,
    enableAccounting: opts.enableAccounting ?? (() => undefined),
  };
  const d = await runDaemon(steerdSpec(deps), { env: { ...process.env, ...env }, logger: silentLogger(), notify: () => undefined, ...(opts.clock ? { clock: opts.clock } : {}) });
  const client = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'steerd.sock'), reconnect: false });
  await client.connect();
  const stop = async (): Promise<void> => {
    await client.close();
    await d.stop();
    await tunneld.close();
    await probed.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  return {
    configFile: path.join(env.TERN_ETC_DIR, 'tern.yaml'), dbFile: path.join(env.TERN_STATE_DIR, 'tern.db'),
    fast, applied, ipt, tunneld, tunnelRows, probed, client, stop,
  };
}

declare namespace Tap { type Test = import('tap').Test }

t.test('queue detection picks the rules: nft queue, or the iptables fallback', async (t) => {
  for (const hasQueue of [true, false]) {
    const b = await box(t, hasQueue);
    const want = hasQueue ? 'nft' : 'iptables';
    t.equal(b.applied[0]?.method, want, `kernel ${hasQueue ? 'with' : 'without'} nft queue: method ${b.applied[0]?.method}; want ${want}`);
    t.same(b.ipt, hasQueue ? ['remove'] : ['apply 10200-10201'], 'the iptables chain only where nft cannot queue (a left-over one is removed)');
    t.same(b.applied[0]?.prefixes, ['100.64.0.1/32', '10.10.0.0/24', '100.64.0.3/32', '10.30.0.0/16'], 'every remote site\'s prefixes are steered');
    t.same(b.fast.opened, [[10200, 2, 4096]], 'two workers on Tern\'s queues');
    t.same(b.fast.selectors.map((s) => s.prefixes), [['100.64.0.1/32', '10.10.0.0/24'], ['100.64.0.3/32', '10.30.0.0/16'], ['0.0.0.0/0', '::/0']], 'one selector per site, routed by its prefixes; the internet\'s last');
    await b.stop();
  }
});

t.test('metrics steer new flows, and a path going down moves its flows and sweeps the rest', async (t) => {
  const b = await box(t, false);
  const office = await until('both office paths measured', async () => {
    const rows = await b.client.request<Array<{ name: string; state: string; latencyMs: number }>>('steer.paths');
    return rows.filter((r) => r.name.includes('/office/')).every((r) => r.state === 'up') ? b.fast.office() : undefined;
  });
  const voice = makeFlow({ src: '10.20.0.5', dst: '10.10.0.9', protocol: 17, srcPort: 40000, dstPort: 5004 });
  const d = office.decide(voice, b.fast.time);
  t.same([d.class, d.pathId], ['voice', markB], 'voice takes the lower-latency path');
  const web = makeFlow({ src: '10.20.0.5', dst: '10.10.0.9', protocol: 6, srcPort: 40001, dstPort: 443 });
  t.equal(office.decide(web, b.fast.time).pathId, markB, 'so does a default flow');
  // Conntrack also holds a flow from before a restart, unknown to the selector, and one on path A.
  b.fast.ct = [
    { family: 4, protocol: 17, src: '10.20.0.5', dst: '10.10.0.9', srcPort: 40000, dstPort: 5004, mark: markB, packets: 1, bytes: 1 },
    { family: 4, protocol: 6, src: '10.20.0.5', dst: '10.10.0.9', srcPort: 40001, dstPort: 443, mark: markB, packets: 1, bytes: 1 },
    { family: 4, protocol: 6, src: '10.20.0.6', dst: '10.10.0.9', srcPort: 50000, dstPort: 22, mark: markB, packets: 1, bytes: 1 },
    { family: 4, protocol: 6, src: '10.20.0.7', dst: '10.10.0.9', srcPort: 50001, dstPort: 22, mark: markA, packets: 1, bytes: 1 },
  ];

  // 3 % loss on B: only voice must leave it.
  b.probed.publish('path.metrics', metrics(pathB, { state: 'up', lossPct: 3, rttMs: 10, jitterMs: 1, mos: 4.2 }));
  const moved = await until('voice moved', () => (b.fast.marks.length ? b.fast.marks : undefined));
  t.same(moved.map((m) => [m.class, m.from, m.to, m.flow.dstPort]), [['voice', markB, markA, 5004]], 'resteer moved the voice flow only');
  t.same(b.fast.remarks, [], 'no path-wide sweep for a class SLA breach');
  t.same(b.fast.ct.map((c) => c.mark), [markA, markB, markB, markA], 'conntrack: voice on A, the rest where they were');

  // B goes down: the default flow moves, the unknown one is swept to be decided again.
  b.fast.marks = [];
  b.probed.publish('path.state', transition(pathB, 'up', 'down', 'consecutive-lost', '3 consecutive probes lost'));
  await until('sweep of B', () => (b.fast.remarks.length ? true : undefined));
  t.same(b.fast.marks.map((m) => [m.flow.dstPort, m.from, m.to]), [[443, markB, markA]], 'the known default flow moved by its tuple');
  t.same(b.fast.remarks, [[markB, 0]], 'then everything still on B is decided again');
  t.same(b.fast.ct.map((c) => c.mark), [markA, markA, 0, markA], 'the flow from before the restart has mark 0; the one on A never moved');

  const counters = await b.client.request<{ method: string; totals: { moves: number; sweeps: number }; sites: Array<{ site: string; paths: Array<{ name: string; state: string }> }> }>('steer.counters');
  t.equal(counters.method, 'iptables');
  t.same([counters.totals.moves, counters.totals.sweeps], [2, 1]);
  t.same(counters.sites[0]!.paths.map((p) => [p.name, p.state]), [[pathA, 'up'], [pathB, 'down']]);
  const flows = await b.client.request<{ total: number; flows: Array<{ class: string; path: string }> }>('steer.flows', { limit: 2 });
  t.equal(flows.total, 3, 'steer.flows lists flows with a path mark');
  t.same(flows.flows.map((f) => f.path), [pathA, pathA], 'limited, with path names');
  await t.rejects(b.client.request('steer.flows', { limit: 0 }), { code: 'TERN_E_BUS_INVALID_PARAMS' });
});

t.test('a restart that cannot reach tunneld yet sweeps nothing', async (t) => {
  const b = await box(t, false, { tunneld: false });
  b.fast.ct = [{ family: 4, protocol: 6, src: '10.20.0.6', dst: '10.10.0.9', srcPort: 50000, dstPort: 22, mark: markB, packets: 1, bytes: 1 }];
  b.probed.publish('path.metrics', metrics(pathB, { state: 'up', lossPct: 0, rttMs: 11, jitterMs: 1, mos: 4.4 }));
  await new Promise((r) => setTimeout(r, 200));
  t.same(b.fast.remarks, [], 'no sweep before the tunnel states are known');
  t.equal(b.fast.ct[0]!.mark, markB, 'the flow keeps its path');
});

t.test('conntrack accounting: a missing sysctl at start is a warning, retried each housekeeping round until on', async (t) => {
  const clock = new FakeClock();
  let tries = 0;
  const b = await box(t, true, {
    clock,
    enableAccounting: () => {
      tries++;
      if (tries < 3) throw Object.assign(new Error("ENOENT: no such file or directory, open '/proc/sys/net/netfilter/nf_conntrack_acct'"), { code: 'ENOENT' });
    },
  });
  const warnings = async (): Promise<string[]> => {
    const st = await b.client.request('daemon.status') as { warnings: unknown };
    return JSON.stringify(st.warnings).match(/steerd\.accounting/g) ?? [];
  };
  t.equal(tries, 1, 'tried once at start');
  t.equal((await warnings()).length > 0, true, 'warning steerd.accounting while the sysctl is missing');
  clock.advance(10_000);
  t.equal(tries, 2, 'tried again at the next housekeeping round');
  clock.advance(10_000);
  t.equal(tries, 3, 'and again');
  t.same(await warnings(), [], 'the warning clears once accounting is on');
  clock.advance(30_000);
  t.equal(tries, 3, 'no more tries once on');
});

t.test('with PAIR and virtualMac, the macvlan is steered too, by either queue method, and a reload that turns virtualMac on adds it', async (t) => {
  // Regression (audit): with pair.virtualMac, LAN hosts' packets arrive on
  // tpair<vrid>, and rules on lan.interface alone never queued them.
  const pair = (virtualMac: boolean): string => `${config}pair:\n  vrid: 7\n  vips: [10.20.0.254/24]\n  virtualMac: ${virtualMac}\n`;
  for (const hasQueue of [true, false]) {
    const b = await box(t, hasQueue, { config: pair(true) });
    const got = b.applied[0];
    t.same([got?.method, got?.lanInterface, got?.pairInterfaces], [hasQueue ? 'nft' : 'iptables', 'eth1', ['tpair7']],
      `kernel ${hasQueue ? 'with' : 'without'} nft queue: method, LAN, PAIR interfaces: got ${JSON.stringify(got)}`);
    await b.stop();
  }
  const b = await box(t, false, { config: pair(false) });
  t.same(b.applied[0]?.pairInterfaces, [], 'virtualMac off: the VIPs are on the LAN interface itself');
  fs.writeFileSync(b.configFile, pair(true));
  await b.client.request('daemon.reload');
  t.same(b.applied.at(-1)?.pairInterfaces, ['tpair7'], 'after the reload: the macvlan too');
});

t.test('a path move is one path.move event per path and decision, and a flapping path writes at most one a minute', async (t) => {
  const clock = new FakeClock();
  const b = await box(t, false, { clock });
  const office = await until('both office paths measured', async () => {
    const rows = await b.client.request<Array<{ name: string; state: string }>>('steer.paths');
    return rows.filter((r) => r.name.includes('/office/')).every((r) => r.state === 'up') ? b.fast.office() : undefined;
  });
  const store = await Store.open(b.dbFile);
  t.teardown(() => store.close());
  const rows = async (): Promise<Array<{ ts: number; daemon: string; kind: string; subject: string; detail: Record<string, unknown> }>> =>
    (await store.all<{ ts: number; daemon: string; kind: string; subject: string; detail: string }>("SELECT ts, daemon, kind, subject, detail FROM events WHERE kind = 'path.move' ORDER BY id"))
      .map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  let port = 40000;
  const voiceOnB = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const d = office.decide(makeFlow({ src: '10.20.0.5', dst: '10.10.0.9', protocol: 17, srcPort: port++, dstPort: 5004 }), b.fast.time);
      if (d.pathId !== markB) throw new Error(`daemon.test: voice flow on ${d.pathId.toString(16)}; want B`);
    }
  };
  const setB = async (state: 'up' | 'down'): Promise<void> => {
    const before = (await b.client.request<{ totals: { refreshes: number } }>('steer.counters')).totals.refreshes;
    b.probed.publish('path.state', transition(pathB, state === 'up' ? 'down' : 'up', state, 'test', 'test'));
    await until(`B ${state}`, async () => ((await b.client.request<{ totals: { refreshes: number } }>('steer.counters')).totals.refreshes > before ? true : undefined));
  };

  voiceOnB(3);
  await setB('down');
  const first = await until('the first move recorded', async () => { const r = await rows(); return r.length ? r : undefined; });
  t.equal(first.length, 1, `events for one decision moving 3 flows: got ${first.length}; want 1`);
  t.same({ ...first[0], detail: { ...first[0]!.detail } }, {
    ts: clock.now(), daemon: 'steerd', kind: 'path.move', subject: pathB,
    detail: { site: 'office', from: pathB, to: pathA, toPaths: { [pathA]: 3 }, reason: 'down', classes: ['voice'], flows: 3, swept: 0, why: 'probed path.state' },
  }, 'which path, where to, why, how many flows');

  // B flaps 5 times within a minute, each time with flows on it again.
  for (let i = 0; i < 5; i++) {
    clock.advance(5_000);
    await setB('up');
    voiceOnB(2);
    await setB('down');
  }
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await rows()).length, 1, 'the decisions within the minute are held');
  clock.advance(60_000);
  const all = await until('the held moves written', async () => { const r = await rows(); return r.length >= 2 ? r : undefined; });
  t.equal(all.length, 2, `events for 6 decisions within a minute: got ${all.length}; want 2`);
  t.match(all[1]!.detail, { from: pathB, to: pathA, reason: 'down', flows: 10, decisions: 5 }, `the held decisions summed: ${JSON.stringify(all[1]!.detail)}`);
  const c = await b.client.request<{ moveEvents: { written: number; coalesced: number; errors: number } }>('steer.counters');
  t.same(c.moveEvents, { written: 2, coalesced: 5, errors: 0 }, 'steer.counters shows the event counts');
});

t.test('a refresh is one call into the fast path: paths, moves, SLA judgement, marks and sweeps together', async (t) => {
  // Regression (issue 16): a refresh crossed into the native module for
  // the clock, per site for setPaths and resteer, then for the marks and
  // each sweep, and judged every SLA again in TypeScript in between.
  const clock = new FakeClock();
  const b = await box(t, false, { clock });
  const office = await until('both office paths measured', async () => {
    const rows = await b.client.request<Array<{ name: string; state: string }>>('steer.paths');
    return rows.filter((r) => r.name.includes('/office/')).every((r) => r.state === 'up') ? b.fast.office() : undefined;
  });
  office.decide(makeFlow({ src: '10.20.0.5', dst: '10.10.0.9', protocol: 17, srcPort: 40000, dstPort: 5004 }), b.fast.time);
  b.fast.ct = [{ family: 4, protocol: 6, src: '10.20.0.6', dst: '10.10.0.9', srcPort: 50000, dstPort: 22, mark: markB, packets: 1, bytes: 1 }];
  const refreshes = async (): Promise<number> => (await b.client.request<{ totals: { refreshes: number } }>('steer.counters')).totals.refreshes;
  const before = await refreshes();
  b.fast.calls = [];
  // B goes down: a move and a sweep in the same refresh.
  b.probed.publish('path.state', transition(pathB, 'up', 'down', 'test', 'test'));
  await until('the refresh', async () => ((await refreshes()) > before ? true : undefined));
  t.same(b.fast.calls, ['refresh'], `fast path calls in one refresh: got ${JSON.stringify(b.fast.calls)}; want ["refresh"]`);
  t.same([b.fast.marks.length, b.fast.remarks], [1, [[markB, 0]]], 'and within it the move and the sweep were made');
});

// Issue 16: steerd takes probed's results in one shape, path.metrics as the
// contract declares it. The old alternatives (rttAvgMs or latencyMs for
// rttMs, a bare {path, state}) are refused where they arrive and change nothing.
t.test('a probe result in any other shape is refused at the boundary', async (t) => {
  const b = await box(t, false);
  type Row = { name: string; state: string; probe: { rttMs: number | null } | null };
  await until('both office paths measured', async () => {
    const rows = await b.client.request<Row[]>('steer.paths');
    return rows.filter((r) => r.name.includes('/office/')).every((r) => r.state === 'up') ? true : undefined;
  });
  const refreshes = async (): Promise<number> => (await b.client.request<{ totals: { refreshes: number } }>('steer.counters')).totals.refreshes;
  const before = await refreshes();
  const { rttMs: _rtt, ...old } = metrics(pathB, { state: 'down', lossPct: 100, rttMs: 0, jitterMs: 0, mos: 1 });
  b.probed.publish('path.metrics', { ...old, rttAvgMs: 900 });
  b.probed.publish('path.metrics', { ...old, latencyMs: 900 });
  b.probed.publish('path.metrics', { path: pathB, state: 'down' });
  // The marker: a good payload after the bad ones, on the same connection.
  b.probed.publish('path.metrics', metrics(pathB, { state: 'up', lossPct: 0, rttMs: 12, jitterMs: 1, mos: 4.4 }));
  const rowB = await until('the good payload taken', async () => {
    const r = (await b.client.request<Row[]>('steer.paths')).find((x) => x.name === pathB);
    return r?.probe?.rttMs === 12 ? r : undefined;
  });
  t.equal(rowB.state, 'up', `path B: got ${rowB.state}; want up (the down payloads in other shapes refused)`);
  const after = await refreshes();
  t.equal(after - before, 1, `refreshes: got ${after - before}; want 1 (the good payload only)`);
  await b.stop();
});


t.test('a tunnel state in any other shape is refused at the boundary; the states steerd had stay', async (t) => {
  const b = await box(t, false);
  type Row = { name: string; state: string; tunnel: string | null };
  const rowOf = async (name: string): Promise<Row | undefined> => (await b.client.request<Row[]>('steer.paths')).find((r) => r.name === name);
  await until('path B up, its tunnel known', async () => ((await rowOf(pathB))?.tunnel === 'up' ? true : undefined));
  const whole = b.tunnelRows.find((r) => r.name === pathB)!;
  // What steerd once took from anyone: a name and a state, nothing else.
  b.tunneld.publish('paths.changed', { name: pathB, state: 'down' });
  b.tunneld.publish('paths.changed', { ...whole, state: 'gone' });
  b.tunneld.publish('paths.changed', { ...whole, state: 'down', listenPort: 'x' });
  // The marker: a good payload after the bad ones, on the same connection (path A, so B's row shows what the bad ones did).
  b.tunneld.publish('paths.changed', { ...b.tunnelRows.find((r) => r.name === pathA)!, state: 'connecting' });
  await until('the good payload taken', async () => ((await rowOf(pathA))?.tunnel === 'connecting' ? true : undefined));
  const rowB = await rowOf(pathB);
  t.equal(rowB?.tunnel, 'up', `path B's tunnel: got ${rowB?.tunnel}; want up (the down payloads in other shapes refused)`);
  await b.stop();
});

/** A wan.metrics payload as probed publishes it. */
function wanMetrics(wan: string, state: WanMetricsT['state']): WanMetricsT {
  return {
    wan, state, ts: 1, windowSec: 10, probes: 50, lossPct: state === 'down' ? 100 : 0, rttMs: 20, rttLatestMs: 20, rttMinMs: 20, rttMaxMs: 20,
    jitterMs: 1, mos: 4.3, targets: [],
  };
}

t.test('internet: a path per WAN routed last; a WAN down clears its flows with provoke; back up, it is held, then flows on the metered WAN move back', async (t) => {
  // Two WANs: inet (fixed line) and lte (metered). The example's overlay paths stay as they are.
  const twoWans = config.replace(/wans:\n  - name: inet\n/, 'wans:\n  - name: lte\n    interface: eth2\n    dhcp: true\n    metered: true\n  - name: inet\n')
    .replace('policies:\n', 'policies:\n  - appClass: default\n    mode: best\n    preferWans: [inet]\n')
    .concat('internet:\n  failback: { holdSec: 30, moveMetered: true }\n');
  const clock = new FakeClock();
  const b = await box(t, true, { config: twoWans, clock });
  const lte = 0x1f0000; // internetMark(0): lte is wans[0]
  const inet = 0x1f0001;
  const inetSel = b.fast.selectors.at(-1)!;
  t.same(inetSel.prefixes, ['0.0.0.0/0', '::/0'], 'the internet selector is routed last, for every destination');
  t.same(b.applied.at(-1)?.internet?.own.includes('10.20.0.0/24'), true, 'the LAN is not steered to the internet');
  const paths = async (): Promise<Record<string, { state: string; holdSec?: number }>> =>
    Object.fromEntries((await b.client.request<Array<{ site: string; wan: string; state: string; holdSec?: number }>>('steer.paths')).filter((p) => p.site === 'internet').map((p) => [p.wan, p]));
  t.same(Object.values(await paths()).map((p) => p.state), ['degraded', 'degraded'], 'before probed judged the WANs: unmeasured, degraded, still usable');

  b.probed.publish('wan.metrics', wanMetrics('inet', 'up'));
  b.probed.publish('wan.metrics', wanMetrics('lte', 'up'));
  await until('both WANs up', async () => { const p = await paths(); return p.inet?.state === 'up' && p.lte?.state === 'up' ? p : undefined; });
  const tcp = (srcPort: number, mark: number): CtFlow => ({ family: 4, protocol: 6, src: '10.20.0.5', dst: '198.51.100.7', srcPort, dstPort: 443, mark, packets: 10, bytes: 1000 });
  b.fast.ct.push(tcp(40001, inet), tcp(40002, inet), tcp(40003, lte));

  b.probed.publish('wan.state', { wan: 'inet', from: 'up', to: 'down', cause: 'consecutive-lost', reason: '3 consecutive probes lost', ts: 1 });
  await until('inet cleared', () => (b.fast.clears.length ? true : undefined));
  t.same(b.fast.clears, [[inet, 0xffffffff, true]], `clears: got ${JSON.stringify(b.fast.clears)}; want inet's mark, whole, with provoke`);
  t.same(b.fast.ct.map((f) => f.srcPort), [40003], 'inet\'s flows are gone; the LTE\'s stay');
  t.equal(b.fast.remarks.length, 0, 'nothing re-marked: a NATed flow cannot move');
  const down = (await b.client.request<{ clears: Array<{ reason: string; deleted: number; provoked: number }> }>('steer.internet')).clears;
  t.same(down.map((c) => [c.reason, c.deleted, c.provoked]), [['down', 2, 2]], `steer.internet clears: got ${JSON.stringify(down)}`);

  // Flows fail over to the LTE meanwhile.
  b.fast.ct.push(tcp(40004, lte), tcp(40005, lte));
  b.probed.publish('wan.state', { wan: 'inet', from: 'down', to: 'up', cause: 'consecutive-answered', reason: '10 consecutive probes answered', ts: 2 });
  const held = await until('inet held', async () => { const p = await paths(); return (p.inet?.holdSec ?? 0) > 0 ? p.inet : undefined; });
  t.equal(held.state, 'down', 'during the hold the recovered WAN is down for new flows');
  t.equal(held.holdSec, 30, 'steer.paths shows the hold left');
  clock.advance(29_000);
  t.equal(b.fast.clears.length, 1, 'no clear before the hold ends');
  t.same((await paths()).inet?.holdSec, 1, 'one second of the hold left');
  clock.advance(1_000);
  await until('the LTE flows cleared after the hold', () => (b.fast.clears.length === 2 ? true : undefined));
  t.same(b.fast.clears[1], [lte, 0xffffffff, true], 'the whole LTE path is cleared: every flow on it now belongs on inet');
  t.same(b.fast.ct, [], 'no flow left on the LTE');
  const routed = b.fast.selectors.filter((x) => x.prefixes.includes('0.0.0.0/0'));
  t.equal(routed.length, 1, `selectors routed for the internet: got ${routed.length}; want 1`);
  t.not(routed[0]?.selector, inetSel.selector, 'a fresh internet selector: the cleared flows are decided as new (not stuck to the LTE by stickiness)');
  t.equal((await paths()).inet?.state, 'up', 'after the hold inet takes new flows');
  const fb = (await b.client.request<{ clears: Array<{ reason: string; wan: string; chosen?: number }> }>('steer.internet')).clears.at(-1);
  t.same([fb?.reason, fb?.wan, fb?.chosen], ['failback', 'lte', 3], `failback clear: got ${JSON.stringify(fb)}`);
});
