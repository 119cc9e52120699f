// A DHCP WAN's gateway read from the kernel's default routes: which routes
// count, how malformed ones are refused, and which table wins for probed
// ('lookup') and tunneld ('main').
import t from 'tap';
import { defaultRoute, dhcpGateways, type DhcpWan } from './index.js';

/** A route as rtnl's RouteInfo lists it; a default route out of wan0 via 198.18.9.1 unless told. */
const route = (o: Record<string, unknown> = {}): Record<string, unknown> => ({
  family: 4, dst: '0.0.0.0/0', table: 254, type: 'unicast', dev: 'wan0', gateway: '198.18.9.1', src: null, metric: 0, ...o,
});

t.test('defaultRoute: the default routes with a gateway, nothing else; malformed ones say why', async (t) => {
  const cases: Array<{ name: string; r: unknown; want: unknown }> = [
    { name: 'IPv4 default', r: route(), want: { family: 4, dev: 'wan0', gateway: '198.18.9.1', table: 254, metric: 0 } },
    { name: 'IPv6 default via a link-local router (RA)', r: route({ family: 6, dst: '::/0', gateway: 'FE80::1', metric: 1024 }), want: { family: 6, gateway: 'fe80::1', metric: 1024 } },
    { name: 'not a default route', r: route({ dst: '198.18.9.0/30', gateway: null }), want: undefined },
    { name: 'a default route with a more specific twin', r: route({ dst: '0.0.0.0/1' }), want: undefined },
    { name: 'blackhole default', r: route({ type: 'blackhole', dev: null, gateway: null }), want: undefined },
    { name: 'no gateway (a point-to-point link)', r: route({ gateway: null }), want: undefined },
    { name: 'no single device (multipath)', r: route({ dev: null, gateway: null }), want: undefined },
    { name: 'not an object', r: 'default via 198.18.9.1', want: { malformed: /want a route object/ } },
    { name: 'null', r: null, want: { malformed: /want a route object/ } },
    { name: 'unknown family', r: route({ family: 10 }), want: { malformed: /family 10; want 4 or 6/ } },
    { name: 'family as text', r: route({ family: '4' }), want: { malformed: /family "4"/ } },
    { name: 'dst not text', r: route({ dst: 0 }), want: { malformed: /dst 0; want a prefix/ } },
    { name: 'IPv6 default on an IPv4 route', r: route({ dst: '::/0' }), want: { malformed: /dst ::\/0 on an IPv4 route/ } },
    { name: 'IPv6 gateway on an IPv4 route', r: route({ gateway: 'fe80::1' }), want: { malformed: /want an IPv4 address/ } },
    { name: 'gateway cut short', r: route({ gateway: '198.18.9' }), want: { malformed: /gateway "198.18.9"/ } },
    { name: 'gateway as bytes', r: route({ gateway: [198, 18, 9, 1] }), want: { malformed: /want an IPv4 address/ } },
    { name: 'unspecified gateway', r: route({ gateway: '0.0.0.0' }), want: { malformed: /unspecified/ } },
    { name: 'loopback gateway', r: route({ gateway: '127.0.0.1' }), want: { malformed: /loopback/ } },
    { name: 'broadcast gateway', r: route({ gateway: '255.255.255.255' }), want: { malformed: /broadcast/ } },
    { name: 'multicast gateway', r: route({ gateway: '224.0.0.1' }), want: { malformed: /multicast/ } },
    { name: 'IPv6 multicast gateway', r: route({ family: 6, dst: '::/0', gateway: 'ff02::2' }), want: { malformed: /multicast/ } },
    { name: 'IPv4-mapped IPv6 gateway', r: route({ family: 6, dst: '::/0', gateway: '::ffff:198.18.9.1' }), want: { malformed: /IPv4-mapped/ } },
    { name: 'IPv6 gateway with a zone index', r: route({ family: 6, dst: '::/0', gateway: 'fe80::1%wan0' }), want: { malformed: /want an IPv6 address/ } },
    { name: 'negative table', r: route({ table: -1 }), want: { malformed: /table -1/ } },
    { name: 'fractional metric', r: route({ metric: 1.5 }), want: { malformed: /metric 1.5/ } },
  ];
  for (const c of cases) {
    const got = defaultRoute(c.r);
    if (c.want === undefined) t.equal(got, undefined, `${c.name}: got ${JSON.stringify(got)}; want undefined (not a gateway route)`);
    else t.match(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${String(JSON.stringify(c.want))}`);
  }
});

t.test('dhcpGateways (probed\'s lookup order): out of the WAN\'s interface, its own table first, then main, lowest metric; one per family', async (t) => {
  const wans: DhcpWan[] = [{ wan: 'inet', device: 'wan0', table: 1000 }, { wan: 'lte', device: 'wwan0', table: 1001 }];
  const cases: Array<{ name: string; routes: unknown[]; want: Record<string, string[]>; malformed?: number }> = [
    { name: 'none', routes: [], want: {} },
    { name: 'main', routes: [route()], want: { inet: ['198.18.9.1'] } },
    { name: 'another interface\'s default is not ours', routes: [route({ dev: 'eth1', gateway: '10.0.0.1' })], want: {} },
    {
      name: 'the WAN table before main',
      routes: [route({ gateway: '198.18.9.5' }), route({ table: 1000, gateway: '198.18.9.6', metric: 500 })],
      want: { inet: ['198.18.9.6'] },
    },
    {
      name: 'the lowest metric within a table (the one the kernel uses)',
      routes: [route({ gateway: '198.18.9.5', metric: 200 }), route({ gateway: '198.18.9.6', metric: 100 })],
      want: { inet: ['198.18.9.6'] },
    },
    {
      name: 'main before another table',
      routes: [route({ table: 1001, gateway: '198.18.9.7' }), route({ gateway: '198.18.9.5', metric: 900 })],
      want: { inet: ['198.18.9.5'] },
    },
    {
      name: 'IPv4 and IPv6, IPv4 first, whatever the kernel\'s order',
      routes: [route({ family: 6, dst: '::/0', gateway: 'fe80::1', metric: 1024 }), route({ dev: 'wwan0', gateway: '100.64.7.1' }), route()],
      want: { inet: ['198.18.9.1', 'fe80::1'], lte: ['100.64.7.1'] },
    },
    {
      name: 'malformed routes are counted and skipped; the good one stands',
      routes: [route({ family: 7 }), route({ gateway: 'x' }), null, route()],
      want: { inet: ['198.18.9.1'] },
      malformed: 3,
    },
  ];
  for (const c of cases) {
    for (const order of [c.routes, [...c.routes].reverse()]) {
      const got = dhcpGateways(order, wans);
      t.same(Object.fromEntries(got.gateways), c.want, `${c.name}: got ${JSON.stringify(Object.fromEntries(got.gateways))}; want ${JSON.stringify(c.want)}`);
      t.equal(got.malformed.length, c.malformed ?? 0, `${c.name}: got ${got.malformed.length} malformed; want ${c.malformed ?? 0}`);
    }
  }
});

t.test('dhcpGateways from main alone (tunneld): a WAN table route is never read back, nor another table\'s', async (t) => {
  const wans: DhcpWan[] = [{ wan: 'inet', device: 'wan0', table: 1000 }];
  const cases: Array<{ name: string; routes: unknown[]; want: Record<string, string[]> }> = [
    { name: 'main', routes: [route()], want: { inet: ['198.18.9.1'] } },
    { name: 'only the WAN table (tunneld\'s own copy, the lease gone)', routes: [route({ table: 1000 })], want: {} },
    {
      name: 'main and an older copy in the WAN table: main',
      routes: [route({ table: 1000, gateway: '198.18.9.5' }), route({ gateway: '198.18.9.6', metric: 1024 })],
      want: { inet: ['198.18.9.6'] },
    },
    { name: 'another table only', routes: [route({ table: 1001 })], want: {} },
    {
      name: 'the lowest metric in main, both families',
      routes: [route({ gateway: '198.18.9.5', metric: 200 }), route({ gateway: '198.18.9.6', metric: 100 }), route({ family: 6, dst: '::/0', gateway: 'fe80::1', metric: 1024 })],
      want: { inet: ['198.18.9.6', 'fe80::1'] },
    },
  ];
  for (const c of cases) {
    for (const order of [c.routes, [...c.routes].reverse()]) {
      const got = Object.fromEntries(dhcpGateways(order, wans, 'main').gateways);
      t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
    }
  }
});
