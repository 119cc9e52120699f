// Benchmark: the Rust path selector (batch N-API) against the TypeScript
// reference on the same seeded workload of 1 000 000 flow decisions, for a
// small site (flow table bound 16 384) and a large one (262 144, the default
// bound). Each selector runs in its own child process, so RSS is its own, and
// the rounds alternate between them (each round starting with another) so
// that load from other processes hits all alike; the median round is
// reported, and ratios also paired within rounds. It reports decisions per
// second (time inside decideBatch), the ratio, the mean time of a probe
// round and of the refresh inside it, and RSS; it never fails on time.
//
// Three runs per round: the native selector refreshed as steerd does it now
// (one steerRefresh call: paths, resteer, SLA judgement, marks, sweeps), the
// native selector refreshed as steerd did before issue 16 (a call per step:
// setPaths, resteer, moves read back, every SLA judged again in TypeScript,
// the moves encoded again for ctSetMarks; kept here only as the baseline),
// and the TypeScript reference refreshed the old way. Neither touches the
// kernel's conntrack table: the one-call refresh writes marks into an
// in-memory table (debugSteerRefresh), the per-step one stops at the records
// it would hand to ctSetMarks.
//
//   node dist/test/bench/selector.bench.js [--decisions N] [--rounds R] [--seed S]
//
// The workload is what the fast path will see: NFQUEUE hands over the first
// packet of each flow (later packets follow the conntrack mark in the kernel),
// so three decisions in four are new flows; the rest repeat a recent flow (a
// retransmitted first packet, a spray class). Probe rounds change the path
// metrics every 64 batches, followed by a refresh and an expiry. Before the
// timed part, a warm-up of as many new flows as the table holds fills it (a
// running daemon's table is full or near it, and V8 has compiled the
// reference by then).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../daemons/lib/native/index.js';
import { encodeMoves } from '../../daemons/steerd/fastpath.js';
import { NativeSelector, readMoves } from '../../daemons/steerd/native.js';
import { ReferenceSelector, brokenFor } from '../../daemons/steerd/reference.fixture.js';
import type { Move, PathInput, PathSelector, SelectorPolicy } from '../../daemons/steerd/types.js';
import { DECISION_SIZE, FLOW_RECORD_SIZE } from '../../daemons/steerd/wire.js';
import { Rng, driftPaths } from '../../daemons/steerd/workload.fixture.js';

const BATCH = 1024;
const PROBE_EVERY = 64;

const policyFor = (maxFlows: number): SelectorPolicy => ({
  classes: [
    { name: 'voice', match: { protocols: [17], ports: [[5060, 5061], [10000, 20000]] }, sla: { maxLossPct: 1, maxLatencyMs: 150, maxJitterMs: 30, minMos: 3.8 }, mode: 'best', preferWans: ['isp-a', 'isp-b'], hysteresisPct: 20, holdMs: 30_000 },
    { name: 'video', match: { dscp: [34, 36, 38] }, sla: { maxLossPct: 2, maxLatencyMs: 200 }, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 30_000 },
    { name: 'interactive', match: { protocols: [6], ports: [[22, 22], [443, 443], [3389, 3389]] }, sla: { maxLossPct: 2, maxLatencyMs: 250 }, mode: 'affinity', preferWans: [], hysteresisPct: 20, holdMs: 30_000 },
    { name: 'bulk', match: { dst: ['10.30.20.0/24', '2001:db8:30::/48'] }, sla: {}, mode: 'weighted', preferWans: [], weights: { 'isp-a': 1, 'isp-b': 3 }, hysteresisPct: 20, holdMs: 30_000 },
    { name: 'saas', match: { dst: ['198.51.100.0/24', '203.0.113.0/24', '2001:db8:50::/48'], protocols: [6, 17] }, sla: { maxLossPct: 3, maxLatencyMs: 300 }, mode: 'weighted', preferWans: [], hysteresisPct: 20, holdMs: 30_000 },
  ],
  default: { sla: { maxLossPct: 5 }, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 30_000 },
  flows: { max: maxFlows, idleTimeoutMs: 300_000 },
});

const scenarios = [
  { name: 'small site', maxFlows: 16_384 },
  { name: 'large site', maxFlows: 262_144 },
];

const basePaths: PathInput[] = [
  { id: 1000, wan: 'isp-a', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0.2, latencyMs: 18, jitterMs: 2, mos: 4.3 },
  { id: 1001, wan: 'isp-b', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0.5, latencyMs: 25, jitterMs: 4, mos: 4.2 },
  { id: 1002, wan: 'lte', weight: 1, cost: 50, metered: true, state: 'up', lossPct: 1, latencyMs: 60, jitterMs: 12, mos: 3.9 },
  { id: 1003, wan: 'peer-a', weight: 1, cost: 20, metered: false, state: 'degraded', lossPct: 2, latencyMs: 30, jitterMs: 6, mos: 4 },
];

