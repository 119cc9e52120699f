import t from 'tap';
import { createHash } from 'node:crypto';
import type { CommandResult, CommandRunner } from './command.js';
import { Nft, detectNftQueue, fingerprint, ingressInterfaces, parseNftState, parseSetElements, renderRemoval, renderRuleset, type SteerRuleset } from './nft.js';

const base: SteerRuleset = { lanInterface: 'lan0', prefixes: ['10.1.0.0/24', '100.64.0.1/32', 'fd00:1::/64'], queues: [10200, 10201], method: 'nft' };

/** A runner that answers from a table and records what it was asked. */
function fakeRunner(answer: (argv: readonly string[], input?: string) => Partial<CommandResult>): { run: CommandRunner; calls: Array<{ argv: string[]; input?: string }> } {
  const calls: Array<{ argv: string[]; input?: string }> = [];
  const run: CommandRunner = async (argv, input) => {
    calls.push({ argv: [...argv], ...(input !== undefined ? { input } : {}) });
    return { code: 0, stdout: '', stderr: '', ...answer(argv, input) };
  };
  return { run, calls };
}

t.test('the ruleset queues with nft where it can, else flags for the iptables rule', async (t) => {
  const cases = [
    { name: 'nft queue, two workers', rs: base, want: /ip daddr @steer_dst4 queue flags bypass,fanout to 10200-10201$/m, not: /meta mark set 0x00200000$/m },
    { name: 'nft queue, one worker', rs: { ...base, queues: [10200, 10200] as const }, want: /ip daddr @steer_dst4 queue flags bypass to 10200$/m, not: /fanout/ },
    { name: 'iptables fallback', rs: { ...base, method: 'iptables' as const }, want: /ip6 daddr @steer_dst6 meta mark set 0x00200000 return$/m, not: /queue flags/ },
  ];
  for (const c of cases) {
    const text = renderRuleset(c.rs);
    t.match(text, c.want, `${c.name}: queue statement`);
    t.notMatch(text, c.not, `${c.name}: nothing of the other method`);
    t.match(text, /add element inet tern steer_dst4 \{ 10\.1\.0\.0\/24, 100\.64\.0\.1\/32 \}/, `${c.name}: IPv4 prefixes in their set`);
    t.match(text, /add element inet tern steer_dst6 \{ fd00:1::\/64 \}/, `${c.name}: IPv6 prefixes in theirs`);
    t.match(text, /iifname "lan0" ct mark & 0xfff00000 == 0x00100000 meta mark set ct mark return comment "tern-steerd [0-9a-f]{16}"/, `${c.name}: restore from the conntrack mark, fingerprinted`);
    t.match(text, /ct mark 0x00000000 meta mark & 0xfff00000 == 0x00100000 ct mark set meta mark/, `${c.name}: save into the conntrack mark`);
    t.match(text, /^flush chain inet tern steer_restore$/m, `${c.name}: replaces only its own chains`);
    t.notMatch(text, /delete table|flush table|flush ruleset/, `${c.name}: never flushes the table or the ruleset`);
  }
  t.not(fingerprint(base), fingerprint({ ...base, prefixes: ['10.1.0.0/24'] }), 'prefixes change the fingerprint');
  t.equal(fingerprint(base), fingerprint({ ...base, prefixes: [...base.prefixes].reverse() }), 'prefix order does not');
  t.throws(() => renderRuleset({ ...base, lanInterface: 'lan0"; flush ruleset' }), { code: 'TERN_E_STEER_RULES' }, 'an interface name cannot inject nft syntax');
});

