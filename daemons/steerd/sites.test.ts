import t from 'tap';
import { probedApi } from '../lib/api/index.js';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig, type TernConfig } from '../lib/config/index.js';
// The macvlan name paird makes (lib/kernel/names.ts) and the one steerd's rules match must agree.
import { virtualMacIfname } from '../lib/kernel/names.js';
import { brokenFor } from './reference.fixture.js';
import {
  pairInterfaces, pairVirtualMacIfname, pathInput, probeView, siteInputs, sitePlans, steerPolicy, type ProbeView, type SteerPath,
} from './sites.js';

const home = fs.readFileSync(fileURLToPath(new URL('../../../docs/examples/home.yaml', import.meta.url)), 'utf8')
  .replace('        - name: isp-b           # on office-b\n', '        - name: isp-b           # on office-b\n          weight: 3\n');
const cfg = parseConfig(`${home}
appClasses:
  - name: voice
    match: { protocols: [udp], ports: ["5000-5099"] }
    sla: { maxLossPct: 1, maxLatencyMs: 150 }
policies:
  - appClass: voice
    mode: best
`).config;

t.test('one plan per remote site: its prefixes and its paths with marks, tables and weights', async (t) => {
  const plans = sitePlans(cfg);
  t.same(plans.map((p) => p.site), ['office', 'cloud']);
  const office = plans[0]!;
  t.same(office.prefixes, ['100.64.0.1/32', '10.10.0.0/24']);
  t.same(office.paths.map((p) => [p.name, p.mark.toString(16), p.table, p.weight]), [
    ['inet/office/isp-a', '100010', 10016, 1],
    ['inet/office/isp-b', '100011', 10017, 3],
  ]);
  t.same(plans[1]!.paths.map((p) => p.name), ['inet/cloud/inet']);
});

t.test('a path\'s state: tunnel first, then probed; unmeasured paths are degraded with clean metrics', async (t) => {
  const p: SteerPath = { name: 'a/b/c', site: 'b', localWan: 'a', remoteWan: 'c', mark: 0x100010, table: 10016, weight: 2 };
  const probe = (state: ProbeView['state'], loss: number | null = 0): ProbeView => ({ state, lossPct: loss, rttMs: 20, jitterMs: 1, mos: 4.3 });
  const cases: Array<[string, Parameters<typeof pathInput>[3], ProbeView | undefined, string]> = [
    ['tunnel down', 'down', probe('up'), 'down'],
    ['tunnel connecting', 'connecting', undefined, 'down'],
    ['no tunnel state', undefined, probe('up'), 'down'],
    ['up, probed up', 'up', probe('up'), 'up'],
    ['up, probed degraded', 'up', probe('degraded'), 'degraded'],
    ['up, probed down', 'up', probe('down'), 'down'],
    ['up, probed unknown', 'up', probe('unknown'), 'degraded'],
    ['up, never probed', 'up', undefined, 'degraded'],
  ];
  for (const [name, tunnel, pv, want] of cases) {
    const got = pathInput(p, 10, false, tunnel, pv);
    t.equal(got.state, want, `${name}: got ${got.state}; want ${want}`);
    t.equal(got.id, 0x100010, `${name}: the mark is the id`);
    t.equal(got.wan, 'a', `${name}: the local WAN is the WAN`);
  }
  const unmeasured = pathInput(p, 10, false, 'up', undefined);
  t.same([unmeasured.lossPct, unmeasured.latencyMs, unmeasured.jitterMs, unmeasured.mos, unmeasured.weight], [0, 0, 0, 4.4, 2]);
  const office = sitePlans(cfg)[0]!;
  const inputs = siteInputs(cfg, office, new Map([['inet/office/isp-a', 'up']]), new Map([['inet/office/isp-a', probe('up', 0.5)]]));
  t.same(inputs.map((i) => [i.state, i.lossPct]), [['up', 0.5], ['down', 0]], 'by name, for every path of the site');
});

