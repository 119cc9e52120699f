// Versions of tern.yaml in the state database (table config_history) and
// the one pending apply, if any. Every change of state is one transaction,
// so an apply, a confirm and the rollback timer can race without harm: the
// first to move a version out of 'pending' wins, the others see it moved.
import { createHash } from 'node:crypto';
import { TernError } from '../../errors.js';
import { latestEvent, recordEvent, updateEventDetail } from '../../events/index.js';
import type { RuntimePaths } from '../../paths/index.js';
import type { Queryable } from '../../store/index.js';
import { ReadOnlyDb } from '../../store/state.js';

export type VersionState = 'pending' | 'confirmed' | 'rolled-back';

/** One version as `config history` lists it (the text only on request). */
export interface ConfigVersion {
  id: number;
  /** Wall-clock ms when it was recorded. */
  ts: number;
  hash: string;
  source: string;
  state: VersionState;
}

/** How a pending apply ends if nobody confirms it. */
export interface RollbackTimer {
  kind: 'process' | 'systemd';
  /** The detached process (kind process). */
  pid?: number;
  /** The transient timer unit (kind systemd). */
  unit?: string;
}

/** The pending apply: the version applied, the one it replaced, the deadline. */
export interface PendingApply {
  id: number;
  previousId: number;
  hash: string;
  /** Wall-clock ms after which it is rolled back. */
  deadline: number;
  timer: RollbackTimer | null;
}

export interface HistoryDb extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export class ConfigHistory {
  constructor(private readonly db: HistoryDb, private readonly now: () => number = Date.now) {}

  /** Newest first. */
  list(limit = 50): Promise<ConfigVersion[]> {
    return this.db.all<ConfigVersion>('SELECT id, ts, hash, source, state FROM config_history ORDER BY id DESC LIMIT ?', [limit]);
  }

  async text(id: number): Promise<string | undefined> {
    return (await this.db.get<{ text: string }>('SELECT text FROM config_history WHERE id = ?', [id]))?.text;
  }

  async version(id: number): Promise<ConfigVersion | undefined> {
    return this.db.get<ConfigVersion>('SELECT id, ts, hash, source, state FROM config_history WHERE id = ?', [id]);
  }

  /** The pending apply, if one is waiting for confirmation. */
  async pending(): Promise<PendingApply | undefined> {
    return pendingIn(this.db);
  }

  /**
   * Record an apply: the running text as a version when the history does
   * not end with it yet (first apply, or a hand edit), and the new text as
   * pending. Fails with TERN_E_CTL_APPLY when an apply is already pending.
   * within runs inside the transaction, before it commits; if it throws,
   * nothing is recorded.
   */
  begin(runningText: string, newText: string, source: string, deadline: number,
    within?: (r: { id: number; previousId: number }) => void): Promise<{ id: number; previousId: number }> {
    return this.db.transaction(async (tx) => {
      const waiting = await pendingIn(tx);
      if (waiting) {
        throw new TernError('TERN_E_CTL_APPLY',
          `ternctl: config apply: version #${waiting.id} is still pending (rolls back at ${new Date(waiting.deadline).toISOString()}); run ternctl config confirm or ternctl config rollback first`,
          { details: { pending: waiting.id } });
      }
      const ts = this.now();
      const last = await tx.get<{ id: number; hash: string }>("SELECT id, hash FROM config_history WHERE state = 'confirmed' ORDER BY id DESC LIMIT 1");
      let previousId = last?.id;
      if (!last || last.hash !== sha256(runningText)) {
        previousId = (await tx.run('INSERT INTO config_history (ts, hash, text, source, state) VALUES (?, ?, ?, ?, ?)',
          [ts, sha256(runningText), runningText, 'running (before apply)', 'confirmed'])).lastID;
      }
      const id = (await tx.run('INSERT INTO config_history (ts, hash, text, source, state) VALUES (?, ?, ?, ?, ?)',
        [ts, sha256(newText), newText, source, 'pending'])).lastID;
      await event(tx, ts, 'config.apply', id, { id, previousId, deadline, timer: null, source });
      within?.({ id, previousId: previousId! });
      return { id, previousId: previousId! };
    });
  }

  /** Record how and when the pending apply id will be rolled back. */
  async setTimer(id: number, timer: RollbackTimer, deadline: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await latestEvent(tx, 'config.apply', `#${id}`);
      if (!row) return;
      await updateEventDetail(tx, row.id, { ...detailObject(row.detail), timer, deadline });
    });
  }

  /**
   * Move id from pending to `to`; true when this call did it, false when it
   * was no longer pending (confirmed or rolled back by someone else). within
   * runs inside the transaction once the move is certain, before it
   * commits (a rollback restores the file there); if it throws, id stays
   * pending.
   */
  settle(id: number, to: 'confirmed' | 'rolled-back', detail: Record<string, unknown> = {}, within?: () => void): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run("UPDATE config_history SET state = ? WHERE id = ? AND state = 'pending'", [to, id]);
      if (r.changes === 0) return false;
      await event(tx, this.now(), to === 'confirmed' ? 'config.confirm' : 'config.rollback', id, { id, ...detail });
      within?.();
      return true;
    });
  }

  /** Record a version applied and confirmed at once (ra add, config apply --confirm-within 0). */
  async recordConfirmed(runningText: string, newText: string, source: string): Promise<{ id: number; previousId: number }> {
    const r = await this.begin(runningText, newText, source, this.now());
    await this.settle(r.id, 'confirmed', { immediate: true });
    return r;
  }
}

async function event(tx: Queryable, ts: number, kind: string, id: number, detail: Record<string, unknown>): Promise<void> {
  await recordEvent(tx, { ts, daemon: 'ternctl', kind, subject: `#${id}`, detail });
}

/** An event's detail as an object ({} when it is not one). */
function detailObject(detail: unknown): Record<string, unknown> {
  return detail !== null && typeof detail === 'object' && !Array.isArray(detail) ? detail as Record<string, unknown> : {};
}

/** The pending apply as stored (works on a read-only connection too). */
export async function pendingIn(db: Queryable): Promise<PendingApply | undefined> {
  const row = await db.get<{ id: number; hash: string }>("SELECT id, hash FROM config_history WHERE state = 'pending' ORDER BY id DESC LIMIT 1");
  if (!row) return undefined;
  const ev = await latestEvent(db, 'config.apply', `#${row.id}`);
  const d = (ev ? detailObject(ev.detail) : {}) as { previousId?: number; deadline?: number; timer?: RollbackTimer | null };
  return { id: row.id, hash: row.hash, previousId: d.previousId ?? 0, deadline: d.deadline ?? 0, timer: d.timer ?? null };
}

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
