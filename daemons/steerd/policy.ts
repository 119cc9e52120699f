// Compiles the config's appClasses and policies into the SelectorPolicy both
// selectors take, and the config's WANs plus their probed metrics into paths.
import { formatPrefix, parsePrefix } from '../lib/ip/index.js';
import { wanTables } from '../lib/config/tables.js';
import { maxDomainClasses } from '../lib/kernel/names.js';
import type { AppClass, Policy, TernConfig, WanConfig } from '../lib/config/schema.js';
import { TernError } from '../lib/errors.js';
import type { ClassMatch, ClassSteering, PathInput, PathState, SelectorPolicy } from './types.js';

/** Flow table limits when the caller gives none: room for a busy office, five idle minutes. */
export const defaultFlowLimits = { max: 262_144, idleTimeoutMs: 300_000 } as const;

/** What a policy without `sticky` gets (the config schema's defaults). */
const defaultSticky = { hysteresisPct: 20, holdSec: 30 } as const;

const protocolNumbers: Record<string, number[]> = {
  tcp: [6],
  udp: [17],
  // The config's "icmp" means ICMP of either family.
  icmp: [1, 58],
};

/** The config's `match` as the selector's: numbers, [low, high] ranges, network prefixes. */
export function compileMatch(m: AppClass['match']): ClassMatch {
  const out: ClassMatch = {};
  if (m.prefixes) {
    out.dst = m.prefixes.map((p) => {
      const parsed = parsePrefix(p, 'allow');
      if (!parsed.ok) throw new TernError('TERN_E_STEER_INPUT', `steerd: compile: prefix ${JSON.stringify(p)}: ${parsed.reason}`);
      return formatPrefix(parsed.value);
    });
  }
  // "any" is no constraint at all; with ports and no protocols, TCP and UDP.
  if (m.protocols && !m.protocols.includes('any')) {
    const numbers = m.protocols.flatMap((p) => (typeof p === 'number' ? [p] : protocolNumbers[p] ?? []));
    out.protocols = [...new Set(numbers)];
  } else if (!m.protocols && m.ports) {
    out.protocols = [6, 17];
  }
  if (m.ports) {
    out.ports = m.ports.map((p): [number, number] => {
      if (typeof p === 'number') return [p, p];
      const [lo, hi] = p.split('-').map(Number);
      return [lo!, hi!];
    });
  }
  if (m.dscp) out.dscp = [...m.dscp];
  return out;
}

function steering(sla: AppClass['sla'], policy: Policy | undefined): ClassSteering {
  const sticky = policy?.sticky ?? defaultSticky;
  const out: ClassSteering = {
    sla: { ...sla },
    mode: policy?.mode ?? 'best',
    preferWans: [...(policy?.preferWans ?? [])],
    hysteresisPct: sticky.hysteresisPct,
    holdMs: sticky.holdSec * 1000,
  };
  if (policy?.weights) out.weights = { ...policy.weights };
  return out;
}

/**
 * The domain hint of each app class that matches by `domains`, numbered 1, 2,
 * … in appClasses order: steerd's restore chain puts `hint << domainHintShift`
 * into the mark of a queued packet whose destination is in the class's
 * domain sets, and the selector then lets only that class's rule match it.
 */
export function domainHints(cfg: Pick<TernConfig, 'appClasses'>): Map<string, number> {
  const hints = new Map<string, number>();
  for (const a of cfg.appClasses) {
    if (!a.match.domains) continue;
    if (hints.size === maxDomainClasses) {
      throw new TernError('TERN_E_STEER_INPUT', `steerd: compile: appClasses: expected at most ${maxDomainClasses} classes with match.domains; got more (${a.name} is one too many)`);
    }
    hints.set(a.name, hints.size + 1);
  }
  return hints;
}

/**
 * The selector policy of a (validated) config: app classes in order, each
 * with its policy (the schema's defaults when it has none), the `default`
 * class's policy, and the flow table limits.
 */
export function compilePolicy(
  cfg: Pick<TernConfig, 'appClasses' | 'policies'>,
  flows: { max: number; idleTimeoutMs: number } = defaultFlowLimits,
): SelectorPolicy {
  const policyOf = (name: string): Policy | undefined => cfg.policies.find((p) => p.appClass === name);
  const hints = domainHints(cfg);
  return {
    classes: cfg.appClasses.map((a) => {
      const hint = hints.get(a.name);
      return { name: a.name, match: compileMatch(a.match), ...(hint ? { domainHint: hint } : {}), ...steering(a.sla, policyOf(a.name)) };
    }),
    // The default class has no SLA of its own: any path that is up will do.
    default: steering({}, policyOf('default')),
    flows: { max: flows.max, idleTimeoutMs: flows.idleTimeoutMs },
  };
}

/** What probing measured on one WAN. */
export interface PathMetrics {
  state: PathState;
  lossPct: number;
  latencyMs: number;
  jitterMs: number;
  mos: number;
}

/**
 * One path per WAN of this appliance, with the WAN's routing table as the
 * path id (it is also the fwmark of the path). A WAN without metrics yet is
 * left out: until probing has a view of it, its flows follow the main table
 * rather than a path nobody measured.
 */
export function wanPaths(cfg: { wans: ReadonlyArray<Pick<WanConfig, 'name' | 'table' | 'cost' | 'metered'>> }, metrics: ReadonlyMap<string, PathMetrics>): PathInput[] {
  const tables = wanTables(cfg);
  return cfg.wans.flatMap((w) => {
    const m = metrics.get(w.name);
    if (!m) return [];
    return [{
      id: tables.get(w.name)!,
      wan: w.name,
      weight: 1,
      cost: w.cost,
      metered: w.metered,
      state: m.state,
      lossPct: m.lossPct,
      latencyMs: m.latencyMs,
      jitterMs: m.jitterMs,
      mos: m.mos,
    }];
  });
}