t.test('with PAIR, packets arriving on the pair interface and the virtual-MAC macvlan are steered too, by name, in both methods', async (t) => {
  // Regression (audit): with pair.virtualMac, LAN hosts send to the virtual
  // MAC, their packets arrive on tpair<vrid>, and rules matching lan.interface
  // alone never queued a flow.
  const pair: SteerRuleset = { ...base, pairInterfaces: ['lan1', 'tpair7'] };
  const cases = [
    { name: 'nft queue', rs: pair, queue: 'queue flags bypass,fanout to 10200-10201' },
    { name: 'iptables fallback', rs: { ...pair, method: 'iptables' as const }, queue: 'meta mark set 0x00200000 return' },
  ];
  for (const c of cases) {
    const text = renderRuleset(c.rs);
    const restore = text.split('\n').filter((l) => l.startsWith('add rule inet tern steer_restore '));
    const want = [
      /^add rule inet tern steer_restore iifname \{ "lan0", "lan1", "tpair7" \} ct mark & 0xfff00000 == 0x00100000 meta mark set ct mark return comment "tern-steerd [0-9a-f]{16}"$/,
      new RegExp(`^add rule inet tern steer_restore iifname \\{ "lan0", "lan1", "tpair7" \\} ip daddr @steer_dst4 ${c.queue}$`),
      new RegExp(`^add rule inet tern steer_restore iifname \\{ "lan0", "lan1", "tpair7" \\} ip6 daddr @steer_dst6 ${c.queue}$`),
    ];
    t.equal(restore.length, want.length, `${c.name}: restore rules: got ${restore.length}; want ${want.length} (one set of rules, not one per interface)`);
    want.forEach((re, i) => t.match(restore[i] ?? '', re, `${c.name}: restore rule ${i}: got ${restore[i]}`));
    t.notMatch(text, /\biif "|\biif \{/, `${c.name}: by name (iifname), never by index: a macvlan made later must match without a reload`);
  }
  t.same(ingressInterfaces({ lanInterface: 'lan0', pairInterfaces: ['lan0', 'tpair7', 'tpair7'] }), ['lan0', 'tpair7'], 'each interface once, LAN first');
  t.match(renderRuleset({ ...base, pairInterfaces: [] }), /iifname "lan0" ct mark/, 'no PAIR interfaces: the LAN alone, as before');
  t.throws(() => renderRuleset({ ...base, pairInterfaces: ['tpair7", "x'] }), { code: 'TERN_E_STEER_RULES' }, 'a PAIR interface name cannot inject nft syntax');

  t.not(fingerprint(pair), fingerprint(base), 'PAIR interfaces change the fingerprint: turning virtualMac on reloads the rules');
  t.equal(fingerprint(pair), fingerprint({ ...pair, pairInterfaces: ['tpair7', 'lan1'] }), 'their order does not');
  const before = `tern-steerd ${createHash('sha256').update(JSON.stringify(['lan0', [...base.prefixes].sort(), base.queues, base.method])).digest('hex').slice(0, 16)}`;
  // The save chain's clearing rule changed with internet breakout (flag and domain hint): an upgrade must load the new rules once.
  t.not(fingerprint({ ...base, pairInterfaces: [] }), before, 'the fingerprint steerd wrote before internet breakout is not adopted: its save chain clears only the flag');

  const listed = fakeRunner((argv) => (argv.includes('list') ? { stdout: listing(fingerprint(pair)) } : {}));
  t.equal(await new Nft({ run: listed.run }).apply(pair), false, 'a restart with the same PAIR interfaces adopts the rules');
  t.equal(listed.calls.filter((c) => c.argv.includes('-f')).length, 0, 'nothing loaded on adopt');
  const lanOnly = fakeRunner((argv) => (argv.includes('list') ? { stdout: listing(fingerprint(base)) } : {}));
  t.equal(await new Nft({ run: lanOnly.run }).apply(pair), true, 'rules of the LAN alone are replaced');
  t.match(lanOnly.calls.at(-1)?.input ?? '', /^flush chain inet tern steer_restore$/m, 'flushed first: no rule left twice');
});

t.test('queue detection: the kernel is asked with nft -c, both answers', async (t) => {
  const cases = [
    { name: 'kernel has queue', answer: { code: 0 }, want: true },
    { name: 'kernel lacks queue', answer: { code: 1, stderr: 'Error: Could not process rule: No such file or directory\n queue flags bypass to 0' }, want: false },
  ];
  for (const c of cases) {
    const f = fakeRunner(() => c.answer);
    t.equal(await detectNftQueue(f.run), c.want, `${c.name}: got the answer`);
    t.same(f.calls[0]?.argv, ['nft', '-c', '-f', '-'], `${c.name}: checked, never loaded`);
    t.match(f.calls[0]?.input ?? '', /queue flags bypass to 0/, `${c.name}: the probe uses queue`);
  }
  const broken = fakeRunner(() => ({ code: 1, stderr: 'Error: Could not process rule: Operation not permitted' }));
  await t.rejects(detectNftQueue(broken.run), { code: 'TERN_E_STEER_RULES', message: /Operation not permitted/ }, 'another failure is reported, not taken as "no queue"');
});

const listing = (comment: string, extraChain?: string): string => JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'inet', name: 'tern', handle: 5 } },
    { set: { family: 'inet', name: 'steer_dst4', table: 'tern', type: 'ipv4_addr' } },
    { set: { family: 'inet', name: 'steer_dst6', table: 'tern', type: 'ipv6_addr' } },
    { chain: { family: 'inet', table: 'tern', name: 'steer_restore', hook: 'prerouting', prio: -160 } },
    { chain: { family: 'inet', table: 'tern', name: 'steer_save', hook: 'prerouting', prio: -140 } },
    ...(extraChain ? [{ chain: { family: 'inet', table: 'tern', name: extraChain } }] : []),
    { rule: { family: 'inet', table: 'tern', chain: 'steer_restore', handle: 7, comment, expr: [] } },
  ],
});

