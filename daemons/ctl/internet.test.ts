import t from 'tap';
import { fakeDaemon, tempAppliance, ternctl } from './testkit.js';

const view = {
  enabled: true,
  paths: [
    { name: 'isp-a/internet', wan: 'isp-a', mark: 0x1f0000, table: 1000, state: 'up', wanState: 'up', metered: false, holdSec: 0, flows: 3, natFlows: 3, bytes: 3000, classes: { default: { flows: 2, bytes: 1000 }, saas: { flows: 1, bytes: 2000 } } },
    { name: 'lte/internet', wan: 'lte', mark: 0x1f0001, table: 1001, state: 'down', wanState: 'up', metered: true, holdSec: 12.5, flows: 1, natFlows: 1, bytes: 10, classes: { default: { flows: 1, bytes: 10 } } },
  ],
  classes: [
    { name: 'saas', wans: { 'isp-a': { flows: 1, bytes: 2000 }, lte: { flows: 0, bytes: 0 } } },
    { name: 'default', wans: { 'isp-a': { flows: 2, bytes: 1000 }, lte: { flows: 1, bytes: 10 } } },
  ],
  clears: [{ wan: 'lte', path: 'lte/internet', reason: 'down', why: 'probed wan.state', at: 0, matched: 4, deleted: 4, tcp: 2, provoked: 2, errors: 0, error: null }],
};

t.test('ternctl internet: each WAN with its hold, flows per class and WAN, the last clears; --json the same data', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const d = await fakeDaemon(app, 'steerd', (ctx) => {
    ctx.bus.method('steer.internet', () => view);
    return {};
  });
  t.teardown(() => d.stop());
  const r = await ternctl(app, ['internet']);
  t.equal(r.code, 0, `exit code: got ${r.code}; want 0 (${r.err})`);
  t.match(r.out, /^lte\s+held 13s\s+up\s+yes\s+1\s+1\s/m, `the LTE held, metered, with its flows:\n${r.out}`);
  t.match(r.out, /^isp-a\s+up\s+up\s+no\s+3\s+3\s/m, `isp-a up:\n${r.out}`);
  t.match(r.out, /^saas\s+1 \/ /m, `saas's flows per WAN:\n${r.out}`);
  t.match(r.out, /lte down: 4 flows cleared, 2 TCP clients provoked/, `the last clear:\n${r.out}`);
  const j = await ternctl(app, ['internet', '--json']);
  const data = (JSON.parse(j.out) as { data: { paths: Array<{ wan: string; holdSec: number }> } }).data;
  t.same(data.paths.map((p) => [p.wan, p.holdSec]), [['isp-a', 0], ['lte', 12.5]], `--json: got ${JSON.stringify(data.paths)}`);
});

t.test('ternctl internet without steerd: says so, exit code unreachable', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const r = await ternctl(app, ['internet']);
  t.not(r.code, 0, `exit code: got ${r.code}; want non-zero`);
  t.match(r.out + r.err, /no internet view: .*steerd/, `got ${r.out}${r.err}`);
});
