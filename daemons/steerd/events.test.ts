import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { MoveLog, type EventRow, type PathMove } from './events.js';

const pathA = 'inet/office/isp-a';
const pathB = 'inet/office/isp-b';

const move = (p: Partial<PathMove> = {}): PathMove => ({
  site: 'office', from: pathB, to: { [pathA]: 2 }, reason: 'down', classes: ['voice'], flows: 2, swept: 0, why: 'probed path.state', ...p,
});

function setup(opts: { fail?: (row: EventRow) => boolean } = {}): { clock: FakeClock; rows: EventRow[]; writtenAt: number[]; log: MoveLog } {
  const clock = new FakeClock();
  const rows: EventRow[] = [];
  const writtenAt: number[] = [];
  const log = new MoveLog({
    clock,
    intervalMs: 60_000,
    write: async (row) => {
      if (opts.fail?.(row)) throw new Error('SQLITE_BUSY: database is locked');
      rows.push(row);
      writtenAt.push(clock.now());
    },
  });
  return { clock, rows, writtenAt, log };
}

t.test('a move decision is one path.move row at once: which path, where to, why, how many flows', async (t) => {
  const { clock, rows, log } = setup();
  log.record(move({ to: { [pathA]: 3, 'inet/office/isp-c': 1 }, flows: 4, classes: ['voice', 'default'] }));
  await log.settled();
  t.same(rows, [{
    ts: clock.now(), daemon: 'steerd', kind: 'path.move', subject: pathB,
    detail: {
      site: 'office', from: pathB, to: `${pathA}, inet/office/isp-c`, toPaths: { [pathA]: 3, 'inet/office/isp-c': 1 }, reason: 'down',
      classes: ['voice', 'default'], flows: 4, swept: 0, why: 'probed path.state',
    },
  }]);
});

t.test('rows per path, by what the decision did', async (t) => {
  const cases: Array<{ name: string; m: PathMove; want: Partial<EventRow['detail']> | null }> = [
    { name: 'swept flows have no path until their next packet', m: move({ to: {}, flows: 0, swept: 5, classes: ['*'] }), want: { to: '(decided again at the next packet)', swept: 5, flows: 0 } },
    { name: 'moved and swept', m: move({ swept: 1 }), want: { to: `${pathA}, (decided again at the next packet)`, flows: 2, swept: 1 } },
    { name: 'an SLA breach', m: move({ reason: 'sla' }), want: { reason: 'sla' } },
    { name: 'nothing left the path: no row', m: move({ to: {}, flows: 0, swept: 0 }), want: null },
  ];
  for (const c of cases) {
    const { rows, log } = setup();
    log.record(c.m);
    await log.settled();
    if (c.want === null) {
      t.equal(rows.length, 0, `${c.name}: got ${rows.length} rows; want 0`);
      continue;
    }
    t.equal(rows.length, 1, `${c.name}: got ${rows.length} rows; want 1`);
    t.match(rows[0]?.detail, c.want, `${c.name}: detail ${JSON.stringify(rows[0]?.detail)}`);
  }
});

t.test('a flapping path: decisions within the interval are summed into one row written when it ends', async (t) => {
  const { clock, rows, log } = setup();
  const start = clock.now();
  log.record(move());
  for (let i = 0; i < 10; i++) {
    clock.advance(5_000);
    log.record(move({ reason: i % 2 ? 'down' : 'sla', to: i === 9 ? { 'inet/office/isp-c': 1 } : { [pathA]: 1 }, flows: 1, classes: i === 9 ? ['bulk'] : ['voice'] }));
  }
  await log.settled();
  t.equal(rows.length, 1, `rows within the first interval: got ${rows.length}; want 1 (the first decision only)`);
  t.same(log.counters, { written: 1, coalesced: 10, errors: 0 });
  clock.advance(9_999);
  await log.settled();
  t.equal(rows.length, 1, `rows 1 ms before the interval ends: got ${rows.length}; want 1`);
  clock.advance(1);
  await log.settled();
  t.equal(rows.length, 2, `rows when the interval ends: got ${rows.length}; want 2`);
  t.same(rows[1], {
    ts: start + 5_000, daemon: 'steerd', kind: 'path.move', subject: pathB,
    detail: {
      site: 'office', from: pathB, to: `${pathA}, inet/office/isp-c`, toPaths: { [pathA]: 9, 'inet/office/isp-c': 1 },
      reason: 'down', classes: ['voice', 'bulk'], flows: 10, swept: 0, why: 'probed path.state', decisions: 10, lastAt: start + 50_000,
    },
  }, 'the held decisions as one row: flows summed, the latest reason, from the first held decision to the last');
});

t.test('a path flapping every second for 10 minutes writes at most one row a minute', async (t) => {
  const { clock, rows, writtenAt, log } = setup();
  let flows = 0;
  for (let s = 0; s < 600; s++) {
    log.record(move({ flows: 1, to: { [pathA]: 1 } }));
    flows++;
    await log.settled();
    clock.advance(1_000);
    await log.settled();
  }
  await log.close();
  t.ok(rows.length <= 11, `rows: got ${rows.length}; want <= 11 (600 decisions in 10 minutes, one row a minute)`);
  const total = rows.reduce((n, r) => n + (r.detail.flows as number), 0);
  t.equal(total, flows, `flows in the rows: got ${total}; want ${flows} (every decision counted once)`);
  const gaps = writtenAt.slice(1).map((at, i) => at - writtenAt[i]!);
  t.ok(gaps.every((g) => g >= 60_000), `ms between rows written: got ${gaps.join(', ')}; want each >= 60000`);
});

t.test('paths are limited independently; a decision after a quiet interval is written at once', async (t) => {
  const { clock, rows, log } = setup();
  log.record(move());
  log.record(move({ from: pathA, to: { [pathB]: 1 }, flows: 1 }));
  await log.settled();
  t.same(rows.map((r) => r.subject), [pathB, pathA], 'one row for each path');
  clock.advance(60_000);
  log.record(move());
  await log.settled();
  t.equal(rows.length, 3, `after a quiet interval: got ${rows.length} rows; want 3`);
  t.equal(clock.pending(), 0, 'no timer left');
});

t.test('close writes what is held and records nothing more; a failed write is counted, not thrown', async (t) => {
  const { clock, rows, log } = setup();
  log.record(move());
  log.record(move({ flows: 7 }));
  await log.close();
  t.same(rows.map((r) => r.detail.flows), [2, 7], 'the held decision is written at close');
  t.equal(clock.pending(), 0, 'its timer is gone');
  log.record(move());
  await log.settled();
  t.equal(rows.length, 2, 'nothing after close');

  const failing = setup({ fail: (r) => r.subject === pathB });
  failing.log.record(move());
  failing.log.record(move({ from: pathA, to: { [pathB]: 1 } }));
  await failing.log.settled();
  t.same(failing.rows.map((r) => r.subject), [pathA], 'the next row is written after a failed one');
  t.same(failing.log.counters, { written: 1, coalesced: 0, errors: 1 });
});
