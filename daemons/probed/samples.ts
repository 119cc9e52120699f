// Per-second samples for history: final probe outcomes folded into one
// record per subject per second of *sending*. Records carry sums, not
// averages, so every rollup (second → minute → hour) stays exact: loss is
// always sum(lost) / sum(sent), RTT average sum(rtt) / answered.
import type { ProbeSample } from '../lib/history/sample.js';
import { checkName } from '../lib/history/validate.js';
import type { FinalProbe } from './session.js';

export type { ProbeSample } from '../lib/history/sample.js';

/** An empty sample of subject at second t. */
export function emptySample(subject: string, t: number): ProbeSample {
  return { subject, t, sent: 0, lost: 0, lostFwd: 0, lostRev: 0, rttSum: 0, rttSqSum: 0, rttMin: null, rttMax: null, jitterSum: 0, jitterMax: null };
}

/** Add one final probe outcome into a sample. */
export function addProbe(s: ProbeSample, p: FinalProbe): void {
  s.sent++;
  if (!p.answered) {
    s.lost++;
    if (p.direction === 'fwd') s.lostFwd++;
    else if (p.direction === 'rev') s.lostRev++;
    return;
  }
  const rtt = p.rttMs ?? 0;
  const j = p.jitterMs ?? 0;
  s.rttSum += rtt;
  s.rttSqSum += rtt * rtt;
  s.rttMin = s.rttMin === null ? rtt : Math.min(s.rttMin, rtt);
  s.rttMax = s.rttMax === null ? rtt : Math.max(s.rttMax, rtt);
  s.jitterSum += j;
  s.jitterMax = s.jitterMax === null ? j : Math.max(s.jitterMax, j);
}

/**
 * Folds one subject's final probes (which the session emits in sequence
 * order) into per-second samples. A second is emitted as soon as a probe of
 * a later second arrives, and by flush(). If the wall clock steps back, the
 * same second may be emitted twice; history.record() merges those.
 */
export class SampleAggregator {
  readonly subject: string;
  private open: ProbeSample | undefined;

  constructor(subject: string, private readonly emit: (s: ProbeSample) => void) {
    this.subject = checkName('samples: new', 'subject', subject);
  }

  add(p: FinalProbe): void {
    const t = Math.floor(p.sentAt / 1000) * 1000;
    if (this.open && this.open.t !== t) this.flush();
    if (!this.open) this.open = emptySample(this.subject, t);
    addProbe(this.open, p);
  }

  /** Emit the open second, if any. */
  flush(): void {
    const s = this.open;
    this.open = undefined;
    if (s) this.emit(s);
  }
}
