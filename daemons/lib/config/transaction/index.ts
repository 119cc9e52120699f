// Package transaction is the config transaction, like `commit confirmed`:
// validate, keep the previous version, write atomically, re-render the
// box's networkd files, reload every daemon, and roll back unless confirmed
// in time (a timer that outlives the caller, and a boot-time rollback).
// ternctl's `config` commands drive it; fleet policy is to arrive through it
// too, which is why it lives in lib rather than in ternctl.
import type { RuntimePaths } from '../../paths/index.js';
import { ReadOnlyDb } from '../../store/state.js';
import { pendingIn, type PendingApply } from './history.js';

export { ConfigApplier, type ApplierOptions, type ApplyOutcome, type ReloadResult, type RollbackOutcome } from './apply.js';
export { writeFileAtomic } from './atomic.js';
export type { TransactionContext } from './context.js';
export { ConfigHistory, pendingIn, sha256, type ConfigVersion, type PendingApply, type RollbackTimer } from './history.js';
export { checkRecord, pendingRecordFile, readPendingRecord, removePendingRecord, writePendingRecord, type PendingRecord } from './pending.js';
export { rollbackArgv, startRollbackTimer, stopRollbackTimer, systemdRunArgv, type TimerOptions } from './timer.js';

/** The pending apply, read-only; undefined without a database. */
export async function readPending(ctx: { paths: Pick<RuntimePaths, 'dbFile'> }): Promise<PendingApply | undefined> {
  const db = await ReadOnlyDb.open(ctx.paths.dbFile);
  if (!db) return undefined;
  try {
    return (await db.hasTable('config_history')) ? await pendingIn(db) : undefined;
  } finally {
    await db.close();
  }
}
