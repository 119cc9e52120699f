// The routing table of every WAN: the one the file sets, else the lowest
// free number of wanTableRange, handed out in WAN order.
import { wanTableRange } from '../kernel/names.js';

/** WAN name → routing table; the same answer in every daemon for the same config. */
export function wanTables(config: { wans: ReadonlyArray<{ name: string; table?: number }> }): Map<string, number> {
  const taken = new Set(config.wans.flatMap((w) => (w.table === undefined ? [] : [w.table])));
  const out = new Map<string, number>();
  let next: number = wanTableRange.min;
  for (const w of config.wans) {
    if (w.table !== undefined) { out.set(w.name, w.table); continue; }
    while (taken.has(next)) next++;
    // The schema allows 16 WANs and the range holds 100 tables, so next stays in range.
    out.set(w.name, next);
    taken.add(next);
  }
  return out;
}
