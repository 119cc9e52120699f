// steerRefresh (native/src/steer.rs), the one call a steerd refresh makes,
// against referenceRefresh (the same steps in TypeScript, as steerd took
// them before issue 16): seeded random policies, sites, flows and conntrack
// tables, with identical moves, mark reports, SLA judgements, sweeps and
// conntrack marks required. debugSteerRefresh runs the native refresh on an
// in-memory conntrack table, so the kernel's is never touched.
import t from 'tap';
import { loadNative } from '../lib/native/index.js';
import { NativeFastPath, decodeCtFlows, type CtFlow, type RefreshReport, type RefreshRequest } from './fastpath.js';
import { NativeSelector, readMoves } from './native.js';
import { MemoryConntrack, ReferenceSelector, encodeCtFlows, referenceRefresh } from './reference.fixture.js';
import type { Flow, FlowTuple, PathInput, SelectorPolicy } from './types.js';
import { DECISION_SIZE, encodeFlows, makeFlow, readDecision, readTuple } from './wire.js';
import { Rng, driftPaths, nudgePaths, randomFlows, randomPaths, randomPolicy } from './workload.fixture.js';

const native = loadNative();
const show = (v: unknown): string => JSON.stringify(v);

/** The native refresh of `selectors` on the conntrack table `ct`; answers the report and the table afterwards. */
function nativeRefresh(selectors: readonly NativeSelector[], request: RefreshRequest, now: number, ct: readonly CtFlow[]): { report: RefreshReport; ct: CtFlow[] } {
  const r = native.debugSteerRefresh(selectors.map((s) => s.handle), JSON.stringify(request), now, encodeCtFlows(ct));
  const moves = r.moves.flatMap((records, i) => readMoves(records, selectors[i]!.classNames));
  return { report: { moves, marks: r.marks, broken: r.broken, sweeps: r.sweeps, error: r.error }, ct: decodeCtFlows(r.conntrack) };
}

t.test('the native refresh judges SLAs as steerd did: which classes a path fails', async (t) => {
  const policy: SelectorPolicy = {
    classes: [{ name: 'voice', match: { protocols: [17], ports: [[5000, 5099]] }, sla: { maxLossPct: 1, maxLatencyMs: 150 }, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }],
    default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 },
    flows: { max: 100, idleTimeoutMs: 60_000 },
  };
  const p: PathInput = { id: 0x100010, wan: 'isp-a', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 20, jitterMs: 1, mos: 4.3 };
  const cases: Array<[string, PathInput, string[]]> = [
    ['a clean path fails none', p, []],
    ['2 % loss fails voice only', { ...p, lossPct: 2 }, ['voice']],
    ['a down path fails every class', { ...p, state: 'down' }, ['*']],
  ];
  for (const [name, path, want] of cases) {
    const { report } = nativeRefresh([new NativeSelector(policy)], { paths: [[path]], broken: [], sweep: false }, 0, []);
    t.same(report.broken, [{ id: p.id, classes: want }], `${name}: got ${show(report.broken)}; want ${show([{ id: p.id, classes: want }])}`);
  }
});

