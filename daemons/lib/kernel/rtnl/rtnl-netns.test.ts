// Integration: Rtnl against the real kernel, inside a namespace of its own
// (through the agent), each result checked independently with `ip -j`.
import t from 'tap';
import { Agent, TestNetns } from '../testing/index.js';
import type { AddressInfo, LinkInfo, RouteInfo, RuleInfo } from './rtnl.js';

interface IpLink { ifname: string; mtu: number; flags: string[] }
interface IpAddr { addr_info: { family: string; local: string; prefixlen: number }[] }
interface IpRule { priority: number; table: string; fwmark?: string; src?: string; srclen?: number }

t.test('rtnl in a namespace: link, address, route, rule add → list → idempotent replace → delete', async (t) => {
  const ns = await TestNetns.create('rtnl');
  const agent = Agent.start(ns.name);
  t.teardown(async () => {
    await agent.stop();
    await ns.destroy();
  });
  const call = <T>(method: string, ...args: unknown[]): Promise<T> => agent.call<T>('rtnl', method, ...args);

  await t.test('links', async (t) => {
    await call('addLink', 'tbr0', 'bridge');
    await call('addLink', 'tbr1', 'bridge');
    let l = await call<LinkInfo | null>('link', 'tbr0');
    t.match(l, { name: 'tbr0', kind: 'bridge', up: false }, `got ${JSON.stringify(l)}; want a down bridge`);
    await call('setLinkUp', 'tbr0', true);
    await call('setLinkUp', 'tbr1', true);
    await call('setLinkMtu', 'tbr0', 1400);
    const [ip] = await ns.ipJson<IpLink[]>(['link', 'show', 'tbr0']);
    t.ok(ip?.flags.includes('UP'), `ip link flags: got ${ip?.flags}; want UP`);
    t.equal(ip?.mtu, 1400, `ip link mtu: got ${ip?.mtu}; want 1400`);
    l = await call<LinkInfo | null>('link', 'tbr0');
    t.match(l, { up: true, mtu: 1400 });
    const names = (await call<LinkInfo[]>('links')).map((x) => x.name).sort();
    t.same(names, ['lo', 'tbr0', 'tbr1']);
    t.equal(await call('link', 'nosuch0'), null, 'a missing link is null, not an error');
    await t.rejects(call('addLink', 'tbr0', 'bridge'), { code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'EEXIST' } });
  });

  await t.test('addresses', async (t) => {
    for (let i = 0; i < 2; i++) {
      await call('addAddress', 'tbr0', '10.1.0.1/24');
      await call('addAddress', 'tbr0', '2001:db8:1::1/64', { nodad: true });
    }
    const mine = (await call<AddressInfo[]>('addresses', 'tbr0')).filter((a) => !a.cidr.startsWith('fe80:')).map((a) => a.cidr);
    t.same(mine, ['10.1.0.1/24', '2001:db8:1::1/64'], `got ${mine}; want each address once`);
    const [ip] = await ns.ipJson<IpAddr[]>(['addr', 'show', 'tbr0']);
    const global = ip!.addr_info.filter((a) => !a.local.startsWith('fe80')).map((a) => `${a.local}/${a.prefixlen}`);
    t.same(global, ['10.1.0.1/24', '2001:db8:1::1/64'], `ip addr: got ${global}; want each address once`);
    // By index (one round trip); an index no link has is ENODEV.
    const tbr1 = await call<LinkInfo>('link', 'tbr1');
    await call('addAddress', { ifindex: tbr1.index, name: 'tbr1' }, '10.5.0.1/24');
    const [ip1] = await ns.ipJson<IpAddr[]>(['addr', 'show', 'tbr1']);
    const on1 = ip1!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
    t.same(on1, ['10.5.0.1/24'], `by index: ip addr: got ${on1}; want 10.5.0.1/24 on tbr1`);
    await t.rejects(call('addAddress', { ifindex: 0x7ffffff0, name: 'tbr9' }, '10.5.0.2/24'), { code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'ENODEV' } });
  });

  await t.test('routes', async (t) => {
    const routes = [
      { dst: '10.2.0.0/24', table: 1101, dev: 'tbr0', metric: 10 },
      { dst: '10.3.0.0/24', table: 1101, gateway: '10.1.0.254', metric: 20 },
      { dst: '10.4.0.0/24', table: 1101, dev: 'tbr0', src: '10.1.0.1', metric: 30 },
      { dst: '2001:db8:2::/64', table: 1101, dev: 'tbr0', metric: 10 },
      { dst: '0.0.0.0/0', table: 1101, type: 'blackhole', metric: 4000 },
      { dst: '10.4.0.0/24', table: 200, dev: 'tbr1' },
    ];
    for (let i = 0; i < 2; i++) for (const r of routes) await call('replaceRoute', r);
    const got = await call<RouteInfo[]>('routes', 1101);
    const want = [
      { family: 4, dst: '0.0.0.0/0', table: 1101, type: 'blackhole', dev: null, gateway: null, src: null, metric: 4000 },
      { family: 4, dst: '10.2.0.0/24', table: 1101, type: 'unicast', dev: 'tbr0', gateway: null, src: null, metric: 10 },
      { family: 4, dst: '10.3.0.0/24', table: 1101, type: 'unicast', dev: 'tbr0', gateway: '10.1.0.254', src: null, metric: 20 },
      { family: 4, dst: '10.4.0.0/24', table: 1101, type: 'unicast', dev: 'tbr0', gateway: null, src: '10.1.0.1', metric: 30 },
      { family: 6, dst: '2001:db8:2::/64', table: 1101, type: 'unicast', dev: 'tbr0', gateway: null, src: null, metric: 10 },
    ];
    t.same(got, want, `routes in 1101: got ${JSON.stringify(got)}`);
    const v4 = await ns.ipJson<unknown[]>(['route', 'show', 'table', '1101']);
    const v6 = await ns.ipJson<unknown[]>(['-6', 'route', 'show', 'table', '1101']);
    t.equal(v4.length + v6.length, 5, `ip route table 1101: got ${v4.length + v6.length} routes; want 5 (replace twice must not duplicate)`);
    t.same((await call<RouteInfo[]>('routes', 200)).map((r) => r.dst), ['10.4.0.0/24'], 'a table below 256 is listed too');

    // Same (table, dst, metric), new next hop: replaced in place.
    await call('replaceRoute', { dst: '10.3.0.0/24', table: 1101, gateway: '10.1.0.253', metric: 20 });
    const moved = (await call<RouteInfo[]>('routes', 1101, 4)).filter((r) => r.dst === '10.3.0.0/24');
    t.same(moved.map((r) => r.gateway), ['10.1.0.253'], `got ${JSON.stringify(moved)}; want one route via 10.1.0.253`);

    await t.rejects(call('replaceRoute', { dst: '10.5.0.0/24', table: 1101, dev: 'wg-o1-h1' }), {
      code: 'TERN_E_KERNEL_NETLINK',
      message: 'kernel: route replace 10.5.0.0/24 table 1101: ENODEV: no such interface wg-o1-h1',
    });
    await t.rejects(call('replaceRoute', { dst: '10.5.0.0/24', table: 1101, gateway: '192.0.2.1' }), {
      code: 'TERN_E_KERNEL_NETLINK',
      details: { errno: 'ENETUNREACH' },
    });

    await call('deleteRoute', { dst: '10.2.0.0/24', table: 1101 });
    await call('deleteRoute', { dst: '2001:db8:2::/64', table: 1101, dev: 'tbr0' });
    await call('deleteRoute', { dst: '10.4.0.0/24', table: 1101, metric: 30 });
    t.same((await call<RouteInfo[]>('routes', 1101)).map((r) => r.dst), ['0.0.0.0/0', '10.3.0.0/24']);
    await t.rejects(call('deleteRoute', { dst: '10.2.0.0/24', table: 1101 }), { code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'ESRCH' } });
  });

  await t.test('rules', async (t) => {
    const specs = [
      { family: 4, priority: 1000, fwmark: 0x10, fwmask: 0xff, table: 1101 },
      { priority: 1001, from: '2001:db8::/32', table: 1101 },
      { priority: 1002, to: '10.8.0.0/16', table: 70000 },
    ];
    const first: boolean[] = [];
    for (const s of specs) first.push(await call<boolean>('addRule', s));
    const second: boolean[] = [];
    for (const s of specs) second.push(await call<boolean>('addRule', s));
    t.same(first, [true, true, true]);
    t.same(second, [false, false, false], 'adding the same rules again adds nothing');
    const ip4 = await ns.ipJson<IpRule[]>(['rule', 'show']);
    const ip6 = await ns.ipJson<IpRule[]>(['-6', 'rule', 'show']);
    const count = [...ip4, ...ip6].filter((r) => r.priority >= 1000 && r.priority <= 1002).length;
    t.equal(count, 3, `ip rule: got ${count} Tern rules; want 3`);
    const mine = (await call<RuleInfo[]>('rules')).filter((r) => r.priority >= 1000 && r.priority <= 1002);
    t.same(mine, [
      { family: 4, priority: 1000, action: 'lookup', table: 1101, fwmark: 16, fwmask: 255, from: null, to: null },
      { family: 4, priority: 1002, action: 'lookup', table: 70000, fwmark: null, fwmask: null, from: null, to: '10.8.0.0/16' },
      { family: 6, priority: 1001, action: 'lookup', table: 1101, fwmark: null, fwmask: null, from: '2001:db8::/32', to: null },
    ]);
    for (const s of specs) await call('deleteRule', s);
    const left = (await call<RuleInfo[]>('rules')).filter((r) => r.priority >= 1000 && r.priority <= 1002);
    t.same(left, [], `got ${JSON.stringify(left)} after delete; want none`);
  });

  await t.test('delete addresses and links', async (t) => {
    await call('deleteAddress', 'tbr0', '10.1.0.1/24');
    await call('deleteAddress', 'tbr0', '2001:db8:1::1/64');
    const left = (await call<AddressInfo[]>('addresses', 'tbr0')).filter((a) => !a.cidr.startsWith('fe80:'));
    t.same(left, []);
    await call('deleteLink', 'tbr0');
    await call('deleteLink', 'tbr1');
    t.equal(await call('link', 'tbr0'), null);
    await t.rejects(call('deleteLink', 'tbr0'), { code: 'TERN_E_KERNEL_NETLINK', message: 'kernel: link delete tbr0: ENODEV: no such interface tbr0' });
    const ipLinks = await ns.ipJson<IpLink[]>(['link', 'show']);
    t.same(ipLinks.map((l) => l.ifname), ['lo']);
  });
});
