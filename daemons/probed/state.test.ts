import t from 'tap';
import { isTernError } from '../lib/errors.js';
import { HealthStateMachine, WanHealth, type StateOptions, type Transition } from './state.js';

const opts: StateOptions = { downAfter: 3, upAfter: 10, degraded: { lossPct: 5, latencyMs: 250, jitterMs: 50 } };
const good = { probes: 50, lossPct: 0, rttMs: 20, jitterMs: 1 };

/** Feed outcomes ('a' answered, 'l' lost); return [probe index (1-based), transition] pairs. */
function run(m: HealthStateMachine, outcomes: string): Array<[number, Transition]> {
  const out: Array<[number, Transition]> = [];
  [...outcomes].forEach((o, i) => {
    const tr = m.probe(o === 'a');
    if (tr) out.push([i + 1, tr]);
  });
  return out;
}

const summary = (trs: Array<[number, Transition]>): string[] => trs.map(([i, tr]) => `#${i} ${tr.from}->${tr.to} ${tr.cause}`);

t.test('up/down by consecutive probe counts', async (t) => {
  const cases: Array<{ name: string; outcomes: string; want: string[] }> = [
    { name: 'first answer brings a new path up', outcomes: 'a', want: ['#1 unknown->up first-answer'] },
    { name: 'blackhole: down on the 3rd lost probe', outcomes: 'aaaaalll', want: ['#1 unknown->up first-answer', '#8 up->down consecutive-lost'] },
    { name: 'never answered: down from unknown', outcomes: 'lll', want: ['#3 unknown->down consecutive-lost'] },
    { name: 'an answer resets the lost run', outcomes: 'allallalla', want: ['#1 unknown->up first-answer'] },
    {
      name: 'back up only after 10 answers in a row',
      outcomes: 'alll' + 'aaaaaaaaa' + 'l' + 'aaaaaaaaaa',
      want: ['#1 unknown->up first-answer', '#4 up->down consecutive-lost', '#24 down->up consecutive-answered'],
    },
    { name: 'more losses while down change nothing', outcomes: 'alllllll', want: ['#1 unknown->up first-answer', '#4 up->down consecutive-lost'] },
  ];
  for (const c of cases) {
    const got = summary(run(new HealthStateMachine('isp-a/cloud/inet', opts), c.outcomes));
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

t.test('a path that never answered is down only after firstAnswerGrace unanswered probes', async (t) => {
  const m = new HealthStateMachine('isp-a/cloud/inet', { ...opts, firstAnswerGrace: 5 });
  const got: string[] = [];
  for (let i = 1; i <= 6; i++) {
    const tr = m.unanswered();
    if (tr) got.push(`#${i} ${tr.from}->${tr.to} ${tr.cause} ${tr.reason}`);
  }
  t.same(got, ['#5 unknown->down no-answer no answer to any of the first 5 probes'], `got ${JSON.stringify(got)}`);
  const up = new HealthStateMachine('isp-a/cloud/inet', opts);
  up.probe(true);
  for (let i = 0; i < 10; i++) t.equal(up.unanswered(), undefined, 'after the first answer an unanswered probe changes nothing');
  t.equal(up.state, 'up');
  t.equal(new HealthStateMachine('x', opts).unanswered() === undefined, true, 'grace defaults to downAfter (3): one is not enough');
});

t.test('transitions say why, with numbers', async (t) => {
  const m = new HealthStateMachine('isp-a/cloud/inet', opts);
  const trs = run(m, 'alll');
  const down = trs[1]![1];
  t.equal(down.reason, '3 consecutive probes lost', `got reason ${down.reason}`);
  t.equal(down.subject, 'isp-a/cloud/inet');
  t.equal(m.consecutiveLost, 3);
});

t.test('degraded has hysteresis: over a threshold to enter, under 80 % of all to leave', async (t) => {
  const steps: Array<{ name: string; m: typeof good; want: string }> = [
    { name: 'clean', m: good, want: 'up' },
    { name: 'loss 6 % > 5 %', m: { ...good, lossPct: 6 }, want: 'degraded' },
    { name: 'loss 4.5 %: under the threshold, above 4 %', m: { ...good, lossPct: 4.5 }, want: 'degraded' },
    { name: 'loss 4 %: cleared', m: { ...good, lossPct: 4 }, want: 'up' },
    { name: 'loss exactly 5 % is not above', m: { ...good, lossPct: 5 }, want: 'up' },
    { name: 'rtt 260 ms', m: { ...good, rttMs: 260 }, want: 'degraded' },
    { name: 'rtt 210 ms (> 200)', m: { ...good, rttMs: 210 }, want: 'degraded' },
    { name: 'rtt 200 ms, jitter 45 ms (> 40)', m: { ...good, rttMs: 200, jitterMs: 45 }, want: 'degraded' },
    { name: 'all under 80 %', m: { ...good, rttMs: 200, jitterMs: 40 }, want: 'up' },
    { name: 'jitter 51 ms', m: { ...good, jitterMs: 51 }, want: 'degraded' },
    { name: 'too few probes to judge', m: { probes: 4, lossPct: 0, rttMs: 1, jitterMs: 0 }, want: 'degraded' },
    { name: 'enough probes, clean', m: { probes: 5, lossPct: 0, rttMs: 1, jitterMs: 0 }, want: 'up' },
  ];
  const m = new HealthStateMachine('p', opts);
  m.probe(true);
  for (const s of steps) {
    m.metrics(s.m);
    t.equal(m.state, s.want, `${s.name}: got ${m.state}; want ${s.want}`);
  }
});

t.test('down masks degraded; a recovered path with a lossy window comes back degraded', async (t) => {
  const m = new HealthStateMachine('p', opts);
  const seen: string[] = [];
  const note = (tr: Transition | undefined): void => { if (tr) seen.push(`${tr.from}->${tr.to}`); };
  note(m.probe(true));
  for (let i = 0; i < 3; i++) note(m.probe(false));
  note(m.metrics({ probes: 50, lossPct: 60, rttMs: 20, jitterMs: 1 }));
  t.equal(m.state, 'down', `got ${m.state} while down with bad metrics; want down`);
  for (let i = 0; i < 10; i++) note(m.probe(true));
  t.equal(m.state, 'degraded', `got ${m.state} after recovery with 60 % loss in the window; want degraded`);
  note(m.metrics(good));
  t.same(seen, ['unknown->up', 'up->down', 'down->degraded', 'degraded->up'], `got ${JSON.stringify(seen)}`);
});

t.test('a WAN is down only when all its targets are', async (t) => {
  const w = new WanHealth('isp-a', ['192.0.2.1', '198.51.100.1'], opts);
  const log: string[] = [];
  const feed = (target: string, answered: boolean, n = 1): void => {
    for (let i = 0; i < n; i++) {
      for (const tr of w.probe(target, answered)) log.push(`${tr.target ?? 'wan'} ${tr.from}->${tr.to}`);
    }
  };
  feed('192.0.2.1', true);
  feed('198.51.100.1', true);
  feed('192.0.2.1', false, 3);
  t.equal(w.state, 'up', `got WAN ${w.state} with one target unreachable; want up`);
  feed('198.51.100.1', false, 3);
  t.equal(w.state, 'down', `got WAN ${w.state} with every target down; want down`);
  feed('198.51.100.1', true, 10);
  t.same(log, [
    '192.0.2.1 unknown->up', 'wan unknown->up',
    '198.51.100.1 unknown->up',
    '192.0.2.1 up->down',
    '198.51.100.1 up->down', 'wan up->down',
    '198.51.100.1 down->up', 'wan down->up',
  ], `got ${JSON.stringify(log)}`);
  t.same(w.targets(), [{ target: '192.0.2.1', state: 'down' }, { target: '198.51.100.1', state: 'up' }]);
});

t.test('a WAN with every target degraded is degraded; one good target makes it up', async (t) => {
  const w = new WanHealth('isp-a', ['a', 'b'], opts);
  w.probe('a', true);
  w.probe('b', true);
  w.metrics('a', { ...good, lossPct: 20 });
  t.equal(w.state, 'up', `got ${w.state}; want up while b is clean`);
  const trs = w.metrics('b', { ...good, rttMs: 400 });
  t.equal(w.state, 'degraded', `got ${w.state}; want degraded`);
  t.equal(trs[trs.length - 1]!.cause, 'targets');
});

t.test('bad options and unknown targets throw TERN_E_PROBE_ARG', async (t) => {
  const cases: Array<{ name: string; fn: () => unknown }> = [
    { name: 'downAfter 0', fn: () => new HealthStateMachine('p', { ...opts, downAfter: 0 }) },
    { name: 'upAfter 1.5', fn: () => new HealthStateMachine('p', { ...opts, upAfter: 1.5 }) },
    { name: 'lossPct 101', fn: () => new HealthStateMachine('p', { ...opts, degraded: { ...opts.degraded, lossPct: 101 } }) },
    { name: 'latency 0', fn: () => new HealthStateMachine('p', { ...opts, degraded: { ...opts.degraded, latencyMs: 0 } }) },
    { name: 'no degraded', fn: () => new HealthStateMachine('p', { downAfter: 3, upAfter: 3 } as unknown as StateOptions) },
    { name: 'empty subject', fn: () => new HealthStateMachine('', opts) },
    { name: 'WAN without targets', fn: () => new WanHealth('isp-a', [], opts) },
    { name: 'duplicate target', fn: () => new WanHealth('isp-a', ['a', 'a'], opts) },
    { name: 'unknown target', fn: () => new WanHealth('isp-a', ['a'], opts).probe('b', true) },
  ];
  for (const c of cases) {
    let err: unknown;
    try { c.fn(); } catch (e) { err = e; }
    t.ok(isTernError(err, 'TERN_E_PROBE_ARG'), `${c.name}: got ${String(err)}; want TERN_E_PROBE_ARG`);
  }
});
