// Package history is probe metric history in the state database (written by
// tern-probed, read by probed and ternctl), in three tiers: raw 1-second
// samples, 1-minute and 1-hour rollups, each kept for its configured
// retention (probes.history). This is what the loss report reads.
//
// Every tier stores the same columns, and they are sums (sent, lost, lost
// per direction, Σrtt, Σrtt², Σjitter) plus min/max, so a rollup is plain
// addition and loss survives it exactly: a minute's loss is Σlost / Σsent of
// its seconds, never an average of percentages.
//
// compact() rolls raw → minute and minute → hour behind a watermark per tier
// (probe_rollup.done_until: everything before it has been rolled), a few
// minutes behind real time (settleSec) because probe outcomes become final
// late (session.ts). A sample that still arrives for an already rolled
// period is added to the rollups directly by record(), so nothing is lost or
// counted twice. Retention never deletes what has not been rolled yet. All
// work is done in bounded batches, each its own short transaction, with the
// event loop let through between them.
//
// Each table's primary key (subject_id, t) is the only index needed: every
// query, rollup and deletion is a range scan of one subject's rows. The
// tables are created by the core migrations (daemons/lib/store/migrations.ts),
// so every daemon that opens tern.db agrees on one schema version.
import { systemClock, type Clock } from '../clock/index.js';
import { TernError } from '../errors.js';
import type { Queryable } from '../store/index.js';
import { lossRatios } from './loss.js';
import type { ProbeSample } from './sample.js';
import { checkName, checkNumber } from './validate.js';

export { lossRatios, type LossRatios } from './loss.js';
export type { ProbeSample } from './sample.js';

export type Resolution = 'raw' | 'minute' | 'hour';

export interface HistoryRetention {
  rawHours: number;
  minuteDays: number;
  hourDays: number;
}

/** What History needs of the Store: queries and transactions. */
export interface HistoryStore extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

export interface HistoryOptions {
  /** config probes.history. */
  retention: HistoryRetention;
  clock?: Clock;
  /** How far behind now rollups stay, so late samples still land in raw first (default 120 s). */
  settleSec?: number;
  /** Most points query() returns at resolution 'auto' before it picks a coarser tier (default 3600). */
  maxPoints?: number;
}

export interface HistoryPoint {
  /** Wall-clock ms at the start of the bucket. */
  t: number;
  sent: number;
  lost: number;
  lostFwd: number;
  lostRev: number;
  lossPct: number | null;
  lossFwdPct: number | null;
  lossRevPct: number | null;
  rttAvgMs: number | null;
  rttMinMs: number | null;
  rttMaxMs: number | null;
  rttStddevMs: number | null;
  /** Mean RFC 3550 jitter over the bucket's answers. */
  jitterMs: number | null;
  jitterMaxMs: number | null;
}

export interface HistoryQuery {
  subject: string;
  /** Wall-clock ms, inclusive (rounded down to the bucket). */
  from: number;
  /** Wall-clock ms, exclusive. */
  to: number;
  resolution?: 'auto' | Resolution;
  /** What 'auto' takes as now, for retention (default the clock). */
  now?: number;
}

export interface HistoryResult {
  subject: string;
  resolution: Resolution;
  /** Buckets with data, oldest first; a bucket with no probes has no point. */
  points: HistoryPoint[];
  /** The whole range as one bucket (t = start of the first point's bucket, or from). */
  totals: HistoryPoint;
}

export interface CompactReport {
  /** Minute and hour rows written by rollups. */
  rolled: { minute: number; hour: number };
  deleted: { raw: number; minute: number; hour: number };
  /** Transactions run. */
  batches: number;
  /** False when maxBatches stopped it early; call again. */
  done: boolean;
}

interface Row {
  t: number;
  sent: number;
  lost: number;
  lost_fwd: number;
  lost_rev: number;
  rtt_sum: number;
  rtt_sq_sum: number;
  rtt_min: number | null;
  rtt_max: number | null;
  jitter_sum: number;
  jitter_max: number | null;
}

