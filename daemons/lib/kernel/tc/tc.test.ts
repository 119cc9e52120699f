// The tc client against a fake socket: which message, flags and attributes
// each call sends, how dumps are read, and how kernel errors come back.
import t from 'tap';
import { FlagsNew, type rt } from 'netlink';
import { encodeClassOptions, encodeQdiscOptions } from './options.js';
import { encodeFilterOptions, dscpKey } from './filter.js';
import { INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT, tcHandle, u32Node } from './handle.js';
import { Tc, type TcSocket } from './tc.js';

interface Sent { method: string; data: rt.Tc; attrs: rt.TcAttrs; flags: number }

function fakeSocket(replies: Partial<Record<keyof TcSocket, rt.TcMessage[]>> = {}, fail: Partial<Record<string, Error>> = {}) {
  const sent: Sent[] = [];
  const handler = (method: string) => async (data: rt.Tc, attrs: rt.TcAttrs, opts?: { flags?: number }) => {
    sent.push({ method, data, attrs, flags: opts?.flags ?? 0 });
    const f = fail[method];
    if (f) throw f;
    return (replies as Record<string, rt.TcMessage[]>)[method] ?? [];
  };
  const names = ['newQdisc', 'delQdisc', 'getQdiscs', 'newTrafficClass', 'delTrafficClass', 'getTrafficClasses', 'newTrafficFilter', 'delTrafficFilter', 'getTrafficFilters'];
  const sock = Object.fromEntries(names.map((n) => [n, handler(n)])) as unknown as TcSocket;
  sock.close = () => {};
  return { sock, sent };
}

const wan0 = { ifindex: 4, name: 'wan0' };
const root = tcHandle(0x7471);

t.test('each call sends one message with the right flags, header and attributes', async (t) => {
  const { sock, sent } = fakeSocket();
  const tc = new Tc({ socket: sock });
  const htb = { kind: 'htb' as const, defaultClass: 0x13 };
  const cls = { kind: 'htb' as const, rateBps: 20e6, ceilBps: 20e6, burstBytes: 2500, cburstBytes: 2500, quantum: 1514, prio: 0 };
  const u32 = { kind: 'u32' as const, keys: [dscpKey(4, 46)], classid: tcHandle(0x7471, 0x11) };
  await tc.replaceQdisc({ dev: wan0, parent: TC_H_ROOT, handle: root, options: htb });
  await tc.changeQdisc({ dev: wan0, parent: tcHandle(0x7471, 0x11), handle: tcHandle(0x11), options: { kind: 'bfifo', limit: 9000 } });
  await tc.addQdisc({ dev: wan0, parent: TC_H_INGRESS, handle: INGRESS_HANDLE, options: { kind: 'ingress' } });
  await tc.setClass({ dev: wan0, parent: root, classid: tcHandle(0x7471, 1), options: cls });
  await tc.addFilter({ dev: wan0, parent: root, prio: 1, protocol: 'ip', handle: u32Node(3), options: u32 });
  await tc.deleteFilter(wan0, root, 1, 0x0800, 0x80000003);
  await tc.deleteClass(wan0, tcHandle(0x7471, 0x14));
  await tc.deleteQdisc(wan0, TC_H_INGRESS);
  const want: Sent[] = [
    { method: 'newQdisc', data: { ifindex: 4, parent: TC_H_ROOT, handle: root }, attrs: { kind: 'htb', options: encodeQdiscOptions(htb)! }, flags: FlagsNew.CREATE | FlagsNew.REPLACE },
    { method: 'newQdisc', data: { ifindex: 4, parent: 0x74710011, handle: 0x00110000 }, attrs: { kind: 'bfifo', options: Buffer.from('28230000', 'hex') }, flags: 0 },
    { method: 'newQdisc', data: { ifindex: 4, parent: TC_H_INGRESS, handle: 0xffff0000 }, attrs: { kind: 'ingress' }, flags: FlagsNew.CREATE | FlagsNew.EXCL },
    { method: 'newTrafficClass', data: { ifindex: 4, parent: root, handle: 0x74710001 }, attrs: { kind: 'htb', options: encodeClassOptions(cls) }, flags: FlagsNew.CREATE },
    { method: 'newTrafficFilter', data: { ifindex: 4, parent: root, handle: 3, info: 0x00010008 }, attrs: { kind: 'u32', options: encodeFilterOptions(u32) }, flags: FlagsNew.CREATE | FlagsNew.EXCL },
    { method: 'delTrafficFilter', data: { ifindex: 4, parent: root, handle: 0x80000003, info: 0x00010008 }, attrs: {}, flags: 0 },
    { method: 'delTrafficClass', data: { ifindex: 4, handle: 0x74710014 }, attrs: {}, flags: 0 },
    { method: 'delQdisc', data: { ifindex: 4, parent: TC_H_INGRESS, handle: 0 }, attrs: {}, flags: 0 },
  ];
  t.same(sent, want);
});

