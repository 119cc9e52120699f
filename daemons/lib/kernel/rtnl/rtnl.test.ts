import t from 'tap';
import { AttrStream, FlagsNew, rt } from 'netlink';
import { Rtnl, linkInfoFor, linkKind, type RtnlSocket } from './rtnl.js';

interface Sent {
  method: string;
  data: unknown;
  attrs: unknown;
  flags: number;
}

/** A socket that records requests and answers from a table; throws what `fail` says. */
function fakeSocket(replies: Partial<Record<keyof RtnlSocket, unknown[]>> = {}, fail: Partial<Record<string, Error>> = {}) {
  const sent: Sent[] = [];
  const handler = (method: string) => async (data: unknown, attrs: unknown, opts?: { flags?: number }) => {
    sent.push({ method, data, attrs, flags: opts?.flags ?? 0 });
    const f = fail[method];
    if (f) throw f;
    return (replies as Record<string, unknown[]>)[method] ?? [];
  };
  const names = ['getLinks', 'getLink', 'newLink', 'setLink', 'delLink', 'getAddresses', 'newAddress', 'delAddress',
    'getRoutes', 'newRoute', 'delRoute', 'getRules', 'newRule', 'delRule'];
  const sock = Object.fromEntries(names.map((n) => [n, handler(n)])) as unknown as RtnlSocket;
  sock.close = () => {};
  return { sock, sent };
}

const link = (index: number, ifname: string, extra: Partial<rt.LinkMessage['attrs']> = {}): rt.LinkMessage =>
  ({ kind: 'link', data: { index, flags: { up: true } }, attrs: { ifname, mtu: 1500, ...extra } });

t.test('input validation: bad arguments fail before anything is sent', async (t) => {
  const cases: [string, (r: Rtnl) => Promise<unknown>][] = [
    ['ifname too long', (r) => r.setLinkUp('a-very-long-name0', true)],
    ['ifname with slash', (r) => r.deleteLink('a/b')],
    ['ifname empty', (r) => r.link('')],
    ['ifname "."', (r) => r.addLink('.', 'bridge')],
    ['bad link kind', (r) => r.addLink('br0', 'Bridge Kind')],
    ['mtu too small', (r) => r.setLinkMtu('eth0', 67)],
    ['address not a prefix', (r) => r.addAddress('eth0', '10.0.0.300/24')],
    ['route with host bits', (r) => r.replaceRoute({ dst: '10.2.0.1/24', table: 1101, dev: 'eth0' })],
    ['route table 0', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 0, dev: 'eth0' })],
    ['route table above u32', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 2 ** 32, dev: 'eth0' })],
    ['route table not an integer', (r) => r.routes(1.5)],
    ['route metric negative', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 1, dev: 'eth0', metric: -1 })],
    ['route without dev or gateway', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 1 })],
    ['blackhole with dev', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 1, type: 'blackhole', dev: 'eth0' })],
    ['unknown route type', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 1, type: 'teleport' as never, dev: 'eth0' })],
    ['gateway of the other family', (r) => r.replaceRoute({ dst: '10.2.0.0/24', table: 1, gateway: '2001:db8::1' })],
    ['rule priority 0', (r) => r.addRule({ family: 4, priority: 0, table: 1101 })],
    ['rule without family', (r) => r.addRule({ priority: 100, table: 1101 })],
    ['rule with mixed families', (r) => r.addRule({ priority: 100, table: 1101, from: '10.0.0.0/8', to: '2001:db8::/32' })],
    ['rule fwmask without fwmark', (r) => r.addRule({ family: 4, priority: 100, table: 1101, fwmask: 0xff })],
    ['rule fwmark above u32', (r) => r.addRule({ family: 4, priority: 100, table: 1101, fwmark: 2 ** 32 })],
    ['rule selector with host bits', (r) => r.deleteRule({ priority: 100, table: 1101, from: '10.0.0.1/8' })],
  ];
  for (const [name, fn] of cases) {
    const { sock, sent } = fakeSocket({ getLink: [link(2, 'eth0')] });
    const r = new Rtnl({ socket: sock });
    await t.rejects(fn(r), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `${name}: got no TERN_E_KERNEL_ARG; want one`);
    const changes = sent.filter((s) => !s.method.startsWith('get'));
    t.equal(changes.length, 0, `${name}: got ${changes.length} change requests sent; want 0`);
  }
});