const TABLE: Record<Resolution, string> = { raw: 'probe_raw', minute: 'probe_minute', hour: 'probe_hour' };
const SIZE: Record<Resolution, number> = { raw: 1, minute: 60, hour: 3600 };
const COLS = 'subject_id, t, sent, lost, lost_fwd, lost_rev, rtt_sum, rtt_sq_sum, rtt_min, rtt_max, jitter_sum, jitter_max';
const MERGE = `ON CONFLICT (subject_id, t) DO UPDATE SET
  sent = sent + excluded.sent, lost = lost + excluded.lost,
  lost_fwd = lost_fwd + excluded.lost_fwd, lost_rev = lost_rev + excluded.lost_rev,
  rtt_sum = rtt_sum + excluded.rtt_sum, rtt_sq_sum = rtt_sq_sum + excluded.rtt_sq_sum,
  rtt_min = coalesce(min(rtt_min, excluded.rtt_min), rtt_min, excluded.rtt_min),
  rtt_max = coalesce(max(rtt_max, excluded.rtt_max), rtt_max, excluded.rtt_max),
  jitter_sum = jitter_sum + excluded.jitter_sum,
  jitter_max = coalesce(max(jitter_max, excluded.jitter_max), jitter_max, excluded.jitter_max)`;
const AGG = 'SUM(sent), SUM(lost), SUM(lost_fwd), SUM(lost_rev), SUM(rtt_sum), SUM(rtt_sq_sum), MIN(rtt_min), MAX(rtt_max), SUM(jitter_sum), MAX(jitter_max)';
/** New subject names per INSERT and SELECT (one parameter each, far below SQLite's limit). */
const SUBJECTS_PER_STATEMENT = 500;
/** Rows per INSERT statement (12 parameters each, far below SQLite's limit). */
const ROWS_PER_INSERT = 400;
/** Seconds of finer rows handled per batch: raw → minute one hour, minute → hour one day. */
const ROLL_BATCH: Record<'minute' | 'hour', number> = { minute: 3600, hour: 86_400 };
const DELETE_BATCH: Record<Resolution, number> = { raw: 3600, minute: 86_400, hour: 30 * 86_400 };

/** Probe history over the state database (its tables are core migration 2, 'probe history tiers'). */
export class History {
  private readonly clock: Clock;
  private readonly retentionSec: Record<Resolution, number>;
  private readonly settleSec: number;
  private readonly maxPoints: number;
  private readonly ids = new Map<string, number>();

  constructor(private readonly store: HistoryStore, opts: HistoryOptions) {
    const w = 'history: new';
    const r = opts?.retention;
    if (!r || typeof r !== 'object') throw new TernError('TERN_E_PROBE_ARG', `${w}: retention is missing; want {rawHours, minuteDays, hourDays}`);
    this.retentionSec = {
      raw: checkNumber(w, 'retention.rawHours', r.rawHours, { integer: true, min: 1, max: 720 }) * 3600,
      minute: checkNumber(w, 'retention.minuteDays', r.minuteDays, { integer: true, min: 1, max: 366 }) * 86_400,
      hour: checkNumber(w, 'retention.hourDays', r.hourDays, { integer: true, min: 1, max: 3660 }) * 86_400,
    };
    this.clock = opts.clock ?? systemClock;
    this.settleSec = checkNumber(w, 'settleSec', opts.settleSec ?? 120, { integer: true, min: 0, max: 3600 });
    this.maxPoints = checkNumber(w, 'maxPoints', opts.maxPoints ?? 3600, { integer: true, min: 10 });
  }

  /** Store samples (one transaction). Throws TERN_E_PROBE_ARG, writing nothing, if any sample is inconsistent. */
  async record(samples: ProbeSample[]): Promise<void> {
    if (!Array.isArray(samples)) throw new TernError('TERN_E_PROBE_ARG', 'history: record: samples is not an array');
    samples.forEach((s, i) => checkSample(s, i));
    if (!samples.length) return;
    await this.store.transaction(async (tx) => {
      const marks = await this.watermarks(tx);
      const ids = await this.subjectIds(tx, samples.map((s) => s.subject));
      const rows: unknown[][] = [];
      const late: Record<'minute' | 'hour', unknown[][]> = { minute: [], hour: [] };
      for (const s of samples) {
        const id = ids.get(s.subject)!;
        const t = Math.floor(s.t / 1000);
        const vals = [s.sent, s.lost, s.lostFwd, s.lostRev, s.rttSum, s.rttSqSum, s.rttMin, s.rttMax, s.jitterSum, s.jitterMax];
        rows.push([id, t, ...vals]);
        if (marks.minute !== undefined && t < marks.minute) late.minute.push([id, t - (t % 60), ...vals]);
        if (marks.hour !== undefined && t < marks.hour) late.hour.push([id, t - (t % 3600), ...vals]);
      }
      await insertRows(tx, 'probe_raw', rows);
      await insertRows(tx, 'probe_minute', late.minute);
      await insertRows(tx, 'probe_hour', late.hour);
    });
  }

