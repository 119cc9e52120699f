import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fakeDaemon, tempAppliance, testContext } from '../testkit.js';
import { ConfigApplier } from '../../lib/config/transaction/index.js';
import { ConfigHistory, sha256 } from '../../lib/config/transaction/index.js';
import { configRollback } from './index.js';
import { openStateForWrite } from '../state.js';
import type { RollbackTimer } from '../../lib/config/transaction/index.js';

const withDescription = (text: string, d: string): string => text.replace(/description: Head office, rack 1, PAIR member A/, `description: ${d}`);

t.test('apply, confirm, roll back, refuse: the file and the daemon always agree', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  fs.chmodSync(app.env.TERN_CONFIG, 0o640);
  const original = fs.readFileSync(app.env.TERN_CONFIG, 'utf8');
  const daemon = await fakeDaemon(app, 'tunneld', () => ({
    async reload(cfg) {
      if (cfg.identity.description === 'refuse') throw new Error('tunneld: reload: this config is refused');
    },
  }));
  t.teardown(() => daemon.stop());
  const ctx = testContext(app);
  t.teardown(() => ctx.daemons.close());
  const timers: Array<{ id: number; deadline: number }> = [];
  const applier = new ConfigApplier(ctx, { startTimer: (id, deadline): RollbackTimer => { timers.push({ id, deadline }); return { kind: 'process', pid: 0 }; } });
  const fileHash = (): string => sha256(fs.readFileSync(app.env.TERN_CONFIG, 'utf8'));
  const daemonHash = (): string => daemon.ctx.configHash;
  const versions = async (): Promise<Array<[number, string]>> => {
    const s = await openStateForWrite(app.paths);
    try { return (await new ConfigHistory(s).list()).map((v) => [v.id, v.state]); } finally { await s.close(); }
  };

  await t.test('a broken file: errors by key path and line, nothing touched', async (t) => {
    const broken = original.replace('  upMbps: 50 ', '  upMbps: fast ').replace(/^lan:/m, 'lann:');
    await t.rejects(applier.apply(broken, 'broken.yaml', { confirmWithinMs: 60_000, source: 'test' }), {
      code: 'TERN_E_CONFIG_KEY', message: /broken\.yaml:\d+: wans\[0\]\.upMbps: .*\n.*broken\.yaml:\d+: lann: unknown key/s,
    });
    t.equal(fileHash(), sha256(original), 'the running config is untouched');
    t.equal(daemonHash(), sha256(original));
    t.same(await versions(), [], 'nothing recorded');
  });

  const v1 = withDescription(original, 'version one');
  await t.test('apply: written, reloaded, pending with a timer', async (t) => {
    const o = await applier.apply(v1, 'v1.yaml', { confirmWithinMs: 60_000, source: 'test' });
    t.equal(o.state, 'pending');
    t.equal(fileHash(), sha256(v1));
    t.equal(daemonHash(), sha256(v1), 'the daemon runs the new config');
    t.match(o.daemons.find((d) => d.daemon === 'tunneld'), { result: 'reloaded', configHash: sha256(v1) });
    t.same(timers.map((x) => x.id), [o.id], 'one rollback timer, for this version');
    t.ok(timers[0]!.deadline > Date.now() + 50_000, 'the deadline is the confirm time from now');
    t.equal(fs.statSync(app.env.TERN_CONFIG).mode & 0o777, 0o640, 'the file keeps its mode');
    t.same(await versions(), [[2, 'pending'], [1, 'confirmed']], 'previous recorded, new pending');
  });

  await t.test('a second apply while one is pending is refused', async (t) => {
    await t.rejects(applier.apply(withDescription(original, 'other'), 'other.yaml', { confirmWithinMs: 60_000, source: 'test' }), { code: 'TERN_E_CTL_APPLY', message: /#2 is still pending/ });
    t.equal(fileHash(), sha256(v1));
  });

  await t.test('confirm keeps it', async (t) => {
    const r = await applier.confirm();
    t.equal(r.pending.id, 2);
    t.same(await versions(), [[2, 'confirmed'], [1, 'confirmed']]);
    t.equal(fileHash(), sha256(v1));
    t.equal(daemonHash(), sha256(v1));
    await t.rejects(applier.confirm(), { code: 'TERN_E_CTL_APPLY', message: /no apply is pending/ });
  });

  const v2 = withDescription(original, 'version two');
  await t.test('unconfirmed: the timer\'s rollback restores the previous version', async (t) => {
    const o = await applier.apply(v2, 'v2.yaml', { confirmWithinMs: 60_000, source: 'test' });
    t.equal(daemonHash(), sha256(v2));
    // What the detached timer runs at the deadline (here the deadline is now).
    const notYours = await configRollback(ctx, { ifUnconfirmed: String(o.id! + 100), at: '0' });
    t.match(notYours.data, { rolledBack: false }, 'another version id: nothing happens');
    t.equal(daemonHash(), sha256(v2));
    const r = await configRollback(ctx, { ifUnconfirmed: String(o.id), at: String(Date.now() - 1) });
    t.match(r.data, { rolledBack: true, id: o.id, restoredId: 2 });
    t.equal(fileHash(), sha256(v1), 'the file is the previous version again');
    t.equal(daemonHash(), sha256(v1), 'and the daemon runs it');
    t.same((await versions())[0], [3, 'rolled-back']);
    const again = await configRollback(ctx, { ifUnconfirmed: String(o.id), at: '0' });
    t.match(again.data, { rolledBack: false }, 'a second timer run finds nothing to do');
  });

  await t.test('a daemon that refuses the config: rolled back at once, daemons consistent', async (t) => {
    const bad = withDescription(original, 'refuse');
    await t.rejects(applier.apply(bad, 'bad.yaml', { confirmWithinMs: 60_000, source: 'test' }), {
      code: 'TERN_E_CTL_APPLY', message: /tunneld refused: .*this config is refused[\s\S]*previous config \(version #2\) was restored/,
    });
    t.equal(fileHash(), sha256(v1));
    t.equal(daemonHash(), sha256(v1));
    t.same((await versions())[0], [4, 'rolled-back']);
    t.equal(timers.length, 2, 'no timer was started for the refused apply');
  });

  await t.test('the same text again changes nothing', async (t) => {
    const o = await applier.apply(v1, 'v1.yaml', { confirmWithinMs: 60_000, source: 'test' });
    t.equal(o.state, 'unchanged');
    t.equal((await versions()).length, 4);
  });

  await t.test('confirm-within 0 confirms at once; reapply an old version', async (t) => {
    const o = await applier.apply(v2, 'v2.yaml', { confirmWithinMs: 0, source: 'test' });
    t.equal(o.state, 'confirmed');
    t.equal(timers.length, 2, 'no timer');
    const back = await applier.reapply(2, 0);
    t.equal(back.state, 'confirmed');
    t.equal(fileHash(), sha256(v1));
    t.equal(daemonHash(), sha256(v1));
    await t.rejects(applier.reapply(99, 0), { code: 'TERN_E_CTL_NOT_FOUND' });
  });

  t.notOk(fs.readdirSync(path.dirname(app.env.TERN_CONFIG)).some((f) => f.endsWith('.tmp')), 'no temporary files left');
});

t.test('a reboot with an apply pending: the boot-time rollback (--if-pending) restores it before any daemon runs', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const original = fs.readFileSync(app.env.TERN_CONFIG, 'utf8');
  const ctx = testContext(app);
  t.teardown(() => ctx.daemons.close());
  const applier = new ConfigApplier(ctx, { startTimer: (): RollbackTimer => ({ kind: 'process', pid: 0 }) });

  const none = await configRollback(ctx, { ifPending: true });
  t.match(none.data, { rolledBack: false }, 'nothing pending: a no-op, not an error');
  t.equal(fs.readFileSync(app.env.TERN_CONFIG, 'utf8'), original);
  await t.rejects(configRollback(ctx, {}), { code: 'TERN_E_CTL_APPLY', message: /no apply is pending/ }, 'without --if-pending it is an error');

  // The apply went pending and the box went down before the deadline: no
  // daemon answered (none runs here), the timer died with the box.
  const lockout = withDescription(original, 'locks the engineer out');
  const o = await applier.apply(lockout, 'lockout.yaml', { confirmWithinMs: 600_000, source: 'test' });
  t.equal(o.state, 'pending');
  t.equal(fs.readFileSync(app.env.TERN_CONFIG, 'utf8'), lockout);

  const r = await configRollback(ctx, { ifPending: true });
  t.match(r.data, { rolledBack: true, id: o.id, restoredId: o.previousId });
  t.equal(fs.readFileSync(app.env.TERN_CONFIG, 'utf8'), original, 'the previous config is back in place');
  t.ok((r.data as { daemons: Array<{ result: string }> }).daemons.every((d) => d.result !== 'reloaded'), 'no daemon was there to reload (they start after)');
  const again = await configRollback(ctx, { ifPending: true });
  t.match(again.data, { rolledBack: false }, 'the next boot finds nothing pending');
});
