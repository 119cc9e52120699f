import t, { type Test } from 'tap';
import fs from 'node:fs';
import { isTernError } from '../../lib/errors.js';
import { openStateForWrite } from '../state.js';
import { tempAppliance, testContext } from '../testkit.js';
import { ConfigApplier } from '../../lib/config/transaction/index.js';
import { sha256, type RollbackTimer } from '../../lib/config/transaction/index.js';
import { configRollback } from './index.js';
import { checkRecord, pendingRecordFile, readPendingRecord } from '../../lib/config/transaction/index.js';

const previousText = 'identity: {}\n';
const good = { id: 3, previousId: 2, hash: sha256('new'), previousHash: sha256(previousText), previousText };

t.test('checkRecord: a record is taken only whole and matching its hash', async (t) => {
  const cases: Array<[string, string, RegExp | null]> = [
    ['the record ternctl writes', JSON.stringify(good), null],
    ['extra keys are ignored', JSON.stringify({ ...good, deadline: 1 }), null],
    ['cut text', JSON.stringify(good).slice(0, 40), /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['id 0', JSON.stringify({ ...good, id: 0 }), /id is 0, not a version number/],
    ['id as text', JSON.stringify({ ...good, id: '3' }), /id is "3"/],
    ['previousId missing', JSON.stringify({ ...good, previousId: undefined }), /previousId is undefined/],
    ['hash not hex', JSON.stringify({ ...good, hash: 'x'.repeat(64) }), /^hash is not a sha256/],
    ['previousText not text', JSON.stringify({ ...good, previousText: 1 }), /previousText is not a string/],
    ['previousText edited', JSON.stringify({ ...good, previousText: 'identity: {x: 1}\n' }), /does not match previousHash/],
  ];
  for (const [name, text, want] of cases) {
    const got = checkRecord(text);
    if (want === null) t.same(got, good, `${name}: got ${JSON.stringify(got)}; want the record`);
    else t.match(got, want, `${name}: got ${JSON.stringify(got)}; want ${want}`);
  }
});

const noTimer = (): RollbackTimer => ({ kind: 'process', pid: 0 });
const withDescription = (text: string, d: string): string => text.replace(/description: Head office, rack 1, PAIR member A/, `description: ${d}`);

/** An appliance with an apply pending: the previous and new texts, the record's path. */
async function pendingApply(t: Test) {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const ctx = testContext(app);
  t.teardown(() => ctx.daemons.close());
  const previous = fs.readFileSync(app.paths.configFile, 'utf8');
  const next = withDescription(previous, 'new');
  const applier = new ConfigApplier(ctx, { startTimer: noTimer });
  const o = await applier.apply(next, 'new.yaml', { confirmWithinMs: 60_000, source: 'test' });
  const record = pendingRecordFile(app.paths.configFile);
  const sql = async (q: string, p: unknown[] = []): Promise<void> => {
    const s = await openStateForWrite(app.paths);
    try { await s.run(q, p); } finally { await s.close(); }
  };
  const state = async (): Promise<string | undefined> => {
    const s = await openStateForWrite(app.paths);
    try { return (await s.get<{ state: string }>('SELECT state FROM config_history WHERE id = ?', [o.id]))?.state; } finally { await s.close(); }
  };
  return { app, ctx, applier, previous, next, id: o.id!, record, sql, state, config: () => fs.readFileSync(app.paths.configFile, 'utf8') };
}

t.test('apply keeps the way back beside tern.yaml until the version is settled', async (t) => {
  const p = await pendingApply(t);
  t.equal(fs.statSync(p.record).mode & 0o777, 0o600, 'the record is root\'s only (it holds a whole config)');
  t.match(readPendingRecord(p.app.paths.configFile), { id: p.id, hash: sha256(p.next), previousText: p.previous });
  await p.applier.confirm();
  t.notOk(fs.existsSync(p.record), 'confirm removes it');
  t.equal(await p.state(), 'confirmed');
});

t.test('a record left by a cut after confirm committed: removed, the confirmed config kept', async (t) => {
  const p = await pendingApply(t);
  const saved = fs.readFileSync(p.record);
  await p.applier.confirm();
  fs.writeFileSync(p.record, saved, { mode: 0o600 });
  const r = await configRollback(p.ctx, { ifPending: true });
  t.match(r.data, { rolledBack: false }, 'the boot finds nothing to roll back');
  t.equal(p.config(), p.next, 'the confirmed config stays');
  t.notOk(fs.existsSync(p.record), 'the left-over record is gone');
});

t.test('a record whose version the history never got (cut before the commit): apply and confirm refuse, rollback restores from the record', async (t) => {
  const p = await pendingApply(t);
  await p.sql('DELETE FROM config_history WHERE id = ?', [p.id]);
  await t.rejects(p.applier.apply(withDescription(p.previous, 'other'), 'other.yaml', { confirmWithinMs: 60_000, source: 'test' }),
    { code: 'TERN_E_CTL_APPLY', message: /a crash left version #\d+ unfinished \(.*tern\.yaml\.pending is still there; the history has it not at all\); run ternctl config rollback first/ });
  await t.rejects(p.applier.confirm(), { code: 'TERN_E_CTL_APPLY', message: /a crash left version #\d+ unfinished .*; run ternctl config rollback, then apply it again/ });
  t.equal(p.config(), p.next, 'neither touched the file');
  const r = await configRollback(p.ctx, { ifPending: true });
  t.match(r.data, { rolledBack: true, id: p.id });
  t.equal(p.config(), p.previous, 'the previous config is back, from the record alone');
  t.notOk(fs.existsSync(p.record));
  t.match((await configRollback(p.ctx, { ifPending: true })).data, { rolledBack: false }, 'the next boot finds nothing');
});

t.test('a pending version without a record (applied by an older ternctl): rolled back from the history', async (t) => {
  const p = await pendingApply(t);
  fs.rmSync(p.record);
  const r = await configRollback(p.ctx, { ifPending: true });
  t.match(r.data, { rolledBack: true, id: p.id });
  t.equal(p.config(), p.previous);
  t.equal(await p.state(), 'rolled-back');
});

t.test('a record that does not check out: an error naming it, nothing changed', async (t) => {
  const p = await pendingApply(t);
  const bad = JSON.stringify({ ...JSON.parse(fs.readFileSync(p.record, 'utf8')), previousText: 'identity: {}\n' });
  fs.writeFileSync(p.record, bad);
  const err = await configRollback(p.ctx, { ifPending: true }).then(() => undefined, (e: unknown) => e);
  t.ok(isTernError(err, 'TERN_E_CTL_APPLY'), `got ${String(err)}; want TERN_E_CTL_APPLY`);
  t.match(String(err), /tern\.yaml\.pending: previousText does not match previousHash; want the record ternctl config apply writes/);
  t.equal(p.config(), p.next, 'tern.yaml untouched');
  t.equal(fs.readFileSync(p.record, 'utf8'), bad, 'the record left in place');
  t.equal(await p.state(), 'pending');
});