t.test('NativeFastPath.refresh: one call, moves read with class names, marks written to the kernel\'s conntrack', { skip: process.getuid?.() !== 0 && 'needs root for ctnetlink' }, async (t) => {
  const fast = new NativeFastPath(native);
  const policy: SelectorPolicy = {
    classes: [{ name: 'web', match: { protocols: [6], ports: [[443, 443]] }, sla: { maxLossPct: 1 }, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }],
    default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 },
    flows: { max: 100, idleTimeoutMs: 60_000 },
  };
  const sel = fast.createSelector(policy);
  const path = (id: number, lossPct: number): PathInput => ({ id, wan: `isp-${id}`, weight: 1, cost: 10, metered: false, state: 'up', lossPct, latencyMs: id, jitterMs: 0, mos: 4.4 });
  const first = fast.refresh([sel], { paths: [[path(1, 0), path(2, 0)]], broken: [], sweep: false });
  t.same(first, { moves: [], marks: { updated: 0, missing: 0, failed: 0, skipped: 0 }, broken: [{ id: 1, classes: [] }, { id: 2, classes: [] }], sweeps: [], error: null }, `clean paths: got ${show(first)}`);
  // A TEST-NET flow conntrack does not hold: the move is made, its mark update finds nothing.
  const web = makeFlow({ src: '192.0.2.1', dst: '198.51.100.1', protocol: 6, srcPort: 40000, dstPort: 443 });
  t.equal(sel.decide(web, fast.now()).pathId, 1, 'the web flow takes path 1');
  const second = fast.refresh([sel], { paths: [[path(1, 5), path(2, 0)]], broken: first.broken.map((b) => [b.id, b.classes]), sweep: false });
  t.same(second.moves, [{ flow: { family: 4, protocol: 6, src: '192.0.2.1', dst: '198.51.100.1', srcPort: 40000, dstPort: 443 }, class: 'web', from: 1, to: 2 }], `moves: got ${show(second.moves)}`);
  t.same([second.marks, second.broken, second.sweeps, second.error], [{ updated: 0, missing: 1, failed: 0, skipped: 0 }, [{ id: 1, classes: ['web'] }, { id: 2, classes: [] }], [], null], `the rest: got ${show(second)}`);
  t.throws(() => fast.refresh([new ReferenceSelector(policy)], { paths: [[]], broken: [], sweep: false }), { code: 'TERN_E_STEER_INPUT' }, 'a selector that is not the fast path\'s is refused');
});

t.test('steerRefresh refuses a bad request whole, naming the key', async (t) => {
  const policy = randomPolicy(new Rng(1));
  const s = new NativeSelector(policy);
  const cases: Array<[string, string]> = [
    ['{"paths":[],"broken":[],"sweep":true}', 'paths: expected an array of 1 path lists, one per selector; got an array'],
    ['{"paths":[[{"id":1}]],"broken":[],"sweep":true}', 'paths[0][0].wan: missing'],
    ['{"paths":[[]],"broken":[[1,"voice"]],"sweep":true}', 'broken[0][1]: expected an array of class names; got "voice"'],
    ['{"paths":[[]],"broken":[],"sweep":"yes"}', 'sweep: expected true or false; got "yes"'],
  ];
  for (const [request, want] of cases) {
    let got = 'accepted';
    try {
      native.steerRefresh([s.handle], request);
    } catch (err) {
      got = `${(err as { code?: string }).code}: ${(err as Error).message}`;
    }
    t.ok(got.startsWith('TERN_E_NATIVE_ARG: native: steerRefresh: '), `${request}: got ${got}; want TERN_E_NATIVE_ARG`);
    t.ok(got.includes(want.split(';')[0]!), `${request}: got ${got}; want it to name ${JSON.stringify(want)}`);
  }
  t.throws(() => native.steerRefresh([{} as never], '{}'), { code: 'TERN_E_NATIVE_ARG', message: /selectors\[0\]: expected a selector from selectorCreate/ }, 'a non-selector in the array');
});

const SEEDS = process.env.TERN_DIFF_SEED ? [Number(process.env.TERN_DIFF_SEED)] : [1, 2, 3, 4, 5, 6, 7, 8];
const STEPS = 400;

interface Totals { refreshes: number; moves: number; sweeps: number; classSweeps: number; swept: number; judged: number }

/** A site's paths with ids of its own (marks are unique across sites). */
function sitePaths(rng: Rng, site: number): PathInput[] {
  return randomPaths(rng).map((p) => ({ ...p, id: p.id > 1000 ? p.id - 10 * site : p.id + 100 * site }));
}

