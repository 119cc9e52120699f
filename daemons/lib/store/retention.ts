// Retention of the two logs in the state database, events and
// config_history: both grow with every failover, path move and apply, and
// nothing else ever deletes from them. Rows go when older than a number of
// days or beyond a row count (oldest first), in bounded batches, each its
// own short transaction, like the probe history's compaction that runs it
// (probed/writer.ts). What a pending `config apply` needs is never deleted:
// the pending version, the confirmed one it rolls back to, and the
// config.apply event that carries its deadline and timer.
import { TernError } from '../errors.js';
import type { Queryable } from './index.js';

export interface LogLimit {
  /** Rows older than this go (by their ts). */
  maxAgeDays: number;
  /** At most this many rows stay, the newest (by id). */
  maxRows: number;
}

export interface LogRetention {
  events: LogLimit;
  configHistory: LogLimit;
}

/**
 * A year of each, as the architecture keeps the hourly probe tier. The row
 * caps bound the file whatever the rate: an event row is a few hundred
 * bytes (250 000 ≈ 60 MB at most); a config version is the whole tern.yaml.
 */
export const defaultLogRetention: LogRetention = {
  events: { maxAgeDays: 365, maxRows: 250_000 },
  configHistory: { maxAgeDays: 365, maxRows: 1_000 },
};

export interface PruneReport {
  deleted: { events: number; configHistory: number };
  /** Transactions taken. */
  batches: number;
  /** False when maxBatches ran out first; the next run goes on. */
  done: boolean;
}

export interface PruneOptions {
  retention?: LogRetention;
  /** Transactions one run may take (default: until done). */
  maxBatches?: number;
  /** Rows one transaction deletes at most (default 5000). */
  batchRows?: number;
}

/** What pruning needs of the Store. */
export interface PruneStore extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

const dayMs = 86_400_000;

function count(what: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new TernError('TERN_E_STORE_QUERY', `store: prune: ${what}: got ${JSON.stringify(v)}; want an integer >= ${min}`);
  }
  return v;
}

// Rows a pending apply needs (ctl/config/history.ts): the pending version,
// the newest confirmed one (its previousId), and its config.apply event.
// COALESCE: a NULL in NOT (...) would keep every row.
const keepConfig = `state = 'pending' OR id = COALESCE((SELECT MAX(id) FROM config_history WHERE state = 'confirmed'), -1)`;
const keepEvent = `kind = 'config.apply' AND COALESCE(subject, '') IN (SELECT '#' || id FROM config_history WHERE state = 'pending')`;

/**
 * Deletes events and config versions past their age or row cap, as of
 * nowMs (wall-clock ms), batchRows rows per transaction.
 */
export async function pruneLogs(db: PruneStore, nowMs: number, opts: PruneOptions = {}): Promise<PruneReport> {
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < 0) {
    throw new TernError('TERN_E_STORE_QUERY', `store: prune: now: got ${JSON.stringify(nowMs)}; want wall-clock ms`);
  }
  const r = opts.retention ?? defaultLogRetention;
  const limits = {
    events: { age: count('events.maxAgeDays', r.events?.maxAgeDays, 1), rows: count('events.maxRows', r.events?.maxRows, 1) },
    configHistory: { age: count('configHistory.maxAgeDays', r.configHistory?.maxAgeDays, 1), rows: count('configHistory.maxRows', r.configHistory?.maxRows, 1) },
  };
  const maxBatches = opts.maxBatches === undefined ? Infinity : count('maxBatches', opts.maxBatches, 1);
  const batchRows = count('batchRows', opts.batchRows ?? 5000, 1);
  const report: PruneReport = { deleted: { events: 0, configHistory: 0 }, batches: 0, done: false };
  const tables = [
    { key: 'events', table: 'events', keep: keepEvent, limit: limits.events },
    { key: 'configHistory', table: 'config_history', keep: keepConfig, limit: limits.configHistory },
  ] as const;
  for (const { key, table, keep, limit } of tables) {
    const cutTs = nowMs - limit.age * dayMs;
    // The oldest id the row cap keeps; everything below it goes. Rows kept
    // for a pending apply count towards the cap but are never deleted.
    const oldestKept = (await db.get<{ id: number }>(`SELECT id FROM ${table} ORDER BY id DESC LIMIT 1 OFFSET ?`, [limit.rows - 1]))?.id ?? 0;
    const doomed = `SELECT id FROM ${table} WHERE (ts < ? OR id < ?) AND NOT (${keep}) ORDER BY id LIMIT ?`;
    // Looked for first, so a run with nothing to delete takes no write lock.
    if (!(await db.get(doomed, [cutTs, oldestKept, 1]))) continue;
    for (;;) {
      if (report.batches >= maxBatches) return report;
      const res = await db.transaction((tx) => tx.run(`DELETE FROM ${table} WHERE id IN (${doomed})`, [cutTs, oldestKept, batchRows]));
      report.batches++;
      report.deleted[key] += res.changes;
      if (res.changes < batchRows) break;
    }
  }
  report.done = true;
  return report;
}
