// Package transaction is the config transaction, like `commit confirmed`:
// validate, keep the previous version, write atomically, re-render the
// box's networkd files, reload every daemon, and roll back unless confirmed
// in time (a timer that outlives the caller, and a boot-time rollback).
// ternctl's `config` commands drive it; fleet policy is to arrive through it
// too, which is why it lives in lib rather than in ternctl.
export { ConfigApplier, type ApplierOptions, type ApplyOutcome, type ReloadResult, type RollbackOutcome, type TimerOutcome } from './apply.js';
export { writeFileAtomic } from './atomic.js';
export type { TransactionContext } from './context.js';
export { ConfigHistory, pendingIn, readPending, sha256, type ConfigVersion, type PendingApply, type RollbackTimer } from './history.js';
export { checkRecord, pendingRecordFile, readPendingRecord, removePendingRecord, writePendingRecord, type PendingRecord } from './pending.js';
export { rollbackArgv, startRollbackTimer, stopRollbackTimer, systemdRunArgv, type TimerOptions } from './timer.js';
