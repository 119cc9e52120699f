// The state database (/var/lib/tern/tern.db) as the box's tools open it
// (ternctl, the config transaction, the exporter): the full
// schema when it writes (config history, events), plain read-only SQLite
// when it only reads (history, events), so a member of group tern can read
// without taking a writer's lock and nothing is ever created by a reader.
import fs from 'node:fs';
import sqlite3 from 'sqlite3';
import { TernError, errorMessage, isPermissionError, permissionError } from '../errors.js';
import type { RuntimePaths } from '../paths/index.js';
import { Store, allRows, coreMigrations, getRow, type Migration, type Queryable, type RunResult, type SqlParams } from './index.js';

/**
 * Every migration of the shared state database. All daemons open the same
 * file, so whoever opens it must know the whole schema (a shorter list
 * reads as "written by a newer Tern"): the core set holds every table.
 */
export function stateMigrations(): Migration[] {
  return coreMigrations;
}

/**
 * Open the state database for writing (root): creates and migrates it if
 * needed. Every commit is synced (FULL): ternctl writes the config history,
 * and a confirm or rollback it reported must survive a power cut; its
 * writes are few, one fsync each.
 */
export async function openStateForWrite(paths: Pick<RuntimePaths, 'dbFile'>): Promise<Store> {
  try {
    return await Store.open(paths.dbFile, { migrations: stateMigrations(), synchronous: 'FULL' });
  } catch (err) {
    if (isPermissionError(err) || /SQLITE_(CANTOPEN|READONLY|PERM)/.test(errorMessage(err))) throw permissionError('open the state database', paths.dbFile, err);
    throw err;
  }
}

/** A read-only connection: get/all only; run and transactions are refused. */
export class ReadOnlyDb implements Queryable {
  private constructor(private readonly db: sqlite3.Database, readonly file: string) {}

  /** Open file read-only; undefined when it does not exist yet (no daemon has written it). */
  static async open(file: string): Promise<ReadOnlyDb | undefined> {
    if (!fs.existsSync(file)) {
      try {
        fs.accessSync(file);
      } catch (err) {
        if (isPermissionError(err)) throw permissionError('read the state database', file, err);
        return undefined;
      }
    }
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw permissionError('read the state database', file, err);
    }
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(d)));
    }).catch((err: unknown) => {
      if (isPermissionError(err) || /SQLITE_(CANTOPEN|PERM)/.test(errorMessage(err))) throw permissionError('read the state database', file, err);
      throw new TernError('TERN_E_STORE_OPEN', `ternctl: state: open ${file} read-only: ${errorMessage(err)}`, { cause: err });
    });
    db.configure('busyTimeout', 2000);
    return new ReadOnlyDb(db, file);
  }

  run(sql: string, _params: SqlParams = []): Promise<RunResult> {
    return Promise.reject(new TernError('TERN_E_STORE_QUERY', `ternctl: state: read-only connection refused a write (in: ${sql.slice(0, 40)})`));
  }

  get<T = Record<string, unknown>>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return getRow<T>(this.db, sql, params, stateWho);
  }

  all<T = Record<string, unknown>>(sql: string, params: SqlParams = []): Promise<T[]> {
    return allRows<T>(this.db, sql, params, stateWho);
  }

  transaction<T>(_fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return Promise.reject(new TernError('TERN_E_STORE_QUERY', 'ternctl: state: read-only connection refused a transaction'));
  }

  /** Whether a table exists (a daemon may not have created its tables yet). */
  async hasTable(name: string): Promise<boolean> {
    return (await this.get("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", [name])) !== undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}

const stateWho = 'ternctl: state';