  /** Roll up and apply retention as of nowMs. Stops after maxBatches transactions (default: until done). */
  async compact(nowMs: number = this.clock.now(), opts: { maxBatches?: number } = {}): Promise<CompactReport> {
    checkNumber('history: compact', 'now', nowMs, { min: 0 });
    const maxBatches = opts.maxBatches === undefined ? Infinity : checkNumber('history: compact', 'maxBatches', opts.maxBatches, { integer: true, min: 1 });
    const now = Math.floor(nowMs / 1000);
    const report: CompactReport = { rolled: { minute: 0, hour: 0 }, deleted: { raw: 0, minute: 0, hour: 0 }, batches: 0, done: false };
    const subjects = (await this.store.all<{ id: number }>('SELECT id FROM probe_subject ORDER BY id')).map((r) => r.id);
    const budget = (): boolean => report.batches < maxBatches;

    const minuteLimit = floorTo(now - this.settleSec, 60);
    if (!(await this.roll('minute', 'raw', minuteLimit, subjects, report, budget))) return report;
    const marks = await this.watermarks(this.store);
    const hourLimit = floorTo(marks.minute ?? 0, 3600);
    if (!(await this.roll('hour', 'minute', hourLimit, subjects, report, budget))) return report;

    const after = await this.watermarks(this.store);
    const cuts: Array<[Resolution, number]> = [
      ['raw', Math.min(now - this.retentionSec.raw, after.minute ?? -Infinity)],
      ['minute', Math.min(now - this.retentionSec.minute, after.hour ?? -Infinity)],
      ['hour', now - this.retentionSec.hour],
    ];
    for (const [res, cut] of cuts) {
      for (const id of subjects) {
        for (;;) {
          const lo = (await this.store.get<{ t: number | null }>(`SELECT MIN(t) AS t FROM ${TABLE[res]} WHERE subject_id = ?`, [id]))?.t;
          if (lo === null || lo === undefined || lo >= cut) break;
          if (!budget()) return report;
          const hi = Math.min(cut, lo + DELETE_BATCH[res]);
          const r = await this.store.transaction((tx) => tx.run(`DELETE FROM ${TABLE[res]} WHERE subject_id = ? AND t >= ? AND t < ?`, [id, lo, hi]));
          report.deleted[res] += r.changes;
          report.batches++;
          await yieldLoop();
        }
      }
    }
    report.done = true;
    return report;
  }

  /** Points of one subject over [from, to); resolution 'auto' picks the tier (see pickResolution). */
  async query(q: HistoryQuery): Promise<HistoryResult> {
    const w = 'history: query';
    if (!q || typeof q !== 'object') throw new TernError('TERN_E_PROBE_ARG', `${w}: query is missing; want {subject, from, to}`);
    checkName(w, 'subject', q.subject);
    const from = checkNumber(w, 'from', q.from, { min: 0 });
    const to = checkNumber(w, 'to', q.to, { above: from });
    const res = q.resolution ?? 'auto';
    if (!['auto', 'raw', 'minute', 'hour'].includes(res)) {
      throw new TernError('TERN_E_PROBE_ARG', `${w}: resolution is ${String(res)}; want auto, raw, minute or hour`);
    }
    const resolution = res === 'auto' ? this.pickResolution(from, to, q.now ?? this.clock.now()) : res;
    const id = (await this.store.get<{ id: number }>('SELECT id FROM probe_subject WHERE name = ?', [q.subject]))?.id;
    const size = SIZE[resolution];
    const lo = floorTo(Math.floor(from / 1000), size);
    const hi = Math.ceil(to / 1000);
    const rows = id === undefined ? [] : await this.fetch(id, resolution, lo, hi, await this.watermarks(this.store));
    const total = rows.reduce<Row>((acc, r) => merge(acc, r), emptyRow(rows[0]?.t ?? lo));
    return { subject: q.subject, resolution, points: rows.map(toPoint), totals: toPoint(total) };
  }

  /**
   * The finest tier that still holds data back to `from` and gives at most
   * maxPoints buckets over the range; the hour tier when none does.
   */
  pickResolution(from: number, to: number, now: number): Resolution {
    for (const res of ['raw', 'minute'] as const) {
      const oldest = now - this.retentionSec[res] * 1000;
      if (from >= oldest && (to - from) / (SIZE[res] * 1000) <= this.maxPoints) return res;
    }
    return 'hour';
  }

  /** Every subject with history. */
  async subjects(): Promise<string[]> {
    return (await this.store.all<{ name: string }>('SELECT name FROM probe_subject ORDER BY name')).map((r) => r.name);
  }

