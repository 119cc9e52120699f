// Package store is Tern's SQLite state database (WAL mode, versioned
// migrations): metric history, events and config history live here.
import fs from 'node:fs';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { TernError, errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../log/index.js';
import { coreMigrations, type Migration } from './migrations.js';

export type { Migration } from './migrations.js';
export { coreMigrations } from './migrations.js';
export {
  defaultLogRetention, pruneLogs, type LogLimit, type LogRetention, type PruneOptions, type PruneReport, type PruneStore,
} from './retention.js';

export type SqlParams = unknown[] | Record<string, unknown>;

export interface StoreOptions {
  /** Schema migrations, in version order; default the core set. */
  migrations?: Migration[];
  logger?: Logger;
  /** How long a writer waits for another process's lock, ms (default 5000). */
  busyTimeoutMs?: number;
  /**
   * When a commit reaches the disk (default NORMAL: at the next checkpoint,
   * so a power cut may lose the last commits; a process crash loses none).
   * FULL syncs the WAL at every commit: for a writer whose commits the rest
   * of the box relies on after a power cut (ternctl's config history).
   */
  synchronous?: 'NORMAL' | 'FULL';
  /**
   * Mode of the database file when open creates it, whatever the umask
   * (default 0o660): several daemons, each its own user, write it through
   * a shared group (the directory's, setgid). SQLite gives the -wal and
   * -shm files the database's mode. An existing file keeps its mode.
   */
  createMode?: number;
}

export interface RunResult {
  changes: number;
  lastID: number;
}

/** The statements available inside and outside a transaction. */
export interface Queryable {
  run(sql: string, params?: SqlParams): Promise<RunResult>;
  get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]>;
}

/**
 * One connection to the state database. Several daemons open the same file;
 * SQLite's locking and WAL let them, and busy_timeout makes writers wait
 * rather than fail. Within one process, transactions are serialised by a
 * queue because sqlite3 shares one connection between all callers.
 */
export class Store implements Queryable {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: sqlite3.Database, readonly file: string, private readonly log: Logger) {}

  /** Open (creating if needed) the database, switch to WAL and migrate. */
  static async open(file: string, opts: StoreOptions = {}): Promise<Store> {
    const log = opts.logger ?? silentLogger();
    if (file !== ':memory:') {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
      } catch (err) {
        throw new TernError('TERN_E_STORE_OPEN', `store: open: cannot create directory of ${file}: ${errorMessage(err)}`, { cause: err });
      }
      createFile(file, opts.createMode ?? 0o660);
    }
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(d)));
    }).catch((err: unknown) => {
      throw new TernError('TERN_E_STORE_OPEN', `store: open: cannot open ${file}: ${errorMessage(err)}`, { cause: err });
    });
    const store = new Store(db, file, log);
    try {
      db.configure('busyTimeout', opts.busyTimeoutMs ?? 5000);
      const mode = await store.get<{ journal_mode: string }>('PRAGMA journal_mode=WAL');
      if (file !== ':memory:' && mode?.journal_mode !== 'wal') {
        throw new TernError('TERN_E_STORE_OPEN', `store: open: ${file}: journal_mode is ${mode?.journal_mode}; want wal`);
      }
      // NORMAL is durable against a process crash in WAL mode (only a power
      // loss can lose the last commits), which is what kill -9 tests prove.
      await store.run(opts.synchronous === 'FULL' ? 'PRAGMA synchronous=FULL' : 'PRAGMA synchronous=NORMAL');
      await store.run('PRAGMA foreign_keys=ON');
      await store.migrate(opts.migrations ?? coreMigrations);
    } catch (err) {
      await store.close().catch(() => undefined);
      if (err instanceof TernError) throw err;
      throw new TernError('TERN_E_STORE_OPEN', `store: open: ${file}: ${errorMessage(err)}`, { cause: err });
    }
    return store;
  }

  run(sql: string, params: SqlParams = []): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(queryError(sql, err));
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  get<T = Record<string, unknown>>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return getRow<T>(this.db, sql, params);
  }

  all<T = Record<string, unknown>>(sql: string, params: SqlParams = []): Promise<T[]> {
    return allRows<T>(this.db, sql, params);
  }

  /**
   * Run fn inside BEGIN IMMEDIATE … COMMIT; roll back if it throws. IMMEDIATE
   * takes the write lock up front so two processes never deadlock upgrading
   * read locks.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      await this.run('BEGIN IMMEDIATE');
      try {
        const result = await fn(this);
        await this.run('COMMIT');
        return result;
      } catch (err) {
        await this.run('ROLLBACK').catch((e: unknown) => this.log.error({ err: errorMessage(e) }, 'store: rollback failed'));
        throw err;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The schema version recorded in the database. */
  async version(): Promise<number> {
    const row = await this.get<{ user_version: number }>('PRAGMA user_version');
    return row?.user_version ?? 0;
  }

  /** PRAGMA integrity_check: 'ok' or the problems SQLite found. */
  async integrityCheck(): Promise<string> {
    const rows = await this.all<{ integrity_check: string }>('PRAGMA integrity_check');
    return rows.map((r) => r.integrity_check).join('; ');
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }

  /**
   * Apply every migration above the recorded version, each in its own
   * transaction together with the version bump, so a crash leaves the
   * database at a whole version.
   */
  private async migrate(migrations: Migration[]): Promise<void> {
    checkMigrations(migrations);
    const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
    const current = await this.version();
    if (current > latest) {
      throw new TernError('TERN_E_STORE_VERSION',
        `store: migrate: ${this.file} is at schema version ${current}; this build knows up to ${latest}: was it written by a newer Tern?`);
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      try {
        await this.transaction(async (tx) => {
          // Another process may have migrated while we waited for the lock.
          const now = (await tx.get<{ user_version: number }>('PRAGMA user_version'))?.user_version ?? 0;
          if (now >= m.version) return;
          await execScript(this.db, m.up);
          await tx.run(`PRAGMA user_version = ${m.version}`);
        });
        this.log.info({ version: m.version, name: m.name }, 'store: migrated');
      } catch (err) {
        throw new TernError('TERN_E_STORE_MIGRATION',
          `store: migrate: migration ${m.version} (${m.name}) failed: ${errorMessage(err)}; database stays at version ${await this.version()}`,
          { cause: err });
      }
    }
  }
}

