// The Rust selector and the TypeScript reference must answer alike: 100 000
// seeded random flow decisions, interleaved with metric changes, path set
// changes, time steps (also backwards), resteers, expiries and invalid input,
// with identical decisions, moves, counters and refusals required. The first
// mismatch names the seed and step so it can be replayed
// (TERN_DIFF_SEED=<seed> runs that seed alone).
import t from 'tap';
import { NativeSelector } from './native.js';
import { ReferenceSelector } from './reference.fixture.js';
import type { PathInput, SelectorStats } from './types.js';
import { FLOW_RECORD_SIZE, DECISION_SIZE, encodeFlows, readDecision, readTuple } from './wire.js';
import { Rng, driftPaths, nudgePaths, randomFlows, randomPaths, randomPolicy } from './workload.fixture.js';

const DECISIONS_PER_SEED = 10_000;
const seeds = process.env.TERN_DIFF_SEED ? [Number(process.env.TERN_DIFF_SEED)] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/** What a call did: its answer, or the problem it was refused with (prefix stripped). */
function outcome<T>(call: () => T): { value: T } | { refused: string } {
  try {
    return { value: call() };
  } catch (err) {
    // "steerd: reference: setPaths: <problem>" / "native: selectorSetPaths: <problem>"
    const message = (err as Error).message.replace(/^steerd: reference: \w+: |^native: \w+: /, '');
    return { refused: message };
  }
}

const show = (v: unknown): string => JSON.stringify(v);

/** Bad path lists both selectors must refuse with the same problem. */
function invalidPaths(rng: Rng, paths: readonly PathInput[]): unknown {
  if (paths.length === 0) return [{ id: 1, wan: 'isp-a' }];
  const copy = paths.map((p) => ({ ...p })) as Array<Record<string, unknown>>;
  const victim = copy[rng.int(copy.length)]!;
  switch (rng.int(6)) {
    case 0: victim.state = 'sideways'; break;
    case 1: victim.lossPct = 101; break;
    case 2: delete victim.mos; break;
    case 3: victim.rtt = 5; break;
    case 4: copy.push({ ...copy[0] }); break;
    default: victim.id = 0; break;
  }
  return copy;
}

interface Totals {
  decisions: number;
  moves: number;
  resteerMoves: number;
  evictions: number;
  expirations: number;
  refusals: number;
}

