// The loss formula every reader of probe counts uses (probed's windows, its
// history, ternctl's report): total loss, and each direction's own loss
// ratio.

export interface LossRatios {
  lossPct: number | null;
  /** Forward loss ratio: forward lost / probes of known fate. */
  lossFwdPct: number | null;
  /** Reverse loss ratio: reverse lost / probes that reached the reflector. */
  lossRevPct: number | null;
}

/**
 * Loss percentages from counts. Each direction's figure is that direction's
 * own loss ratio, so 1 − total = (1 − fwd)(1 − rev) when every loss has a
 * known direction: reverse loss is taken over the probes that reached the
 * reflector, not over all sent. Losses of unknown direction are left out of
 * both per-direction ratios (and their denominators). Always sum counts
 * first and then divide: a ratio of sums, never an average of percentages.
 */
export function lossRatios(sent: number, lost: number, lostFwd: number, lostRev: number): LossRatios {
  if (sent <= 0) return { lossPct: null, lossFwdPct: null, lossRevPct: null };
  const known = sent - (lost - lostFwd - lostRev);
  const reached = known - lostFwd;
  return {
    lossPct: (100 * lost) / sent,
    lossFwdPct: known > 0 ? (100 * lostFwd) / known : null,
    lossRevPct: reached > 0 ? (100 * lostRev) / reached : null,
  };
}
