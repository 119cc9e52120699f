// The policy and path-list checks: the TypeScript (validate.ts) and the Rust
// (native/src/policy.rs) must accept the same documents and refuse the same
// ones with the same message, including random and malformed ones, and the
// Rust loader must never crash on any text.
import t from 'tap';
import { loadNative } from '../lib/native/index.js';
import { checkPaths, checkPolicy, byCodePoint } from './validate.js';
import { Rng, randomPaths, randomPolicy } from './workload.fixture.js';

const native = loadNative();

/** Rust's answer for a policy text: ok, or the problem without the "native: selectorCreate: " prefix. */
function nativePolicy(text: string): { ok: true } | { ok: false; problem: string; code: unknown } {
  try {
    native.selectorCreate(text);
    return { ok: true };
  } catch (err) {
    const e = err as Error & { code?: unknown };
    return { ok: false, problem: e.message.replace(/^native: selectorCreate: /, ''), code: e.code };
  }
}

function nativePaths(text: string): { ok: true } | { ok: false; problem: string; code: unknown } {
  const s = native.selectorCreate(JSON.stringify(randomPolicy(new Rng(1))));
  try {
    native.selectorSetPaths(s, text);
    return { ok: true };
  } catch (err) {
    const e = err as Error & { code?: unknown };
    return { ok: false, problem: e.message.replace(/^native: selectorSetPaths: /, ''), code: e.code };
  }
}

const junk: unknown[] = [
  null, true, false, -1, 0, 1, 1.5, 100.5, 1e9, 4294967296, 65536, -0.5, 'x', '', 'best', 'default', 'Bad', 'isp-a',
  '10.0.0.0/8', '10.0.0.1/8', '::/0', [], {}, [1, 2], [70000, 1], [5, 1], [[1, 2]], { a: 1 }, 'é', 1e21, 1e-7,
];

/** Every (container, key) in a JSON tree, the root's own slot included. */
function slots(root: unknown): Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> {
  const out: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); walk(x); });
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); walk(x); }
    }
  };
  walk(root);
  return out;
}

/** One to three random edits: delete a key, put junk somewhere, add an unknown key, repeat an element. */
function mutate(rng: Rng, doc: unknown): unknown {
  const wrapper = { doc: structuredClone(doc) as unknown };
  for (let n = rng.range(1, 3); n > 0; n--) {
    const all = slots(wrapper);
    const { parent, key } = rng.pick(all);
    const p = parent as Record<string | number, unknown>;
    switch (rng.int(5)) {
      case 0:
        // The root itself is replaced, never removed: a document stays.
        if (parent === wrapper) p[key] = structuredClone(rng.pick(junk));
        else if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete p[key];
        break;
      case 1:
        p[key] = structuredClone(rng.pick(junk));
        break;
      case 2: {
        const target = p[key];
        if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
          (target as Record<string, unknown>)[rng.pick(['extra', 'Name', '__proto__', 'constructor', 'zz', '1', 'ä'])] = 1;
        }
        break;
      }
      case 3:
        if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]));
        break;
      default: {
        const target = p[key];
        if (typeof target === 'number') p[key] = rng.pick([target + 0.5, -target, target * 1000, 0]);
        else if (typeof target === 'string') p[key] = rng.pick([`${target}x`, target.toUpperCase(), target.slice(1)]);
        break;
      }
    }
  }
  return wrapper.doc;
}

/** A class matching by domain hint alone. */
function domainClass(name: string, domainHint: number): Record<string, unknown> {
  return { name, domainHint, match: {}, sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 };
}

t.test('a class with a domain hint may have an empty match: both accept it', async (t) => {
  const doc = { classes: [domainClass('saas', 255)], default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }, flows: { max: 10, idleTimeoutMs: 5000 } };
  const ts = checkPolicy(doc);
  t.ok(ts.ok && ts.value.classes[0]!.domainHint === 255, `TypeScript: got ${JSON.stringify(ts)}; want ok, hint 255`);
  const rs = nativePolicy(JSON.stringify(doc));
  t.ok(rs.ok, `Rust: got ${JSON.stringify(rs)}; want ok`);
});

