import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { LinkMonitor, linkFacts, type LinkFacts, type LinkSource } from './link.js';

t.test('link facts from a netlink message', async (t) => {
  const f = linkFacts({ kind: 'link', data: { index: 3, flags: { up: true, lowerUp: true } }, attrs: { ifname: 'lan0', address: Buffer.from([2, 0, 0, 0, 0, 9]) } });
  t.same(f, { name: 'lan0', index: 3, up: true, carrier: true, mac: '02:00:00:00:00:09' });
  const g = linkFacts({ kind: 'link', data: { index: 4, flags: { up: true } }, attrs: { ifname: 'wg0' } });
  t.same(g, { name: 'wg0', index: 4, up: true, carrier: false, mac: null }, 'no lowerUp: no carrier; no MAC');
  t.equal(linkFacts({ kind: 'link', data: {}, attrs: {} }), null);
});

t.test('LinkMonitor reports changes only, on events and on its timer', async (t) => {
  const clock = new FakeClock();
  const links = new Map<string, LinkFacts>([['lan0', { name: 'lan0', index: 3, up: true, carrier: true, mac: '02:00:00:00:00:09' }]]);
  let poke: (() => void) | undefined;
  let closed = false;
  const source: LinkSource = {
    get: async (n) => (links.has(n) ? { ...links.get(n)! } : null),
    watch: (fn) => { poke = fn; return () => { poke = undefined; }; },
    close: () => { closed = true; },
  };
  const seen: string[] = [];
  const m = new LinkMonitor({ names: ['lan0', 'wan0'], source, clock, pollMs: 1000, onChange: (n, f) => seen.push(`${n}:${f ? (f.carrier ? 'carrier' : 'no-carrier') : 'gone'}`) });
  await m.refresh();
  t.same(seen, ['lan0:carrier', 'wan0:gone'], 'first read reports everything');
  await m.refresh();
  t.equal(seen.length, 2, 'nothing changed, nothing reported');
  links.get('lan0')!.carrier = false;
  poke!();
  await m.refresh();
  t.same(seen.slice(2), ['lan0:no-carrier'], 'an event makes it read again');
  links.set('wan0', { name: 'wan0', index: 4, up: true, carrier: true, mac: null });
  clock.advance(1000);
  await m.refresh();
  t.same(seen.slice(3), ['wan0:carrier'], 'the timer catches what no event said');
  t.equal(m.get('wan0')?.index, 4);
  m.close();
  t.ok(closed);
  t.equal(poke, undefined, 'unwatched');
  t.equal(clock.pending(), 0);
});
