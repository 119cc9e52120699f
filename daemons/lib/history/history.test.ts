import t, { type Test } from 'tap';
import { FakeClock } from '../clock/index.js';
import { isTernError } from '../errors.js';
import { Store, coreMigrations } from '../store/index.js';
import { History, type HistoryRetention, type ProbeSample } from './index.js';

const H = 3600;
const D = 86_400;
const START = Date.UTC(2026, 0, 1) / 1000; // unix seconds, on an hour boundary

async function open(t: Test): Promise<Store> {
  const store = await Store.open(':memory:', { migrations: coreMigrations });
  t.teardown(() => store.close());
  return store;
}

/** Sample number i of a subject: sent and lost vary so that averaging percentages would give a wrong answer. */
function sample(subject: string, tSec: number, i: number): ProbeSample {
  const sent = 1 + (i % 5);
  const lost = (i * 7) % (sent + 1);
  const lostFwd = Math.floor(lost / 2);
  const answered = sent - lost;
  const rtt = 20 + (i % 10);
  return {
    subject, t: tSec * 1000, sent, lost, lostFwd, lostRev: lost - lostFwd,
    rttSum: answered * rtt, rttSqSum: answered * rtt * rtt, rttMin: answered ? rtt : null, rttMax: answered ? rtt : null,
    jitterSum: answered * 2, jitterMax: answered ? 2 : null,
  };
}

