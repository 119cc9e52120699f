// Reconciling against an in-memory kernel: build, adopt without touching,
// change only what differs, put the old shaping back on a kernel error,
// and clean up what a WAN that left the config left behind.
import t from 'tap';
import { INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT, tcHandle } from '../lib/kernel/index.js';
import { qosPlan, type WanPlan } from './plan.js';
import { Shaper, changedAnything } from './shaper.js';
import { FakeKernel, qosConfig } from './testkit.js';
import { parentClass, rootHandle } from './tree.js';

type Choice = { mode: 'htb' | 'cake'; leaf: 'bfifo' | 'fq_codel' | null; ingress: boolean };
const htb: Choice = { mode: 'htb', leaf: 'bfifo', ingress: true };

function planOf(patch: Record<string, unknown> = {}, choice: Choice = htb, rates?: Map<string, { up?: number; down?: number }>): WanPlan {
  return qosPlan(qosConfig(patch), choice, rates).wans[0]!;
}

function setup(): { k: FakeKernel; s: Shaper } {
  const k = new FakeKernel([{ name: 'lo' }, { name: 'wan0', kind: 'veth' }, { name: 'lan0', kind: 'veth' }]);
  return { k, s: new Shaper({ tc: k, links: k }) };
}

const dev = async (k: FakeKernel, name: string) => ({ name, ifindex: (await k.link(name))!.index });

t.test('a fresh WAN gets the whole tree; a second pass changes nothing', async (t) => {
  const { k, s } = setup();
  const r = await s.apply(planOf());
  t.ok(r.created.includes('link tqi-isp (ifb)'), 'the IFB is made');
  const ifb = await k.link('tqi-isp');
  t.match(ifb, { kind: 'ifb', up: true });
  for (const name of ['wan0', 'tqi-isp']) {
    const d = await dev(k, name);
    const q = await k.qdiscs(d);
    t.same(q.filter((x) => x.parent === TC_H_ROOT).map((x) => [x.handle, x.kind]), [[rootHandle, 'htb']], `${name}: Tern's HTB is the root`);
    t.equal(q.filter((x) => x.kind === 'bfifo').length, 4, `${name}: four FIFO leaves`);
    t.equal((await k.classes(d)).length, 5, `${name}: shaper class and four QoS classes`);
    t.equal((await k.filters(d, rootHandle)).filter((f) => f.options?.divisor === null).length, 26, `${name}: 13 DSCP filters each for IPv4 and IPv6`);
  }
  const wan0 = await dev(k, 'wan0');
  const redirect = (await k.filters(wan0, INGRESS_HANDLE)).find((f) => f.options?.divisor === null);
  t.match(redirect, { prio: 0x7471, options: { actions: [{ kind: 'mirred', ifindex: ifb!.index }] } }, 'wan0 ingress redirects to the IFB');
  const before = k.ops.length;
  const again = await s.apply(planOf());
  t.notOk(changedAnything(again), `second pass: got ${JSON.stringify(again)}; want no change`);
  t.same(k.ops.slice(before), [], 'not one mutation reached the kernel');
});

t.test('restart: a new Shaper adopts what is there without a mutation', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  const before = k.ops.length;
  const fresh = new Shaper({ tc: k, links: k });
  t.notOk(changedAnything(await fresh.apply(planOf())));
  t.same(k.ops.slice(before), []);
});

t.test('a new rate changes classes and FIFO sizes in place; counters keep counting', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  k.traffic('wan0', 5000, tcHandle(0x7471, 0x13));
  const before = k.ops.length;
  const r = await s.apply(planOf({ qos: { enabled: true, wans: [{ wan: 'isp', upMbps: 18 }] } }));
  const ops = k.ops.slice(before);
  t.ok(ops.length > 0 && ops.every((o) => /^(setClass|changeQdisc) wan0 /.test(o)), `got ${ops.join(', ')}; want only class and leaf changes on wan0`);
  t.same(r.created, []);
  t.same(r.deleted, []);
  const wan0 = await dev(k, 'wan0');
  const root = (await k.qdiscs(wan0)).find((q) => q.parent === TC_H_ROOT)!;
  t.equal(root.stats?.bytes, 5000, 'the root counter kept its bytes');
  t.equal((await k.classes(wan0)).find((c) => c.classid === parentClass)?.options?.rateBps, 18e6);
});

