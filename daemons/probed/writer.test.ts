import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { Store, coreMigrations } from '../lib/store/index.js';
import { History } from '../lib/history/index.js';
import { EVENTS_PER_INSERT, recordEvent } from '../lib/events/index.js';
import { HistoryWriter } from './writer.js';

t.test('a flush writes a burst of events in a few statements, every one of them, in order', async (t) => {
  // Regression (probed.bench, 500 paths): one INSERT per event, each a turn
  // of a busy event loop, held history writing up for the whole run.
  const store = await Store.open(':memory:', { migrations: coreMigrations });
  t.teardown(() => store.close());
  const statements: string[] = [];
  const counted: Store = Object.create(store);
  counted.run = (sql, params) => { statements.push(sql); return store.run(sql, params); };
  counted.transaction = (fn) => store.transaction(() => fn(counted));
  const clock = new FakeClock();
  const history = new History(store, { retention: { rawHours: 6, minuteDays: 7, hourDays: 20 }, clock });
  const w = new HistoryWriter({ store: counted, history, clock });
  const n = 2 * EVENTS_PER_INSERT + 50;
  for (let i = 0; i < n; i++) w.event({ ts: 1000 + i, kind: 'path.state', subject: `wa/s${i}/a`, detail: { from: 'unknown', to: 'up', i } });
  await w.flush();
  const inserts = statements.filter((s) => s.startsWith('INSERT INTO events')).length;
  t.equal(inserts, 3, `got ${inserts} INSERTs for ${n} events; want 3 (${EVENTS_PER_INSERT} a statement)`);
  const rows = await store.all<{ ts: number; daemon: string; kind: string; subject: string; detail: string }>('SELECT ts, daemon, kind, subject, detail FROM events ORDER BY id');
  t.equal(rows.length, n, `got ${rows.length} rows; want ${n}`);
  for (const i of [0, EVENTS_PER_INSERT - 1, EVENTS_PER_INSERT, n - 1]) {
    t.same(rows[i], { ts: 1000 + i, daemon: 'probed', kind: 'path.state', subject: `wa/s${i}/a`, detail: JSON.stringify({ from: 'unknown', to: 'up', i }) }, `row ${i}`);
  }
  t.equal(w.getStats().events, n);
});

t.test('compaction also applies the events\' retention: a year, then they go', async (t) => {
  const store = await Store.open(':memory:', { migrations: coreMigrations });
  t.teardown(() => store.close());
  const clock = new FakeClock();
  const history = new History(store, { retention: { rawHours: 6, minuteDays: 7, hourDays: 20 }, clock });
  const w = new HistoryWriter({ store, history, clock });
  const insert = (ts: number): Promise<unknown> => recordEvent(store, { ts, daemon: 'steerd', kind: 'path.move', subject: 'a/b/c', detail: {} });
  await insert(clock.now() - 366 * 86_400_000);
  await insert(clock.now() - 86_400_000);
  await w.compact();
  const left = await store.all<{ ts: number }>('SELECT ts FROM events ORDER BY id');
  t.same(left.map((r) => r.ts), [clock.now() - 86_400_000], `events left: got ${left.length}; want the one of yesterday`);
});
