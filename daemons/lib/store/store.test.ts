import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Store, coreMigrations, type Migration } from './index.js';
import { probeTiers } from './migrations.js';
import { isTernError } from '../errors.js';

const tmp = (t: Test): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('open creates the file in WAL mode at the latest version', async (t) => {
  const file = path.join(tmp(t), 'sub', 'tern.db');
  const s = await Store.open(file);
  t.teardown(() => s.close());
  const mode = await s.get<{ journal_mode: string }>('PRAGMA journal_mode');
  t.equal(mode?.journal_mode, 'wal', `got journal_mode ${mode?.journal_mode}; want wal`);
  t.equal(await s.version(), coreMigrations.length);
  t.ok(await s.get("SELECT name FROM sqlite_master WHERE name = 'events'"));
  t.equal(await s.integrityCheck(), 'ok');
});

// Issue 15: each daemon runs as its own user and writes the database
// through its group (the directory is setgid). Whoever creates it (ternctl
// as root at umask 022, a daemon at 0077) must leave it, and so its -wal and
// -shm files, writable by that group.
t.test('the database is shared through its group whatever the creator\'s umask', { skip: process.getuid?.() !== 0 ? 'needs root to run a writer as another user' : false }, async (t) => {
  const dir = tmp(t);
  const group = 4243;
  fs.chownSync(dir, 0, group);
  fs.chmodSync(dir, 0o2770);
  const file = path.join(dir, 'tern.db');
  const umask = process.umask(0o022);
  let s: Store;
  try {
    s = await Store.open(file);
  } finally {
    process.umask(umask);
  }
  t.teardown(() => s.close());
  await s.run('CREATE TABLE shared (who INTEGER NOT NULL)');
  await s.run('INSERT INTO shared (who) VALUES (0)');
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    const st = fs.statSync(f);
    t.equal(st.mode & 0o777, 0o660, `${path.basename(f)}: mode got ${(st.mode & 0o777).toString(8)}; want 660`);
    t.equal(st.gid, group, `${path.basename(f)}: gid got ${st.gid}; want ${group} (the directory's)`);
  }
  const fixture = fileURLToPath(new URL('./shared-writer.fixture.js', import.meta.url));
  const child = spawn(process.execPath, [fixture, file], { uid: 65534, gid: group, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0, `writer as uid 65534, group ${group}: exit got ${code}; want 0: ${err.trim()}`);
  t.equal(out.trim(), '2', `rows after the second writer: got '${out.trim()}'; want 2`);
  t.equal((await s.get<{ n: number }>('SELECT count(*) AS n FROM shared'))?.n, 2, 'the first writer sees the second one\'s row');

  // An existing database keeps the mode it has.
  const old = path.join(dir, 'old.db');
  fs.writeFileSync(old, '', { mode: 0o600 });
  fs.chmodSync(old, 0o600);
  const o = await Store.open(old);
  await o.close();
  t.equal(fs.statSync(old).mode & 0o777, 0o600, `existing file: mode got ${(fs.statSync(old).mode & 0o777).toString(8)}; want 600 kept`);
});

t.test('the probe history tiers are one table shape: raw, minute and hour', async (t) => {
  const s = await Store.open(path.join(tmp(t), 'tern.db'));
  t.teardown(() => s.close());
  const shape = async (table: string): Promise<string> =>
    (await s.all<{ name: string; type: string; notnull: number; pk: number }>(`PRAGMA table_info(${table})`))
      .map((c) => `${c.name} ${c.type}${c.notnull ? ' NOT NULL' : ''}${c.pk ? ` pk${c.pk}` : ''}`).join(', ');
  const raw = await shape('probe_raw');
  t.equal(raw, 'subject_id INTEGER NOT NULL pk1, t INTEGER NOT NULL pk2, sent INTEGER NOT NULL, lost INTEGER NOT NULL, '
    + 'lost_fwd INTEGER NOT NULL, lost_rev INTEGER NOT NULL, rtt_sum REAL NOT NULL, rtt_sq_sum REAL NOT NULL, rtt_min REAL, '
    + 'rtt_max REAL, jitter_sum REAL NOT NULL, jitter_max REAL', 'probe_raw: the columns history.ts writes');
  for (const table of probeTiers) t.equal(await shape(table), raw, `${table}: same columns as probe_raw`);
});

t.test('migrations apply once, in order, and reopen is a no-op', async (t) => {
  const file = path.join(tmp(t), 'tern.db');
  const migrations: Migration[] = [
    { version: 1, name: 'a', up: 'CREATE TABLE a (x INTEGER);' },
    { version: 2, name: 'b', up: 'CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);' },
  ];
  const s1 = await Store.open(file, { migrations: migrations.slice(0, 1) });
  t.equal(await s1.version(), 1);
  await s1.close();
  const s2 = await Store.open(file, { migrations });
  t.equal(await s2.version(), 2);
  await s2.close();
  const s3 = await Store.open(file, { migrations });
  const rows = await s3.all('SELECT x FROM a');
  t.equal(rows.length, 1, `got ${rows.length} rows; want 1 (migration 2 must run once)`);
  await s3.close();
});

