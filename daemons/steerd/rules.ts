// Policy rules from each path's fwmark to its routing table (tunneld fills
// the tables with the remote site's prefixes): `fwmark <path mark> lookup
// <path table>` at Tern's path-mark priority. steerd owns exactly the rules
// at that priority whose mark is a path mark; a restart adopts them, a path
// that left the plan loses its rule, and uninstall removes them all.
import type { Family, RuleInfo, RuleSpec } from '../lib/kernel/index.js';
import { rulePriority } from '../lib/kernel/names.js';
import { pathMarkMask, pathMarkValue } from './nft.js';

/** The rtnetlink calls steerd makes (Rtnl has them; tests pass a fake). */
export interface RuleKernel {
  rules(family?: Family): Promise<RuleInfo[]>;
  addRule(spec: RuleSpec): Promise<boolean>;
  deleteRule(spec: RuleSpec): Promise<void>;
}

export interface PathRoute {
  mark: number;
  table: number;
}

export interface RulesReport {
  added: number;
  removed: number;
  kept: number;
}

/** Whether a rule is one of steerd's. */
export function ownedRule(r: Pick<RuleInfo, 'priority' | 'fwmark' | 'action'>): boolean {
  return r.priority === rulePriority.pathMark && r.action === 'lookup' && r.fwmark !== null
    && ((r.fwmark & pathMarkMask) >>> 0) === pathMarkValue;
}

const key = (f: Family, mark: number | null, table: number): string => `${f} ${mark} ${table}`;

/**
 * Makes the kernel's path-mark rules exactly `paths` × `families`: adds what
 * is missing, removes steerd's rules nothing asks for, leaves the rest.
 */
export async function reconcileRules(kernel: RuleKernel, paths: readonly PathRoute[], families: readonly Family[]): Promise<RulesReport> {
  const report: RulesReport = { added: 0, removed: 0, kept: 0 };
  for (const f of [4, 6] as const) {
    const want = families.includes(f) ? paths : [];
    const have = (await kernel.rules(f)).filter(ownedRule);
    const haveKeys = new Set(have.map((r) => key(f, r.fwmark, r.table)));
    const wantKeys = new Set(want.map((p) => key(f, p.mark, p.table)));
    for (const p of want) {
      if (haveKeys.has(key(f, p.mark, p.table))) {
        report.kept++;
        continue;
      }
      if (await kernel.addRule({ family: f, priority: rulePriority.pathMark, fwmark: p.mark, table: p.table })) report.added++;
    }
    for (const r of have) {
      if (wantKeys.has(key(f, r.fwmark, r.table))) continue;
      await kernel.deleteRule({ family: f, priority: rulePriority.pathMark, fwmark: r.fwmark!, table: r.table });
      report.removed++;
    }
  }
  return report;
}