/** Runs one seed; answers the first mismatch, or undefined. */
function runSeed(seed: number, totals: Totals): string | undefined {
  const rng = new Rng(seed);
  const policy = randomPolicy(rng);
  const ref = new ReferenceSelector(policy);
  const nat = new NativeSelector(policy);
  const pool = randomFlows(rng, rng.range(50, 4000));
  let paths = randomPaths(rng);
  ref.setPaths(paths);
  nat.setPaths(paths);
  let now = rng.range(0, 1_000_000);
  let decided = 0;
  for (let step = 0; decided < DECISIONS_PER_SEED; step++) {
    const at = `seed ${seed} step ${step} t=${now}`;
    // Mostly forward, sometimes not at all, sometimes back (both keep the latest).
    now = Math.max(0, now + (rng.chance(0.02) ? 40_000 : rng.pick([0, 0, 1, 10, 100, 250, 1000, 1000, 5000, -500])));
    const r = rng.next();
    if (r < 0.6) {
      const batch = [];
      for (let n = rng.range(1, 64); n > 0; n--) batch.push(rng.chance(0.05) ? randomFlows(rng, 1)[0]! : rng.pick(pool));
      const records = encodeFlows(batch);
      const a = ref.decideBatch(records, now);
      const b = nat.decideBatch(records, now);
      if (!a.equals(b)) {
        for (let i = 0; i < batch.length; i++) {
          const x = readDecision(a, i * DECISION_SIZE);
          const y = readDecision(b, i * DECISION_SIZE);
          if (x.pathId !== y.pathId || x.classIndex !== y.classIndex || x.moved !== y.moved) {
            return `${at}: decideBatch record ${i} of flow ${show(readTuple(records, i * FLOW_RECORD_SIZE))}: reference ${show(x)}; native ${show(y)}`;
          }
        }
        return `${at}: decideBatch answers differ in length: reference ${a.length}; native ${b.length}`;
      }
      decided += batch.length;
    } else if (r < 0.7) {
      const flow = rng.pick(pool);
      const a = ref.decide(flow, now);
      const b = nat.decide(flow, now);
      if (show(a) !== show(b)) return `${at}: decide ${show(readTuple(encodeFlows([flow])))}: reference ${show(a)}; native ${show(b)}`;
      decided++;
    } else if (r < 0.8) {
      paths = rng.chance(0.5) ? nudgePaths(rng, paths) : driftPaths(rng, paths);
      ref.setPaths(paths);
      nat.setPaths(paths);
    } else if (r < 0.84) {
      // A link flaps: one path goes down or comes back clean, or every path
      // goes down at once.
      const all = rng.chance(0.15);
      const victim = rng.int(paths.length);
      paths = paths.map((p, i) => {
        if (all) return { ...p, state: 'down' as const };
        if (i !== victim) return p;
        return p.state === 'down' ? { ...p, state: 'up' as const, lossPct: 0, latencyMs: 10, jitterMs: 1, mos: 4.4 } : { ...p, state: 'down' as const };
      });
      ref.setPaths(paths);
      nat.setPaths(paths);
    } else if (r < 0.86) {
      paths = randomPaths(rng);
      ref.setPaths(paths);
      nat.setPaths(paths);
    } else if (r < 0.9) {
      const a = ref.resteer(now);
      const b = nat.resteer(now);
      if (show(a) !== show(b)) return `${at}: resteer: reference ${show(a)}; native ${show(b)}`;
      totals.resteerMoves += a.length;
    } else if (r < 0.93) {
      const a = ref.expire(now);
      const b = nat.expire(now);
      if (a !== b) return `${at}: expire: reference ${a}; native ${b}`;
    } else if (r < 0.96) {
      const bad = invalidPaths(rng, paths);
      const a = outcome(() => ref.setPaths(bad as PathInput[]));
      const b = outcome(() => nat.setPaths(bad as PathInput[]));
      if (!('refused' in a) || show(a) !== show(b)) return `${at}: setPaths(${show(bad)}): reference ${show(a)}; native ${show(b)}`;
      totals.refusals++;
    } else {
      const a = ref.stats();
      const b = nat.stats();
      if (show(a) !== show(b)) return `${at}: stats: reference ${show(a)}; native ${show(b)}`;
    }
  }
  const a: SelectorStats = ref.stats();
  const b = nat.stats();
  if (show(a) !== show(b)) return `seed ${seed} end: stats: reference ${show(a)}; native ${show(b)}`;
  totals.decisions += a.decisions;
  totals.moves += a.moves;
  totals.evictions += a.evictions;
  totals.expirations += a.expirations;
  return undefined;
}

t.test('native and reference selectors decide alike on random workloads', async (t) => {
  const totals: Totals = { decisions: 0, moves: 0, resteerMoves: 0, evictions: 0, expirations: 0, refusals: 0 };
  for (const seed of seeds) {
    const mismatch = runSeed(seed, totals);
    if (mismatch) {
      t.fail(`first mismatch: ${mismatch}; want identical answers (replay: TERN_DIFF_SEED=${seed})`);
      return;
    }
  }
  const want = DECISIONS_PER_SEED * seeds.length;
  t.ok(totals.decisions >= want, `decisions compared: got ${totals.decisions}; want >= ${want}`);
  // A workload that never moves, evicts or expires a flow would prove little.
  for (const key of ['moves', 'resteerMoves', 'evictions', 'expirations', 'refusals'] as const) {
    t.ok(totals[key] > 0, `${key} across all seeds: got ${totals[key]}; want > 0`);
  }
  t.comment(`compared ${totals.decisions} decisions: ${totals.moves} moves (${totals.resteerMoves} by resteer), ${totals.evictions} evictions, ${totals.expirations} expirations, ${totals.refusals} refused path lists`);
});