t.test('a changed DSCP map replaces only the filters that differ', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  const before = k.ops.length;
  // CS1 (8) moves from bulk to realtime: one filter per protocol changes.
  await s.apply(planOf({ appClasses: [{ name: 'ops', match: { dscp: [8] }, qosClass: 'realtime' }] }));
  const ops = k.ops.slice(before);
  t.same(ops.filter((o) => !o.startsWith('deleteFilter') && !o.startsWith('addFilter')), [], `got ${ops.join(', ')}; want filter changes only`);
  t.equal(ops.filter((o) => o.startsWith('addFilter')).length, 4, 'node 2 (DSCP 8) of both protocols on both devices');
});

t.test('the leaf kind changes (FIFO → fq_codel): leaves replaced, classes and filters kept', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  const before = k.ops.length;
  await s.apply(planOf({}, { mode: 'htb', leaf: 'fq_codel', ingress: true }));
  const ops = k.ops.slice(before);
  t.ok(ops.every((o) => /^(deleteQdisc|replaceQdisc) \S+ 1[1-4]0000( fq_codel)?$/.test(o)), `got ${ops.join(', ')}`);
  t.equal(ops.length, 16, 'four leaves, each deleted and added, on two devices');
});

t.test('cake: one root per device, its rate changed in place', async (t) => {
  const { k, s } = setup();
  const cake: Choice = { mode: 'cake', leaf: null, ingress: true };
  await s.apply(planOf({}, cake));
  const wan0 = await dev(k, 'wan0');
  t.same((await k.qdiscs(wan0)).filter((q) => q.parent === TC_H_ROOT).map((q) => q.kind), ['cake']);
  t.same(await k.classes(wan0), []);
  const before = k.ops.length;
  await s.apply(planOf({ qos: { enabled: true, wans: [{ wan: 'isp', upMbps: 15 }] } }, cake));
  t.same(k.ops.slice(before), ['changeQdisc wan0 74710000 cake']);
  t.equal(await s.currentRate(planOf({}, cake), 'up'), 15e6);
});

t.test('a kernel error mid-way puts the previous shaping back and names the WAN', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  k.traffic('wan0', 7000);
  const good = k.snapshot();
  // The new rate gets as far as the shaper class on wan0, then a QoS class is refused.
  k.failNext((op) => op === 'setClass wan0 74710012', 'EINVAL');
  await t.rejects(s.apply(planOf({ qos: { enabled: true, wans: [{ wan: 'isp', upMbps: 10 }] } })), {
    code: 'TERN_E_QOS_KERNEL',
    message: /^qosd: apply: WAN isp \(wan0\): kernel: setClass wan0 74710012: EINVAL: .*; the previous shaping stays in place$/,
    details: { wan: 'isp', interface: 'wan0', errno: 'EINVAL' },
  });
  t.equal(k.snapshot(), good, 'the kernel is as it was before the failed change');
  const root = (await k.qdiscs(await dev(k, 'wan0'))).find((q) => q.parent === TC_H_ROOT)!;
  t.equal(root.stats?.bytes, 7000, 'and the shaping never went away: its counter still counts');
  t.equal(s.appliedPlan('isp')?.up.rateBps, 20e6, 'the applied plan is still the old one');
});

t.test('a first apply that fails leaves the WAN unshaped, not half built', async (t) => {
  const { k, s } = setup();
  const clean = k.snapshot();
  k.failNext((op) => op.startsWith('addFilter wan0 ffff0000'), 'ENOMEM');
  await t.rejects(s.apply(planOf()), { code: 'TERN_E_QOS_KERNEL', message: /WAN isp \(wan0\).*ENOMEM.*the WAN stays unshaped$/ });
  t.equal(k.snapshot(), clean);
});

