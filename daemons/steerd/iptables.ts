// The NFQUEUE rule for kernels without the nft `queue` expression: an
// iptables-nft (xt NFQUEUE) rule in Tern's own chain TERN-STEER of the
// mangle table, jumped to from PREROUTING, for IPv4 and IPv6. It queues only
// packets the restore chain of `inet tern` flagged (nft.ts), so all the
// matching (LAN interface, remote prefixes, conntrack mark) stays in nft.
import { TernError } from '../lib/errors.js';
import { iptChain, queueFlagMark } from '../lib/kernel/names.js';
import { runCommand, type CommandRunner } from './command.js';

export { iptChain };
const tools = ['iptables-nft', 'ip6tables-nft'] as const;

/** The rule in TERN-STEER, as `iptables -S` prints it. */
export function queueRule(queues: readonly [number, number]): string {
  const [a, b] = queues;
  const target = a === b ? `--queue-num ${a}` : `--queue-balance ${a}:${b}`;
  // A mask: the restore chain may put a domain hint next to the flag.
  const flag = `0x${queueFlagMark.toString(16)}`;
  return `-A ${iptChain} -m mark --mark ${flag}/${flag} -j NFQUEUE ${target} --queue-bypass`;
}

/** iptables-restore input that replaces TERN-STEER's rules in one commit. */
export function restoreScript(queues: readonly [number, number]): string {
  return ['*mangle', `:${iptChain} - [0:0]`, `-F ${iptChain}`, queueRule(queues), 'COMMIT', ''].join('\n');
}

export interface IptablesOptions {
  run?: CommandRunner;
}

export class IptablesQueue {
  private readonly run: CommandRunner;

  constructor(opts: IptablesOptions = {}) {
    this.run = opts.run ?? runCommand;
  }

  /** Puts the queue rule and the jump in place for both families; returns whether anything changed. */
  async apply(queues: readonly [number, number]): Promise<boolean> {
    let changed = false;
    for (const tool of tools) {
      const listed = await this.run([tool, '-t', 'mangle', '-S', iptChain]);
      const have = listed.code === 0 ? listed.stdout.split('\n').filter((l) => l.startsWith(`-A ${iptChain} `)) : [];
      if (have.length !== 1 || have[0] !== queueRule(queues)) {
        await this.must([`${tool}-restore`, '--noflush'], restoreScript(queues), `load ${iptChain}`);
        changed = true;
      }
      const jump = await this.run([tool, '-t', 'mangle', '-C', 'PREROUTING', '-j', iptChain]);
      if (jump.code !== 0) {
        await this.must([tool, '-t', 'mangle', '-I', 'PREROUTING', '1', '-j', iptChain], undefined, `jump to ${iptChain}`);
        changed = true;
      }
    }
    return changed;
  }

  /** Removes the jumps and the chain, in both families; what is not there is skipped. */
  async remove(): Promise<void> {
    for (const tool of tools) {
      // A jump added twice by hand is removed too; bounded so a refusing tool cannot loop.
      for (let i = 0; i < 16; i++) {
        const r = await this.run([tool, '-t', 'mangle', '-D', 'PREROUTING', '-j', iptChain]);
        if (r.code !== 0) break;
      }
      const listed = await this.run([tool, '-t', 'mangle', '-S', iptChain]);
      if (listed.code !== 0) continue;
      await this.must([tool, '-t', 'mangle', '-F', iptChain], undefined, `flush ${iptChain}`);
      await this.must([tool, '-t', 'mangle', '-X', iptChain], undefined, `delete ${iptChain}`);
    }
  }

  /** Whether TERN-STEER exists in either family. */
  async present(): Promise<boolean> {
    for (const tool of tools) {
      if ((await this.run([tool, '-t', 'mangle', '-S', iptChain])).code === 0) return true;
    }
    return false;
  }

  private async must(argv: string[], input: string | undefined, what: string): Promise<void> {
    const r = await this.run(argv, input);
    if (r.code !== 0) {
      throw new TernError('TERN_E_STEER_RULES', `steerd: iptables: ${what}: ${argv.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
  }
}