t.test('bad arguments fail before anything is sent', async (t) => {
  const { sock, sent } = fakeSocket();
  const tc = new Tc({ socket: sock });
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['no device', () => tc.replaceQdisc({ dev: undefined as never, parent: TC_H_ROOT, handle: root, options: { kind: 'ingress' } })],
    ['ifindex 0', () => tc.qdiscs({ ifindex: 0, name: 'x' })],
    ['handle above u32', () => tc.replaceQdisc({ dev: wan0, parent: TC_H_ROOT, handle: 2 ** 32, options: { kind: 'ingress' } })],
    ['zero rate', () => tc.setClass({ dev: wan0, parent: root, classid: root + 1, options: { kind: 'htb', rateBps: 0, ceilBps: 0, burstBytes: 1, cburstBytes: 1, quantum: 1, prio: 0 } })],
    ['filter prio 0', () => tc.addFilter({ dev: wan0, parent: root, prio: 0, protocol: 'ip', options: { kind: 'u32', keys: [dscpKey(4, 0)], classid: root + 1 } })],
  ];
  for (const [name, fn] of cases) await t.rejects(fn(), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, name);
  t.same(sent, [], `got ${sent.length} messages sent; want none`);
});

t.test('kernel errors name the operation, the device and the errno', async (t) => {
  const { sock } = fakeSocket({}, { newQdisc: new Error('Request rejected: ENOENT'), newTrafficClass: new Error('Request rejected: -22') });
  const tc = new Tc({ socket: sock });
  await t.rejects(tc.replaceQdisc({ dev: wan0, parent: TC_H_ROOT, handle: root, options: { kind: 'fq_codel' } }), {
    code: 'TERN_E_KERNEL_NETLINK',
    message: 'kernel: qdisc replace dev wan0 root handle 7471: fq_codel: ENOENT: no such object wan0',
    details: { errno: 'ENOENT' },
  });
  await t.rejects(tc.setClass({ dev: wan0, parent: root, classid: root + 1, options: { kind: 'htb', rateBps: 8e3, ceilBps: 8e3, burstBytes: 1600, cburstBytes: 1600, quantum: 1514, prio: 0 } }), {
    code: 'TERN_E_KERNEL_NETLINK',
    message: /^kernel: class set dev wan0 parent 7471: classid 7471:1 htb: EINVAL/,
  });
});

t.test('deleting a qdisc that is not there is not an error', async (t) => {
  const { sock } = fakeSocket({}, { delQdisc: new Error('Request rejected: ENOENT') });
  t.equal(await new Tc({ socket: sock }).deleteQdisc(wan0, TC_H_ROOT), false);
  const other = fakeSocket({}, { delQdisc: new Error('Request rejected: EPERM') });
  await t.rejects(new Tc({ socket: other.sock }).deleteQdisc(wan0, TC_H_ROOT), { code: 'TERN_E_KERNEL_NETLINK', details: { errno: 'EPERM' } });
});

t.test('dumps: other devices dropped, options and counters read, unreadable options tolerated', async (t) => {
  const stats2 = Buffer.concat([
    Buffer.from('14000100', 'hex'), Buffer.from('e803000000000000' + '0a000000' + '00000000', 'hex'), // BASIC: 1000 bytes, 10 packets
    Buffer.from('18000300', 'hex'), Buffer.from('01000000' + 'dc050000' + '02000000' + '00000000' + '05000000', 'hex'), // QUEUE
  ]);
  const qdiscs: rt.TcMessage[] = [
    { kind: 'tc', data: { ifindex: 4, handle: root, parent: TC_H_ROOT }, attrs: { kind: 'htb', options: encodeQdiscOptions({ kind: 'htb', defaultClass: 0x13 }), stats2 } },
    { kind: 'tc', data: { ifindex: 5, handle: 0, parent: TC_H_ROOT }, attrs: { kind: 'noqueue' } },
    { kind: 'tc', data: { ifindex: 4, handle: 0x00110000, parent: 0x74710011 }, attrs: { kind: 'bfifo', options: Buffer.from('01', 'hex') } },
  ];
  const { sock } = fakeSocket({ getQdiscs: qdiscs });
  const got = await new Tc({ socket: sock }).qdiscs(wan0);
  t.same(got, [
    { ifindex: 4, handle: root, parent: TC_H_ROOT, kind: 'htb', options: { kind: 'htb', defaultClass: 0x13, r2q: 10 }, stats: { bytes: 1000, packets: 10, qlen: 1, backlog: 1500, drops: 2, requeues: 0, overlimits: 5 } },
    { ifindex: 4, handle: 0x00110000, parent: 0x74710011, kind: 'bfifo', options: null, stats: null },
  ]);
});
