import t from 'tap';
import { parseConfig } from '../lib/config/index.js';
import { edit } from '../lib/config/testkit.js';
import type { CommandResult, CommandRunner } from '../lib/kernel/nft/index.js';
import { EdgeNft, parseCounters, parseState } from './nft.js';
import { edgePlan } from './plan.js';
import { edgeChains, edgeSets, fingerprint } from './ruleset.js';

const plan = edgePlan(parseConfig(edit(), 'tern.yaml').config);
const peers = { v4: ['203.0.113.30'], v6: [] };

/** nft -j list table output holding the given chains, sets, counters and input-chain comments, plus others' objects. */
function listing(opts: { chains?: string[]; sets?: string[]; comments?: string[]; others?: boolean } = {}): string {
  const items: unknown[] = [{ metainfo: {} }, { table: { family: 'inet', name: 'tern' } }];
  for (const name of opts.chains ?? []) items.push({ chain: { family: 'inet', table: 'tern', name } });
  for (const name of opts.sets ?? []) items.push({ set: { family: 'inet', table: 'tern', name } });
  items.push({ counter: { family: 'inet', table: 'tern', name: 'edge_drop_in_wan', packets: 7, bytes: 420 } });
  for (const comment of opts.comments ?? []) items.push({ rule: { family: 'inet', table: 'tern', chain: edgeChains.input, comment } });
  if (opts.others) items.push({ chain: { family: 'inet', table: 'tern', name: 'steer_restore' } }, { set: { family: 'inet', table: 'tern', name: 'dom4_slack' } });
  return JSON.stringify({ nftables: items });
}

function fake(list: string | { code: number; stderr: string }): { run: CommandRunner; calls: Array<{ argv: readonly string[]; input?: string }> } {
  const calls: Array<{ argv: readonly string[]; input?: string }> = [];
  const run: CommandRunner = async (argv, input) => {
    calls.push({ argv, ...(input !== undefined ? { input } : {}) });
    if (argv.includes('list')) return typeof list === 'string' ? { code: 0, stdout: list, stderr: '' } : { ...list, stdout: '' };
    return { code: 0, stdout: '', stderr: '' } satisfies CommandResult;
  };
  return { run, calls };
}

const all = { chains: [edgeChains.spoof, edgeChains.input, edgeChains.forward, edgeChains.dnat, edgeChains.snat], sets: Object.values(edgeSets) };

t.test('apply adopts a matching ruleset: only the peer sets are refilled', async (t) => {
  const f = fake(listing({ ...all, comments: [fingerprint(plan)], others: true }));
  const got = await new EdgeNft({ run: f.run }).apply(plan, peers);
  t.equal(got, 'adopted');
  const loads = f.calls.filter((c) => c.argv.includes('-f'));
  t.equal(loads.length, 1, `got ${loads.length} loads; want the peer refill only`);
  t.notMatch(loads[0]!.input ?? '', /chain/, 'no chain is touched');
  t.match(loads[0]!.input ?? '', /add element inet tern edge_peers4 \{ 203.0.113.30 \}/);
});

t.test('apply replaces in one transaction when the fingerprint differs, a chain is missing, or nothing is there', async (t) => {
  const cases: Array<[string, string | { code: number; stderr: string }]> = [
    ['other fingerprint', listing({ ...all, comments: ['tern-edged 0000000000000000'] })],
    ['a chain missing', listing({ chains: all.chains.slice(1), sets: all.sets, comments: [fingerprint(plan)] })],
    ['no table', { code: 1, stderr: 'Error: No such file or directory; did you mean table ‘tern’ in family ip?' }],
  ];
  for (const [name, list] of cases) {
    const f = fake(list);
    t.equal(await new EdgeNft({ run: f.run }).apply(plan, peers), 'loaded', name);
    const loads = f.calls.filter((c) => c.argv.includes('-f'));
    t.equal(loads.length, 1, `${name}: got ${loads.length} nft -f runs; want one transaction`);
    t.match(loads[0]!.input ?? '', /^add table inet tern\n/, name);
  }
});

t.test('a refused load is an error naming nft\'s message; a failed listing too', async (t) => {
  const run: CommandRunner = async (argv) => (argv.includes('list') ? { code: 0, stdout: listing(), stderr: '' } : { code: 1, stdout: '', stderr: 'Error: Could not process rule' });
  await t.rejects(new EdgeNft({ run }).apply(plan, peers), { code: 'TERN_E_EDGE_RULES', message: /^edged: nft: apply: nft -f refused the ruleset: Error: Could not process rule$/ });
  const f = fake({ code: 1, stderr: 'Operation not permitted' });
  await t.rejects(new EdgeNft({ run: f.run }).state(), { code: 'TERN_E_EDGE_RULES', message: /Operation not permitted/ });
});

t.test('remove deletes edged\'s objects only, or the table when nothing else is in it', async (t) => {
  const shared = fake(listing({ ...all, others: true }));
  await new EdgeNft({ run: shared.run }).remove();
  const script = shared.calls.find((c) => c.argv.includes('-f'))!.input!;
  t.notMatch(script, /steer_|dom4_|delete table/, 'other daemons\' chains and sets stay');
  t.match(script, /delete chain inet tern edge_input/);
  t.match(script, /delete counter inet tern edge_drop_in_wan/);
  t.ok(script.indexOf('delete chain inet tern edge_input') < script.indexOf('delete set'), 'chains go before the sets they use');
  const alone = fake(listing(all));
  await new EdgeNft({ run: alone.run }).remove();
  t.equal(alone.calls.find((c) => c.argv.includes('-f'))!.input, 'delete table inet tern\n');
});

t.test('parsers: state, counters; other input refused', async (t) => {
  const s = parseState(listing({ ...all, comments: ['x'], others: true }));
  t.same([s.exists, s.others, s.counters, s.comments], [true, 2, ['edge_drop_in_wan'], ['x']]);
  t.same(parseCounters(listing()), { edge_drop_in_wan: { packets: 7, bytes: 420 } });
  t.throws(() => parseState('not json'), { code: 'TERN_E_EDGE_RULES' });
  t.throws(() => parseCounters('{"x":1}'), { code: 'TERN_E_EDGE_RULES' });
});
