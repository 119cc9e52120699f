// Issue #15: `config apply` must be crash-consistent across a power cut.
// Each command below runs once with its file-system calls and database
// commits recorded (powercut.testkit.ts); then, for every state a power cut
// after any of those calls could leave, the boot runs what
// tern-config-rollback.service runs (`ternctl config rollback --if-pending`)
// and the box must end on a config that was confirmed or on the previous
// one, never on the unconfirmed new file with no way back; a confirm that
// returned must survive; nothing may stay pending; a second boot changes
// nothing. The boot-time rollback is then itself cut at each of its steps and
// the box booted again. Semantics: modelled power cuts (see the testkit);
// the "everything kept" states are the process-kill cases. At the end, the
// same commands as real processes killed after each step (no model).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../lib/errors.js';
import { Store } from '../../lib/store/index.js';
import { ReadOnlyDb, openStateForWrite } from '../state.js';
import { fakeDaemon, tempAppliance, testContext, type TempAppliance } from '../testkit.js';
import type { CtlContext } from '../context.js';
import { ConfigApplier } from '../../lib/config/transaction/index.js';
import { replaceFile } from '../../lib/files/index.js';
import { pendingIn, sha256, type RollbackTimer } from '../../lib/config/transaction/index.js';
import { configRollback } from './index.js';
import { PowerCutRecorder, crashStates, materialise, type CrashState, type Step } from './powercut.testkit.js';

const noTimer = (): RollbackTimer => ({ kind: 'process', pid: 0 });
const withDescription = (text: string, d: string): string => text.replace(/description: Head office, rack 1, PAIR member A/, `description: ${d}`);
const CONFIRMED = 'a confirm returned';

interface Workload {
  name: string;
  /** A daemon that refuses the new config (in the workload's appliance). */
  refuse?: boolean;
  run(ctx: CtlContext, rec: PowerCutRecorder, next: string): Promise<void>;
}

const workloads: Workload[] = [
  {
    name: 'apply, then confirm',
    async run(ctx, rec, next) {
      const applier = new ConfigApplier(ctx, { startTimer: noTimer });
      await applier.apply(next, 'new.yaml', { confirmWithinMs: 60_000, source: 'test' });
      rec.mark('apply returned');
      await applier.confirm();
      rec.mark(CONFIRMED);
    },
  },
  {
    name: 'apply, then the timer rolls it back',
    async run(ctx, rec, next) {
      const o = await new ConfigApplier(ctx, { startTimer: noTimer }).apply(next, 'new.yaml', { confirmWithinMs: 60_000, source: 'test' });
      rec.mark('apply returned');
      await configRollback(ctx, { ifUnconfirmed: String(o.id), at: String(Date.now() - 1) });
      rec.mark('rollback returned');
    },
  },
  {
    name: 'apply refused by a daemon: the previous config is restored at once',
    refuse: true,
    async run(ctx, rec, next) {
      await new ConfigApplier(ctx, { startTimer: noTimer }).apply(next, 'new.yaml', { confirmWithinMs: 60_000, source: 'test' }).then(
        () => { throw new Error('the refused apply succeeded'); },
        (err: unknown) => { if (!/refused/.test(errorMessage(err))) throw err; });
      rec.mark('apply failed');
    },
  },
  {
    name: 'apply --confirm-within 0',
    async run(ctx, rec, next) {
      await new ConfigApplier(ctx, { startTimer: noTimer }).apply(next, 'new.yaml', { confirmWithinMs: 0, source: 'test' });
      rec.mark(CONFIRMED);
    },
  },
];

/** The box that boots from each crash state: its files are replaced every time. */
interface Box { app: TempAppliance; ctx: CtlContext; etc: string }

function bootBox(t: Test): Box {
  const app = tempAppliance();
  const ctx = testContext(app);
  t.teardown(() => { ctx.daemons.close(); app.cleanup(); });
  return { app, ctx, etc: path.dirname(app.paths.configFile) };
}

/** What is on the box's disk: its files and the rows that matter. */
async function look(box: Box, next: string): Promise<{ files: Map<string, string>; pending: number | null; nextState: string | null }> {
  const files = new Map(fs.readdirSync(box.etc).filter((f) => !/\.tmp$/.test(f)).sort().map((f) => [f, fs.readFileSync(path.join(box.etc, f), 'utf8')]));
  const store = await openStateForWrite(box.app.paths);
  try {
    const row = await store.get<{ state: string }>('SELECT state FROM config_history WHERE hash = ? ORDER BY id DESC LIMIT 1', [sha256(next)]);
    return { files, pending: (await pendingIn(store))?.id ?? null, nextState: row?.state ?? null };
  } finally {
    await store.close();
  }
}

