import t from 'tap';
import { Health } from './index.js';
import { FakeClock } from '../clock/index.js';

t.test('set, update and clear emit change only on real changes', async (t) => {
  const clock = new FakeClock({ now: 1000 });
  const h = new Health({ clock });
  const events: string[] = [];
  h.on('change', (e: { kind: string; warning: { name: string } }) => events.push(`${e.kind}:${e.warning.name}`));

  h.set('wan.wan0.down', 'wan0: all probe targets fail');
  clock.advance(500);
  h.set('wan.wan0.down', 'wan0: all probe targets fail');
  t.same(events, ['set:wan.wan0.down'], 'a repeated identical set is not a change');
  h.set('wan.wan0.down', 'wan0: all 3 targets fail', 'error');
  t.equal(h.get('wan.wan0.down')?.since, 1000, `since is kept across updates; got ${h.get('wan.wan0.down')?.since}; want 1000`);
  h.clear('wan.wan0.down');
  h.clear('wan.wan0.down');
  t.same(events, ['set:wan.wan0.down', 'set:wan.wan0.down', 'clear:wan.wan0.down']);
  t.equal(h.overall(), 'ok');
});

t.test('overall and list order', async (t) => {
  const h = new Health();
  const cases: Array<{ name: string; set: Array<[string, 'warning' | 'error']>; want: string; order: string[] }> = [
    { name: 'empty', set: [], want: 'ok', order: [] },
    { name: 'one warning', set: [['b', 'warning']], want: 'warning', order: ['b'] },
    { name: 'error wins', set: [['b', 'warning'], ['a', 'warning'], ['z', 'error']], want: 'error', order: ['z', 'a', 'b'] },
  ];
  for (const c of cases) {
    for (const w of h.list()) h.clear(w.name);
    for (const [n, s] of c.set) h.set(n, n, s);
    t.equal(h.overall(), c.want, `${c.name}: overall got ${h.overall()}; want ${c.want}`);
    t.same(h.list().map((w) => w.name), c.order, `${c.name}: order`);
  }
});

t.test('check raises and clears by condition', async (t) => {
  const h = new Health();
  h.check('x', true, 'bad');
  t.ok(h.get('x'));
  h.check('x', false, 'bad');
  t.equal(h.get('x'), undefined);
});
