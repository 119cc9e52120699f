// Package events is the one writer and reader of the state database's
// events table (failovers, path states and moves, config changes): every
// daemon and ternctl records and reads events here, so the row's shape (ts
// in wall-clock ms, detail as JSON) is written down once. The table is core
// migration 1 (daemons/lib/store/migrations.ts); its retention is
// lib/store/retention.ts.
import { TernError } from '../errors.js';
import type { Queryable } from '../store/index.js';

/** An event to record. */
export interface EventRecord {
  /** Wall-clock ms (rounded to a whole ms when stored). */
  ts: number;
  /** Who records it: a daemon's name, or ternctl. */
  daemon: string;
  /** e.g. pair.role, path.state, path.move, config.apply. */
  kind: string;
  /** The path, WAN, site, VRID or config version it is about. */
  subject: string | null;
  /** Stored as JSON. */
  detail: unknown;
}

/** One row of the events table, detail parsed (kept as text when it is not JSON). */
export interface EventRow extends EventRecord {
  id: number;
}

/** Events per INSERT statement (5 parameters each, far below SQLite's limit). */
export const EVENTS_PER_INSERT = 100;

const COLUMNS = 'id, ts, daemon, kind, subject, detail';

interface StoredRow {
  id: number;
  ts: number;
  daemon: string;
  kind: string;
  subject: string | null;
  detail: string | null;
}

function checkEvent(e: EventRecord, i: number): void {
  const w = `events: record: event ${i}`;
  if (!e || typeof e !== 'object') throw new TernError('TERN_E_STORE_QUERY', `${w}: not an object; want {ts, daemon, kind, subject, detail}`);
  if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) throw new TernError('TERN_E_STORE_QUERY', `${w}: ts is ${String(e.ts)}; want wall-clock ms >= 0`);
  for (const k of ['daemon', 'kind'] as const) {
    if (typeof e[k] !== 'string' || e[k] === '') throw new TernError('TERN_E_STORE_QUERY', `${w}: ${k} is ${JSON.stringify(e[k])}; want a non-empty string`);
  }
  if (e.subject !== null && typeof e.subject !== 'string') throw new TernError('TERN_E_STORE_QUERY', `${w}: subject is ${typeof e.subject}; want a string or null`);
}

/**
 * Record events, EVENTS_PER_INSERT rows a statement rather than one: each
 * statement is a round trip through sqlite3's worker and a turn of the
 * event loop, and 500 paths coming up make a thousand events at once (one
 * by one on a busy loop they held probed's history writes up for minutes,
 * probed.bench). Call it inside a transaction to make a batch atomic.
 */
export async function recordEvents(q: Queryable, events: readonly EventRecord[]): Promise<void> {
  events.forEach(checkEvent);
  for (let i = 0; i < events.length; i += EVENTS_PER_INSERT) {
    const chunk = events.slice(i, i + EVENTS_PER_INSERT);
    await q.run(`INSERT INTO events (ts, daemon, kind, subject, detail) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
      chunk.flatMap((e) => [Math.round(e.ts), e.daemon, e.kind, e.subject, JSON.stringify(e.detail)]));
  }
}

/** Record one event; its row id. */
export async function recordEvent(q: Queryable, e: EventRecord): Promise<number> {
  checkEvent(e, 0);
  return (await q.run('INSERT INTO events (ts, daemon, kind, subject, detail) VALUES (?, ?, ?, ?, ?)',
    [Math.round(e.ts), e.daemon, e.kind, e.subject, JSON.stringify(e.detail)])).lastID;
}

function toRow(r: StoredRow): EventRow {
  let detail: unknown = r.detail;
  try { detail = r.detail === null ? null : JSON.parse(r.detail); } catch { /* kept as text */ }
  return { ...r, detail };
}

/** Events in [from, to), oldest first, at most limit. */
export async function readEvents(q: Queryable, from: number, to: number, limit = 1000): Promise<EventRow[]> {
  const rows = await q.all<StoredRow>(`SELECT ${COLUMNS} FROM events WHERE ts >= ? AND ts < ? ORDER BY ts, id LIMIT ?`, [from, to, limit]);
  return rows.map(toRow);
}

/** The newest event of a kind about a subject (by row id), if any. */
export async function latestEvent(q: Queryable, kind: string, subject: string): Promise<EventRow | undefined> {
  const r = await q.get<StoredRow>(`SELECT ${COLUMNS} FROM events WHERE kind = ? AND subject = ? ORDER BY id DESC LIMIT 1`, [kind, subject]);
  return r && toRow(r);
}

/** Replace the detail of the event with row id. */
export async function updateEventDetail(q: Queryable, id: number, detail: unknown): Promise<void> {
  await q.run('UPDATE events SET detail = ? WHERE id = ?', [JSON.stringify(detail), id]);
}
