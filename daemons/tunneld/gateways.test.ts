// tunneld's DHCP gateways: read from main only, unknown until a reading
// succeeds, kept through a failed one, followed as leases come, change and
// go, and read less often when reading is dear.
import t from 'tap';
import { DhcpGateways } from './gateways.js';

/** A route as rtnl's RouteInfo lists it; a default route out of wan0 via 198.18.9.1 in main unless told. */
const route = (o: Record<string, unknown> = {}): Record<string, unknown> => ({
  family: 4, dst: '0.0.0.0/0', table: 254, type: 'unicast', dev: 'wan0', gateway: '198.18.9.1', src: null, metric: 1024, ...o,
});

t.test('DhcpGateways: unknown until read, then followed; a failed reading keeps the last; the WAN table is never read back', async (t) => {
  let routes: unknown = [];
  let fail: Error | undefined;
  const reads: number[][] = [];
  const g = new DhcpGateways({ read: async (tables) => { reads.push(tables); if (fail) throw fail; return routes as unknown[]; }, monotonic: () => 0 });
  g.setWans([{ wan: 'inet', device: 'wan0', table: 1000 }, { wan: 'lte', device: 'wan1', table: 1001 }]);
  t.equal(g.gateways, undefined, 'nothing read: unknown');

  const steps: Array<{ name: string; routes?: unknown; fail?: Error; changed: boolean; want: Record<string, string[]> | undefined; problem?: RegExp }> = [
    { name: 'the kernel does not answer at start: still unknown', fail: new Error('kernel: route list: ETIMEDOUT'), changed: false, want: undefined, problem: /ETIMEDOUT/ },
    { name: 'read, no lease yet: known, none', routes: [], changed: true, want: {} },
    { name: 'both leases', routes: [route(), route({ dev: 'wan1', gateway: '100.64.9.1', metric: 1025 })], changed: true, want: { inet: ['198.18.9.1'], lte: ['100.64.9.1'] } },
    {
      name: 'tunneld\'s own copies in the WAN tables count for nothing',
      routes: [route(), route({ dev: 'wan1', gateway: '100.64.9.1', metric: 1025 }), route({ table: 1000, gateway: '198.18.9.77', metric: 0 })],
      changed: false, want: { inet: ['198.18.9.1'], lte: ['100.64.9.1'] },
    },
    { name: 'the kernel fails: the last gateways stay', fail: new Error('kernel: route list: ENOBUFS'), changed: false, want: { inet: ['198.18.9.1'], lte: ['100.64.9.1'] }, problem: /ENOBUFS/ },
    { name: 'a new lease on inet', routes: [route({ gateway: '198.18.9.5' }), route({ dev: 'wan1', gateway: '100.64.9.1' })], changed: true, want: { inet: ['198.18.9.5'], lte: ['100.64.9.1'] } },
    {
      name: 'lte\'s lease gone (only the WAN table copy is left)',
      routes: [route({ gateway: '198.18.9.5' }), route({ table: 1001, dev: 'wan1', gateway: '100.64.9.1' })],
      changed: true, want: { inet: ['198.18.9.5'] },
    },
    { name: 'malformed routes are skipped', routes: [route({ gateway: 'nonsense' }), route({ gateway: '198.18.9.5' })], changed: false, want: { inet: ['198.18.9.5'] } },
  ];
  for (const s of steps) {
    routes = s.routes;
    fail = s.fail;
    const changed = await g.refresh();
    t.equal(changed, s.changed, `${s.name}: got changed ${changed}; want ${s.changed}`);
    const got = g.gateways ? Object.fromEntries(g.gateways) : undefined;
    t.same(got, s.want, `${s.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(s.want)}`);
    if (s.problem) t.match(g.problem, s.problem, `${s.name}: the problem says why`);
    else t.equal(g.problem, undefined, `${s.name}: got problem ${String(g.problem)}; want none`);
  }
  t.ok(reads.every((r) => r.length === 1 && r[0] === 254), `only main is read: got ${JSON.stringify(reads)}`);

  g.setWans([{ wan: 'inet', device: 'wan0', table: 1000 }]);
  t.same(Object.fromEntries(g.gateways!), { inet: ['198.18.9.5'] });
  g.setWans([]);
  t.same(g.gateways && Object.fromEntries(g.gateways), {}, 'no DHCP WAN: known, and empty');
  const n = reads.length;
  t.equal(await g.refresh(), false);
  t.equal(reads.length, n, 'nothing to learn: the kernel is not asked');
});

t.test('DhcpGateways: a dear reading spaces the next ones out (49 × its time); force reads anyway', async (t) => {
  let now = 0;
  let reads = 0;
  const g = new DhcpGateways({
    read: async () => { reads++; now += 20; return [route()]; },
    monotonic: () => now,
  });
  g.setWans([{ wan: 'inet', device: 'wan0', table: 1000 }]);
  await g.refresh();
  t.equal(reads, 1);
  now += 500;
  await g.refresh();
  t.equal(reads, 1, `20 ms to read: the next waits 980 ms; got ${reads} readings at +500 ms; want 1`);
  await g.refresh(true);
  t.equal(reads, 2, 'force reads at once (a reload)');
  now += 1000;
  await g.refresh();
  t.equal(reads, 3, 'after 980 ms the tick reads again');
});