const boot = (box: Box): Promise<unknown> => configRollback(box.ctx, { ifPending: true });

/** What a crash state holds, in short: tern.yaml, the other files, the new version's row. */
async function kindOf(box: Box, previous: string, next: string): Promise<string> {
  const files = fs.readdirSync(box.etc).filter((f) => !/\.tmp$/.test(f) && f !== 'tern.yaml').sort();
  const config = fs.readFileSync(box.app.paths.configFile, 'utf8');
  const db = await ReadOnlyDb.open(box.app.paths.dbFile);
  let row = 'no database';
  try {
    if (db) {
      row = (await db.hasTable('config_history'))
        ? (await db.get<{ state: string }>('SELECT state FROM config_history WHERE hash = ? ORDER BY id DESC LIMIT 1', [sha256(next)]))?.state ?? 'no row'
        : 'no tables';
    }
  } finally {
    await db?.close();
  }
  const which = config === previous ? 'previous' : config === next ? 'new' : 'other';
  return `tern.yaml ${which}, ${files.length ? files.join(' ') : 'no record'}, new version: ${row}`;
}

/** Boot the box from state; undefined when it ends well, else what went wrong. */
async function bootAndJudge(box: Box, state: CrashState, previous: string, next: string, kinds: Map<string, number>): Promise<string | undefined> {
  materialise(state, box.etc, box.app.paths.dbFile);
  return judgeBoot(box, state, previous, next, kinds);
}

/** Boot the box as it is on disk and judge where it ends. */
async function judgeBoot(box: Box, state: Pick<CrashState, 'marks' | 'label'>, previous: string, next: string, kinds: Map<string, number>): Promise<string | undefined> {
  const kind = await kindOf(box, previous, next);
  kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  try {
    await boot(box);
  } catch (err) {
    return `${state.label}: the boot-time rollback failed: ${errorMessage(err)}`;
  }
  const seen = await look(box, next);
  const config = seen.files.get('tern.yaml');
  const is = config === previous ? 'the previous config' : config === next ? 'the new config' : config === undefined ? 'missing' : 'neither the previous nor the new config';
  const problem = ((): string | undefined => {
    if (config !== previous && config !== next) return `got tern.yaml ${is}; want the previous or the new config`;
    if (seen.pending !== null) return `got version #${seen.pending} still pending after the boot; want nothing pending`;
    if (config === next && seen.nextState !== 'confirmed') {
      return `got tern.yaml = the new config, which the history has as ${seen.nextState ?? 'nothing (no row)'}; want the previous config: nothing confirmed the new one and nothing is left to roll it back`;
    }
    if (config === previous && seen.nextState === 'confirmed') return 'got tern.yaml = the previous config while the history has the new one confirmed; want the confirmed new config';
    if (state.marks.includes(CONFIRMED) && config !== next) return `got tern.yaml = ${is} after "${CONFIRMED}"; want the confirmed new config`;
    const extra = [...seen.files.keys()].filter((f) => f !== 'tern.yaml');
    if (extra.length) return `got ${extra.join(', ')} left beside tern.yaml after the boot; want none`;
    return undefined;
  })();
  if (problem) return `${state.label}: ${problem}`;
  const before = JSON.stringify([...seen.files, seen.pending, seen.nextState]);
  try {
    await boot(box);
  } catch (err) {
    return `${state.label}: a second boot-time rollback failed: ${errorMessage(err)}`;
  }
  const again = await look(box, next);
  const after = JSON.stringify([...again.files, again.pending, again.nextState]);
  return after === before ? undefined : `${state.label}: a second boot changed the box: got ${after}; want ${before}`;
}

const digest = (file: string | null): string => (file ? createHash('sha256').update(fs.readFileSync(file)).digest('hex') : 'none');
const stateKey = (s: CrashState): string => JSON.stringify([[...s.files], digest(s.db), s.marks]);

