import t from 'tap';
import {
  ifbPrefix, ifnamePrefix, ownInterfaceGlobs, pathMarkBase, pathMarkMask, pathTableBase, queueBase, queueCount, queueFlagMark,
  rulePriority, scratchIfbPrefix, virtualMacIfname, virtualMacPrefix, wanMarkBase, wanTableRange, wireguardProbeIfname,
} from './names.js';

t.test('Tern\'s numbers do not collide with each other', async (t) => {
  t.ok(rulePriority.wanMark < rulePriority.peerWan && rulePriority.peerWan < rulePriority.pathMark,
    `got priorities ${JSON.stringify(rulePriority)}; want WAN marks, then peer WANs, then path marks`);
  t.ok(wanTableRange.max < pathTableBase, `got WAN tables up to ${wanTableRange.max} and path tables from ${pathTableBase}; want them apart`);
  const wanMarks = [wanMarkBase + wanTableRange.min, wanMarkBase + wanTableRange.max];
  t.ok(wanMarks.every((m) => (m & pathMarkMask) !== pathMarkBase && (m & pathMarkMask) !== (queueFlagMark & pathMarkMask)),
    `got WAN marks 0x${wanMarks.map((m) => m.toString(16)).join('-0x')}; want none read as a path mark or the queue flag`);
  t.not(queueFlagMark & pathMarkMask, pathMarkBase, 'the queue flag is never a path mark');
  t.ok(queueBase > 0 && queueBase + queueCount - 1 <= 0xffff, `got queues ${queueBase}-${queueBase + queueCount - 1}; want within 1-65535`);
});

t.test('every interface Tern names is within IFNAMSIZ and matched by ownInterfaceGlobs', async (t) => {
  const names = [`${ifnamePrefix}2-3-00`, wireguardProbeIfname(4_194_304), virtualMacIfname(255), `${ifbPrefix}isp-backup`, `${scratchIfbPrefix}0a1b2c`];
  for (const n of names) {
    t.ok(n.length <= 15, `${n}: got ${n.length} characters; want at most 15`);
    t.ok(ownInterfaceGlobs.some((g) => n.startsWith(g.slice(0, -1))), `${n}: got no glob of ${ownInterfaceGlobs.join(' ')}; want one`);
  }
  t.equal(virtualMacIfname(7), `${virtualMacPrefix}7`);
});
