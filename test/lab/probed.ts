// Reading tern-probed from lab tests in its own counts: a measurement period
// is N probes sent, and history is read once it is final. A loaded machine
// then makes a test slower, never wrong.
import type { PathMetricsMessage } from '../../daemons/probed/paths.js';
import type { HistoryResult } from '../../daemons/lib/history/index.js';
import type { SessionCounters } from '../../daemons/probed/session.js';
import type { WanMetrics } from '../../daemons/probed/wan.js';
import { busCall, patience, waitFor, type WaitOptions } from './wait.js';

/** A row of paths.metrics: the path's window and its session's counters. */
export type PathRow = PathMetricsMessage & { counters: SessionCounters };

export const pathRows = (socket: string): Promise<PathRow[]> => busCall<PathRow[]>(socket, 'paths.metrics');
export const wanRows = (socket: string): Promise<WanMetrics[]> => busCall<WanMetrics[]>(socket, 'wans.metrics');

/** One path's row; throws naming the path when probed does not list it. */
export async function pathRow(socket: string, path: string): Promise<PathRow> {
  const row = (await pathRows(socket)).find((r) => r.path === path);
  if (!row) throw new Error(`lab: probed at ${socket} lists no path ${path}`);
  return row;
}

/** Probes sent to one WAN target; throws naming it when probed has no such target. */
export async function wanTargetSent(socket: string, wan: string, target: string): Promise<number> {
  const t = (await wanRows(socket)).find((w) => w.wan === wan)?.targets.find((x) => x.target === target);
  if (!t) throw new Error(`lab: probed at ${socket} probes no target ${target} on WAN ${wan}`);
  return t.counters.sent;
}

export const history = (socket: string, subject: string, from: number, to: number): Promise<HistoryResult> =>
  busCall<HistoryResult>(socket, 'history.query', { subject, from, to, resolution: 'raw' });

/**
 * Waits until every named path has sent n more probes than when called (a
 * measurement period counted in probes) and returns their rows then. The
 * bound on tries assumes the slowest path's rate; a path that restarts its
 * session (counters from 0) counts from 0.
 */
export async function waitForProbes(socket: string, paths: string[], n: number, opts: WaitOptions = {}): Promise<PathRow[]> {
  const first = await Promise.all(paths.map((p) => pathRow(socket, p)));
  const start = new Map(first.map((r) => [r.path, r.counters.sent]));
  const slowest = Math.min(...first.map((r) => r.ratePerSec));
  let got = '';
  return waitFor(`${paths.join(', ')}: ${n} more probes sent`, async () => {
    const rows = await Promise.all(paths.map((p) => pathRow(socket, p)));
    const more = rows.map((r) => (r.counters.sent >= start.get(r.path)! ? r.counters.sent - start.get(r.path)! : r.counters.sent));
    got = more.join(', ');
    return more.every((m) => m >= n) ? rows : undefined;
  }, { ...patience((1000 * n) / slowest), ...opts }).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (got ${got} more)`);
  });
}

/**
 * Waits until probed's history of each subject is final up to t (wall-clock
 * ms): a probe's outcome is final only after its late window (5 s), a lost
 * one once an answer closes its gap, and finals come in sequence order, one
 * second's sample written once a later second's probe is final. So a sample
 * at t or later means everything sent before t is in the history.
 */
export async function waitForHistory(socket: string, subjects: string[], t: number, opts: WaitOptions = {}): Promise<void> {
  for (const subject of subjects) {
    await waitFor(`${subject}: history final up to ${new Date(t).toISOString()}`, async () => {
      const h = await history(socket, subject, t, t + 3_600_000);
      return h.points.some((p) => p.t >= t && p.sent > 0);
    }, { ...patience(8000, 500), ...opts });
  }
}

