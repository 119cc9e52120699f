import t from 'tap';
import { syncLine } from './pair.js';
import { fakeDaemon, tempAppliance, ternctl } from './testkit.js';

const refused = (over: Record<string, number> = {}): Record<string, number> =>
  ({ malformed: 0, version: 0, vrid: 0, badAuth: 0, wrongSource: 0, replay: 0, ...over });

t.test('syncLine: key id, accepted, refusals by reason', async (t) => {
  const cases: Array<{ name: string; sync: Record<string, unknown>; want: string }> = [
    { name: 'quiet', sync: { keyId: 'add2669f', accepted: 42, refused: refused(), lastRefused: null }, want: 'key add2669f; 42 accepted; nothing refused' },
    {
      name: 'a spoofer',
      sync: { keyId: 'add2669f', accepted: 42, refused: refused({ wrongSource: 40, badAuth: 20, replay: 15 }), lastRefused: { reason: 'replay', from: '10.1.0.3', detail: 'x', at: 1 } },
      want: 'key add2669f; 42 accepted; refused 75: bad auth 20, wrong source 40, replay 15; last from 10.1.0.3 (replay)',
    },
    { name: 'an older Tern', sync: { keyId: 'add2669f', accepted: 0, refused: refused({ version: 3 }), lastRefused: { reason: 'version', from: '10.1.0.3' } }, want: 'key add2669f; 0 accepted; refused 3: old version 3; last from 10.1.0.3 (old version)' },
    { name: 'no key', sync: { running: false, problem: 'pair sync has no key: paird: sync key: /k: cannot read' }, want: 'off: pair sync has no key: paird: sync key: /k: cannot read' },
    { name: 'an older paird (no counters by reason)', sync: { destinations: [], sent: 3, received: 2, rejected: 0 }, want: 'key ?; ? accepted; nothing refused' },
  ];
  for (const c of cases) {
    const got = syncLine(c.sync);
    t.equal(got, c.want, `${c.name}: got "${got}"; want "${c.want}"`);
  }
});

t.test('ternctl pair shows pair sync and where the peer\'s messages come from', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const d = await fakeDaemon(app, 'paird', (ctx) => {
    ctx.bus.method('pair.status', () => ({
      enabled: true, box: 'office-a', vrid: 10, role: 'master', priority: 150, basePriority: 150, why: [],
      peer: { box: 'office-b', role: 'backup', priority: 100, lanAddress: '10.10.0.99', from: '10.10.0.3', via: '10.10.0.3', alive: true },
      sync: { keyId: 'add2669f', accepted: 7, refused: refused({ badAuth: 2 }), lastRefused: { reason: 'badAuth', from: '10.10.0.50', detail: 'x', at: 1 } },
    }));
    return {};
  });
  t.teardown(() => d.stop());
  const r = await ternctl(app, ['pair']);
  t.equal(r.code, 0, `exit code: got ${r.code}; want 0 (${r.err})`);
  t.match(r.out, /peer:\s+office-b backup, priority 100 at 10\.10\.0\.3\n/, `the peer at its messages' source, not the address it claims:\n${r.out}`);
  t.match(r.out, /pair sync:\s+key add2669f; 7 accepted; refused 2: bad auth 2; last from 10\.10\.0\.50 \(bad auth\)/, `the pair sync line:\n${r.out}`);
});
