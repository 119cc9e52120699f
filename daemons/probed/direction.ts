// Splitting probe loss into forward (sender → reflector) and reverse
// (reflector → sender) with a stateful STAMP reflector's own counter.
//
// The sender numbers its probes n = 0, 1, 2, … The stateful reflector
// answers each probe it receives with its own counter r = how many probes it
// had received from this sender before (0, 1, 2, …), next to the copied n.
// A lost probe never bumps r; a lost reply already has.
//
//   sender n :   0     1     2     3     4     5
//                |     |     X     |     |     |       X: probe lost on the way out
//   reflector r: 0     1           2     3     4
//                |     |           |     X     |       X: reply lost on the way back
//   replies  : (0,0) (1,1)       (3,2)       (5,4)     (n, r) pairs the sender gets
//
// Take two answered probes a and b with no answered probe between them
// (the unanswered ones between are a "gap"), Δn = n_b − n_a, Δr = r_b − r_a:
//
//   the reflector received Δr − 1 of the Δn − 1 gap probes, so
//   forward lost = (Δn − 1) − (Δr − 1) = Δn − Δr
//   reverse lost = Δr − 1
//
//   (1,1)→(3,2): Δn 2, Δr 1 → forward 1 (n=2), reverse 0
//   (3,2)→(5,4): Δn 2, Δr 2 → forward 0, reverse 1 (n=4: counted as r=3, reply lost)
//
// Only the counts are known, not which gap probe went which way; by
// convention the first (Δn − Δr) probes of a gap are labelled forward and the
// rest reverse, so labels sum to the right counts over any whole gap.
//
// The arithmetic holds only when 1 ≤ Δr ≤ Δn (r is mod 2^32). Anything else
// means the reflector's counter restarted (reflector restart, its session
// expired or was evicted), the network duplicated or reordered probes on the
// way out, or the reflector is stateless; that gap is "unknown". A gap after
// the last answered probe is unknown too until an answer closes it.
//
// Before the first answer the anchor is virtual: n = −1, r = −1, i.e. the
// reflector's counter is assumed to start at 0 with this session. Give each
// session a fresh source port so that holds; if it does not, the first gap
// comes out unknown (or, rarely, wrong).

export type LossDirection = 'fwd' | 'rev' | 'unknown';

/** An answered probe as the gap arithmetic sees it: our n and the reflector's r (undefined: no reflector counter, e.g. ICMP). */
export interface GapAnchor {
  n: number;
  r: number | undefined;
}

/** The anchor before the first answer: the reflector counter starts at 0 for n = 0. */
export const VIRTUAL_ANCHOR: Readonly<GapAnchor> = Object.freeze({ n: -1, r: 0xffff_ffff });

/** Forward and reverse loss counts of the gap between answered probes a and b, or undefined when not knowable. */
export function splitGap(a: GapAnchor, b: GapAnchor): { fwd: number; rev: number } | undefined {
  if (a.r === undefined || b.r === undefined) return undefined;
  const dn = b.n - a.n;
  const dr = (b.r - a.r) >>> 0;
  if (dn < 1 || dr < 1 || dr > dn) return undefined;
  return { fwd: dn - dr, rev: dr - 1 };
}

/** The label of gap probe n (between a and the answer that produced split), by the forward-first convention. */
export function gapLabel(a: GapAnchor, n: number, split: { fwd: number; rev: number } | undefined): LossDirection {
  if (!split) return 'unknown';
  return n - a.n <= split.fwd ? 'fwd' : 'rev';
}