t.test('policy errors name the key and say what was expected', async (t) => {
  const base = (): Record<string, unknown> => structuredClone(randomPolicy(new Rng(42), { max: 100, idleTimeoutMs: 5000 })) as unknown as Record<string, unknown>;
  const cases: Array<{ name: string; edit: (p: Record<string, unknown>) => unknown; want: string }> = [
    { name: 'not an object', edit: () => [1], want: 'policy: expected an object; got an array of 1 item' },
    { name: 'unknown keys, sorted', edit: (p) => ({ ...p, zeta: 1, alpha: 2 }), want: 'policy: unknown keys "alpha", "zeta"; expected only classes, default, flows' },
    { name: 'missing default', edit: (p) => { delete p.default; return p; }, want: 'default: missing; expected the policy of the default class' },
    { name: 'bad mode', edit: (p) => { (p.default as Record<string, unknown>).mode = 'fastest'; return p; }, want: 'default.mode: expected one of best, weighted, affinity, spray; got "fastest"' },
    { name: 'idle timeout too short', edit: (p) => { p.flows = { max: 10, idleTimeoutMs: 10 }; return p; }, want: 'flows.idleTimeoutMs: expected an integer 1000-86400000; got 10' },
    { name: 'classes not a list', edit: (p) => { p.classes = {}; return p; }, want: 'classes: expected an array of at most 1000 app classes; got an object' },
    { name: 'domain hint 0', edit: (p) => { p.classes = [domainClass('saas', 0)]; return p; }, want: 'classes[0].domainHint: expected an integer 1-255; got 0' },
    { name: 'domain hint 256', edit: (p) => { p.classes = [domainClass('saas', 256)]; return p; }, want: 'classes[0].domainHint: expected an integer 1-255; got 256' },
    { name: 'domain hint twice', edit: (p) => { p.classes = [domainClass('chat', 4), domainClass('saas', 4)]; return p; }, want: 'classes[1].domainHint: expected a domain hint no other class has; got 4, already "chat"\'s' },
    { name: 'empty match without a hint', edit: (p) => { const c = domainClass('saas', 1); delete c.domainHint; p.classes = [c]; return p; }, want: 'classes[0].match: expected at least one of dst, src, protocols, ports, dscp; got none' },
    { name: 'a hint on the default class', edit: (p) => { (p.default as Record<string, unknown>).domainHint = 1; return p; }, want: 'default: unknown key "domainHint"; expected only sla, mode, preferWans, weights, hysteresisPct, holdMs' },
  ];
  for (const c of cases) {
    const doc = c.edit(base());
    const ts = checkPolicy(doc);
    const rs = nativePolicy(JSON.stringify(doc));
    t.same(ts, { ok: false, problem: c.want }, `${c.name}: TypeScript got ${JSON.stringify(ts)}; want problem ${c.want}`);
    t.same(rs, { ok: false, problem: c.want, code: 'TERN_E_NATIVE_ARG' }, `${c.name}: Rust got ${JSON.stringify(rs)}; want problem ${c.want}`);
  }
});

t.test('random and mutated policies: TypeScript and Rust agree on every one', async (t) => {
  const SEED = 20240611;
  const ROUNDS = 20_000;
  const rng = new Rng(SEED);
  let accepted = 0;
  let refused = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const policy = randomPolicy(rng);
    const doc = rng.chance(0.15) ? policy : mutate(rng, policy);
    const text = JSON.stringify(doc);
    // What Rust will read: the document after a JSON round trip.
    const ts = checkPolicy(JSON.parse(text));
    const rs = nativePolicy(text);
    const same = ts.ok ? rs.ok : !rs.ok && rs.problem === ts.problem && rs.code === 'TERN_E_NATIVE_ARG';
    if (!same) {
      t.fail(`seed ${SEED} round ${round}: policy ${text}: TypeScript ${JSON.stringify(ts)}; Rust ${JSON.stringify(rs)}; want the same verdict`);
      return;
    }
    if (ts.ok) accepted++;
    else refused++;
  }
  t.ok(accepted > 1000 && refused > 10_000, `accepted ${accepted}, refused ${refused} of ${ROUNDS}; want both kinds in bulk`);
});