  /**
   * Rows of one subject at resolution res over [lo, hi): the tier's own rows
   * before its watermark, and the finer tiers, summed into buckets, after it
   * (the newest minutes and hours are not rolled up yet).
   */
  private async fetch(id: number, res: Resolution, lo: number, hi: number, marks: Watermarks): Promise<Row[]> {
    const select = (table: string, a: number, b: number): Promise<Row[]> => (a >= b ? Promise.resolve([]) : this.store.all<Row>(
      `SELECT t, sent, lost, lost_fwd, lost_rev, rtt_sum, rtt_sq_sum, rtt_min, rtt_max, jitter_sum, jitter_max
       FROM ${table} WHERE subject_id = ? AND t >= ? AND t < ? ORDER BY t`, [id, a, b]));
    if (res === 'raw') return select(TABLE.raw, lo, hi);
    const mark = Math.max(lo, Math.min(hi, marks[res] ?? lo));
    const own = await select(TABLE[res], lo, mark);
    const finer = await this.fetch(id, res === 'hour' ? 'minute' : 'raw', mark, hi, marks);
    return [...own, ...bucket(finer, SIZE[res])];
  }

  /** Roll the finer tier into `tier` up to limit, batch by batch. False when the batch budget ran out. */
  private async roll(tier: 'minute' | 'hour', finer: Resolution, limit: number, subjects: number[], report: CompactReport, budget: () => boolean): Promise<boolean> {
    const size = SIZE[tier];
    let mark = (await this.watermarks(this.store))[tier];
    for (;;) {
      // Jump over stretches with no data (the box was off) instead of walking them.
      let next: number | undefined;
      for (const id of subjects) {
        const t = (await this.store.get<{ t: number | null }>(
          `SELECT MIN(t) AS t FROM ${TABLE[finer]} WHERE subject_id = ? AND t >= ?`, [id, mark ?? 0]))?.t;
        if (t !== null && t !== undefined && (next === undefined || t < next)) next = t;
      }
      if (next === undefined || floorTo(next, size) >= limit) {
        if (mark === undefined || mark < limit) {
          if (!budget()) return false;
          await this.store.transaction((tx) => setWatermark(tx, tier, limit));
          report.batches++;
        }
        return true;
      }
      if (!budget()) return false;
      const lo = Math.max(mark ?? 0, floorTo(next, size));
      const hi = Math.min(limit, lo + ROLL_BATCH[tier]);
      await this.store.transaction(async (tx) => {
        for (const id of subjects) {
          const r = await tx.run(`INSERT INTO ${TABLE[tier]} (${COLS})
            SELECT subject_id, (t / ${size}) * ${size}, ${AGG}
            FROM ${TABLE[finer]} WHERE subject_id = ? AND t >= ? AND t < ?
            GROUP BY t / ${size}
            ${MERGE}`, [id, lo, hi]);
          report.rolled[tier] += r.changes;
        }
        await setWatermark(tx, tier, hi);
      });
      report.batches++;
      mark = hi;
      await yieldLoop();
    }
  }

  private async watermarks(q: Queryable): Promise<Watermarks> {
    const rows = await q.all<{ tier: string; done_until: number }>('SELECT tier, done_until FROM probe_rollup');
    const m: Watermarks = {};
    for (const r of rows) if (r.tier === 'minute' || r.tier === 'hour') m[r.tier] = r.done_until;
    return m;
  }

  /**
   * The ids of these subjects, made for those new to the database: one
   * INSERT and one SELECT per SUBJECTS_PER_STATEMENT new names, not two
   * statements per name. Each statement is a round trip through sqlite3's
   * worker thread and a turn of the event loop; the first flush after start
   * has every subject new (500 paths), and one by one, on a busy loop,
   * those thousand round trips held history writing up for a minute and more
   * while samples queued (probed.bench, before this).
   */
  private async subjectIds(tx: Queryable, names: string[]): Promise<Map<string, number>> {
    const missing = [...new Set(names)].filter((n) => !this.ids.has(n));
    for (let i = 0; i < missing.length; i += SUBJECTS_PER_STATEMENT) {
      const chunk = missing.slice(i, i + SUBJECTS_PER_STATEMENT);
      const marks = chunk.map(() => '?').join(', ');
      await tx.run(`INSERT INTO probe_subject (name) VALUES ${chunk.map(() => '(?)').join(', ')} ON CONFLICT (name) DO NOTHING`, chunk);
      for (const r of await tx.all<{ id: number; name: string }>(`SELECT id, name FROM probe_subject WHERE name IN (${marks})`, chunk)) this.ids.set(r.name, r.id);
    }
    return this.ids;
  }
}

