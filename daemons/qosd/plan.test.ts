// The plan from the config: rates, devices, classes, DSCP map, autorate
// bounds, and the bad input that must be a clear error.
import t from 'tap';
import { parseConfig } from '../lib/config/index.js';
import { isTernError } from '../lib/errors.js';
import { dscpMap, dscpOf } from './classify.js';
import { ifbName, qosPlan } from './plan.js';
import { qosConfig } from './testkit.js';

const htb = { mode: 'htb' as const, leaf: 'bfifo' as const, ingress: true };

t.test('a WAN with bandwidth is planned: egress on its interface, ingress on its IFB', async (t) => {
  const p = qosPlan(qosConfig(), htb);
  t.same(p.problems, []);
  t.equal(p.wans.length, 1);
  const w = p.wans[0]!;
  t.match(w, { wan: 'isp', interface: 'wan0', ifb: 'tqi-isp', mode: 'htb', leaf: 'bfifo', overheadBytes: 44, autorate: null });
  t.same(w.up, { direction: 'up', dev: 'wan0', rateBps: 20e6, configuredBps: 20e6 });
  t.same(w.down, { direction: 'down', dev: 'tqi-isp', rateBps: 50e6, configuredBps: 50e6 });
});

t.test('qos.wans overrides the WAN bandwidth; enabled: false leaves a WAN unshaped', async (t) => {
  const cfg = qosConfig({
    wans: [
      { name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 20, downMbps: 50 },
      { name: 'lte', interface: 'wwan0', dhcp: true, upMbps: 5, downMbps: 10 },
    ],
    qos: { enabled: true, wans: [{ wan: 'isp', upMbps: 18 }, { wan: 'lte', enabled: false }] },
  });
  const p = qosPlan(cfg, htb);
  t.same(p.wans.map((w) => [w.wan, w.up.rateBps, w.down?.rateBps]), [['isp', 18e6, 50e6]]);
  t.same(p.unshaped, [{ wan: 'lte', interface: 'wwan0', ifb: 'tqi-lte' }]);
});

t.test('qos off, or a kernel without cake and htb: nothing is shaped', async (t) => {
  const off = qosPlan(qosConfig({ qos: { enabled: false } }), htb);
  t.same([off.wans, off.unshaped.map((u) => u.wan), off.problems], [[], ['isp'], []]);
  const none = qosPlan(qosConfig(), { mode: null, leaf: null, ingress: false });
  t.equal(none.wans.length, 0);
  t.match(none.problems[0]?.message, /neither cake nor htb/);
});

t.test('without IFB the WAN is shaped upstream only, and the plan says so', async (t) => {
  const p = qosPlan(qosConfig(), { ...htb, ingress: false });
  t.equal(p.wans[0]?.ifb, null);
  t.equal(p.wans[0]?.down, null);
  t.ok(p.notes.some((n) => /only the upstream/.test(n)));
});

t.test('autorate: bounds in bit/s, its current rate kept while inside them', async (t) => {
  const cfg = qosConfig({ qos: { enabled: true, wans: [{ wan: 'isp', autorate: { enabled: true, minUpMbps: 5, maxUpMbps: 20, minDownMbps: 10, maxDownMbps: 50, intervalMs: 250 } }] } });
  const p = qosPlan(cfg, htb, new Map([['isp', { up: 12e6, down: 80e6 }]]));
  const w = p.wans[0]!;
  t.same(w.autorate, { enabled: true, latencyTargetMs: 15, intervalMs: 250, up: { minBps: 5e6, maxBps: 20e6 }, down: { minBps: 10e6, maxBps: 50e6 } });
  t.equal(w.up.rateBps, 12e6, 'autorate rate inside the bounds is used');
  t.equal(w.down?.rateBps, 50e6, 'a rate outside the bounds falls back to the configured one');
  t.equal(w.up.configuredBps, 20e6);
  const noAr = qosPlan(qosConfig(), htb, new Map([['isp', { up: 12e6 }]]));
  t.equal(noAr.wans[0]?.up.rateBps, 20e6, 'without autorate a leftover rate is ignored');
});

t.test('bad input becomes a problem naming the key; the WAN stays unshaped', async (t) => {
  const cases = [
    {
      name: 'configured rate outside the autorate bounds',
      cfg: qosConfig({ qos: { enabled: true, wans: [{ wan: 'isp', autorate: { enabled: true, minUpMbps: 5, maxUpMbps: 10, minDownMbps: 10, maxDownMbps: 50 } }] } }),
      key: 'qos.wans[0].autorate', msg: /upstream rate 20 Mbit\/s is outside autorate's 5-10 Mbit\/s/,
    },
    {
      name: 'a rate below what a shaper can work with',
      cfg: qosConfig({ qos: { enabled: true, wans: [{ wan: 'isp', downMbps: 0.05 }] } }),
      key: 'qos.wans[0].downMbps', msg: /0\.05 Mbit\/s is below the 0\.1 Mbit\/s/,
    },
  ];
  for (const c of cases) {
    const p = qosPlan(c.cfg, htb);
    t.equal(p.wans.length, 0, `${c.name}: got ${p.wans.length} shaped WANs; want 0`);
    t.equal(p.problems[0]?.key, c.key, `${c.name}: key`);
    t.match(p.problems[0]?.message, c.msg, `${c.name}: message`);
  }
});

