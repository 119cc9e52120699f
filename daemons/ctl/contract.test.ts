// Issue 16: ternctl asks only what the daemons' contracts declare. It tried
// 24 method names, 15 of which no daemon served; now a name outside the
// contract is refused before anything is sent, and every name ternctl and
// its diag bundle use is declared.
import t from 'tap';
import { daemonApis, runnerApi } from '../lib/api/index.js';
import { Daemons } from '../lib/views/index.js';
import { fakeDaemon, tempAppliance } from './testkit.js';
import { methods } from './views.js';

t.test('every method ternctl asks is declared by a contract', async (t) => {
  const declared = new Set([...Object.values(daemonApis), runnerApi].flatMap((c) => Object.keys(c.methods)));
  for (const [view, m] of Object.entries(methods)) t.ok(declared.has(m), `${view}: got ${m}; want a method some contract declares`);
  t.equal(Object.keys(methods).length, 10, 'one method per view, no fallbacks (steer.internet: ternctl internet)');
});

t.test('a method outside the daemon\'s contract is refused before it is sent', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  let asked = 0;
  const d = await fakeDaemon(app, 'probed', (ctx) => {
    ctx.bus.method('wans.metrics', () => { asked++; return []; });
    return {};
  });
  t.teardown(() => d.stop());
  const daemons = new Daemons({ paths: app.paths });
  t.teardown(() => daemons.close());
  for (const old of ['wans.health', 'wans.list', 'metrics.wans', 'wans.state']) {
    const err = await daemons.call('probed', old).then(() => undefined, (e: unknown) => e as Error & { code: string });
    t.equal(err?.code, 'TERN_E_BUS_USAGE', `${old}: got ${err?.code}; want TERN_E_BUS_USAGE (not in the probed contract)`);
  }
  t.same(await daemons.ask('probed', 'wans.metrics'), [], 'a declared method is asked');
  t.equal(asked, 1);
  const bad = await daemons.ask('probed', 'wans.metrics', { wan: 5 as unknown as string }).then(() => undefined, (e: unknown) => e as Error & { code: string });
  t.equal(bad?.code, 'TERN_E_BUS_INVALID_PARAMS', 'params are checked before they leave');
  t.equal(asked, 1, 'and the daemon was not asked');
});
