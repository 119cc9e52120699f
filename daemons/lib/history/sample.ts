// One record of probe history: what probed writes each second and what
// every tier of the history holds, as sums so rollups stay exact.

/** One second (or, in rollups, one minute or hour) of one subject's probing. */
export interface ProbeSample {
  /** Path id (localWan/site/remoteWan) or WAN name. */
  subject: string;
  /** Wall-clock ms at the start of the second. */
  t: number;
  sent: number;
  lost: number;
  lostFwd: number;
  lostRev: number;
  /** Sums over the answered probes (sent − lost), ms and ms². */
  rttSum: number;
  rttSqSum: number;
  rttMin: number | null;
  rttMax: number | null;
  /** Sum of the RFC 3550 J seen with each answer, so jitterSum / answered is the mean J. */
  jitterSum: number;
  jitterMax: number | null;
}
