// Config apply benchmark: what the power-cut safety of issue #15 costs one
// `config apply` + `config confirm` (no daemons running). Reports, never
// fails on time. Measured in the same run, on the same file system (the
// temp dir): the whole cycle, and the steps issue #15 added, in isolation:
// the pending record written and removed (replaceFile, unlink, directory
// fsync), and the cycle's three commits (begin, timer, confirm) with
// synchronous=FULL against NORMAL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigApplier, removePendingRecord, sha256, writePendingRecord } from '../../daemons/lib/config/transaction/index.js';
import { tempAppliance, testContext } from '../../daemons/ctl/testkit.js';
import { Store } from '../../daemons/lib/store/index.js';

const N = Number(process.env.BENCH_N ?? 30);

async function timeIt(label: string, fn: (i: number) => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn(i);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / N;
  console.log(`${label.padEnd(52)} ${ms.toFixed(2).padStart(8)} ms each (${N} runs)`);
  return ms;
}

const app = tempAppliance();
const ctx = testContext(app);
try {
  const base = fs.readFileSync(app.paths.configFile, 'utf8');
  const applier = new ConfigApplier(ctx, { startTimer: () => ({ kind: 'process', pid: 0 }) });
  const cycle = await timeIt('apply + confirm (whole cycle)', async (i) => {
    await applier.apply(base.replace(/description: .*/, `description: bench ${i}`), 'bench.yaml', { confirmWithinMs: 60_000, source: 'bench' });
    await applier.confirm();
  });

  // Beside the config, under another name: the same directory and file system.
  const other = path.join(path.dirname(app.paths.configFile), 'bench.yaml');
  const rec = { id: 1, previousId: 1, hash: sha256(base), previousHash: sha256(base), previousText: base };
  const recordMs = await timeIt('pending record: write + remove', () => {
    writePendingRecord(other, rec);
    removePendingRecord(other);
  });

  const commits: Record<string, number> = {};
  for (const sync of ['NORMAL', 'FULL'] as const) {
    const db = path.join(os.tmpdir(), `tern-bench-${process.pid}-${sync}.db`);
    const s = await Store.open(db, { migrations: [], synchronous: sync });
    await s.run('CREATE TABLE IF NOT EXISTS x (v TEXT)');
    commits[sync] = await timeIt(`3 commits, synchronous=${sync}`, async () => {
      for (let k = 0; k < 3; k++) await s.transaction(async (tx) => { await tx.run('INSERT INTO x VALUES (?)', [base.slice(0, 200)]); });
    });
    await s.close();
    for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
  }
  const added = recordMs + commits.FULL! - commits.NORMAL!;
  console.log(`issue #15 adds about ${added.toFixed(2)} ms to a ${cycle.toFixed(2)} ms cycle (${((added / cycle) * 100).toFixed(0)}%)`);
} finally {
  ctx.daemons.close();
  app.cleanup();
}
