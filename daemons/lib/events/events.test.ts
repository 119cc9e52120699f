import t, { type Test } from 'tap';
import { isTernError } from '../errors.js';
import { Store, coreMigrations } from '../store/index.js';
import { EVENTS_PER_INSERT, latestEvent, readEvents, recordEvent, recordEvents, updateEventDetail, type EventRecord } from './index.js';

async function open(t: Test): Promise<Store> {
  const store = await Store.open(':memory:', { migrations: coreMigrations });
  t.teardown(() => store.close());
  return store;
}

t.test('events read back as recorded, oldest first, detail parsed', async (t) => {
  const store = await open(t);
  const n = EVENTS_PER_INSERT + 3;
  const burst: EventRecord[] = Array.from({ length: n }, (_, i) => ({ ts: 2000 + i + 0.4, daemon: 'probed', kind: 'path.state', subject: `wa/s${i}/a`, detail: { i } }));
  await recordEvents(store, burst);
  const id = await recordEvent(store, { ts: 1000, daemon: 'paird', kind: 'pair.role', subject: null, detail: { to: 'master' } });
  const rows = await readEvents(store, 0, 1e9, 10_000);
  t.equal(rows.length, n + 1, `got ${rows.length} rows; want ${n + 1}`);
  t.same(rows[0], { id, ts: 1000, daemon: 'paird', kind: 'pair.role', subject: null, detail: { to: 'master' } }, 'the oldest first, ts as stored');
  t.same(rows[n], { id: n, ts: 2000 + n - 1, daemon: 'probed', kind: 'path.state', subject: `wa/s${n - 1}/a`, detail: { i: n - 1 } }, 'ts rounded to a whole ms');
  t.same((await readEvents(store, 2000, 2002)).map((r) => r.subject), ['wa/s0/a', 'wa/s1/a'], '[from, to)');
});

t.test('latestEvent and updateEventDetail find and change the newest event of a kind about a subject', async (t) => {
  const store = await open(t);
  await recordEvent(store, { ts: 1, daemon: 'ternctl', kind: 'config.apply', subject: '#1', detail: { n: 1 } });
  const second = await recordEvent(store, { ts: 2, daemon: 'ternctl', kind: 'config.apply', subject: '#1', detail: { n: 2 } });
  await recordEvent(store, { ts: 3, daemon: 'ternctl', kind: 'config.confirm', subject: '#1', detail: {} });
  const got = await latestEvent(store, 'config.apply', '#1');
  t.equal(got?.id, second, `got row ${got?.id}; want ${second}`);
  await updateEventDetail(store, second, { n: 2, timer: 'x' });
  t.same((await latestEvent(store, 'config.apply', '#1'))?.detail, { n: 2, timer: 'x' });
  t.equal(await latestEvent(store, 'config.apply', '#2'), undefined, 'no event: undefined');
});

t.test('a detail that is not JSON reads back as its text', async (t) => {
  const store = await open(t);
  await store.run("INSERT INTO events (ts, daemon, kind, subject, detail) VALUES (5, 'x', 'k', 's', 'not json')");
  const [row] = await readEvents(store, 0, 10);
  t.equal(row?.detail, 'not json', `got ${JSON.stringify(row?.detail)}; want the text`);
});

t.test('a malformed event is refused and nothing of the batch is written', async (t) => {
  const store = await open(t);
  const good: EventRecord = { ts: 1, daemon: 'steerd', kind: 'path.move', subject: 'a/b/c', detail: {} };
  const cases: Array<{ name: string; e: unknown; want: RegExp }> = [
    { name: 'ts not a number', e: { ...good, ts: '1' }, want: /ts is 1; want wall-clock ms/ },
    { name: 'negative ts', e: { ...good, ts: -1 }, want: /ts is -1/ },
    { name: 'no daemon', e: { ...good, daemon: '' }, want: /daemon is ""; want a non-empty string/ },
    { name: 'kind missing', e: { ...good, kind: undefined }, want: /kind is undefined/ },
    { name: 'subject a number', e: { ...good, subject: 7 }, want: /subject is number; want a string or null/ },
  ];
  for (const c of cases) {
    const err = await recordEvents(store, [good, c.e as EventRecord]).catch((e: unknown) => e);
    t.ok(isTernError(err) && err.code === 'TERN_E_STORE_QUERY' && c.want.test(err.message), `${c.name}: got ${String(err)}; want TERN_E_STORE_QUERY matching ${c.want}`);
  }
  t.same(await readEvents(store, 0, 10), [], 'nothing written');
});
