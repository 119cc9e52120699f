// Benchmark: what domain hints cost the Rust selector per decision. The
// baseline is the same selector code with a policy of five classes and no
// domain class; against it, in the same run:
// - "domain classes, no hint": three domain classes (hints 1-3) first in
//   the policy, packets without a hint (the gate skips them at once);
// - "domain classes, hinted": the same policy, packets with hints 1-3 and
//   some with a hint no class has.
// Each decision is a new flow (as NFQUEUE hands them over), decided through
// selectorDecideBatch (the hint rides in byte 44 of the flow record), in
// rounds that alternate between the three so load from other processes hits
// all alike; the median round is reported as decisions per second and as a
// ratio to the baseline. It never fails on time.
//
//   node dist/test/bench/domain-hint.bench.js [--decisions N] [--rounds R]
import { NativeSelector } from '../../daemons/steerd/native.js';
import type { ClassPolicy, ClassSteering, Flow, SelectorPolicy } from '../../daemons/steerd/types.js';
import { encodeFlows } from '../../daemons/steerd/wire.js';
import { Rng, randomFlows } from '../../daemons/steerd/workload.fixture.js';

const BATCH = 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`domain-hint.bench: --${name}: expected a positive integer; got ${process.argv[i + 1]}`);
  return v;
}

const steering: ClassSteering = { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 30_000 };
const plain: ClassPolicy[] = [
  { name: 'voice', match: { protocols: [17], ports: [[5060, 5061], [10000, 20000]] }, ...steering, preferWans: ['isp-a'] },
  { name: 'video', match: { dscp: [34, 36, 38] }, ...steering },
  { name: 'interactive', match: { protocols: [6], ports: [[22, 22], [3389, 3389]] }, ...steering },
  { name: 'bulk', match: { dst: ['10.30.20.0/24', '2001:db8:30::/48'] }, ...steering },
  { name: 'saas', match: { dst: ['198.51.100.0/24', '203.0.113.0/24'], protocols: [6, 17] }, ...steering },
];
const domains: ClassPolicy[] = [1, 2, 3].map((h) => ({ name: `dom${h}`, domainHint: h, match: h === 3 ? { ports: [[443, 443]] } : {}, ...steering, preferWans: ['isp-b'] }));
const policy = (classes: ClassPolicy[]): SelectorPolicy => ({ classes, default: steering, flows: { max: 65_536, idleTimeoutMs: 300_000 } });
const paths = ['isp-a', 'isp-b', 'lte'].map((wan, i) => ({
  id: 0x1f0000 + i, wan, weight: 1, cost: i === 2 ? 80 : 10, metered: i === 2, state: 'up' as const, lossPct: 0, latencyMs: 10 + 10 * i, jitterMs: 1, mos: 4.4,
}));

/** `n` new flows, each with its own source port; hints as `hint` draws them. */
function workload(n: number, hint: (rng: Rng) => number): Buffer[] {
  const rng = new Rng(7);
  const flows: Flow[] = randomFlows(rng, n).map((f, i) => ({ ...f, srcPort: f.hasPorts ? 1024 + (i % 60_000) : 0, src: f.src, domainHint: hint(rng) }));
  const batches: Buffer[] = [];
  for (let at = 0; at < flows.length; at += BATCH) batches.push(encodeFlows(flows.slice(at, at + BATCH)));
  return batches;
}

const runs = [
  { name: 'baseline: no domain class', policy: policy(plain), batches: (n: number) => workload(n, () => 0) },
  { name: 'domain classes, no hint', policy: policy([...domains, ...plain]), batches: (n: number) => workload(n, () => 0) },
  { name: 'domain classes, hinted', policy: policy([...domains, ...plain]), batches: (n: number) => workload(n, (r) => r.pick([1, 2, 3, 3, 200])) },
];

/** Decisions per second of one round: a fresh selector deciding every batch at one time step each. */
function round(p: SelectorPolicy, batches: readonly Buffer[]): number {
  const s = new NativeSelector(p);
  s.setPaths(paths);
  let decisions = 0;
  const start = process.hrtime.bigint();
  batches.forEach((b, i) => {
    s.decideBatch(b, i);
    decisions += b.length / 48;
  });
  const ns = Number(process.hrtime.bigint() - start);
  return decisions / (ns / 1e9);
}

const decisions = arg('decisions', 200_000);
const rounds = arg('rounds', 7);
const inputs = runs.map((r) => r.batches(decisions));
const rates: number[][] = runs.map(() => []);
for (let k = 0; k < rounds; k++) {
  for (let j = 0; j < runs.length; j++) {
    const i = (j + k) % runs.length;
    rates[i]!.push(round(runs[i]!.policy, inputs[i]!));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(rates[0]!);
console.log(`domain hints: ${decisions} new-flow decisions per round, ${rounds} rounds, median round`);
runs.forEach((r, i) => {
  const m = median(rates[i]!);
  console.log(`  ${r.name.padEnd(28)} ${(m / 1e6).toFixed(3)} M decisions/s   ${(m / base).toFixed(3)} × baseline`);
});
