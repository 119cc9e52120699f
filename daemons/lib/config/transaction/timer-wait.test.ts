// The rollback timer's wait (ConfigApplier.rollbackIfUnconfirmed): what the
// detached timer runs until the deadline. Beside the transaction, without
// ternctl: a TransactionContext on a throw-away appliance, no daemons.
import t from 'tap';
import fs from 'node:fs';
import { systemClock } from '../../clock/index.js';
import { tempAppliance } from '../../testkit/index.js';
import { Daemons } from '../../views/daemons.js';
import { ConfigApplier, readPending, sha256, type RollbackTimer, type TransactionContext } from './index.js';

const withDescription = (text: string, d: string): string => text.replace(/description: Head office, rack 1, PAIR member A/, `description: ${d}`);

t.test('rollbackIfUnconfirmed: rolls back only a version still pending at the deadline', async (t) => {
  const cases: Array<{ name: string; confirm: boolean; otherId: boolean; deadline: 'past' | 'future'; abort: boolean; want: string; fileIs: 'previous' | 'next' }> = [
    { name: 'pending at the deadline', confirm: false, otherId: false, deadline: 'past', abort: false, want: 'rolled back', fileIs: 'previous' },
    { name: 'confirmed before the deadline', confirm: true, otherId: false, deadline: 'future', abort: false, want: 'not pending', fileIs: 'next' },
    { name: 'another version pending', confirm: false, otherId: true, deadline: 'past', abort: false, want: 'not pending', fileIs: 'next' },
    { name: 'stopped while waiting', confirm: false, otherId: false, deadline: 'future', abort: true, want: 'stopped', fileIs: 'next' },
  ];
  for (const c of cases) {
    const app = tempAppliance();
    const daemons = new Daemons({ paths: app.paths, timeoutMs: 20_000 });
    const ctx: TransactionContext = { paths: app.paths, env: { ...app.env }, clock: systemClock, daemons, self: [] };
    const applier = new ConfigApplier(ctx, { startTimer: (): RollbackTimer => ({ kind: 'process', pid: 0 }) });
    const previous = fs.readFileSync(app.paths.configFile, 'utf8');
    const next = withDescription(previous, c.name);
    const o = await applier.apply(next, 'next.yaml', { confirmWithinMs: 60_000, source: 'test' });
    if (c.confirm) await applier.confirm();
    const ac = new AbortController();
    if (c.abort) ac.abort();
    const at = c.deadline === 'past' ? Date.now() - 1 : Date.now() + 60_000;
    const r = await applier.rollbackIfUnconfirmed(c.otherId ? o.id! + 100 : o.id!, at, ac.signal);
    const got = r.rolledBack ? 'rolled back' : r.why;
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
    const file = sha256(fs.readFileSync(app.paths.configFile, 'utf8'));
    t.equal(file, sha256(c.fileIs === 'previous' ? previous : next), `${c.name}: tern.yaml is the ${c.fileIs} text`);
    const pending = await readPending(ctx);
    t.equal(pending?.id, c.fileIs === 'next' && !c.confirm ? o.id! : undefined, `${c.name}: got pending ${pending?.id}`);
    await daemons.close();
    app.cleanup();
  }
});
