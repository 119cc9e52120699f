// Fewer, wider buckets for drawing: a chart cannot show more buckets than
// it has pixels, and one-second loss at 5 probes/s only takes the values
// 0, 20, 40 ... % — summed over a few seconds it reads as what it is. Sums
// stay sums: loss is Σlost / Σsent, per direction probed's own formula
// (lib/history's lossRatios), RTT and jitter are weighted by answers.
import { lossRatios } from '../../lib/history/loss.js';
import type { HistoryPoint } from './data.js';

const niceBuckets = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);

/** The display bucket: a multiple of the data bucket giving at most maxBuckets over the range. */
export function displayBucket(rangeMs: number, dataBucketMs: number, maxBuckets: number): number {
  return niceBuckets.find((b) => b >= dataBucketMs && b % dataBucketMs === 0 && rangeMs / b <= maxBuckets)
    ?? Math.ceil(rangeMs / maxBuckets / dataBucketMs) * dataBucketMs;
}

/** Merge points (sorted by t) into buckets of size ms aligned to from. */
export function coarsen(points: HistoryPoint[], from: number, size: number): HistoryPoint[] {
  const out: HistoryPoint[] = [];
  let acc: { t: number; sent: number; lost: number; fwd: number; rev: number; answered: number; rtt: number; rttMin: number | null; rttMax: number | null; jit: number; jitMax: number | null } | undefined;
  const flush = (): void => {
    if (!acc) return;
    const a = acc;
    out.push({
      t: a.t, sent: a.sent, lost: a.lost, lostFwd: a.fwd, lostRev: a.rev,
      ...lossRatios(a.sent, a.lost, a.fwd, a.rev),
      rttAvgMs: a.answered ? a.rtt / a.answered : null, rttMinMs: a.rttMin, rttMaxMs: a.rttMax, rttStddevMs: null,
      jitterMs: a.answered ? a.jit / a.answered : null, jitterMaxMs: a.jitMax,
    });
    acc = undefined;
  };
  for (const p of points) {
    const t = from + Math.floor((p.t - from) / size) * size;
    if (acc && acc.t !== t) flush();
    acc ??= { t, sent: 0, lost: 0, fwd: 0, rev: 0, answered: 0, rtt: 0, rttMin: null, rttMax: null, jit: 0, jitMax: null };
    const answered = p.sent - p.lost;
    acc.sent += p.sent;
    acc.lost += p.lost;
    acc.fwd += p.lostFwd;
    acc.rev += p.lostRev;
    acc.answered += answered;
    acc.rtt += (p.rttAvgMs ?? 0) * answered;
    acc.jit += (p.jitterMs ?? 0) * answered;
    if (p.rttMinMs !== null) acc.rttMin = acc.rttMin === null ? p.rttMinMs : Math.min(acc.rttMin, p.rttMinMs);
    if (p.rttMaxMs !== null) acc.rttMax = acc.rttMax === null ? p.rttMaxMs : Math.max(acc.rttMax, p.rttMaxMs);
    if (p.jitterMaxMs !== null) acc.jitMax = acc.jitMax === null ? p.jitterMaxMs : Math.max(acc.jitMax, p.jitterMaxMs);
  }
  flush();
  return out;
}