t.test('the model lists the states a power cut can leave (the test above is only as good as this)', async (t) => {
  const cases: Array<{ name: string; write(dir: string): void; want: string[][] }> = [
    {
      name: 'replace done right (data fsync, rename, directory fsync): old or new, nothing else',
      write: (dir) => replaceFile(path.join(dir, 'f'), 'new'),
      want: [['f=old'], ['.tmp=', 'f=old'], ['.tmp=new', 'f=old'], ['f=new']],
    },
    {
      name: 'no fsync of the data before the rename: the file can come back empty',
      write: (dir) => {
        const fd = fs.openSync(path.join(dir, 't'), 'w');
        fs.writeSync(fd, 'new');
        fs.closeSync(fd);
        fs.renameSync(path.join(dir, 't'), path.join(dir, 'f'));
        const d = fs.openSync(dir, 'r');
        fs.fsyncSync(d);
        fs.closeSync(d);
      },
      want: [['f='], ['f=new'], ['f=old'], ['f=old', 't='], ['f=old', 't=new']],
    },
    {
      name: 'no directory fsync after unlink: the file can come back',
      write: (dir) => fs.unlinkSync(path.join(dir, 'f')),
      want: [[], ['f=old']],
    },
  ];
  for (const c of cases) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powercut-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, 'etc'));
    fs.writeFileSync(path.join(dir, 'etc', 'f'), 'old');
    const rec = new PowerCutRecorder(path.join(dir, 'etc'), path.join(dir, 'db'), path.join(dir, 'scratch'));
    rec.start();
    try { c.write(path.join(dir, 'etc')); } finally { rec.stop(); }
    const got = crashStates(rec.steps).map((s) => [...s.files].map(([f, text]) => `${f.replace(/^\.f\..*\.tmp$/, '.tmp')}=${text}`).sort()).map((x) => JSON.stringify(x)).sort();
    t.same([...new Set(got)], c.want.map((x) => JSON.stringify(x)).sort(), `${c.name}: got ${[...new Set(got)].join(' ')}`);
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powercut-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'etc'));
  const db = path.join(dir, 'tern.db');
  const rec = new PowerCutRecorder(path.join(dir, 'etc'), db, path.join(dir, 'scratch'));
  rec.start();
  try {
    for (const sync of ['NORMAL', 'FULL', 'NORMAL'] as const) {
      const s = await Store.open(db, { migrations: [] });
      await s.run(`PRAGMA synchronous=${sync}`);
      await s.run('CREATE TABLE IF NOT EXISTS x (v TEXT)');
      await s.transaction(async (tx) => { await tx.run('INSERT INTO x VALUES (?)', [sync]); });
      await s.close();
    }
  } finally {
    rec.stop();
  }
  t.same(rec.steps.map((s) => s.db.map((d) => d.label)), [
    ['no database'],
    ['no database', 'commit 1 (NORMAL)'],
    ['commit 2 (FULL)'],
    ['commit 2 (FULL)', 'commit 3 (NORMAL)'],
  ], 'a NORMAL commit may be lost with every NORMAL one after it; a FULL commit makes it and all before it stay');
});