type Watermarks = Partial<Record<'minute' | 'hour', number>>;

function setWatermark(tx: Queryable, tier: string, t: number): Promise<unknown> {
  return tx.run('INSERT INTO probe_rollup (tier, done_until) VALUES (?, ?) ON CONFLICT (tier) DO UPDATE SET done_until = excluded.done_until', [tier, t]);
}

async function insertRows(tx: Queryable, table: string, rows: unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    const values = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    await tx.run(`INSERT INTO ${table} (${COLS}) VALUES ${values} ${MERGE}`, chunk.flat());
  }
}

function checkSample(s: ProbeSample, i: number): void {
  const w = `history: record: sample ${i}`;
  if (!s || typeof s !== 'object') throw new TernError('TERN_E_PROBE_ARG', `${w}: not an object`);
  checkName(w, 'subject', s.subject);
  checkNumber(w, 't', s.t, { min: 0 });
  const sent = checkNumber(w, 'sent', s.sent, { integer: true, min: 0 });
  const lost = checkNumber(w, 'lost', s.lost, { integer: true, min: 0, max: sent });
  const fwd = checkNumber(w, 'lostFwd', s.lostFwd, { integer: true, min: 0, max: lost });
  checkNumber(w, 'lostRev', s.lostRev, { integer: true, min: 0, max: lost - fwd });
  checkNumber(w, 'rttSum', s.rttSum, { min: 0 });
  checkNumber(w, 'rttSqSum', s.rttSqSum, { min: 0 });
  checkNumber(w, 'jitterSum', s.jitterSum, { min: 0 });
  const answered = sent - lost;
  for (const k of ['rttMin', 'rttMax', 'jitterMax'] as const) {
    const v = s[k];
    if (answered === 0 ? v !== null : typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new TernError('TERN_E_PROBE_ARG', `${w}: ${k} is ${String(v)}; want ${answered === 0 ? 'null (nothing answered)' : 'a number >= 0'}`);
    }
  }
  if (answered > 0 && s.rttMin! > s.rttMax!) throw new TernError('TERN_E_PROBE_ARG', `${w}: rttMin ${s.rttMin} > rttMax ${s.rttMax}`);
}

function emptyRow(t: number): Row {
  return { t, sent: 0, lost: 0, lost_fwd: 0, lost_rev: 0, rtt_sum: 0, rtt_sq_sum: 0, rtt_min: null, rtt_max: null, jitter_sum: 0, jitter_max: null };
}

function minN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function maxN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function merge(a: Row, b: Row): Row {
  return {
    t: a.t,
    sent: a.sent + b.sent,
    lost: a.lost + b.lost,
    lost_fwd: a.lost_fwd + b.lost_fwd,
    lost_rev: a.lost_rev + b.lost_rev,
    rtt_sum: a.rtt_sum + b.rtt_sum,
    rtt_sq_sum: a.rtt_sq_sum + b.rtt_sq_sum,
    rtt_min: minN(a.rtt_min, b.rtt_min),
    rtt_max: maxN(a.rtt_max, b.rtt_max),
    jitter_sum: a.jitter_sum + b.jitter_sum,
    jitter_max: maxN(a.jitter_max, b.jitter_max),
  };
}

/** Sum rows (sorted by t) into buckets of size seconds. */
function bucket(rows: Row[], size: number): Row[] {
  const out: Row[] = [];
  for (const r of rows) {
    const t = floorTo(r.t, size);
    const last = out[out.length - 1];
    if (last && last.t === t) out[out.length - 1] = merge(last, r);
    else out.push(merge(emptyRow(t), r));
  }
  return out;
}

function toPoint(r: Row): HistoryPoint {
  const answered = r.sent - r.lost;
  const avg = answered > 0 ? r.rtt_sum / answered : null;
  return {
    t: r.t * 1000,
    sent: r.sent,
    lost: r.lost,
    lostFwd: r.lost_fwd,
    lostRev: r.lost_rev,
    ...lossRatios(r.sent, r.lost, r.lost_fwd, r.lost_rev),
    rttAvgMs: avg,
    rttMinMs: r.rtt_min,
    rttMaxMs: r.rtt_max,
    rttStddevMs: avg === null ? null : Math.sqrt(Math.max(0, r.rtt_sq_sum / answered - avg * avg)),
    jitterMs: answered > 0 ? r.jitter_sum / answered : null,
    jitterMaxMs: r.jitter_max,
  };
}

function floorTo(t: number, size: number): number {
  return Math.floor(t / size) * size;
}

function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