function runSeed(seed: number, totals: Totals): string | undefined {
  const rng = new Rng(seed);
  const policy = randomPolicy(rng);
  const siteCount = rng.range(1, 3);
  const nat = Array.from({ length: siteCount }, () => new NativeSelector(policy));
  const ref = Array.from({ length: siteCount }, () => new ReferenceSelector(policy));
  let paths = Array.from({ length: siteCount }, (_, i) => sitePaths(rng, i));
  nat.forEach((s, i) => s.setPaths(paths[i]!));
  ref.forEach((s, i) => s.setPaths(paths[i]!));
  const pool = randomFlows(rng, rng.range(20, 400));
  let natCt: CtFlow[] = [];
  const refCt = new MemoryConntrack();
  let broken: Array<[number, string[]]> = [];
  let now = rng.range(0, 1_000_000);
  const addCt = (f: CtFlow): void => {
    if (natCt.some((c) => c.family === f.family && c.protocol === f.protocol && c.src === f.src && c.dst === f.dst && c.srcPort === f.srcPort && c.dstPort === f.dstPort)) return;
    natCt.push({ ...f });
    refCt.flowsHeld.push({ ...f });
  };
  for (let step = 0; step < STEPS; step++) {
    const at = `seed ${seed} step ${step}`;
    now += rng.pick([0, 10, 100, 1000, 5000]);
    const r = rng.next();
    if (r < 0.45) {
      // New flows on one site: the fast path decides them and conntrack keeps their marks.
      const site = rng.int(siteCount);
      const batch = Array.from({ length: rng.range(1, 32) }, () => rng.pick(pool));
      const records = encodeFlows(batch);
      const a = ref[site]!.decideBatch(records, now);
      const b = nat[site]!.decideBatch(records, now);
      if (!a.equals(b)) return `${at}: decideBatch differs (the selector differential test should say why)`;
      batch.forEach((f, i) => {
        const pathId = readDecision(b, i * DECISION_SIZE).pathId;
        if (pathId) addCt({ ...ctTuple(f), mark: pathId, packets: 1, bytes: 100 });
      });
    } else if (r < 0.55) {
      // A flow steered before a restart: conntrack has it, no selector knows it.
      const all = paths.flat();
      if (all.length) addCt({ ...ctTuple(rng.pick(pool)), mark: rng.pick(all).id, packets: 1, bytes: 1 });
    } else {
      paths = paths.map((ps, i) => {
        const k = rng.next();
        if (k < 0.4) return nudgePaths(rng, ps);
        if (k < 0.7) return driftPaths(rng, ps);
        if (k < 0.9) return ps.map((p) => (rng.chance(0.3) ? { ...p, state: p.state === 'down' ? 'up' as const : 'down' as const } : p));
        return sitePaths(rng, i);
      });
      const request: RefreshRequest = { paths, broken, sweep: rng.chance(0.9) };
      const want = referenceRefresh(ref.map((selector) => ({ selector, policy })), request, now, refCt);
      const got = nativeRefresh(nat, request, now, natCt);
      if (show(got.report) !== show(want)) return `${at}: refresh ${show(request)}: reference ${show(want)}; native ${show(got.report)}`;
      const marks = (ct: readonly CtFlow[]): string => show(ct.map((c) => c.mark));
      if (marks(got.ct) !== marks(refCt.flowsHeld)) return `${at}: conntrack marks after the refresh: reference ${marks(refCt.flowsHeld)}; native ${marks(got.ct)}`;
      natCt = got.ct;
      broken = want.broken.map((b) => [b.id, b.classes]);
      totals.refreshes++;
      totals.moves += want.moves.length;
      totals.judged += want.broken.length;
      for (const s of want.sweeps) {
        if (!s.matched) continue;
        totals.sweeps++;
        totals.swept += s.updated;
        if (!s.failed.includes('*')) totals.classSweeps++;
      }
    }
  }
  return undefined;
}

/** A pool flow as conntrack lists it. */
const ctTuple = (f: Flow): FlowTuple => readTuple(encodeFlows([f]), 0);

t.test('steerRefresh and the TypeScript refresh answer alike on random workloads', async (t) => {
  const totals: Totals = { refreshes: 0, moves: 0, sweeps: 0, classSweeps: 0, swept: 0, judged: 0 };
  for (const seed of SEEDS) {
    const mismatch = runSeed(seed, totals);
    if (mismatch) {
      t.fail(`first mismatch: ${mismatch}; want identical answers (replay: TERN_DIFF_SEED=${seed})`);
      return;
    }
  }
  // A workload that never moves or sweeps a flow would prove little.
  for (const key of ['refreshes', 'moves', 'sweeps', 'classSweeps', 'swept', 'judged'] as const) {
    t.ok(totals[key] > 0, `${key} across all seeds: got ${totals[key]}; want > 0`);
  }
  t.comment(`compared ${totals.refreshes} refreshes: ${totals.judged} path judgements, ${totals.moves} moves, ${totals.sweeps} sweeps (${totals.classSweeps} by class) that handed back ${totals.swept} flows`);
});