for (const w of workloads) {
  t.test(`${w.name}: every power cut ends on a confirmed config or the previous one (issue #15)`, async (t) => {
    const app = tempAppliance();
    t.teardown(app.cleanup);
    const previous = fs.readFileSync(app.paths.configFile, 'utf8');
    const next = withDescription(previous, w.refuse ? 'refuse' : 'the new config');
    const ctx = testContext(app);
    t.teardown(() => ctx.daemons.close());
    if (w.refuse) {
      const daemon = await fakeDaemon(app, 'tunneld', () => ({
        async reload(cfg) {
          if (cfg.identity.description === 'refuse') throw new Error('tunneld: reload: this config is refused');
        },
      }));
      t.teardown(() => daemon.stop());
    }
    const rec = new PowerCutRecorder(path.dirname(app.paths.configFile), app.paths.dbFile, path.join(app.dir, 'powercut'));
    rec.start();
    try {
      await w.run(ctx, rec, next);
    } finally {
      rec.stop();
    }
    const states = crashStates(rec.steps);
    t.ok(states.length >= 10, `got ${states.length} crash states from ${rec.steps.length} steps; want at least 10 (is the recorder seeing the writes?)`);

    const box = bootBox(t);
    const problems: string[] = [];
    const seen = new Set<string>();
    const kinds = new Map<string, number>();
    let booted = 0;
    for (const s of states) {
      seen.add(stateKey(s));
      booted++;
      const p = await bootAndJudge(box, s, previous, next, kinds);
      if (p) problems.push(p);
    }
    // The boot-time rollback cut at each of its own steps, then booted again.
    let nested = 0;
    for (const [i, s] of states.entries()) {
      materialise(s, box.etc, box.app.paths.dbFile);
      const scratch = path.join(app.dir, `boot-${i}`);
      const bootRec = new PowerCutRecorder(box.etc, box.app.paths.dbFile, scratch);
      bootRec.start();
      try {
        await boot(box).catch(() => undefined);
      } finally {
        bootRec.stop();
      }
      for (const b of crashStates(bootRec.steps as Step[])) {
        const cut: CrashState = { ...b, marks: s.marks, label: `${s.label}; then the boot-time rollback was ${b.label}` };
        const key = stateKey(cut);
        if (seen.has(key)) continue;
        seen.add(key);
        nested++;
        const p = await bootAndJudge(box, cut, previous, next, kinds);
        if (p) problems.push(p);
      }
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    t.comment(`${rec.steps.length} steps recorded; ${booted} crash states booted, and ${nested} more with the boot-time rollback cut; ${problems.length} ended badly`);
    for (const which of ['new', 'previous']) {
      const n = [...kinds].filter(([k]) => k.startsWith(`tern.yaml ${which},`)).reduce((a, [, v]) => a + v, 0);
      t.ok(n > 0, `crash states with tern.yaml = the ${which} config: got ${n}; want some (else the recorder misses the rename)`);
    }
    t.comment(`what the cuts left (before the boot): ${[...kinds].sort().map(([k, n]) => `${k}: ${n}`).join('; ')}`);
    if (process.env.POWERCUT_ALL) for (const p of problems) t.comment(p);
    t.same(problems.slice(0, 4), [], `${problems.length} of ${booted + nested} power-cut states end badly (first 4 shown)`);
  });
}

// The same commands run as a real process killed (SIGKILL) right after each
// of its steps (killed-writer.fixture.ts): real kernel, real SQLite, no
// model, but process-kill semantics only (the page cache survives a kill,
// so this proves ordering against crashes, not durability against power).
const writer = fileURLToPath(new URL('./killed-writer.fixture.js', import.meta.url));

/** Run the writer; true when it was killed, false when it finished. */
function runWriter(app: TempAppliance, args: string[], killAt: number): boolean {
  const r = spawnSync(process.execPath, [writer, ...args], { env: { ...process.env, ...app.env, TERN_TEST_KILL_AT: String(killAt) }, encoding: 'utf8', timeout: 120_000 });
  if (r.signal === 'SIGKILL') return true;
  if (r.status === 0 && /^done /.test(r.stdout)) return false;
  throw new Error(`killed-writer ${args.join(' ')} (kill at ${killAt}): got exit ${r.status} signal ${r.signal}: ${r.stderr}`);
}

// The timer's rollback is the boot's (rollbackPending) with a check before it.
const killed: Array<{ name: string; before: string[]; cut: 'apply' | 'confirm' | 'boot' }> = [
  { name: 'apply', before: [], cut: 'apply' },
  { name: 'confirm', before: ['apply'], cut: 'confirm' },
  { name: 'the boot-time rollback', before: ['apply'], cut: 'boot' },
];

for (const c of killed) {
  t.test(`${c.name} killed after each of its steps: the boot ends on a confirmed config or the previous one (issue #15)`, async (t) => {
    const base = tempAppliance();
    t.teardown(base.cleanup);
    const previous = fs.readFileSync(base.paths.configFile, 'utf8');
    const next = withDescription(previous, 'the new config');
    const newFile = path.join(base.dir, 'new.yaml');
    fs.writeFileSync(newFile, next);
    for (const b of c.before) t.notOk(runWriter(base, [b, newFile], 0), `${b} runs to the end first`);
    const box = bootBox(t);
    const dirs = [box.app.paths.etcDir, box.app.paths.stateDir];
    const from = [base.paths.etcDir, base.paths.stateDir];
    const problems: string[] = [];
    const kinds = new Map<string, number>();
    let k = 1;
    for (; k < 200; k++) {
      dirs.forEach((d, i) => { fs.rmSync(d, { recursive: true, force: true }); fs.cpSync(from[i]!, d, { recursive: true }); });
      const wasKilled = runWriter(box.app, [c.cut, newFile], k);
      const marks = !wasKilled && c.cut === 'confirm' ? [CONFIRMED] : [];
      const p = await judgeBoot(box, { marks, label: wasKilled ? `${c.cut} killed after step ${k}` : `${c.cut} finished` }, previous, next, kinds);
      if (p) problems.push(p);
      if (!wasKilled) break;
    }
    t.ok(k >= 2 && k < 200, `${c.cut}: got ${k - 1} kill points; want a few, and an end`);
    t.comment(`${k - 1} kill points; what the kills left (before the boot): ${[...kinds].sort().map(([kind, n]) => `${kind}: ${n}`).join('; ')}`);
    t.same(problems.slice(0, 4), [], `${problems.length} of ${k} kills end badly (first 4 shown)`);
  });
}
