import t, { type Test } from 'tap';
import { recordEvent } from '../events/index.js';
import { Store } from './index.js';
import { defaultLogRetention, pruneLogs, type LogRetention } from './retention.js';

const day = 86_400_000;
const now = Date.UTC(2026, 5, 1);

async function open(t: Test): Promise<Store> {
  const s = await Store.open(':memory:');
  t.teardown(() => s.close());
  return s;
}

async function event(s: Store, ts: number, kind = 'path.move', subject: string | null = 'a/b/c'): Promise<number> {
  return recordEvent(s, { ts, daemon: 'steerd', kind, subject, detail: {} });
}

async function version(s: Store, ts: number, state: string): Promise<number> {
  return (await s.run('INSERT INTO config_history (ts, hash, text, source, state) VALUES (?, ?, ?, ?, ?)', [ts, 'h', 'version: 1\n', 'ternctl', state])).lastID;
}

const ids = async (s: Store, table: string): Promise<number[]> => (await s.all<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);

const limits = (events: [number, number], configHistory: [number, number]): LogRetention => ({
  events: { maxAgeDays: events[0], maxRows: events[1] },
  configHistory: { maxAgeDays: configHistory[0], maxRows: configHistory[1] },
});

t.test('the default keeps a year of each, with a row cap', async (t) => {
  t.same(defaultLogRetention, { events: { maxAgeDays: 365, maxRows: 250_000 }, configHistory: { maxAgeDays: 365, maxRows: 1_000 } });
});

t.test('events and config versions older than their age go; newer ones stay', async (t) => {
  const s = await open(t);
  const old = [await event(s, now - 400 * day), await event(s, now - 366 * day)];
  const kept = [await event(s, now - 364 * day), await event(s, now - day), await event(s, now)];
  const oldVersions = [await version(s, now - 500 * day, 'rolled-back'), await version(s, now - 400 * day, 'confirmed')];
  const keptVersions = [await version(s, now - 10 * day, 'confirmed')];
  const r = await pruneLogs(s, now);
  t.same(r.deleted, { events: old.length, configHistory: oldVersions.length }, `deleted: got ${JSON.stringify(r.deleted)}`);
  t.equal(r.done, true);
  t.same(await ids(s, 'events'), kept, 'events of the last 365 days stay');
  t.same(await ids(s, 'config_history'), keptVersions, 'versions of the last 365 days stay');
});

t.test('beyond the row cap, the oldest rows go whatever their age', async (t) => {
  const s = await open(t);
  const all: number[] = [];
  for (let i = 0; i < 25; i++) all.push(await event(s, now - (25 - i) * 1000));
  const versions: number[] = [];
  for (let i = 0; i < 8; i++) versions.push(await version(s, now - (8 - i) * 1000, i % 2 ? 'confirmed' : 'rolled-back'));
  const r = await pruneLogs(s, now, { retention: limits([365, 10], [365, 3]) });
  t.same(r.deleted, { events: 15, configHistory: 5 });
  t.same(await ids(s, 'events'), all.slice(-10), 'the 10 newest events stay');
  t.same(await ids(s, 'config_history'), versions.slice(-3), 'the 3 newest versions stay');
});

t.test('what a pending apply needs is never deleted: the pending version, the one it rolls back to, its config.apply event', async (t) => {
  const s = await open(t);
  const old = now - 400 * day;
  await version(s, old, 'rolled-back');
  const previous = await version(s, old, 'confirmed');
  const pending = await version(s, old, 'pending');
  const applyEvent = await event(s, old, 'config.apply', `#${pending}`);
  await event(s, old, 'config.apply', `#${previous}`);
  await event(s, old);
  await event(s, old, 'config.apply', null);
  const r = await pruneLogs(s, now, { retention: limits([1, 1], [1, 1]) });
  t.same(await ids(s, 'config_history'), [previous, pending], `versions kept: got ${JSON.stringify(await ids(s, 'config_history'))}; want the confirmed one and the pending one`);
  t.same(await ids(s, 'events'), [applyEvent], 'only the pending apply\'s event stays');
  t.same(r.deleted, { events: 3, configHistory: 1 }, `deleted: ${JSON.stringify(r.deleted)}`);
});

t.test('with no confirmed version at all, old versions still go', async (t) => {
  // Regression: MAX(id) of no rows is NULL, and NOT (x OR NULL) kept every row.
  const s = await open(t);
  await version(s, now - 400 * day, 'rolled-back');
  const fresh = await version(s, now, 'rolled-back');
  const r = await pruneLogs(s, now);
  t.equal(r.deleted.configHistory, 1);
  t.same(await ids(s, 'config_history'), [fresh]);
});

t.test('bounded batches: a run stops after maxBatches and the next one goes on', async (t) => {
  const s = await open(t);
  for (let i = 0; i < 10; i++) await event(s, now - 400 * day + i);
  const first = await pruneLogs(s, now, { batchRows: 3, maxBatches: 2 });
  t.same([first.deleted.events, first.batches, first.done], [6, 2, false], `first run: ${JSON.stringify(first)}`);
  const second = await pruneLogs(s, now, { batchRows: 3, maxBatches: 2 });
  t.same([second.deleted.events, second.batches, second.done], [4, 2, true], `second run: ${JSON.stringify(second)}`);
  t.same(await ids(s, 'events'), []);
  const idle = await pruneLogs(s, now, { batchRows: 3, maxBatches: 2 });
  t.same([idle.batches, idle.done], [0, true], 'nothing to delete: no transaction taken');
});

t.test('bad arguments are refused with TERN_E_STORE_QUERY', async (t) => {
  const s = await open(t);
  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['now NaN', () => pruneLogs(s, Number.NaN), /now: got null; want wall-clock ms/],
    ['age 0', () => pruneLogs(s, now, { retention: limits([0, 1], [1, 1]) }), /events\.maxAgeDays: got 0; want an integer >= 1/],
    ['rows 1.5', () => pruneLogs(s, now, { retention: limits([1, 1], [1, 1.5]) }), /configHistory\.maxRows: got 1\.5/],
    ['maxBatches 0', () => pruneLogs(s, now, { maxBatches: 0 }), /maxBatches: got 0/],
  ];
  for (const [name, fn, message] of cases) await t.rejects(fn(), { code: 'TERN_E_STORE_QUERY', message }, name);
});