t.test('which classes a path fails', async (t) => {
  const policy = steerPolicy(cfg);
  const p = pathInput(sitePlans(cfg)[0]!.paths[0]!, 10, false, 'up', { state: 'up', lossPct: 0, rttMs: 20, jitterMs: 1, mos: 4.3 });
  t.same([...brokenFor(policy, p)], [], 'a clean path fails none');
  t.same([...brokenFor(policy, { ...p, lossPct: 2 })], ['voice'], '2 % loss fails voice only');
  t.same([...brokenFor(policy, { ...p, state: 'down' })], ['*'], 'a down path fails every class');
});

// Issue 16: one shape, probed's path.metrics as its contract declares it; the
// others (rttAvgMs or latencyMs for rttMs, an unknown verdict, no verdict)
// are refused where they arrive (subscribeTopic / call), before probeView.
t.test('probed\'s path.metrics is read in its one shape', async (t) => {
  const m = {
    path: 'x', site: 'home', localWan: 'a', remoteWan: 'b', state: 'up' as const, ts: 1, ratePerSec: 5, windowSec: 10, probes: 50, answered: 50,
    lost: 0, lostFwd: 0, lostRev: 0, lostUnknown: 0, lossPct: 1, lossFwdPct: 0.5, lossRevPct: 0.5, rttMs: 20, rttMinMs: 19, rttMaxMs: 22, rttStddevMs: 1, jitterMs: 2, mos: 4.1,
  };
  t.same(probeView(m), { state: 'up', lossPct: 1, rttMs: 20, jitterMs: 2, mos: 4.1 });
  const intake = probedApi.topics['path.metrics'].payload;
  t.equal(intake.mismatch(m), undefined, 'what probed publishes is taken');
  const { rttMs: _rtt, ...noRtt } = m;
  const refused: Array<[string, unknown, string]> = [
    ['rttAvgMs instead of rttMs', { ...noRtt, rttAvgMs: 30 }, '/rttMs'],
    ['latencyMs instead of rttMs', { ...noRtt, latencyMs: 30 }, '/rttMs'],
    ['an unknown verdict', { ...m, state: 'sideways' }, '/state'],
    ['no verdict', { path: 'x', lossPct: 3 }, '/site'],
  ];
  for (const [name, payload, pointer] of refused) {
    t.equal(intake.mismatch(payload)?.pointer, pointer, `${name}: got pointer ${intake.mismatch(payload)?.pointer}; want refused at ${pointer}`);
  }
});

t.test('with PAIR, the pair interface and the virtual-MAC macvlan are where LAN hosts\' packets also arrive', async (t) => {
  const pair = (p: Partial<NonNullable<TernConfig['pair']>>): Pick<TernConfig, 'lan' | 'pair'> => ({
    lan: cfg.lan,
    pair: { ...cfg.pair, enabled: true, vrid: 7, virtualMac: false, vips: ['10.20.0.1/24'], ...p } as NonNullable<TernConfig['pair']>,
  });
  const cases: Array<[string, Pick<TernConfig, 'lan' | 'pair'>, string[]]> = [
    ['no pair section', { lan: cfg.lan }, []],
    ['pair on the LAN interface', pair({}), []],
    ['pair.interface is the LAN interface', pair({ interface: 'eth1' }), []],
    ['pair on another interface', pair({ interface: 'eth2' }), ['eth2']],
    ['virtualMac', pair({ virtualMac: true }), ['tpair7']],
    ['virtualMac on another interface', pair({ interface: 'eth2', virtualMac: true, vrid: 255 }), ['eth2', 'tpair255']],
    ['pair.enabled false (paird standalone, no macvlan)', pair({ enabled: false, interface: 'eth2', virtualMac: true }), []],
  ];
  for (const [name, c, want] of cases) {
    const got = pairInterfaces(c);
    t.same(got, want, `${name}: got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
  }
  for (const vrid of [1, 42, 255]) {
    t.equal(pairVirtualMacIfname(vrid), virtualMacIfname(vrid), `vrid ${vrid}: steerd's name of the macvlan is paird's`);
  }
});