t.test('apply adopts an identical ruleset and replaces any other', async (t) => {
  const same = fakeRunner((argv) => (argv.includes('list') ? { stdout: listing(fingerprint(base)) } : {}));
  t.equal(await new Nft({ run: same.run }).apply(base), false, 'adopted');
  t.equal(same.calls.filter((c) => c.argv.includes('-f')).length, 0, 'nothing loaded on adopt');

  const other = fakeRunner((argv) => (argv.includes('list') ? { stdout: listing('tern-steerd 0000000000000000') } : {}));
  t.equal(await new Nft({ run: other.run }).apply(base), true, 'replaced');
  t.equal(other.calls.at(-1)?.input, renderRuleset(base), 'loaded the whole ruleset in one nft -f');

  const none = fakeRunner((argv) => (argv.includes('list') ? { code: 1, stderr: 'Error: No such file or directory' } : {}));
  t.equal(await new Nft({ run: none.run }).apply(base), true, 'installed where there was no table');

  const refused = fakeRunner((argv) => (argv.includes('list') ? { code: 1, stderr: 'Error: No such file or directory' } : { code: 1, stderr: 'syntax error' }));
  await t.rejects(new Nft({ run: refused.run }).apply(base), { code: 'TERN_E_STEER_RULES', message: /refused the ruleset: syntax error/ });
});

t.test('remove deletes steerd\'s chains and sets, and the table only when nothing else is in it', async (t) => {
  const alone = parseNftState(listing('x'));
  t.same(alone, { exists: true, chains: ['steer_restore', 'steer_save'], sets: ['steer_dst4', 'steer_dst6'], comments: ['x'] });
  t.equal(renderRemoval(alone, true), 'delete table inet tern\n');
  const shared = fakeRunner((argv) => (argv.includes('list') ? { stdout: listing('x', 'qos_mark') } : {}));
  await new Nft({ run: shared.run }).remove();
  t.equal(shared.calls.at(-1)?.input, [
    'delete chain inet tern steer_restore', 'delete chain inet tern steer_save',
    'delete set inet tern steer_dst4', 'delete set inet tern steer_dst6', '',
  ].join('\n'), 'another daemon\'s chain stays, and so does the table');
  const gone = fakeRunner(() => ({ code: 1, stderr: 'Error: No such file or directory' }));
  await new Nft({ run: gone.run }).remove();
  t.equal(gone.calls.length, 1, 'nothing to remove: only listed');
  t.throws(() => parseNftState('not json'), { code: 'TERN_E_STEER_RULES' });
});