/** All flow records of a workload, back to back: written byte by byte, it is quick to build 48 MB. */
function workload(seed: number, decisions: number, repeatShare = 0.25): Buffer {
  const rng = new Rng(seed);
  const out = Buffer.alloc(decisions * FLOW_RECORD_SIZE);
  const dst4 = [[10, 30, 20], [198, 51, 100], [203, 0, 113], [8, 8, 8], [1, 1, 1], [93, 184, 216]];
  let made = 0;
  for (let i = 0; i < decisions; i++) {
    const at = i * FLOW_RECORD_SIZE;
    if (made > 1000 && rng.chance(repeatShare)) {
      // A recent flow again.
      const from = (i - 1 - rng.int(Math.min(i, 50_000))) * FLOW_RECORD_SIZE;
      out.copy(out, at, from, from + FLOW_RECORD_SIZE);
      continue;
    }
    made++;
    const v6 = rng.chance(0.2);
    const protocol = rng.pick([6, 6, 6, 17, 17, 1]);
    const hasPorts = protocol !== 1;
    out[at] = v6 ? 6 : 4;
    out[at + 1] = protocol;
    if (hasPorts) {
      out.writeUInt16LE(rng.range(1024, 65535), at + 2);
      out.writeUInt16LE(rng.pick([443, 443, 443, 80, 53, 22, 5060, 12000, 3389, 873, rng.range(1, 65535)]), at + 4);
    }
    if (v6) {
      out.writeUInt32BE(0x20010db8, at + 6);
      out.writeUInt32BE(0x00100000, at + 10);
      out.writeUInt32BE(rng.int(0x10000), at + 18);
      out.writeUInt32BE(0x20010db8, at + 22);
      out.writeUInt32BE(rng.pick([0x00300000, 0x00500000, 0x00600000]), at + 26);
      out.writeUInt32BE(rng.int(0x100000000), at + 34);
    } else {
      out[at + 6] = 10;
      out[at + 7] = 10;
      out[at + 8] = rng.int(4);
      out[at + 9] = rng.range(1, 254);
      const d = rng.pick(dst4);
      out[at + 22] = d[0]!;
      out[at + 23] = d[1]!;
      out[at + 24] = d[2]!;
      out[at + 25] = rng.range(1, 254);
    }
    out[at + 38] = rng.pick([0, 0, 0, 0, 46, 34, 8]);
    out[at + 39] = hasPorts ? 1 : 0;
    out.writeUInt32LE(rng.range(40, 1500), at + 40);
  }
  return out;
}

type Impl = 'native' | 'native-per-step' | 'reference';
const impls: readonly Impl[] = ['native', 'native-per-step', 'reference'];
const label: Record<Impl, string> = {
  native: 'native, one call per refresh (now)',
  'native-per-step': 'native, a call per step (before)',
  reference: 'reference',
};

interface RunResult {
  decisions: number;
  /** Time inside decideBatch. */
  ms: number;
  /** Time in probe rounds: the refresh and expire. */
  probeMs: number;
  /** Time in the refreshes alone. */
  refreshMs: number;
  probeRounds: number;
  rssMiB: number;
  baseRssMiB: number;
  flows: number;
  moves: number;
  evictions: number;
  checksum: number;
  /** Over the refreshes' moves and SLA judgements, so the three can be compared. */
  refreshChecksum: number;
}

/** Failed classes per path mark, as steerd keeps them between refreshes. */
type Broken = Map<number, Set<string>>;
type Refresh = (paths: PathInput[], broken: Broken, now: number) => { moves: Move[]; broken: Broken };

/**
 * steerd's refresh before issue 16, for one site, as the baseline: setPaths,
 * resteer and its moves read back (a crossing each), every SLA judged again
 * in TypeScript, the sweep sets worked out, and the moves encoded again for
 * ctSetMarks (the kernel call itself is left out).
 */
function perStepRefresh(s: PathSelector, policy: SelectorPolicy): Refresh {
  return (paths, before, now) => {
    s.setPaths(paths);
    const moves = s.resteer(now);
    const broken: Broken = new Map();
    const sweeps: Array<{ mark: number; classes: Set<string> }> = [];
    for (const p of paths) {
      const b = brokenFor(policy, p);
      broken.set(p.id, b);
      const was = before.get(p.id) ?? new Set<string>();
      const added = new Set([...b].filter((c) => !was.has(c)));
      if (added.size) sweeps.push({ mark: p.id, classes: b.has('*') ? b : added });
    }
    if (moves.length) encodeMoves(moves);
    return { moves, broken };
  };
}