t.test('replaceRoute sends NLM_F_CREATE|NLM_F_REPLACE with RTA_TABLE and resolves dev', async (t) => {
  const { sock, sent } = fakeSocket({ getLink: [link(7, 'wg-o1-h1')] });
  const r = new Rtnl({ socket: sock });
  await r.replaceRoute({ dst: '10.2.0.0/24', table: 1101, dev: 'wg-o1-h1', metric: 10 });
  const req = sent.find((s) => s.method === 'newRoute');
  t.ok(req, 'got no newRoute; want one');
  t.equal(req!.flags, FlagsNew.CREATE | FlagsNew.REPLACE, `flags: got ${req!.flags}; want CREATE|REPLACE`);
  t.match(req!.data, { family: 2, dstLen: 24, table: 0, protocol: 'STATIC', scope: 'LINK', type: 'UNICAST' });
  t.same(req!.attrs, { table: 1101, dst: Buffer.from([10, 2, 0, 0]), priority: 10, oif: 7 });
  // The request must also survive the netlink package's encoder.
  const out = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', data: req!.data as rt.Route, attrs: req!.attrs as rt.RouteAttrs }, out);
  const back = rt.parseRouteMessage(Buffer.concat(out.bufs));
  t.equal(back.attrs.table, 1101, 'RTA_TABLE round trip');
  t.equal(back.attrs.oif, 7, 'RTA_OIF round trip');

  const six = fakeSocket();
  await new Rtnl({ socket: six.sock }).replaceRoute({ dst: '::/0', table: 200, gateway: 'fe80::1', type: 'unicast' });
  const r6 = six.sent.find((s) => s.method === 'newRoute')!;
  t.match(r6.data, { family: 10, dstLen: 0, table: 200, scope: 'UNIVERSE' }, 'a table below 256 also goes in the header');
  t.notOk((r6.attrs as rt.RouteAttrs).dst, 'a default route carries no RTA_DST');
});

t.test('an unknown dev is ENODEV naming the interface, and nothing is sent', async (t) => {
  const { sock, sent } = fakeSocket({}, { getLink: new Error('Request rejected: ENODEV') });
  const r = new Rtnl({ socket: sock });
  await t.rejects(r.replaceRoute({ dst: '10.2.0.0/24', table: 1101, dev: 'wg-o1-h1' }), {
    code: 'TERN_E_KERNEL_NETLINK',
    message: 'kernel: route replace 10.2.0.0/24 table 1101: ENODEV: no such interface wg-o1-h1',
    details: { errno: 'ENODEV' },
  });
  t.equal(sent.filter((s) => s.method === 'newRoute').length, 0);
});

t.test('kernel rejections carry the errno; addRule treats EEXIST as already there', async (t) => {
  const { sock } = fakeSocket({}, { newRule: new Error('Request rejected: EEXIST'), delRule: new Error('Request rejected: ENOENT') });
  const r = new Rtnl({ socket: sock });
  t.equal(await r.addRule({ family: 4, priority: 1000, fwmark: 0x10, fwmask: 0xff, table: 1101 }), false, 'EEXIST: got added; want already present');
  await t.rejects(r.deleteRule({ family: 4, priority: 1000, table: 1101 }), {
    code: 'TERN_E_KERNEL_NETLINK', message: 'kernel: rule delete priority 1000 table 1101: ENOENT: no such object',
  });
  const perm = fakeSocket({ getLink: [link(3, 'eth0')] }, { newAddress: new Error('Request rejected: EPERM') });
  await t.rejects(new Rtnl({ socket: perm.sock }).addAddress('eth0', '10.0.0.1/24'), { code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'EPERM' } });
});

