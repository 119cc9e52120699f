// The internet destination as people see it (steer.internet, ternctl
// internet, the exporter): each WAN's internet path with its state and
// failback hold, the flows and bytes it carries per app class (from
// conntrack, with accounting), and the last clears (a WAN down, a failback
// off a metered WAN, a path that left the plan).
import type { InternetClearT, InternetViewT, VerdictT } from '../lib/api/index.js';
import type { CtFlow } from './fastpath.js';
import { classOf } from './flows.js';
import type { SitePlan } from './sites.js';
import type { PathState, SelectorPolicy } from './types.js';

/** One clear: what was deleted and provoked, and why. */
export type InternetClear = InternetClearT;
export type InternetView = InternetViewT;

/** What steer.paths says of an internet path. */
export interface InternetPathRow {
  id: number;
  name: string;
  wan: string;
  state: PathState;
  metered: boolean;
  holdSec?: number;
  probe: { state: VerdictT } | null;
}

/**
 * The internet view from the plan, the paths as the selector sees them,
 * conntrack's internet flows (marks internetMark(i)) and the domain hint of
 * each destination the domain sets hold (a domain class is told apart only
 * by its sets).
 */
export function internetUsage(
  plan: SitePlan, rows: readonly InternetPathRow[], flows: readonly CtFlow[], policy: SelectorPolicy, clears: InternetClear[],
  hintOf: (dst: string) => number = () => 0, natted: (wan: string) => boolean = () => true,
): InternetView {
  const classNames = [...policy.classes.map((c) => c.name), 'default'];
  const paths = plan.paths.map((p) => {
    const row = rows.find((r) => r.id === p.mark);
    const mine = flows.filter((f) => f.mark === p.mark);
    const classes: Record<string, { flows: number; bytes: number }> = {};
    for (const f of mine) {
      const c = classOf(policy, f, hintOf(f.dst));
      const e = (classes[c] ??= { flows: 0, bytes: 0 });
      e.flows++;
      e.bytes += f.bytes;
    }
    return {
      name: p.name, wan: p.localWan, mark: p.mark, table: p.table,
      state: row?.state ?? 'down', metered: row?.metered ?? false, wanState: row?.probe?.state ?? null, holdSec: row?.holdSec ?? 0,
      flows: mine.length, natFlows: natted(p.localWan) ? mine.length : 0, bytes: mine.reduce((n, f) => n + f.bytes, 0), classes,
    };
  });
  return {
    enabled: true,
    paths,
    classes: classNames.map((name) => ({
      name,
      wans: Object.fromEntries(paths.map((p) => [p.wan, p.classes[name] ?? { flows: 0, bytes: 0 }])),
    })),
    clears,
  };
}
