// Which QoS class each DSCP value goes to: the classes' own DSCP lists,
// overridden by the app classes (the list steerd steers by), so one class
// list drives both steering and QoS.
import { qosClassNames, type QosClassName, type TernConfig } from '../lib/config/index.js';

/** The class packets go to when their DSCP is in no list (HTB's default class). */
export const defaultQosClass: QosClassName = 'besteffort';

export interface DscpMap {
  /** DSCP value → class, for every value listed anywhere; unlisted values go to defaultQosClass. */
  byDscp: Map<number, QosClassName>;
  /** Where each mapping came from, e.g. 'qos.classes.realtime.dscp' or 'appClasses[0] voice dscpMark'. */
  source: Map<number, string>;
  /** Things people should know: app classes whose qosClass cannot be seen in the DSCP field, overrides. */
  notes: string[];
}

/**
 * Builds the DSCP → class map.
 *
 * An app class reaches the WAN shaper through the DSCP of its packets:
 * - with `dscpMark`, steerd rewrites its packets to that DSCP, so that value
 *   maps to the app class's `qosClass`;
 * - matched by DSCP alone (`match.dscp` and nothing else), its DSCP values
 *   map to its `qosClass`;
 * - matched by anything else and without `dscpMark`, the shaper cannot tell
 *   its packets apart: a note says so (its packets keep the class of their DSCP).
 * App classes are matched in order, so the first one naming a DSCP value
 * wins; an app class overrides the `qos.classes.<class>.dscp` lists.
 */
export function dscpMap(cfg: TernConfig): DscpMap {
  const byDscp = new Map<number, QosClassName>();
  const source = new Map<number, string>();
  const notes: string[] = [];
  for (const name of qosClassNames) {
    for (const d of cfg.qos.classes[name].dscp) {
      byDscp.set(d, name);
      source.set(d, `qos.classes.${name}.dscp`);
    }
  }
  const claimed = new Set<number>();
  const claim = (d: number, cls: QosClassName, from: string): void => {
    if (claimed.has(d)) {
      const held = byDscp.get(d);
      if (held !== cls) notes.push(`${from}: DSCP ${d} stays in ${held} (${source.get(d)} comes first), not ${cls}`);
      return;
    }
    claimed.add(d);
    const before = byDscp.get(d) ?? defaultQosClass;
    if (before !== cls) notes.push(`DSCP ${d} goes to ${cls} (${from}), not ${before} (${source.get(d) ?? 'default'})`);
    byDscp.set(d, cls);
    source.set(d, from);
  };
  cfg.appClasses.forEach((a, i) => {
    const at = `appClasses[${i}] ${a.name}`;
    const m = a.match;
    const dscpOnly = m.dscp !== undefined && !m.prefixes && !m.protocols && !m.ports;
    if (a.dscpMark !== undefined) claim(a.dscpMark, a.qosClass, `${at} dscpMark`);
    if (dscpOnly) for (const d of m.dscp!) claim(d, a.qosClass, `${at} match.dscp`);
    if (a.dscpMark === undefined && !dscpOnly && a.qosClass !== defaultQosClass) {
      notes.push(`${at}: qosClass ${a.qosClass} cannot be applied on the WAN: the shaper sees only DSCP; set dscpMark so its packets carry a DSCP of that class`);
    }
  });
  return { byDscp, source, notes };
}

/** The DSCP values of one class, sorted (for filters and status). */
export function dscpOf(map: DscpMap, cls: QosClassName): number[] {
  return [...map.byDscp.entries()].filter(([, c]) => c === cls).map(([d]) => d).sort((a, b) => a - b);
}