t.test('random and mutated path lists: TypeScript and Rust agree on every one', async (t) => {
  const SEED = 77;
  const ROUNDS = 10_000;
  const rng = new Rng(SEED);
  let refused = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const paths = randomPaths(rng);
    const doc = rng.chance(0.2) ? paths : mutate(rng, paths);
    const text = JSON.stringify(doc);
    const ts = checkPaths(JSON.parse(text));
    const rs = nativePaths(text);
    const same = ts.ok ? rs.ok : !rs.ok && rs.problem === ts.problem;
    if (!same) {
      t.fail(`seed ${SEED} round ${round}: paths ${text}: TypeScript ${JSON.stringify(ts.ok ? 'ok' : ts)}; Rust ${JSON.stringify(rs)}; want the same verdict`);
      return;
    }
    if (!ts.ok) refused++;
  }
  t.ok(refused > 3000, `refused ${refused} of ${ROUNDS}; want > 3000`);
});

t.test('malformed policy text never crashes the Rust loader', async (t) => {
  const SEED = 99;
  const ROUNDS = 20_000;
  const rng = new Rng(SEED);
  const alphabet = '{}[]",:0123456789.-+eE \\/u\ttrue false null abc\u00e9\ud83d\ude00';
  let wrongCode = 0;
  let firstWrong = '';
  for (let round = 0; round < ROUNDS; round++) {
    let text = JSON.stringify(randomPolicy(rng));
    for (let n = rng.range(1, 6); n > 0; n--) {
      const at = rng.int(text.length + 1);
      const op = rng.int(4);
      if (op === 0) text = text.slice(0, at) + text.slice(at + rng.range(1, 20));
      else if (op === 1) text = text.slice(0, at) + rng.pick(Array.from(alphabet)) + text.slice(at);
      else if (op === 2) text = text.slice(0, at);
      else text = text.slice(0, at) + '['.repeat(rng.range(1, 100)) + text.slice(at);
    }
    const rs = nativePolicy(text);
    if (!rs.ok && rs.code !== 'TERN_E_NATIVE_ARG') {
      wrongCode++;
      firstWrong ||= `round ${round}: ${JSON.stringify(text)}: ${JSON.stringify(rs)}`;
    }
    // Where JSON.parse reads the text too, the verdicts must agree (Rust
    // refuses lone surrogates, which JSON.parse lets through).
    let parsed: unknown;
    try { parsed = JSON.parse(text); } catch { continue; }
    const ts = checkPolicy(parsed);
    const agree = ts.ok ? rs.ok : !rs.ok && (rs.problem === ts.problem || rs.problem.includes('lone surrogate'));
    if (!agree) {
      t.fail(`seed ${SEED} round ${round}: ${JSON.stringify(text)}: TypeScript ${JSON.stringify(ts.ok ? 'ok' : ts)}; Rust ${JSON.stringify(rs)}; want the same verdict`);
      return;
    }
  }
  t.equal(wrongCode, 0, `errors without code TERN_E_NATIVE_ARG: got ${wrongCode} (first: ${firstWrong}); want 0`);
  // Nesting deep enough to overflow a recursive parser's stack is refused.
  const deep = nativePolicy('['.repeat(100_000));
  t.match(deep, { ok: false, code: 'TERN_E_NATIVE_ARG', problem: /nested deeper than 32/ }, `100000 '[': got ${JSON.stringify(deep)}`);
});

t.test('byCodePoint orders like Rust strings', async (t) => {
  const cases: Array<[string[], string[]]> = [
    [['b', 'a', 'B'], ['B', 'a', 'b']],
    [['\uffff', '\ud83d\ude00'], ['\uffff', '\ud83d\ude00']],
    [['ab', 'a'], ['a', 'ab']],
  ];
  for (const [input, want] of cases) {
    const got = [...input].sort(byCodePoint);
    t.same(got, want, `sort(${JSON.stringify(input)}): got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
  }
});
