import t from 'tap';
import type { CommandResult, CommandRunner } from './command.js';
import { IptablesQueue, queueRule, restoreScript } from './iptables.js';

function fake(answer: (argv: readonly string[]) => Partial<CommandResult>): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (argv, input) => {
      calls.push(argv.join(' ') + (input ? ` <<${input.split('\n').length} lines` : ''));
      return { code: 0, stdout: '', stderr: '', ...answer(argv) };
    },
  };
}

t.test('the rule and its chain', async (t) => {
  t.equal(queueRule([10200, 10201]), '-A TERN-STEER -m mark --mark 0x200000/0x200000 -j NFQUEUE --queue-balance 10200:10201 --queue-bypass');
  t.equal(queueRule([10200, 10200]), '-A TERN-STEER -m mark --mark 0x200000/0x200000 -j NFQUEUE --queue-num 10200 --queue-bypass');
  t.equal(restoreScript([7, 7]), '*mangle\n:TERN-STEER - [0:0]\n-F TERN-STEER\n-A TERN-STEER -m mark --mark 0x200000/0x200000 -j NFQUEUE --queue-num 7 --queue-bypass\nCOMMIT\n');
});

t.test('apply installs what is missing in both families and adopts what is there', async (t) => {
  const missing = fake((argv) => (argv.includes('-S') || argv.includes('-C') ? { code: 1 } : {}));
  t.equal(await new IptablesQueue({ run: missing.run }).apply([10200, 10201]), true);
  for (const tool of ['iptables-nft', 'ip6tables-nft']) {
    t.ok(missing.calls.includes(`${tool}-restore --noflush <<6 lines`), `${tool}: chain loaded`);
    t.ok(missing.calls.includes(`${tool} -t mangle -I PREROUTING 1 -j TERN-STEER`), `${tool}: jump inserted`);
  }
  const present = fake((argv) => (argv.includes('-S') ? { stdout: `-N TERN-STEER\n${queueRule([10200, 10201])}\n` } : {}));
  t.equal(await new IptablesQueue({ run: present.run }).apply([10200, 10201]), false, 'adopted');
  t.notOk(present.calls.some((c) => c.includes('restore') || c.includes(' -I ')), 'nothing changed');
  const refused = fake((argv) => (argv[0]!.endsWith('restore') ? { code: 4, stderr: 'iptables-restore: line 4 failed' } : { code: 1 }));
  await t.rejects(new IptablesQueue({ run: refused.run }).apply([1, 1]), { code: 'TERN_E_STEER_RULES', message: /line 4 failed/ });
});

t.test('remove takes out every jump, then the chain, and skips a family without it', async (t) => {
  let jumps = 2;
  const f = fake((argv) => {
    if (argv.includes('-D')) return argv[0] === 'iptables-nft' && jumps-- > 0 ? {} : { code: 1 };
    if (argv.includes('-S')) return argv[0] === 'iptables-nft' ? { stdout: '-N TERN-STEER\n' } : { code: 1 };
    return {};
  });
  await new IptablesQueue({ run: f.run }).remove();
  t.equal(f.calls.filter((c) => c === 'iptables-nft -t mangle -D PREROUTING -j TERN-STEER').length, 3, 'two jumps removed, the third attempt finds none');
  t.ok(f.calls.includes('iptables-nft -t mangle -X TERN-STEER'), 'IPv4 chain deleted');
  t.notOk(f.calls.some((c) => c.startsWith('ip6tables-nft -t mangle -X')), 'no IPv6 chain to delete');
});
