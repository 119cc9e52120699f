// What each of edged's named counters counts, from its name (ruleset.ts
// counterNames): for ternctl firewall and the exporter's labels.
import type { TernConfig } from '../lib/config/index.js';
import { edgeChainPrefix } from '../lib/kernel/names.js';

export interface CounterMeaning {
  /** drop, reset, spoof, icmp, forward (a port forward), rule (a zone rule). */
  kind: string;
  zone: string | null;
  reason: string | null;
  wan: string | null;
}

const zoneNames = ['wan', 'lan', 'pair', 'remote', 'overlay', 'unzoned'];

export function describeCounter(name: string, cfg: Pick<TernConfig, 'wans' | 'firewall'>): CounterMeaning {
  const rest = name.startsWith(edgeChainPrefix) ? name.slice(edgeChainPrefix.length) : name;
  const none: CounterMeaning = { kind: 'other', zone: null, reason: null, wan: null };
  if (rest === 'drop_invalid') return { ...none, kind: 'drop', reason: 'invalid' };
  if (rest === 'reset_nosyn') return { ...none, kind: 'reset', zone: 'wan', reason: 'nosyn' };
  const m = /^(drop_in|drop_fwd|drop_icmp)_(.+)$/.exec(rest);
  if (m && zoneNames.includes(m[2]!)) {
    const reason = { drop_in: 'input', drop_fwd: 'forward', drop_icmp: 'icmp-rate' }[m[1] as 'drop_in' | 'drop_fwd' | 'drop_icmp'];
    return { ...none, kind: m[1] === 'drop_icmp' ? 'icmp' : 'drop', zone: m[2]!, reason };
  }
  if (rest.startsWith('spoof_')) {
    const key = rest.slice('spoof_'.length);
    const wan = cfg.wans.find((w) => w.name.replaceAll('-', '_') === key)?.name ?? key;
    return { ...none, kind: 'spoof', zone: 'wan', reason: 'spoof', wan };
  }
  if (rest.startsWith('forward_')) return { ...none, kind: 'forward', zone: 'wan', reason: rest.slice('forward_'.length).replaceAll('_', '-') };
  if (rest.startsWith('rule_')) return { ...none, kind: 'rule', reason: rest.slice('rule_'.length).replaceAll('_', '-') };
  return none;
}