t.test('a missing WAN interface or a taken IFB name: TERN_E_QOS_WAN, nothing touched', async (t) => {
  const k = new FakeKernel([{ name: 'lo' }]);
  const s = new Shaper({ tc: k, links: k });
  await t.rejects(s.apply(planOf()), { code: 'TERN_E_QOS_WAN', message: "qosd: apply: WAN isp: no interface 'wan0' on this box; it stays unshaped until it appears" });
  t.same(k.ops, []);
  const k2 = new FakeKernel([{ name: 'wan0', kind: 'veth' }, { name: 'tqi-isp', kind: 'bridge' }]);
  await t.rejects(new Shaper({ tc: k2, links: k2 }).apply(planOf()), { code: 'TERN_E_QOS_WAN', message: /'tqi-isp' exists but is a bridge link, not the IFB/ });
  t.same(k2.ops, []);
});

t.test('adoption replaces a foreign root qdisc but keeps foreign ingress filters', async (t) => {
  const { k, s } = setup();
  const wan0 = await dev(k, 'wan0');
  await k.replaceQdisc({ dev: wan0, parent: TC_H_ROOT, handle: tcHandle(1), options: { kind: 'tbf', rateBps: 1e6, burstBytes: 15000, limitBytes: 15000 } });
  await k.addQdisc({ dev: wan0, parent: TC_H_INGRESS, handle: INGRESS_HANDLE, options: { kind: 'ingress' } });
  await k.addFilter({ dev: wan0, parent: INGRESS_HANDLE, prio: 5, protocol: 'ip', options: { kind: 'u32', keys: [{ offset: 0, mask: 0, value: 0 }], classid: tcHandle(1, 1) } });
  await s.apply(planOf());
  t.same((await k.qdiscs(wan0)).filter((q) => q.parent === TC_H_ROOT).map((q) => [q.handle, q.kind]), [[rootHandle, 'htb']]);
  const prios = (await k.filters(wan0, INGRESS_HANDLE)).filter((f) => f.options?.divisor === null).map((f) => f.prio).sort((a, b) => a - b);
  t.same(prios, [5, 0x7471], 'the foreign filter stays beside Tern\'s redirect');
});

t.test('sweep and remove: a WAN that left the config loses its root, redirect and IFB; foreign filters stay', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  const wan0 = await dev(k, 'wan0');
  await k.addFilter({ dev: wan0, parent: INGRESS_HANDLE, prio: 5, protocol: 'ip', options: { kind: 'u32', keys: [{ offset: 0, mask: 0, value: 0 }], classid: tcHandle(1, 1) } });
  const lan0 = await dev(k, 'lan0');
  await k.replaceQdisc({ dev: lan0, parent: TC_H_ROOT, handle: rootHandle, options: { kind: 'htb', defaultClass: 0x13 } });
  const kept = await s.sweep({ interfaces: new Set(['wan0']), ifbs: new Set(['tqi-isp']) });
  t.same(kept.deleted, ['lan0: qdisc 7471: htb'], 'only the stray Tern root on lan0 goes');
  const r = await s.sweep({ interfaces: new Set(), ifbs: new Set() });
  t.same(r.deleted.sort(), ['link tqi-isp (ifb)', 'wan0: filter prio 29809 (redirect)', 'wan0: qdisc 7471: htb'].sort());
  t.notOk(await k.link('tqi-isp'));
  t.same((await k.filters(wan0, INGRESS_HANDLE)).filter((f) => f.options?.divisor === null).map((f) => f.prio), [5], 'the foreign filter and its ingress qdisc stay');
  await s.apply(planOf());
  const removed = await s.remove('isp', 'wan0', 'tqi-isp');
  t.ok(removed.deleted.includes('link tqi-isp (ifb)') && removed.deleted.includes('wan0: qdisc 7471: htb'), `got ${JSON.stringify(removed.deleted)}`);
  t.equal(s.appliedPlan('isp'), undefined);
});

t.test('without ingress shaping, a redirect and IFB left from before are removed', async (t) => {
  const { k, s } = setup();
  await s.apply(planOf());
  const r = await s.apply(planOf({}, { ...htb, ingress: false }));
  t.ok(r.deleted.includes('link tqi-isp (ifb)'), `got ${JSON.stringify(r.deleted)}`);
  const wan0 = await dev(k, 'wan0');
  t.notOk((await k.qdiscs(wan0)).some((q) => q.parent === TC_H_INGRESS), 'the ingress qdisc Tern added is gone too');
});