t.test('addRule sends NLM_F_EXCL so the kernel de-duplicates', async (t) => {
  const { sock, sent } = fakeSocket();
  t.equal(await new Rtnl({ socket: sock }).addRule({ priority: 1000, table: 1101, from: '2001:db8::/32', fwmark: 0x100 }), true);
  const req = sent.find((s) => s.method === 'newRule')!;
  t.equal(req.flags, FlagsNew.CREATE | FlagsNew.EXCL);
  t.match(req.data, { family: 10, srcLen: 32, dstLen: 0, table: 0, action: 'toTbl' });
  t.match(req.attrs, { priority: 1000, table: 1101, fwmark: 0x100 });
});

t.test('replies are input: malformed entries are skipped, not fatal', async (t) => {
  const { sock } = fakeSocket({
    getLinks: [
      link(1, 'lo'),
      { kind: 'link', data: { index: 2 }, attrs: {} },
      { kind: 'link', data: {}, attrs: { ifname: 'noindex' } },
      link(3, 'br0', { linkinfo: linkInfoFor('bridge') }),
      link(4, 'odd0', { linkinfo: Buffer.from([0xff, 0xff, 0x01]) }),
    ],
    getAddresses: [
      { kind: 'address', data: { family: 2, prefixlen: 24, index: 3 }, attrs: { local: Buffer.from([10, 1, 0, 1]) } },
      { kind: 'address', data: { family: 2, prefixlen: 24, index: 3 }, attrs: { local: Buffer.from([10, 1, 0]) } },
      { kind: 'address', data: { family: 2, prefixlen: 40, index: 3 }, attrs: { local: Buffer.from([10, 1, 0, 2]) } },
      { kind: 'address', data: { family: 10, prefixlen: 64, index: 99 }, attrs: { address: Buffer.alloc(16) } },
      { kind: 'address', data: { family: 10, prefixlen: 64, index: 3 }, attrs: {} },
      { kind: 'address', data: { family: 7, prefixlen: 8, index: 3 }, attrs: {} },
    ],
    getRoutes: [
      { kind: 'route', data: { family: 2, dstLen: 24, table: 0, type: 'UNICAST' }, attrs: { table: 1101, dst: Buffer.from([10, 2, 0, 0]), oif: 3, priority: 5 } },
      { kind: 'route', data: { family: 2, dstLen: 24, table: 0, type: 'UNICAST' }, attrs: { table: 1101, dst: Buffer.from([10, 2]) } },
      { kind: 'route', data: { family: 2, dstLen: 16, table: 254, type: 'UNICAST' }, attrs: { dst: Buffer.from([10, 9, 0, 0]) } },
      { kind: 'route', data: { family: 10, dstLen: 0, table: 0, type: 'BLACKHOLE' }, attrs: { table: 1101 } },
      { kind: 'route', data: { family: 10, dstLen: 128, table: 0, type: 'UNICAST', flags: { cloned: true } }, attrs: { table: 1101, dst: Buffer.alloc(16) } },
    ],
    getRules: [
      { kind: 'rule', data: { family: 2, srcLen: 0, dstLen: 0, table: 255, action: 'toTbl' }, attrs: { table: 255 } },
      { kind: 'rule', data: { family: 2, srcLen: 8, dstLen: 0, table: 0, action: 'toTbl' }, attrs: { priority: 7, table: 1101, src: Buffer.from([10, 0]) } },
      { kind: 'rule', data: { family: 2, srcLen: 0, dstLen: 0, table: 0, action: 'toTbl' }, attrs: { priority: 1000, table: 1101, fwmark: 16, fwmask: 255 } },
    ],
  });
  const r = new Rtnl({ socket: sock });
  const links = await r.links();
  t.same(links.map((l) => l.name), ['lo', 'br0', 'odd0'], 'links without name or index are skipped');
  t.equal(links[1]!.kind, 'bridge');
  t.equal(links[2]!.kind, null, 'malformed IFLA_LINKINFO gives no kind, not a crash');
  t.same(await r.addresses(), [{ ifname: 'br0', index: 3, family: 4, cidr: '10.1.0.1/24' }]);
  t.same(await r.routes(1101), [
    { family: 4, dst: '10.2.0.0/24', table: 1101, type: 'unicast', dev: 'br0', gateway: null, src: null, metric: 5 },
    { family: 6, dst: '::/0', table: 1101, type: 'blackhole', dev: null, gateway: null, src: null, metric: 0 },
  ]);
  t.same((await r.rules()).map((x) => [x.priority, x.table, x.fwmark, x.fwmask]), [[0, 255, null, null], [1000, 1101, 16, 255]]);
});