function execScript(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}

function checkMigrations(migrations: Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new TernError('TERN_E_STORE_MIGRATION',
        `store: migrate: migration #${i} (${m.name}) has version ${m.version}; want ${i + 1} (versions must be consecutive from 1)`);
    }
  });
}

/** TERN_E_STORE_QUERY naming the statement; who says it (`store: query`, `ternctl: state`) leads. */
export function queryError(sql: string, err: Error, who = 'store: query'): TernError {
  const head = sql.replace(/\s+/g, ' ').trim().slice(0, 60);
  return new TernError('TERN_E_STORE_QUERY', `${who}: ${err.message} (in: ${head})`, { cause: err });
}

/** One row of a read, for the read-write store and ternctl's read-only connection alike. */
export function getRow<T>(db: sqlite3.Database, sql: string, params: SqlParams, who?: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    db.get(sql, params, (err: Error | null, row: T | undefined) => (err ? reject(queryError(sql, err, who)) : resolve(row)));
  });
}

/** Every row of a read. */
export function allRows<T>(db: sqlite3.Database, sql: string, params: SqlParams, who?: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    db.all(sql, params, (err: Error | null, rows: T[]) => (err ? reject(queryError(sql, err, who)) : resolve(rows)));
  });
}

/**
 * Create file empty with mode (an empty file is an empty SQLite database)
 * unless it exists. Two daemons starting at once may race here: the loser
 * finds the file made (EEXIST) and opens it like any existing database.
 */
function createFile(file: string, mode: number): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new TernError('TERN_E_STORE_OPEN', `store: open: cannot create ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    // open() applied the umask; the mode is what the other writers need.
    fs.fchmodSync(fd, mode);
  } catch (err) {
    throw new TernError('TERN_E_STORE_OPEN', `store: open: cannot set mode ${mode.toString(8)} on ${file}: ${errorMessage(err)}`, { cause: err });
  } finally {
    fs.closeSync(fd);
  }
}
