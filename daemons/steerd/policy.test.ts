// The config's appClasses and policies compile into a selector policy both
// selectors accept, with the config's meaning kept (names to numbers, ranges,
// defaults for classes without a policy).
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { AppClass } from '../lib/config/index.js';
import { parseConfig } from '../lib/config/load.js';
import { NativeSelector } from './native.js';
import { compileMatch, compilePolicy, defaultFlowLimits, domainHints, wanPaths } from './policy.js';
import { ReferenceSelector } from './reference.fixture.js';
import { checkPolicy } from './validate.js';
import { makeFlow } from './wire.js';

const example = new URL('../../../docs/examples/tern.yaml', import.meta.url);

t.test('compileMatch: names to numbers, ports to ranges, prefixes to networks', async (t) => {
  const cases: Array<{ name: string; match: AppClass['match']; want: unknown }> = [
    { name: 'udp with ports', match: { protocols: ['udp'], ports: [5060, '10000-20000'] }, want: { protocols: [17], ports: [[5060, 5060], [10000, 20000]] } },
    { name: 'ports alone mean tcp and udp', match: { ports: [443] }, want: { protocols: [6, 17], ports: [[443, 443]] } },
    { name: 'icmp means both families', match: { protocols: ['icmp', 47] }, want: { protocols: [1, 58, 47] } },
    { name: 'any drops the criterion', match: { protocols: ['tcp', 'any'], dscp: [46] }, want: { dscp: [46] } },
    { name: 'any with ports keeps the ports only', match: { protocols: ['any'], ports: [22] }, want: { ports: [[22, 22]] } },
    { name: 'prefixes in network form', match: { prefixes: ['10.30.20.0/24', '2001:DB8:0:0::/32'] }, want: { dst: ['10.30.20.0/24', '2001:db8::/32'] } },
  ];
  for (const c of cases) {
    const got = compileMatch(c.match);
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

t.test('the example config compiles into a policy both selectors accept', async (t) => {
  const { config } = parseConfig(readFileSync(example, 'utf8'), 'tern.yaml');
  const policy = compilePolicy(config);
  const checked = checkPolicy(policy);
  t.ok(checked.ok, `checkPolicy: got ${JSON.stringify(checked)}; want ok`);
  t.same(policy.classes.map((c) => c.name), ['voice', 'interactive', 'bulk'], 'classes in config order');
  const [voice, interactive, bulk] = policy.classes;
  t.same(voice, {
    name: 'voice',
    match: { protocols: [17], ports: [[5060, 5060], [10000, 20000]] },
    sla: { maxLossPct: 1, maxLatencyMs: 150, maxJitterMs: 30, minMos: 3.8 },
    mode: 'best',
    preferWans: ['isp-a', 'isp-b'],
    hysteresisPct: 20,
    holdMs: 30_000,
  }, `voice: got ${JSON.stringify(voice)}`);
  t.equal(interactive?.mode, 'affinity', 'interactive mode');
  t.same(bulk?.weights, { 'isp-a': 1, 'isp-b': 3 }, `bulk weights: got ${JSON.stringify(bulk?.weights)}`);
  t.same(policy.default, { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 30_000 }, `default: got ${JSON.stringify(policy.default)}`);
  t.same(policy.flows, defaultFlowLimits, 'default flow limits');

  // Both selectors classify the example's traffic alike.
  const metrics = new Map(config.wans.map((w) => [w.name, { state: 'up' as const, lossPct: 0, latencyMs: 20, jitterMs: 2, mos: 4.3 }]));
  const paths = wanPaths(config, metrics);
  const flows = [
    { flow: makeFlow({ src: '10.10.0.5', dst: '198.51.100.9', protocol: 17, srcPort: 4000, dstPort: 15000 }), want: 'voice' },
    { flow: makeFlow({ src: '10.10.0.5', dst: '198.51.100.9', protocol: 6, srcPort: 4000, dstPort: 22 }), want: 'interactive' },
    { flow: makeFlow({ src: '10.10.0.5', dst: '10.30.20.8', protocol: 6, srcPort: 4000, dstPort: 873 }), want: 'bulk' },
    { flow: makeFlow({ src: '10.10.0.5', dst: '10.30.20.8', protocol: 1 }), want: 'bulk' },
    { flow: makeFlow({ src: '10.10.0.5', dst: '198.51.100.9', protocol: 6, srcPort: 4000, dstPort: 80 }), want: 'default' },
  ];
  for (const s of [new ReferenceSelector(policy), new NativeSelector(policy)]) {
    s.setPaths(paths);
    for (const { flow, want } of flows) {
      const got = s.decide(flow, 0);
      t.equal(got.class, want, `${s.constructor.name}: class of ${flow.protocol}/${flow.dstPort}: got ${got.class}; want ${want}`);
      t.ok(paths.some((p) => p.id === got.pathId), `${s.constructor.name}: path ${got.pathId} is one of the WAN paths`);
    }
  }
});

t.test('domainHints: classes with match.domains numbered from 1 in appClasses order; compilePolicy carries them', async (t) => {
  const cls = (name: string, match: AppClass['match']): AppClass => ({ name, match, sla: {}, qosClass: 'besteffort' }) as AppClass;
  const appClasses = [
    cls('voice', { protocols: ['udp'], ports: [5060] }),
    cls('slack', { domains: ['slack.com'] }),
    cls('google', { domains: ['*.googleusercontent.com'], ports: [443] }),
    cls('web', { ports: [443] }),
  ];
  const hints = domainHints({ appClasses });
  t.same([...hints], [['slack', 1], ['google', 2]], `hints: got ${JSON.stringify([...hints])}`);
  const policy = compilePolicy({ appClasses, policies: [] });
  t.same(policy.classes.map((c) => [c.name, c.domainHint, c.match]), [
    ['voice', undefined, { protocols: [17], ports: [[5060, 5060]] }],
    ['slack', 1, {}],
    ['google', 2, { protocols: [6, 17], ports: [[443, 443]] }],
    ['web', undefined, { protocols: [6, 17], ports: [[443, 443]] }],
  ], 'compiled classes');
  t.ok(checkPolicy(policy).ok, `checkPolicy: got ${JSON.stringify(checkPolicy(policy))}; want ok`);

  // Both selectors: slack only with its hint; google needs hint 2 and port 443.
  const paths = [{ id: 7, wan: 'isp-a', weight: 1, cost: 10, metered: false, state: 'up' as const, lossPct: 0, latencyMs: 10, jitterMs: 1, mos: 4.4 }];
  const flow = (dstPort: number, domainHint: number) => ({ ...makeFlow({ src: '10.10.0.5', dst: '198.18.100.21', protocol: 6, srcPort: 40000 + dstPort + domainHint, dstPort }), domainHint });
  const cases = [
    { flow: flow(80, 1), want: 'slack' },
    { flow: flow(443, 1), want: 'slack' },
    { flow: flow(443, 2), want: 'google' },
    { flow: flow(80, 2), want: 'default' },
    { flow: flow(443, 0), want: 'web' },
    { flow: flow(443, 9), want: 'web' },
  ];
  for (const s of [new ReferenceSelector(policy), new NativeSelector(policy)]) {
    s.setPaths(paths);
    for (const c of cases) {
      const got = s.decide(c.flow, 0).class;
      t.equal(got, c.want, `${s.constructor.name}: port ${c.flow.dstPort} hint ${c.flow.domainHint}: got ${got}; want ${c.want}`);
    }
  }

  const many = Array.from({ length: 256 }, (_, i) => cls(`d${i}`, { domains: ['example.test'] }));
  t.throws(() => domainHints({ appClasses: many }), /expected at most 255 classes with match.domains/, '256 domain classes refused');
});

t.test('wanPaths: one path per measured WAN, id = its routing table', async (t) => {
  const cfg = {
    wans: [
      { name: 'isp-a', cost: 10, metered: false },
      { name: 'lte', cost: 80, metered: true, table: 1000 },
      { name: 'isp-b', cost: 10, metered: false },
    ],
  };
  const m = { state: 'degraded' as const, lossPct: 1, latencyMs: 30, jitterMs: 3, mos: 4 };
  const got = wanPaths(cfg, new Map([['isp-a', m], ['lte', m]]));
  t.same(got.map((p) => [p.id, p.wan, p.cost, p.metered, p.state]), [
    [1001, 'isp-a', 10, false, 'degraded'],
    [1000, 'lte', 80, true, 'degraded'],
  ], `paths: got ${JSON.stringify(got)}; want isp-a on 1001, lte on 1000, isp-b left out (no metrics)`);
});