t.test('linkKind / linkInfoFor round trip through the netlink encoder', async (t) => {
  const out = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data: {}, attrs: { ifname: 'tn0', linkinfo: linkInfoFor('wireguard') } }, out);
  const back = rt.parseLinkMessage(Buffer.concat(out.bufs));
  t.equal(back.attrs.ifname, 'tn0');
  t.equal(linkKind(back.attrs.linkinfo), 'wireguard');
  t.equal(linkKind(undefined), null);
});

t.test('requests never overlap on the socket (one dump at a time)', async (t) => {
  let inFlight = 0;
  let most = 0;
  const slow = async (): Promise<unknown[]> => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return [];
  };
  const sock = { getLinks: slow, getAddresses: slow, getRoutes: slow, getRules: slow, newRule: slow, getLink: async () => { throw new Error('Request rejected: ENODEV'); }, close: () => {} } as unknown as RtnlSocket;
  const r = new Rtnl({ socket: sock });
  const results = await Promise.allSettled([r.links(), r.addresses(), r.routes(1101), r.rules(), r.addRule({ family: 4, priority: 5, table: 1 }), r.link('x0'), r.links()]);
  t.equal(most, 1, `got ${most} requests in flight at once; want 1`);
  t.same(results.map((x) => x.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], 'a failed request does not block the queue');
});

t.test('addAddress by index: one request, no link lookup; a bad index is refused before sending', async (t) => {
  const { sock, sent } = fakeSocket({ getLink: [link(3, 'eth0')] });
  const r = new Rtnl({ socket: sock });
  await r.addAddress({ ifindex: 7, name: 'lan0' }, '10.1.0.1/24');
  await r.addAddress({ ifindex: 7, name: 'lan0' }, '2001:db8::1/64', { nodad: true });
  t.same(sent.map((s) => s.method), ['newAddress', 'newAddress'], `got ${sent.map((s) => s.method)}; want two newAddress and no getLink`);
  t.match(sent[0]!.data, { family: 2, prefixlen: 24, index: 7 });
  t.equal(sent[0]!.flags, FlagsNew.CREATE | FlagsNew.REPLACE, 'in place, as by name');
  t.match(sent[1]!.attrs, { flags: { nodad: true } });
  // By name, as before: the lookup, then the add.
  await r.addAddress('eth0', '10.1.0.1/24');
  t.same(sent.slice(2).map((s) => s.method), ['getLink', 'newAddress']);
  t.match(sent[3]!.data, { index: 3 });

  const bad: Array<[string, unknown]> = [
    ['index 0', { ifindex: 0, name: 'lan0' }], ['negative index', { ifindex: -1, name: 'lan0' }], ['fractional index', { ifindex: 1.5, name: 'lan0' }],
    ['index above int', { ifindex: 2 ** 31, name: 'lan0' }], ['index as text', { ifindex: '7', name: 'lan0' }], ['no index', { name: 'lan0' }],
    ['bad name', { ifindex: 7, name: 'a/b' }], ['no name', { ifindex: 7 }], ['null', null],
  ];
  for (const [name, ref] of bad) {
    const f = fakeSocket();
    await t.rejects(new Rtnl({ socket: f.sock }).addAddress(ref as never, '10.1.0.1/24'), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `${name}: want TERN_E_KERNEL_ARG`);
    t.equal(f.sent.length, 0, `${name}: got ${f.sent.length} requests; want 0`);
  }
});

t.test('addAddress by a stale index: ENODEV naming the link and its index', async (t) => {
  const { sock } = fakeSocket({}, { newAddress: new Error('Request rejected: ENODEV') });
  await t.rejects(new Rtnl({ socket: sock }).addAddress({ ifindex: 7, name: 'lan0' }, '10.1.0.1/24'), {
    code: 'TERN_E_KERNEL_NETLINK',
    message: 'kernel: address add 10.1.0.1/24 dev lan0 (index 7): ENODEV: no such interface lan0 (index 7)',
    details: { errno: 'ENODEV' },
  });
});