t.test('bad migrations and newer databases are refused with their codes', async (t) => {
  const dir = tmp(t);
  const cases: Array<{ name: string; first?: Migration[]; migrations: Migration[]; code: string; wantVersion?: number }> = [
    {
      name: 'failing SQL leaves the previous version',
      first: [{ version: 1, name: 'ok', up: 'CREATE TABLE ok (x);' }],
      migrations: [{ version: 1, name: 'ok', up: 'CREATE TABLE ok (x);' }, { version: 2, name: 'broken', up: 'CREATE TABLE z (x); SELEC nonsense;' }],
      code: 'TERN_E_STORE_MIGRATION',
      wantVersion: 1,
    },
    {
      name: 'gap in versions',
      migrations: [{ version: 1, name: 'a', up: '' }, { version: 3, name: 'c', up: '' }],
      code: 'TERN_E_STORE_MIGRATION',
    },
    {
      name: 'database newer than the build',
      first: [{ version: 1, name: 'a', up: '' }, { version: 2, name: 'b', up: '' }],
      migrations: [{ version: 1, name: 'a', up: '' }],
      code: 'TERN_E_STORE_VERSION',
    },
  ];
  for (const [i, c] of cases.entries()) {
    const file = path.join(dir, `c${i}.db`);
    if (c.first) await (await Store.open(file, { migrations: c.first })).close();
    const err = await Store.open(file, { migrations: c.migrations }).then(() => undefined, (e: unknown) => e);
    t.ok(isTernError(err, c.code as never), `${c.name}: got ${String(err)}; want ${c.code}`);
    if (c.wantVersion !== undefined) {
      const s = await Store.open(file, { migrations: c.first! });
      t.equal(await s.version(), c.wantVersion, `${c.name}: version`);
      t.notOk(await s.get("SELECT name FROM sqlite_master WHERE name = 'z'"), `${c.name}: half-applied table must not exist`);
      await s.close();
    }
  }
});

t.test('a failing transaction rolls back and later ones still work', async (t) => {
  const s = await Store.open(path.join(tmp(t), 'tern.db'));
  t.teardown(() => s.close());
  await s.run('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)');
  await t.rejects(s.transaction(async (tx) => {
    await tx.run('INSERT INTO kv VALUES (?, ?)', ['a', '1']);
    throw new Error('abort');
  }), /abort/);
  const bad = await s.run('INSERT INTO nope VALUES (1)').then(() => undefined, (e: unknown) => e);
  t.ok(isTernError(bad, 'TERN_E_STORE_QUERY'), `got ${String(bad)}; want TERN_E_STORE_QUERY`);
  // Concurrent transactions from one process are serialised, not interleaved.
  await Promise.all([1, 2, 3].map((n) => s.transaction(async (tx) => {
    await tx.run('INSERT INTO kv VALUES (?, ?)', [`k${n}`, String(n)]);
  })));
  const rows = await s.all<{ k: string }>('SELECT k FROM kv ORDER BY k');
  t.same(rows.map((r) => r.k), ['k1', 'k2', 'k3']);
});

t.test('survives kill -9 mid-write: no corruption, no partial batch, no lost commit', async (t) => {
  const file = path.join(tmp(t), 'tern.db');
  const writer = fileURLToPath(new URL('./crash-writer.fixture.js', import.meta.url));
  let lastCommitted = 0;
  const rounds = 8;
  for (let round = 0; round < rounds; round++) {
    const child = spawn(process.execPath, [writer, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    // Kill after a varying number of committed batches so the kill lands at
    // different points of the write cycle.
    const killAfter = 5 + round * 7;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const lines = out.split('\n').filter(Boolean);
        if (lines.length >= killAfter) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    const committed = out.split('\n').filter(Boolean).map(Number);
    lastCommitted = committed[committed.length - 1] ?? lastCommitted;

    const s = await Store.open(file);
    t.equal(await s.integrityCheck(), 'ok', `round ${round}: integrity_check`);
    const partial = await s.all('SELECT batch, count(*) AS n FROM crash GROUP BY batch HAVING n != 20');
    t.same(partial, [], `round ${round}: got partial batches ${JSON.stringify(partial)}; want none`);
    const max = (await s.get<{ m: number }>('SELECT max(batch) AS m FROM crash'))?.m ?? 0;
    t.ok(max >= lastCommitted, `round ${round}: got max batch ${max}; want >= last reported commit ${lastCommitted}`);
    await s.close();
  }
});