t.test('internet: hint and queue rules after the sites, domain sets declared and never flushed, the save chain clears flag and hint', async (t) => {
  const inet: SteerRuleset = {
    ...base,
    internet: { own: ['10.1.0.0/24', '100.64.0.0/24', 'fe80::/10'] },
    domainClasses: [{ appClass: 'slack', hint: 1, set4: 'dom4_slack', set6: 'dom6_slack' }, { appClass: 'zoom', hint: 2, set4: 'dom4_zoom', set6: 'dom6_zoom' }],
    domainTimeoutSec: 600,
  };
  for (const method of ['nft', 'iptables'] as const) {
    const text = renderRuleset({ ...inet, method }, ['dom4_gone', 'dom6_gone']);
    const restore = text.split('\n').filter((l) => l.startsWith('add rule inet tern steer_restore ')).map((l) => l.replace(/^add rule inet tern steer_restore iifname "lan0" /, ''));
    const q = method === 'nft' ? 'queue flags bypass,fanout to 10200-10201' : 'meta mark set meta mark | 0x00200000';
    const site = method === 'nft' ? q : 'meta mark set 0x00200000 return';
    const want = [
      /^ct mark & 0xfff00000 == 0x00100000 meta mark set ct mark return comment/,
      new RegExp(`^ip daddr @steer_dst4 ${site.replace(/[|]/g, '\\|')}$`),
      new RegExp(`^ip6 daddr @steer_dst6 ${site.replace(/[|]/g, '\\|')}$`),
      /^meta mark & 0x000ff000 == 0x00000000 ip daddr @dom4_slack meta mark set meta mark \| 0x00001000$/,
      /^meta mark & 0x000ff000 == 0x00000000 ip6 daddr @dom6_slack meta mark set meta mark \| 0x00001000$/,
      /^meta mark & 0x000ff000 == 0x00000000 ip daddr @dom4_zoom meta mark set meta mark \| 0x00002000$/,
      /^meta mark & 0x000ff000 == 0x00000000 ip6 daddr @dom6_zoom meta mark set meta mark \| 0x00002000$/,
      new RegExp(`^fib daddr type unicast ip daddr != \\{ 10\\.1\\.0\\.0/24, 100\\.64\\.0\\.0/24 \\} ${q.replace(/[|]/g, '\\|')}$`),
      new RegExp(`^fib daddr type unicast ip6 daddr != \\{ fe80::/10 \\} ${q.replace(/[|]/g, '\\|')}$`),
    ];
    t.equal(restore.length, want.length, `${method}: restore rules: got ${restore.length}; want ${want.length}\n${restore.join('\n')}`);
    want.forEach((re, i) => t.match(restore[i] ?? '', re, `${method}: restore rule ${i}: got ${restore[i]}`));
    t.match(text, /^add set inet tern dom4_slack \{ type ipv4_addr; flags timeout; timeout 600s; \}$/m, `${method}: domain set declared with the DNS's longest TTL`);
    t.notMatch(text, /flush set inet tern dom/, `${method}: domain sets are never flushed (dnsmasq's learning stays)`);
    t.match(text, /^delete set inet tern dom4_gone$/m, `${method}: a set of a class gone is deleted`);
    t.ok(text.indexOf('delete set inet tern dom4_gone') > text.indexOf('flush chain inet tern steer_restore'), `${method}: deleted after the rules that used it were flushed`);
    t.match(text, /^add rule inet tern steer_save meta mark & 0xffd00fff == 0x00000000 meta mark != 0x00000000 meta mark set 0x00000000$/m, `${method}: a bypassed packet loses flag and hint`);
  }
  t.not(fingerprint(inet), fingerprint(base), 'internet breakout changes the fingerprint');
  t.not(fingerprint(inet), fingerprint({ ...inet, domainClasses: [] }), 'so do the domain classes');
  t.throws(() => renderRuleset({ ...inet, domainClasses: [{ appClass: 'x', hint: 256, set4: 'dom4_x', set6: 'dom6_x' }] }), { code: 'TERN_E_STEER_RULES' }, 'a hint beyond 8 bits is refused');
  t.throws(() => renderRuleset({ ...inet, domainClasses: [{ appClass: 'x', hint: 1, set4: 'dom4_x; flush ruleset', set6: 'dom6_x' }] }), { code: 'TERN_E_STEER_RULES' }, 'a set name cannot inject nft syntax');

  // Adoption: the same rules and sets are left alone; a set of a class gone is deleted.
  const withSets = (extra: string[]): string => {
    const doc = JSON.parse(listing(fingerprint(inet))) as { nftables: unknown[] };
    for (const name of ['dom4_slack', 'dom6_slack', 'dom4_zoom', 'dom6_zoom', ...extra]) doc.nftables.push({ set: { family: 'inet', name, table: 'tern', type: 'ipv4_addr' } });
    return JSON.stringify(doc);
  };
  const same = fakeRunner((argv) => (argv.includes('list') ? { stdout: withSets([]) } : {}));
  t.equal(await new Nft({ run: same.run }).apply(inet), false, 'a restart adopts the rules and keeps the sets');
  const gone = fakeRunner((argv) => (argv.includes('list') ? { stdout: withSets(['dom4_old', 'dom6_old']) } : {}));
  t.equal(await new Nft({ run: gone.run }).apply(inet), true, 'a set of a class gone makes a load');
  t.match(gone.calls.at(-1)?.input ?? '', /^delete set inet tern dom6_old$/m, 'which deletes it');
  t.same(parseSetElements(JSON.stringify({ nftables: [{ set: { name: 'dom4_x', elem: ['192.0.2.1', { elem: { val: '192.0.2.2', timeout: 60, expires: 50 } }] } }] })), ['192.0.2.1', '192.0.2.2'], 'set elements, plain or with a timeout');
});
