// Integration: the tc client against the real kernel in a namespace of its
// own (through an agent), each result checked independently with `tc -j`,
// and real packets classified, redirected and counted.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { NetnsAgent, TestNetns } from '../testing/index.js';
import { dscpKey, matchAll } from './filter.js';
import { INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT, tcHandle, u32Node } from './handle.js';
import type { ClassInfo, FilterInfo, LinkRef, QdiscInfo } from './tc.js';

const fixture = fileURLToPath(new URL('./netns.fixture.js', import.meta.url));

interface TcJson { kind: string; handle?: string; parent?: string; options?: Record<string, unknown>; bytes?: number; packets?: number }
/** `tc class show` lines (iproute2 6.1 prints no JSON for classes), e.g. "class htb 7471:11 parent 7471:1 leaf 11: prio 0 rate 5Mbit overhead 30 ceil 20Mbit ...". */
function parseClasses(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^class htb (\S+) (.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

t.test('tc in a namespace: an HTB tree with DSCP classes and an IFB redirect, changed in place', async (t) => {
  const ns = await TestNetns.create('tc');
  const peer = await TestNetns.create('tcpeer');
  const agent = NetnsAgent.start(ns.name, fixture);
  t.teardown(async () => {
    await agent.stop();
    await ns.destroy();
    await peer.destroy();
  });
  const tc = <T>(method: string, ...args: unknown[]): Promise<T> => agent.call<T>('tc', method, ...args);
  const tcJson = async <T>(args: string[]): Promise<T[]> => JSON.parse((await ns.sh(['tc', '-j', ...args])) || '[]') as T[];
  await ns.sh(['ip', 'link', 'add', 'name', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', peer.name]);
  await ns.sh(['ip', 'addr', 'add', '10.99.0.1/24', 'dev', 'va']);
  await peer.sh(['ip', 'addr', 'add', '10.99.0.2/24', 'dev', 'vb']);
  await peer.sh(['ip', 'link', 'set', 'vb', 'up']);
  await ns.sh(['ip', 'link', 'add', 'name', 'tqi0', 'type', 'ifb']);
  for (const d of ['va', 'tqi0']) await ns.sh(['ip', 'link', 'set', d, 'up']);
  const idx = async (name: string): Promise<LinkRef> => ({ name, ifindex: (await agent.call<{ index: number }>('rtnl', 'link', name)).index });
  const va = await idx('va');
  const ifb = await idx('tqi0');
  const root = tcHandle(0x7471);
  const leaf = (rateBps: number, prio: number) => ({ kind: 'htb', rateBps, ceilBps: 10e6, burstBytes: 1600, cburstBytes: 1600, quantum: 1514, prio, overheadBytes: 30 });

  await t.test('build', async (t) => {
    await tc('replaceQdisc', { dev: va, parent: TC_H_ROOT, handle: root, options: { kind: 'htb', defaultClass: 0x13 } });
    await tc('setClass', { dev: va, parent: root, classid: tcHandle(0x7471, 1), options: { ...leaf(10e6, 0) } });
    await tc('setClass', { dev: va, parent: tcHandle(0x7471, 1), classid: tcHandle(0x7471, 0x11), options: leaf(2.5e6, 0) });
    await tc('setClass', { dev: va, parent: tcHandle(0x7471, 1), classid: tcHandle(0x7471, 0x13), options: leaf(7.5e6, 2) });
    for (const m of [0x11, 0x13]) {
      await tc('replaceQdisc', { dev: va, parent: tcHandle(0x7471, m), handle: tcHandle(m), options: { kind: 'bfifo', limit: 30000 } });
    }
    await tc('addFilter', { dev: va, parent: root, prio: 1, protocol: 'ip', handle: u32Node(1), options: { kind: 'u32', keys: [dscpKey(4, 46)], classid: tcHandle(0x7471, 0x11) } });
    await tc('replaceQdisc', { dev: ifb, parent: TC_H_ROOT, handle: root, options: { kind: 'tbf', rateBps: 10e6, burstBytes: 15000, limitBytes: 125000 } });
    await tc('addQdisc', { dev: va, parent: TC_H_INGRESS, handle: INGRESS_HANDLE, options: { kind: 'ingress' } });
    await tc('addFilter', { dev: va, parent: INGRESS_HANDLE, prio: 0x7471, protocol: 'all', handle: u32Node(1), options: { kind: 'u32', keys: [matchAll], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: ifb.ifindex }] } });

    const classes = parseClasses(await ns.sh(['tc', 'class', 'show', 'dev', 'va']));
    t.match(classes['7471:1'], /^root rate 10Mbit overhead 30 ceil 10Mbit burst 1600b cburst 1600b/, `tc class 7471:1: ${classes['7471:1']}`);
    t.match(classes['7471:11'], /^parent 7471:1 leaf 11: prio 0 rate 2500Kbit overhead 30 ceil 10Mbit/, `tc class 7471:11: ${classes['7471:11']}`);
    t.match(classes['7471:13'], /^parent 7471:1 leaf 13: prio 2 rate 7500Kbit overhead 30 ceil 10Mbit/, `tc class 7471:13: ${classes['7471:13']}`);
    const qd = await tcJson<TcJson>(['qdisc', 'show', 'dev', 'va']);
    t.match(qd.find((q) => q.handle === '7471:'), { kind: 'htb', options: { default: '0x13' } });
    t.match(qd.find((q) => q.handle === '11:'), { kind: 'bfifo', parent: '7471:11', options: { limit: 30000 } });
    t.ok(qd.some((q) => q.kind === 'ingress'), 'ingress qdisc present');
    const ingress = await ns.sh(['tc', 'filter', 'show', 'dev', 'va', 'ingress']);
    t.match(ingress, /mirred \(Egress Redirect to device tqi0\) stolen/, `tc filter show ingress: ${ingress}`);
    const egress = await ns.sh(['tc', 'filter', 'show', 'dev', 'va', 'parent', '7471:']);
    t.match(egress, /flowid 7471:11[\s\S]*match 00b80000\/00fc0000 at 0/, `tc filter show: ${egress}`);
  });

  await t.test('read back: the client decodes what it built', async (t) => {
    const classes = await tc<ClassInfo[]>('classes', va);
    const c11 = classes.find((c) => c.classid === tcHandle(0x7471, 0x11));
    t.same(c11?.options, { ...leaf(2.5e6, 0), mpu: 0 }, `got ${JSON.stringify(c11?.options)}`);
    t.equal(c11?.leaf, tcHandle(0x11), 'the class names its leaf qdisc');
    const filters = await tc<FilterInfo[]>('filters', va, INGRESS_HANDLE);
    const redirect = filters.find((f) => f.options?.divisor === null);
    t.match(redirect, { prio: 0x7471, protocol: 0x0003, options: { actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: ifb.ifindex }] } });
    const q = await tc<QdiscInfo[]>('qdiscs', ifb);
    t.same(q.map((x) => x.options), [{ kind: 'tbf', rateBps: 10e6, burstBytes: 15000, limitBytes: 125000, overheadBytes: 0 }]);
  });

  await t.test('packets: EF goes to 7471:11, the rest to the default class, replies through the IFB', async (t) => {
    await ns.exec(['fping', '-c', '20', '-p', '5', '-t', '500', '-q', '-O', '184', '10.99.0.2']);
    await ns.exec(['fping', '-c', '10', '-p', '5', '-t', '500', '-q', '10.99.0.2']);
    const classes = await tc<ClassInfo[]>('classes', va);
    const pk = (m: number): number => classes.find((c) => c.classid === tcHandle(0x7471, m))?.stats?.packets ?? -1;
    t.ok(pk(0x11) >= 20, `7471:11 (EF): got ${pk(0x11)} packets; want at least 20`);
    t.ok(pk(0x13) >= 10 && pk(0x13) < 20 + 10, `7471:13 (default): got ${pk(0x13)} packets; want the 10 unmarked (plus ARP)`);
    const ifq = await tc<QdiscInfo[]>('qdiscs', ifb);
    t.ok((ifq[0]?.stats?.packets ?? 0) >= 30, `tqi0 (redirected replies): got ${ifq[0]?.stats?.packets} packets; want at least 30`);
  });

  await t.test('change in place: same handles, counters keep counting', async (t) => {
    const before = await tc<QdiscInfo[]>('qdiscs', va);
    const rootBefore = before.find((q) => q.handle === root)!.stats!.packets;
    await tc('setClass', { dev: va, parent: root, classid: tcHandle(0x7471, 1), options: { ...leaf(5e6, 0), ceilBps: 5e6 } });
    await tc('changeQdisc', { dev: va, parent: tcHandle(0x7471, 0x11), handle: tcHandle(0x11), options: { kind: 'bfifo', limit: 15000 } });
    // HTB has no change operation: a replace of the same root is refused rather than rebuilt.
    await t.rejects(tc('replaceQdisc', { dev: va, parent: TC_H_ROOT, handle: root, options: { kind: 'htb', defaultClass: 0x13 } }), { code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'EINVAL' } });
    const after = await tc<QdiscInfo[]>('qdiscs', va);
    t.same(after.map((q) => [q.handle, q.kind]), before.map((q) => [q.handle, q.kind]), 'the same qdiscs');
    t.ok(after.find((q) => q.handle === root)!.stats!.packets >= rootBefore, 'the root counter did not restart');
    const cls = await tc<ClassInfo[]>('classes', va);
    t.equal(cls.find((c) => c.classid === tcHandle(0x7471, 1))?.options?.rateBps, 5e6);
    t.equal(after.find((q) => q.handle === tcHandle(0x11))?.options && (after.find((q) => q.handle === tcHandle(0x11))!.options as { limit: number }).limit, 15000);
  });

  await t.test('errors and deletes', async (t) => {
    await t.rejects(tc('replaceQdisc', { dev: va, parent: tcHandle(0x7471, 0x11), handle: tcHandle(0x21), options: { kind: 'cake', bandwidthBps: 1e6 } }), {
      code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'ENOENT' },
    }, 'a qdisc this kernel lacks (cake) is refused');
    await t.rejects(tc('replaceQdisc', { dev: va, parent: tcHandle(0x7471, 0x11), handle: tcHandle(0x11), options: { kind: 'pfifo', limit: 10 } }), {
      code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'EINVAL' },
    }, 'a handle keeps its kind: replacing bfifo 11: by a pfifo 11: is refused');
    await t.rejects(tc('addFilter', { dev: va, parent: root, prio: 1, protocol: 'ip', handle: u32Node(1), options: { kind: 'u32', keys: [dscpKey(4, 34)], classid: tcHandle(0x7471, 0x11) } }), {
      code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'ENOSPC' },
    }, 'a taken u32 node is refused (u32 reports it as ENOSPC: its id allocator is full at that number)');
    const f = (await tc<FilterInfo[]>('filters', va, root)).find((x) => x.options?.divisor === null)!;
    await tc('deleteFilter', va, root, f.prio, f.protocol, f.handle);
    t.same((await tc<FilterInfo[]>('filters', va, root)).filter((x) => x.options?.divisor === null), [], 'the filter is gone');
    await tc('deleteClass', va, tcHandle(0x7471, 0x13));
    t.notOk((await tc<ClassInfo[]>('classes', va)).some((c) => c.classid === tcHandle(0x7471, 0x13)), 'the class is gone');
    t.equal(await tc('deleteQdisc', va, TC_H_INGRESS), true);
    t.equal(await tc('deleteQdisc', va, TC_H_ROOT), true);
    t.equal(await tc('deleteQdisc', va, TC_H_ROOT), false, 'deleting again reports nothing was there');
    const left = await tcJson<TcJson>(['qdisc', 'show', 'dev', 'va']);
    t.same(left.map((q) => q.kind), ['noqueue'], `tc qdisc show: got ${left.map((q) => q.kind)}; want noqueue only`);
  });
});