t.test('bad rates and names in tern.yaml are config errors that name the key', async (t) => {
  const good = qosConfig();
  const doc = (over: Record<string, unknown>): string => JSON.stringify({ ...good, ...over });
  const cases: Array<{ name: string; text: string; want: RegExp }> = [
    { name: 'rate zero', text: doc({ wans: [{ ...good.wans[0], upMbps: 0 }] }), want: /wans\[0\]\.upMbps: must be a number > 0 and ≤ 100000 \(Mbit\/s\); got 0/ },
    { name: 'rate negative', text: doc({ qos: { ...good.qos, wans: [{ wan: 'isp', downMbps: -5 }] } }), want: /qos\.wans\[0\]\.downMbps: must be a number > 0.*got -5/ },
    { name: 'rate absurd', text: doc({ wans: [{ ...good.wans[0], downMbps: 1e9 }] }), want: /wans\[0\]\.downMbps: must be a number > 0 and ≤ 100000.*got 1000000000/ },
    { name: 'rate not a number', text: doc({ wans: [{ ...good.wans[0], downMbps: 'fast' }] }), want: /wans\[0\]\.downMbps: must be a number.*got "fast"/ },
    { name: 'WAN without bandwidth', text: doc({ wans: [{ name: 'isp', interface: 'wan0', dhcp: true }] }), want: /wans\[0\].*missing required key 'upMbps': QoS shapes this WAN/ },
    { name: 'unknown class name in an app class', text: doc({ appClasses: [{ name: 'voip', match: { dscp: [46] }, qosClass: 'gold' }] }), want: /appClasses\[0\]\.qosClass.*must be one of/ },
    { name: 'unknown QoS class', text: doc({ qos: { ...good.qos, classes: { gold: { sharePct: 10 } } } }), want: /qos\.classes.*gold/ },
    { name: 'autorate without bounds', text: doc({ qos: { ...good.qos, wans: [{ wan: 'isp', autorate: { enabled: true } }] } }), want: /qos\.wans\[0\]\.autorate.*minUpMbps/ },
    { name: 'qos entry for an unknown WAN', text: doc({ qos: { ...good.qos, wans: [{ wan: 'nope' }] } }), want: /qos\.wans\[0\]\.wan.*no WAN 'nope'/ },
  ];
  for (const c of cases) {
    let err: unknown;
    try { parseConfig(c.text); } catch (e) { err = e; }
    t.ok(isTernError(err) && /TERN_E_CONFIG_(KEY|SEMANTIC)/.test(err.code), `${c.name}: got ${String(err)}; want a config error`);
    t.match((err as Error | undefined)?.message ?? '', c.want, `${c.name}: message names the key`);
  }
});

t.test('IFB names fit IFNAMSIZ and stay the same for the same WAN', async (t) => {
  t.equal(ifbName('isp'), 'tqi-isp');
  t.equal(ifbName('isp-backup'), 'tqi-isp-backup', 'names that fit are kept whole');
  const long = ifbName('verylongwanname');
  t.ok(long.length <= 15 && long.startsWith('tqi-verylo'), `got ${long}`);
  t.equal(ifbName('verylongwanname'), long, 'stable');
  t.not(ifbName('verylongwanname'), ifbName('verylongwannamf'), 'distinct names stay distinct');
});

t.test('DSCP map: the classes\' lists, then the app classes (first wins), with notes', async (t) => {
  const plain = dscpMap(qosConfig());
  t.same(dscpOf(plain, 'realtime'), [40, 44, 46]);
  t.same(dscpOf(plain, 'bulk'), [1, 8]);
  t.equal(plain.notes.length, 0);
  const cfg = qosConfig({
    appClasses: [
      { name: 'voice', match: { protocols: ['udp'], ports: [5060] }, qosClass: 'realtime', dscpMark: 34 },
      { name: 'video', match: { dscp: [36, 34] }, qosClass: 'interactive' },
      { name: 'backup', match: { prefixes: ['10.30.20.0/24'] }, qosClass: 'bulk' },
      { name: 'scavenger', match: { dscp: [10] }, qosClass: 'bulk' },
    ],
  });
  const m = dscpMap(cfg);
  t.equal(m.byDscp.get(34), 'realtime', 'dscpMark: steerd marks voice 34, so 34 is realtime');
  t.equal(m.source.get(34), 'appClasses[0] voice dscpMark');
  t.equal(m.byDscp.get(36), 'interactive');
  t.equal(m.byDscp.get(10), 'bulk', 'a DSCP-only app class adds its values');
  t.ok(m.notes.some((n) => /DSCP 34 goes to realtime \(appClasses\[0\] voice dscpMark\), not interactive/.test(n)), 'the override is noted');
  t.ok(m.notes.some((n) => /appClasses\[1\] video match\.dscp: DSCP 34 stays in realtime/.test(n)), 'the later claim is noted');
  t.ok(m.notes.some((n) => /appClasses\[2\] backup: qosClass bulk cannot be applied on the WAN.*set dscpMark/.test(n)), 'a class the shaper cannot see is noted');
});