/** steerd's refresh now, for one site: one call (on an empty in-memory conntrack table here). */
function oneCallRefresh(s: NativeSelector): Refresh {
  const native = loadNative();
  const noConntrack = Buffer.alloc(0);
  return (paths, before, now) => {
    const request = { paths: [paths], broken: [...before].map(([id, classes]) => [id, [...classes]]), sweep: true };
    const r = native.debugSteerRefresh([s.handle], JSON.stringify(request), now, noConntrack);
    const moves = r.moves[0]!.length ? readMoves(r.moves[0]!, s.classNames) : [];
    return { moves, broken: new Map(r.broken.map((b) => [b.id, new Set(b.classes)])) };
  };
}

/** One selector over the whole workload, in this process. */
function run(impl: Impl, maxFlows: number, seed: number, decisions: number): RunResult {
  const policy = policyFor(maxFlows);
  const warmUp = workload(seed + 1, maxFlows, 0);
  const records = workload(seed, decisions);
  const rng = new Rng(seed ^ 0x9e3779b9);
  let paths = basePaths;
  let s: PathSelector;
  let refresh: Refresh;
  if (impl === 'reference') {
    s = new ReferenceSelector(policy);
    refresh = perStepRefresh(s, policy);
  } else {
    const n = new NativeSelector(policy);
    s = n;
    refresh = impl === 'native' ? oneCallRefresh(n) : perStepRefresh(n, policy);
  }
  s.setPaths(paths);
  let broken: Broken = new Map();
  let now = 1_000_000;
  for (let at = 0; at < warmUp.length; at += BATCH * FLOW_RECORD_SIZE) {
    s.decideBatch(warmUp.subarray(at, Math.min(at + BATCH * FLOW_RECORD_SIZE, warmUp.length)), now);
  }
  const warm = s.stats();
  global.gc?.();
  const baseRss = process.memoryUsage().rss;
  let checksum = 0;
  let refreshChecksum = 0;
  let decideNs = 0n;
  let probeNs = 0n;
  let refreshNs = 0n;
  let probeRounds = 0;
  for (let batch = 0, at = 0; at < records.length; batch++, at += BATCH * FLOW_RECORD_SIZE) {
    const slice = records.subarray(at, Math.min(at + BATCH * FLOW_RECORD_SIZE, records.length));
    const t0 = process.hrtime.bigint();
    const out = s.decideBatch(slice, now);
    decideNs += process.hrtime.bigint() - t0;
    // Path ids into the checksum, so the runs can be compared.
    for (let o = 0; o < out.length; o += DECISION_SIZE) checksum = (Math.imul(checksum, 31) + out.readUInt32LE(o)) >>> 0;
    now += 5;
    if (batch % PROBE_EVERY === PROBE_EVERY - 1) {
      paths = driftPaths(rng, paths);
      // Now and then a path breaks the SLA of several classes, so flows move.
      if (rng.chance(0.3)) paths = paths.map((p, i) => (i === rng.int(paths.length) ? { ...p, lossPct: 4 } : p));
      const t1 = process.hrtime.bigint();
      const r = refresh(paths, broken, now);
      const t2 = process.hrtime.bigint();
      s.expire(now);
      probeNs += process.hrtime.bigint() - t1;
      refreshNs += t2 - t1;
      probeRounds++;
      broken = r.broken;
      for (const m of r.moves) refreshChecksum = (Math.imul(refreshChecksum, 31) + m.from * 7 + m.to + m.flow.srcPort) >>> 0;
      for (const [id, classes] of broken) for (const c of classes) refreshChecksum = (Math.imul(refreshChecksum, 31) + id + c.length * 131 + c.charCodeAt(0)) >>> 0;
    }
  }
  const st = s.stats();
  return {
    decisions: st.decisions - warm.decisions,
    ms: Number(decideNs) / 1e6,
    probeMs: Number(probeNs) / 1e6,
    refreshMs: Number(refreshNs) / 1e6,
    probeRounds,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    baseRssMiB: baseRss / 2 ** 20,
    flows: st.flows,
    moves: st.moves - warm.moves,
    evictions: st.evictions - warm.evictions,
    checksum,
    refreshChecksum,
  };
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  const decisions = arg('--decisions', 1_000_000);
  const rounds = arg('--rounds', 3);
  const seed = arg('--seed', 1);
  const child = process.argv.indexOf('--child');
  if (child >= 0) {
    const impl = impls.find((i) => i === process.argv[child + 1]) ?? 'reference';
    process.stdout.write(JSON.stringify(run(impl, arg('--max-flows', 262_144), seed, decisions)));
    return;
  }
  console.log(`selector benchmark: ${decisions} timed decisions per run (about 3 in 4 new flows), batches of ${BATCH}, ${basePaths.length} paths, ${policyFor(0).classes.length + 1} classes, a probe round (refresh + expire) every ${PROBE_EVERY} batches, median of ${rounds} alternating rounds, seed ${seed}`);
  const self = fileURLToPath(import.meta.url);
  for (const scenario of scenarios) {
    const results: Record<Impl, RunResult[]> = { native: [], 'native-per-step': [], reference: [] };
    for (let round = 0; round < rounds; round++) {
      // Each round starts with another run, so no run always goes first.
      for (const impl of impls.map((_, i) => impls[(i + round) % impls.length]!)) {
        const r = spawnSync(process.execPath, [
          '--expose-gc', self, '--child', impl, '--max-flows', String(scenario.maxFlows), '--decisions', String(decisions), '--seed', String(seed),
        ], { encoding: 'utf8', maxBuffer: 1 << 20 });
        if (r.status !== 0) {
          console.log(`${scenario.name}, ${impl}: the run failed (status ${r.status}, signal ${r.signal}): ${r.stderr.trim()}`);
          process.exitCode = 1;
          return;
        }
        results[impl].push(JSON.parse(r.stdout) as RunResult);
      }
    }
    console.log(`\n${scenario.name}: flow table bound ${scenario.maxFlows}, filled by a warm-up of ${scenario.maxFlows} new flows`);
    const rate = {} as Record<Impl, number>;
    const refreshMs = {} as Record<Impl, number>;
    for (const impl of impls) {
      const runs = results[impl];
      rate[impl] = median(runs.map((r) => r.decisions / (r.ms / 1000)));
      refreshMs[impl] = median(runs.map((r) => r.refreshMs / r.probeRounds));
      const last = runs[runs.length - 1]!;
      const spread = runs.map((r) => Math.round(r.decisions / (r.ms / 1000) / 1000)).join(', ');
      const probe = median(runs.map((r) => r.probeMs / r.probeRounds));
      console.log(`  ${label[impl]}:\n    ${Math.round(rate[impl]).toLocaleString('en-US').padStart(11)} decisions/s (rounds, thousands/s: ${spread}); probe round ${probe.toFixed(2)} ms, of it refresh ${refreshMs[impl].toFixed(2)} ms; RSS ${last.rssMiB.toFixed(0)} MiB (${last.baseRssMiB.toFixed(0)} MiB after the warm-up); ${last.flows} flows in the table, ${last.evictions} evicted, ${last.moves} moved`);
    }
    // Ratios within each round, then their median: runs of one round are
    // neighbours in time, so load from other processes cancels out best.
    const paired = (f: (round: number) => number): string => median(Array.from({ length: rounds }, (_, i) => f(i))).toFixed(2);
    const decRate = (impl: Impl, i: number): number => results[impl][i]!.decisions / results[impl][i]!.ms;
    const refreshRound = (impl: Impl, i: number): number => results[impl][i]!.refreshMs / results[impl][i]!.probeRounds;
    console.log(`  ratio native/reference, decisions/s: ${(rate.native / rate.reference).toFixed(1)}x now (one call per refresh), ${(rate['native-per-step'] / rate.reference).toFixed(1)}x before (a call per step); paired by round: ${paired((i) => decRate('native', i) / decRate('reference', i))}x now, ${paired((i) => decRate('native-per-step', i) / decRate('reference', i))}x before`);
    console.log(`  decisions/s, one call per refresh / a call per step (paired by round): ${paired((i) => decRate('native', i) / decRate('native-per-step', i))}`);
    console.log(`  refresh time, one call / a call per step: ${(refreshMs.native / refreshMs['native-per-step']).toFixed(2)} (${refreshMs.native.toFixed(2)} ms / ${refreshMs['native-per-step'].toFixed(2)} ms; reference ${refreshMs.reference.toFixed(2)} ms); paired by round: ${paired((i) => refreshRound('native', i) / refreshRound('native-per-step', i))}`);
    const sums = new Set(impls.flatMap((i) => results[i]).map((r) => r.checksum));
    console.log(`  decisions identical: ${sums.size === 1 ? 'yes' : `NO (checksums ${[...sums].join(', ')})`}`);
    const refreshSums = new Set(impls.flatMap((i) => results[i]).map((r) => r.refreshChecksum));
    console.log(`  refreshes identical (moves and SLA judgements): ${refreshSums.size === 1 ? 'yes' : `NO (checksums ${[...refreshSums].join(', ')})`}`);
  }
}

main();
