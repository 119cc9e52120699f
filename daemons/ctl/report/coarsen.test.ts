import t from 'tap';
import { lossRatios } from '../../lib/history/loss.js';
import { coarsen } from './coarsen.js';
import type { HistoryPoint } from './data.js';

function point(t: number, sent: number, lost: number, lostFwd: number, lostRev: number): HistoryPoint {
  return {
    t, sent, lost, lostFwd, lostRev, ...lossRatios(sent, lost, lostFwd, lostRev),
    rttAvgMs: 20, rttMinMs: 20, rttMaxMs: 20, rttStddevMs: 0, jitterMs: 1, jitterMaxMs: 1,
  };
}

// Issue 16: the report's buckets once carried a loss formula of their own
// (forward over all sent, reverse over sent − forward), which disagrees with
// probed's as soon as some losses have no known direction.
t.test('coarsened buckets read the loss per direction as probed and its history do', async (t) => {
  const cases: Array<{ name: string; points: HistoryPoint[] }> = [
    { name: 'one lost probe of unknown direction', points: [point(0, 10, 3, 1, 1)] },
    { name: 'unknown losses spread over seconds', points: [point(0, 5, 2, 1, 0), point(1000, 5, 2, 0, 1), point(2000, 5, 1, 0, 0)] },
    { name: 'every loss with a direction', points: [point(0, 10, 2, 1, 1), point(1000, 10, 0, 0, 0)] },
    { name: 'forward blackhole', points: [point(0, 5, 5, 5, 0), point(1000, 5, 5, 5, 0)] },
  ];
  for (const c of cases) {
    const [got] = coarsen(c.points, 0, 10_000);
    const sum = (k: 'sent' | 'lost' | 'lostFwd' | 'lostRev'): number => c.points.reduce((n, p) => n + p[k], 0);
    const want = lossRatios(sum('sent'), sum('lost'), sum('lostFwd'), sum('lostRev'));
    const g = { lossPct: got?.lossPct, lossFwdPct: got?.lossFwdPct, lossRevPct: got?.lossRevPct };
    const near = (a: number | null | undefined, b: number | null): boolean => (b === null ? a === null : typeof a === 'number' && Math.abs(a - b) < 1e-9);
    const ok = near(g.lossPct, want.lossPct) && near(g.lossFwdPct, want.lossFwdPct) && near(g.lossRevPct, want.lossRevPct);
    t.ok(ok, `${c.name}: got ${JSON.stringify(g)}; want ${JSON.stringify(want)}`);
  }
});
