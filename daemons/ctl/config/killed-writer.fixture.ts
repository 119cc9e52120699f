// Test fixture for powercut.test.ts: runs one config command (apply,
// confirm, the timer's rollback, the boot-time rollback) on the appliance of
// its TERN_* environment and kills itself with SIGKILL right after its
// TERN_TEST_KILL_AT-th step: a file-system call under the config's directory
// that changes what is there (fsync, rename, unlink; a kill after open or
// write leaves what a kill before the next fsync leaves) or a commit of the
// state database. Prints "done" when it finishes before.
//   node killed-writer.fixture.js apply|confirm|timer|boot [NEW_CONFIG_FILE]
import fs from 'node:fs';
import path from 'node:path';
import { resolvePaths } from '../../lib/paths/index.js';
import { Store, type Queryable } from '../../lib/store/index.js';
import { testContext, type TempAppliance } from '../testkit.js';
import { ConfigApplier } from '../../lib/config/transaction/index.js';
import { configRollback, readPending } from './index.js';

const [command, newFile] = process.argv.slice(2);
const killAt = Number(process.env.TERN_TEST_KILL_AT ?? 0);
const env = Object.fromEntries(['TERN_ETC_DIR', 'TERN_RUN_DIR', 'TERN_STATE_DIR', 'TERN_CONFIG'].map((k) => [k, process.env[k] ?? ''])) as Record<string, string>;
const paths = resolvePaths({}, env);
const dir = path.dirname(paths.configFile);

let steps = 0;
const step = (): void => {
  if (++steps === killAt) process.kill(process.pid, 'SIGKILL');
};
const under = (p: unknown): boolean => typeof p === 'string' && path.resolve(p).startsWith(dir + path.sep);
const fds = new Set<number>();
const o = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
const wrap = (name: string, touches: (args: unknown[], result: unknown) => boolean): void => {
  const real = o[name]!;
  o[name] = (...args: unknown[]) => {
    const r = real(...args);
    if (touches(args, r)) step();
    return r;
  };
};
wrap('openSync', (a, fd) => { if (under(a[0]) || a[0] === dir) fds.add(fd as number); return false; });
wrap('fsyncSync', (a) => fds.has(a[0] as number));
wrap('closeSync', (a) => { fds.delete(a[0] as number); return false; });
wrap('renameSync', (a) => under(a[0]) || under(a[1]));
wrap('unlinkSync', (a) => under(a[0]));
wrap('rmSync', (a) => under(a[0]));
const transaction = Store.prototype.transaction;
Store.prototype.transaction = async function <T>(this: Store, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const r = await transaction.call(this, fn) as T;
  step();
  return r;
};

const app: TempAppliance = { dir: path.dirname(env.TERN_ETC_DIR!), env, paths, cleanup: () => undefined };
const ctx = testContext(app);
const applier = new ConfigApplier(ctx, { startTimer: () => ({ kind: 'process', pid: 0 }) });
if (command === 'apply') {
  await applier.apply(fs.readFileSync(newFile!, 'utf8'), newFile!, { confirmWithinMs: 60_000, source: 'killed-writer' });
} else if (command === 'confirm') {
  await applier.confirm();
} else if (command === 'timer') {
  const pending = await readPending(ctx);
  await configRollback(ctx, { ifUnconfirmed: String(pending?.id ?? 0), at: '0' });
} else if (command === 'boot') {
  await configRollback(ctx, { ifPending: true });
} else {
  throw new Error(`killed-writer: unknown command ${command}`);
}
ctx.daemons.close();
process.stdout.write(`done ${steps}\n`);