t.test('the core migrations create the history tables', async (t) => {
  const m = coreMigrations.find((x) => x.name === 'probe history tiers');
  t.ok(m, 'a core migration named "probe history tiers"');
  const store = await open(t);
  t.equal(await store.version(), coreMigrations.length, `got version ${await store.version()}; want ${coreMigrations.length}`);
  for (const table of ['probe_subject', 'probe_raw', 'probe_minute', 'probe_hour', 'probe_rollup']) {
    t.ok(await store.get("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [table]), `table ${table} missing`);
  }
});

t.test('30 days of history compact to the retention, and loss survives the rollups exactly', async (t) => {
  const retention: HistoryRetention = { rawHours: 6, minuteDays: 7, hourDays: 20 };
  const settleSec = 120;
  const store = await open(t);
  const h = new History(store, { retention, settleSec });
  const subjects = ['isp-a/cloud/inet', 'isp-b/home/dsl'];
  const every = 30; // one sample per 30 s: 2 per minute, 120 per hour
  const all: ProbeSample[] = [];
  let i = 0;
  // Record every hour, compact every other hour (the last at now).
  for (let hour = 0; hour < 30 * 24; hour++) {
    const batch: ProbeSample[] = [];
    for (let s = 0; s < H; s += every) {
      for (const subject of subjects) batch.push(sample(subject, START + hour * H + s, i++));
    }
    all.push(...batch);
    await h.record(batch);
    if ((hour + 1) % 2 === 0) await h.compact((START + (hour + 1) * H) * 1000);
  }
  const now = START + 30 * D;
  const count = async (table: string): Promise<number> =>
    (await store.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n;
  // raw: the last rawHours, every sample; minute: minuteDays of minutes, less
  // the 2 still within settleSec of now; hour: hourDays of hours, less the
  // current one (its last minutes are not rolled yet).
  const want = {
    probe_raw: subjects.length * retention.rawHours * (H / every),
    probe_minute: subjects.length * (retention.minuteDays * 1440 - settleSec / 60),
    probe_hour: subjects.length * (retention.hourDays * 24 - 1),
  };
  for (const [table, n] of Object.entries(want)) {
    const got = await count(table);
    t.equal(got, n, `${table}: got ${got} rows; want ${n}`);
  }

  // Loss over the last 10 days, read at hour resolution, against the samples themselves.
  const from = now - 10 * D;
  const inRange = all.filter((s) => s.subject === subjects[0] && s.t >= from * 1000);
  const sent = inRange.reduce((a, s) => a + s.sent, 0);
  const lost = inRange.reduce((a, s) => a + s.lost, 0);
  const lostFwd = inRange.reduce((a, s) => a + s.lostFwd, 0);
  const res = await h.query({ subject: subjects[0]!, from: from * 1000, to: now * 1000, now: now * 1000 });
  t.equal(res.resolution, 'hour', `got ${res.resolution} for 10 days; want hour (minute tier keeps 7 days)`);
  t.equal(res.points.length, 240, `got ${res.points.length} points; want 240 (every hour, the newest from finer tiers)`);
  t.same([res.totals.sent, res.totals.lost, res.totals.lostFwd], [sent, lost, lostFwd], 'totals must equal the samples exactly');
  t.equal(res.totals.lossPct, (100 * lost) / sent, `got ${res.totals.lossPct}%; want ${(100 * lost) / sent}% (sum lost / sum sent)`);
  const meanOfPct = inRange.reduce((a, s) => a + (100 * s.lost) / s.sent, 0) / inRange.length;
  t.not(res.totals.lossPct, meanOfPct, 'the fixture must tell a ratio of sums from a mean of ratios');

  // One hour, read from each tier that holds it, is the same hour.
  const hourStart = now - 3 * H;
  const one = all.filter((s) => s.subject === subjects[0] && s.t >= hourStart * 1000 && s.t < (hourStart + H) * 1000);
  const wantLoss = (100 * one.reduce((a, s) => a + s.lost, 0)) / one.reduce((a, s) => a + s.sent, 0);
  const wantRtt = one.reduce((a, s) => a + s.rttSum, 0) / one.reduce((a, s) => a + s.sent - s.lost, 0);
  for (const resolution of ['raw', 'minute', 'hour'] as const) {
    const q = await h.query({ subject: subjects[0]!, from: hourStart * 1000, to: (hourStart + H) * 1000, resolution });
    const got = q.totals;
    t.ok(Math.abs(got.lossPct! - wantLoss) < 1e-9 && Math.abs(got.rttAvgMs! - wantRtt) < 1e-9,
      `${resolution}: got loss ${got.lossPct}% rtt ${got.rttAvgMs}; want ${wantLoss}% ${wantRtt}`);
    const nPoints = { raw: H / every, minute: 60, hour: 1 }[resolution];
    t.equal(q.points.length, nPoints, `${resolution}: got ${q.points.length} points; want ${nPoints}`);
  }
});

t.test('auto resolution picks the finest tier that holds the range within maxPoints', async (t) => {
  const store = await open(t);
  const h = new History(store, { retention: { rawHours: 24, minuteDays: 31, hourDays: 365 }, maxPoints: 3600 });
  const now = START * 1000 + 400 * D * 1000;
  const cases: Array<{ name: string; span: number; want: string }> = [
    { name: 'last 10 minutes', span: 600, want: 'raw' },
    { name: 'last hour', span: H, want: 'raw' },
    { name: 'last 2 hours', span: 2 * H, want: 'minute' },
    { name: 'last day', span: D, want: 'minute' },
    { name: 'last 2 days', span: 2 * D, want: 'minute' },
    { name: 'last 3 days', span: 3 * D, want: 'hour' },
    { name: 'last 90 days', span: 90 * D, want: 'hour' },
  ];
  for (const c of cases) {
    const got = h.pickResolution(now - c.span * 1000, now, now);
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
  }
  const old = h.pickResolution(now - 40 * D * 1000, now - 39 * D * 1000, now);
  t.equal(old, 'hour', `got ${old} for a day 40 days ago; want hour (the minute tier keeps 31 days)`);
});

t.test('recent minutes are served from raw before they are rolled up', async (t) => {
  const store = await open(t);
  const clock = new FakeClock({ now: START * 1000 });
  const h = new History(store, { retention: { rawHours: 24, minuteDays: 31, hourDays: 365 }, clock, settleSec: 120 });
  const batch = [];
  for (let s = 0; s < 10 * 60; s++) batch.push(sample('p', START + s, s));
  await h.record(batch);
  await h.compact((START + 600) * 1000);
  const q = await h.query({ subject: 'p', from: START * 1000, to: (START + 600) * 1000, resolution: 'minute' });
  t.equal(q.points.length, 10, `got ${q.points.length} minute points; want 10 (8 rolled + 2 from raw)`);
  const rolled = (await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM probe_minute'))!.n;
  t.equal(rolled, 8, `got ${rolled} rolled minutes; want 8`);
  t.equal(q.totals.sent, batch.reduce((a, s) => a + s.sent, 0));
});

t.test('a sample for an already rolled period lands in the rollups once', async (t) => {
  const store = await open(t);
  const h = new History(store, { retention: { rawHours: 24, minuteDays: 31, hourDays: 365 }, settleSec: 0 });
  await h.record([sample('p', START, 1)]);
  await h.compact((START + 2 * H) * 1000);
  const straggler = { ...sample('p', START + 30, 2) };
  await h.record([straggler]);
  await h.compact((START + 3 * H) * 1000);
  for (const resolution of ['raw', 'minute', 'hour'] as const) {
    const q = await h.query({ subject: 'p', from: START * 1000, to: (START + H) * 1000, resolution });
    const want = sample('p', START, 1).sent + straggler.sent;
    t.equal(q.totals.sent, want, `${resolution}: got sent ${q.totals.sent}; want ${want} (straggler counted once)`);
  }
});

t.test('the same second recorded twice is merged, not duplicated', async (t) => {
  const store = await open(t);
  const h = new History(store, { retention: { rawHours: 24, minuteDays: 31, hourDays: 365 } });
  const a = sample('p', START, 1);
  const b = { ...sample('p', START, 3), rttMin: 5, rttMax: 90 };
  await h.record([a]);
  await h.record([b]);
  const q = await h.query({ subject: 'p', from: START * 1000, to: (START + 1) * 1000, resolution: 'raw' });
  t.equal(q.points.length, 1);
  const p = q.points[0]!;
  t.same([p.sent, p.lost, p.rttMinMs, p.rttMaxMs], [a.sent + b.sent, a.lost + b.lost, 5, 90], `got ${JSON.stringify(p)}`);
});

t.test('compaction works in bounded batches and can be resumed', async (t) => {
  const store = await open(t);
  const h = new History(store, { retention: { rawHours: 1, minuteDays: 1, hourDays: 1 }, settleSec: 0 });
  const batch = [];
  for (let s = 0; s < 5 * H; s += 10) batch.push(sample('p', START + s, s));
  await h.record(batch);
  const first = await h.compact((START + 5 * H) * 1000, { maxBatches: 2 });
  t.ok(!first.done && first.batches === 2, `got ${JSON.stringify(first)}; want 2 batches, not done`);
  let rounds = 1;
  for (;;) {
    const r = await h.compact((START + 5 * H) * 1000, { maxBatches: 2 });
    rounds++;
    if (r.done) break;
    if (rounds > 50) break;
  }
  t.ok(rounds > 2 && rounds <= 50, `got ${rounds} rounds; want several, finishing`);
  const raw = (await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM probe_raw'))!.n;
  t.equal(raw, H / 10, `got ${raw} raw rows; want ${H / 10} (the last hour)`);
  const minute = (await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM probe_minute'))!.n;
  t.equal(minute, 5 * 60, `got ${minute} minute rows; want 300`);
});

t.test('bad samples and queries throw TERN_E_PROBE_ARG and write nothing', async (t) => {
  const store = await open(t);
  const h = new History(store, { retention: { rawHours: 24, minuteDays: 31, hourDays: 365 } });
  const good = sample('p', START, 1);
  const cases: Array<{ name: string; fn: () => Promise<unknown> }> = [
    { name: 'lost > sent', fn: () => h.record([good, { ...good, lost: good.sent + 1 }]) },
    { name: 'fwd + rev > lost', fn: () => h.record([{ ...good, lostFwd: good.lost, lostRev: 1 }]) },
    { name: 'negative sent', fn: () => h.record([{ ...good, sent: -1 }]) },
    { name: 'NaN rtt', fn: () => h.record([{ ...good, rttSum: Number.NaN }]) },
    { name: 'min > max', fn: () => h.record([{ ...good, lost: 0, lostFwd: 0, lostRev: 0, rttMin: 9, rttMax: 1 }]) },
    { name: 'rttMin set with nothing answered', fn: () => h.record([{ ...good, lost: good.sent, lostFwd: 0, lostRev: 0, rttMin: 1 }]) },
    { name: 'empty subject', fn: () => h.record([{ ...good, subject: '' }]) },
    { name: 'query from >= to', fn: () => h.query({ subject: 'p', from: 10, to: 10 }) },
    { name: 'query resolution', fn: () => h.query({ subject: 'p', from: 0, to: 10, resolution: 'day' as 'raw' }) },
    { name: 'retention 0', fn: async () => new History(store, { retention: { rawHours: 0, minuteDays: 1, hourDays: 1 } }) },
  ];
  for (const c of cases) {
    let err: unknown;
    try { await c.fn(); } catch (e) { err = e; }
    t.ok(isTernError(err, 'TERN_E_PROBE_ARG'), `${c.name}: got ${String(err)}; want TERN_E_PROBE_ARG`);
  }
  const n = (await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM probe_raw'))!.n;
  t.equal(n, 0, `got ${n} raw rows after rejected batches; want 0`);
  const empty = await h.query({ subject: 'nobody', from: 0, to: 1000 });
  t.same(empty.points, [], 'an unknown subject has no points');
});

t.test('the first record of 600 new subjects makes their ids in a few statements, not two per subject', async (t) => {
  // Regression (probed.bench, 500 paths): two round trips per new subject
  // held the first flush up for a minute on a busy event loop.
  const store = await open(t);
  const statements: string[] = [];
  const counted: typeof store = Object.create(store);
  for (const k of ['run', 'get', 'all'] as const) {
    counted[k] = ((sql: string, params?: unknown[]) => { statements.push(sql); return (store[k] as (s: string, p?: unknown[]) => Promise<unknown>)(sql, params); }) as never;
  }
  counted.transaction = (fn) => store.transaction(() => fn(counted));
  const h = new History(counted, { retention: { rawHours: 6, minuteDays: 7, hourDays: 20 } });
  const subjects = Array.from({ length: 600 }, (_, i) => `wa/s${i}/a`);
  await h.record(subjects.map((s, i) => sample(s, START, i)));
  const subjectStatements = statements.filter((s) => s.includes('probe_subject')).length;
  t.ok(subjectStatements <= 4, `got ${subjectStatements} statements on probe_subject for 600 new subjects; want at most 4 (two per 500)`);
  t.ok(statements.length <= 12, `got ${statements.length} statements in all; want a handful`);
  for (const i of [0, 499, 500, 599]) {
    const q = await h.query({ subject: subjects[i]!, from: START * 1000, to: (START + 1) * 1000, resolution: 'raw' });
    t.equal(q.totals.sent, sample(subjects[i]!, START, i).sent, `${subjects[i]}: got sent ${q.totals.sent}; want its own sample's`);
  }
  t.equal((await h.subjects()).length, 600);
  statements.length = 0;
  await h.record(subjects.map((s, i) => sample(s, START + 1, i)));
  t.equal(statements.filter((s) => s.includes('probe_subject')).length, 0, 'known subjects cost no statement');
});
