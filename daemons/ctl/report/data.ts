// The numbers behind a loss report: per subject (path or WAN) the loss and
// RTT history over a range — from probed's history.query when it answers,
// else straight from the state database, read-only — and the events
// (failovers, path state changes, config changes) in that range.
import type { TernConfig } from '../../lib/config/index.js';
import { TernError, errorMessage } from '../../lib/errors.js';
import { readEvents, type EventRow } from '../../lib/events/index.js';
import { overlayPlan } from '../../lib/overlay/index.js';
import { History, type HistoryPoint, type Resolution } from '../../lib/history/index.js';
import type { CtlContext } from '../context.js';
import { ReadOnlyDb } from '../state.js';
import { methods } from '../views.js';

export type { HistoryPoint, Resolution } from '../../lib/history/index.js';

export interface Series {
  subject: string;
  kind: 'path' | 'wan';
  resolution: Resolution;
  /** Buckets with probes, oldest first. */
  points: HistoryPoint[];
  totals: HistoryPoint;
}

export interface ReportData {
  title: string;
  /** The site reported on, when --site was given. */
  site: string | null;
  /** Wall-clock ms, [from, to). */
  from: number;
  to: number;
  resolution: Resolution;
  /** Bucket size in ms. */
  bucketMs: number;
  series: Series[];
  events: EventRow[];
  /** Where the numbers came from. */
  source: 'probed' | 'database';
  appliance: { site: string; name: string } | null;
  probeRatePerSec: { path: number; wan: number } | null;
  generatedAt: number;
  version: string;
}

export const bucketMs: Record<Resolution, number> = { raw: 1000, minute: 60_000, hour: 3_600_000 };

/** Which subjects a report covers: every path to --site, each --path, each --wan. */
export function reportSubjects(cfg: TernConfig | undefined, known: string[], opts: { site?: string; paths: string[]; wans: string[] }): Array<{ subject: string; kind: 'path' | 'wan' }> {
  const out: Array<{ subject: string; kind: 'path' | 'wan' }> = [];
  const add = (subject: string, kind: 'path' | 'wan'): void => { if (!out.some((s) => s.subject === subject)) out.push({ subject, kind }); };
  if (opts.site) {
    const planned = cfg ? overlayPlan(cfg).paths.filter((p) => p.site === opts.site).map((p) => p.name) : [];
    // Paths recorded in the history but gone from the config still belong to the report.
    const recorded = known.filter((k) => k.split('/')[1] === opts.site);
    const all = [...new Set([...planned, ...recorded])].sort();
    if (all.length === 0) {
      const sites = cfg ? cfg.overlay.sites.map((s) => s.id) : [...new Set(known.map((k) => k.split('/')[1]).filter(Boolean))];
      throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: report loss: site '${opts.site}' has no paths in the config or the history; sites: ${sites.join(', ') || 'none'}`);
    }
    all.forEach((p) => add(p, 'path'));
  }
  opts.paths.forEach((p) => add(p, 'path'));
  opts.wans.forEach((w) => add(w, 'wan'));
  return out;
}

interface Fetched { series: Series[]; source: 'probed' | 'database'; known: string[] }

/** Subjects the history knows (for --site resolution), from probed or the database. */
async function knownSubjects(db: ReadOnlyDb | undefined): Promise<string[]> {
  if (!db || !(await db.hasTable('probe_subject'))) return [];
  return (await db.all<{ name: string }>('SELECT name FROM probe_subject ORDER BY name')).map((r) => r.name);
}

/**
 * Fetch the series. probed first (it also sees what is not written yet);
 * the database when probed is not running or does not serve history.query.
 */
export async function fetchSeries(ctx: CtlContext, cfg: TernConfig | undefined, opts: { site?: string; paths: string[]; wans: string[]; from: number; to: number; resolution: 'auto' | Resolution }): Promise<Fetched & { db?: ReadOnlyDb }> {
  const db = await ReadOnlyDb.open(ctx.paths.dbFile);
  try {
    const known = await knownSubjects(db);
    const subjects = reportSubjects(cfg, known, opts);
    const live = await ctx.daemons.liveness('probed');
    if (live.state === 'running') {
      try {
        const series = await Promise.all(subjects.map(async ({ subject, kind }) => {
          const r = await ctx.daemons.ask('probed', methods.probedHistory,
            { subject, from: opts.from, to: opts.to, resolution: opts.resolution }, { timeoutMs: Math.max(ctx.timeoutMs, 10_000) });
          return { subject, kind, resolution: r.resolution, points: r.points, totals: r.totals };
        }));
        return { series, source: 'probed', known, ...(db ? { db } : {}) };
      } catch (err) {
        if (!db) throw err;
      }
    }
    if (!db || !(await db.hasTable('probe_raw'))) {
      throw new TernError('TERN_E_CTL_REPORT', `ternctl: report loss: no probe history: probed is ${live.state} and ${ctx.paths.dbFile} ${db ? 'has no probe tables yet' : 'does not exist'}`);
    }
    const retention = cfg?.probes.history ?? { rawHours: 24, minuteDays: 31, hourDays: 365 };
    const history = new History(db, { retention, clock: ctx.clock });
    const series = await Promise.all(subjects.map(async ({ subject, kind }) => {
      const r = await history.query({ subject, from: opts.from, to: opts.to, resolution: opts.resolution, now: ctx.clock.now() });
      return { subject, kind, resolution: r.resolution, points: r.points, totals: r.totals };
    }));
    return { series, source: 'database', known, db };
  } catch (err) {
    await db?.close().catch(() => undefined);
    if (err instanceof TernError) throw err;
    throw new TernError('TERN_E_CTL_REPORT', `ternctl: report loss: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Events in range that belong on the chart: state changes of the reported
 * paths and WANs (a WAN's own or one of its probe targets', wan@target),
 * of the WANs those paths leave through, and what concerns the whole box
 * (PAIR failovers, config changes, steering).
 */
export async function fetchEvents(db: ReadOnlyDb | undefined, series: Array<Pick<Series, 'subject' | 'kind'>>, from: number, to: number): Promise<EventRow[]> {
  if (!db || !(await db.hasTable('events'))) return [];
  const paths = new Set(series.filter((s) => s.kind === 'path').map((s) => s.subject));
  const wans = new Set([...series.filter((s) => s.kind === 'wan').map((s) => s.subject), ...[...paths].map((p) => p.split('/')[0]!)]);
  const rows = await readEvents(db, from, to, 5000);
  return rows.filter((e) => {
    if (/^(pair|config)\./.test(e.kind)) return true;
    if (e.kind.startsWith('wan.')) return e.subject !== null && wans.has(e.subject.split('@')[0]!);
    if (/^(path|steer)\./.test(e.kind)) return e.subject === null || paths.has(e.subject);
    return false;
  });
}
