import t from 'tap';
import type { Family, RuleInfo, RuleSpec } from '../lib/kernel/index.js';
import { ownedRule, reconcileRules, type RuleKernel } from './rules.js';

function kernel(initial: RuleInfo[]): RuleKernel & { rules_: RuleInfo[]; log: string[] } {
  const k = {
    rules_: [...initial],
    log: [] as string[],
    async rules(f?: Family) { return k.rules_.filter((r) => !f || r.family === f); },
    async addRule(s: RuleSpec) {
      k.log.push(`add ${s.family} ${s.priority} ${s.fwmark?.toString(16)} ${s.table}`);
      k.rules_.push({ family: s.family!, priority: s.priority, action: 'lookup', table: s.table, fwmark: s.fwmark ?? null, fwmask: 0xffffffff, from: null, to: null });
      return true;
    },
    async deleteRule(s: RuleSpec) {
      k.log.push(`del ${s.family} ${s.priority} ${s.fwmark?.toString(16)} ${s.table}`);
      k.rules_ = k.rules_.filter((r) => !(r.family === s.family && r.priority === s.priority && r.fwmark === s.fwmark && r.table === s.table));
    },
  };
  return k;
}

const rule = (family: Family, priority: number, fwmark: number | null, table: number): RuleInfo =>
  ({ family, priority, action: 'lookup', table, fwmark, fwmask: 0xffffffff, from: null, to: null });

t.test('which rules are steerd\'s', async (t) => {
  const cases: Array<[RuleInfo, boolean, string]> = [
    [rule(4, 10200, 0x100010, 10016), true, 'a path mark at the path priority'],
    [rule(4, 10100, 0x103e8, 1000), false, 'tunneld\'s WAN mark rule'],
    [rule(4, 10200, 0x42, 10016), false, 'a foreign mark at our priority'],
    [rule(4, 10200, null, 10016), false, 'no mark'],
    [{ ...rule(4, 10200, 0x100010, 0), action: 'blackhole' }, false, 'not a lookup'],
  ];
  for (const [r, want, name] of cases) t.equal(ownedRule(r), want, `${name}: got ${ownedRule(r)}; want ${want}`);
});

t.test('reconcile adds what is missing, removes stale path rules, leaves the rest', async (t) => {
  const k = kernel([
    rule(4, 10200, 0x100010, 10016), // wanted: kept
    rule(4, 10200, 0x100099, 10153), // a path that left the plan
    rule(6, 10200, 0x100010, 10016), // IPv6 no longer wanted
    rule(4, 10100, 0x103e8, 1000), // tunneld's
  ]);
  const r = await reconcileRules(k, [{ mark: 0x100010, table: 10016 }, { mark: 0x100011, table: 10017 }], [4]);
  t.same(r, { added: 1, removed: 2, kept: 1 });
  t.same(k.log.sort(), ['add 4 10200 100011 10017', 'del 4 10200 100099 10153', 'del 6 10200 100010 10016']);
  t.ok(k.rules_.some((x) => x.priority === 10100), 'tunneld\'s rule untouched');
  const again = await reconcileRules(k, [{ mark: 0x100010, table: 10016 }, { mark: 0x100011, table: 10017 }], [4]);
  t.same(again, { added: 0, removed: 0, kept: 2 }, 'a second pass (a restart) changes nothing');
  await reconcileRules(k, [], [4, 6]);
  t.same(k.rules_.filter(ownedRule), [], 'uninstall leaves none of steerd\'s');
});
