// qos.status per direction: the plan's classes joined with the kernel's
// counters, for HTB classes and cake tins.
import t from 'tap';
import { TC_H_ROOT, tcHandle, type ClassInfo, type QdiscInfo } from '../lib/kernel/index.js';
import { qosPlan } from './plan.js';
import { directionStatus } from './status.js';
import { qosConfig } from './testkit.js';

const stats = (bytes: number) => ({ bytes, packets: bytes / 100, drops: 1, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 });

t.test('HTB: every QoS class with its rate, DSCP values and counters; the kernel\'s rate', async (t) => {
  const plan = qosPlan(qosConfig(), { mode: 'htb', leaf: 'bfifo', ingress: true }).wans[0]!;
  const root: QdiscInfo = { ifindex: 2, handle: tcHandle(0x7471), parent: TC_H_ROOT, kind: 'htb', options: { kind: 'htb', defaultClass: 0x13 }, stats: stats(9000) };
  const classes: ClassInfo[] = [
    { ifindex: 2, classid: tcHandle(0x7471, 1), parent: TC_H_ROOT, kind: 'htb', options: { kind: 'htb', rateBps: 19e6, ceilBps: 19e6, burstBytes: 2375, cburstBytes: 2375, quantum: 1544, prio: 0 }, stats: stats(9000), leaf: 0 },
    { ifindex: 2, classid: tcHandle(0x7471, 0x14), parent: tcHandle(0x7471, 1), kind: 'htb', options: null, stats: stats(8000), leaf: tcHandle(0x14) },
  ];
  const s = directionStatus(plan, 'up', { dev: 'wan0', root, classes })!;
  t.match(s, { dev: 'wan0', rateMbps: 20, configuredMbps: 20, kernelRateMbps: 19, bytes: 9000, packets: 90, drops: 1 });
  t.same(s.classes.find((c) => c.name === 'bulk'), { name: 'bulk', classid: '7471:14', prio: 3, rateMbps: 2, ceilMbps: 20, leaf: 'bfifo', dscp: [1, 8], bytes: 8000, packets: 80, drops: 1, backlog: 0 });
  t.same(s.classes.find((c) => c.name === 'realtime'), { name: 'realtime', classid: '7471:11', prio: 0, rateMbps: 5, ceilMbps: 20, leaf: 'bfifo', dscp: [40, 44, 46] }, 'no counters when the kernel has no such class');
  t.equal(directionStatus(plan, 'up', null)?.kernelRateMbps, null, 'nothing read: no kernel rate');
});

t.test('cake: the four tins, named as QoS classes, with their counters', async (t) => {
  const plan = qosPlan(qosConfig(), { mode: 'cake', leaf: null, ingress: true }).wans[0]!;
  const tin = (bytes: number) => ({ bytes, packets: 1, drops: 0, ecnMarks: 0, backlog: 0, avgDelayUs: 0 });
  const root: QdiscInfo = {
    ifindex: 3, handle: tcHandle(0x7471), parent: TC_H_ROOT, kind: 'cake', options: { kind: 'cake', bandwidthBps: 45e6 }, stats: stats(100),
    tins: [tin(1), tin(2), tin(3), tin(4)],
  };
  const s = directionStatus(plan, 'down', { dev: 'tqi-isp', root, classes: [] })!;
  t.equal(s.kernelRateMbps, 45);
  t.same(s.classes.map((c) => [c.name, c.tin, c.bytes]), [['bulk', 1, 1], ['besteffort', 2, 2], ['interactive', 3, 3], ['realtime', 4, 4]]);
});
