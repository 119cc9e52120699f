import t from 'tap';
import net from 'node:net';
import { Daemons, livenessOf, type Liveness } from './daemons.js';
import { fakeDaemon, tempAppliance } from '../testkit/index.js';

t.test('liveness: running, not running, not responding, permission denied', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const d = await fakeDaemon(app, 'tunneld', (ctx) => {
    ctx.health.set('tunneld.config', 'a WAN is missing', 'warning');
    return { status: () => ({ backend: 'test', paths: { total: 2, up: 1 } }) };
  });
  t.teardown(() => d.stop());
  // probed: a socket that accepts connections and never answers (a stuck daemon).
  let connections = 0;
  const stuck = net.createServer(() => { connections++; });
  await new Promise<void>((r) => stuck.listen(`${app.env.TERN_RUN_DIR}/probed.sock`, r));
  t.teardown(() => stuck.close());

  // A patient client for the daemons that answer (the machine may be loaded), an impatient one for the stuck one.
  const patient = new Daemons({ paths: app.paths, timeoutMs: 20_000 });
  const daemons = new Daemons({ paths: app.paths, timeoutMs: 300 });
  t.teardown(() => Promise.all([patient.close(), daemons.close()]));
  const names = ['tunneld', 'steerd', 'paird', 'qosd'];
  const by: Record<string, Liveness> = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await patient.liveness(n)] as const)));
  by.probed = await daemons.liveness('probed');
  t.equal(by.tunneld!.state, 'running');
  t.equal(by.tunneld!.pid, process.pid);
  t.equal(by.tunneld!.configHash, d.ctx.configHash, 'configHash from daemon.status');
  t.same(by.tunneld!.status, { backend: 'test', paths: { total: 2, up: 1 } }, 'the daemon\'s own status fields, runner fields left out');
  t.equal(by.tunneld!.warnings[0]?.name, 'tunneld.config');
  t.equal(by.probed!.state, 'not responding', `probed: got ${by.probed!.state}; want not responding (${by.probed!.reason})`);
  t.match(by.probed!.reason, /no reply to daemon\.status within 300 ms/);
  for (const name of ['steerd', 'paird', 'qosd']) {
    t.equal(by[name]!.state, 'not running', `${name}: no socket`);
    t.match(by[name]!.reason, /^no socket at /);
  }
  t.equal(connections, 1, 'the stuck daemon was asked once');

  // A second call to the stuck daemon fails at once: it is remembered as down, not asked (and waited for) again.
  await t.rejects(daemons.call('probed', 'paths.metrics'), { code: 'TERN_E_CTL_DAEMON', message: /not responding/ });
  t.equal(connections, 1, `got ${connections} connections to the stuck daemon; want 1 (no second wait)`);
  daemons.fresh();
  await t.rejects(daemons.call('probed', 'paths.metrics', undefined, { timeoutMs: 100 }), { code: 'TERN_E_CTL_DAEMON' });
  t.equal(connections, 1, 'the same connection is reused after fresh(): still one');
});

t.test('connection errors are told apart by errno', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const cases: Array<{ errno: string; state: string; code: string; msg: RegExp }> = [
    { errno: 'EACCES', state: 'permission denied', code: 'TERN_E_CTL_PERMISSION', msg: /permission denied on .*tunneld\.sock: run as root or join group tern/ },
    { errno: 'ECONNREFUSED', state: 'not running', code: 'TERN_E_CTL_DAEMON', msg: /tunneld is not running: nothing listens on/ },
    { errno: 'ENOENT', state: 'not running', code: 'TERN_E_CTL_DAEMON', msg: /tunneld is not running: no socket at/ },
  ];
  for (const c of cases) {
    const daemons = new Daemons({
      paths: app.paths,
      timeoutMs: 500,
      connectSocket: () => {
        const s = new net.Socket();
        setImmediate(() => s.emit('error', Object.assign(new Error(c.errno), { code: c.errno })));
        return s;
      },
    });
    const err = await daemons.call('tunneld', 'paths.list').then(() => undefined, (e: unknown) => e as Error & { code: string });
    t.equal(err?.code, c.code, `${c.errno}: got ${err?.code}; want ${c.code}`);
    t.match(err?.message, c.msg);
    t.equal(livenessOf(err), c.state);
    t.equal((await daemons.liveness('tunneld')).state, c.state, `${c.errno}: liveness ${c.state}`);
    await daemons.close();
  }
});

