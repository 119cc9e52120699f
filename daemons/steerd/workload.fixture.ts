// Seeded random policies, path sets and flows for the differential test and
// the benchmark: the same seed gives the same workload, so a mismatch or a
// figure can be reproduced.
import type { ClassPolicy, ClassSteering, Flow, Mode, PathInput, PathState, SelectorPolicy } from './types.js';
import { addressBytes, portProtocols } from './wire.js';

/** mulberry32: a small, fast, seeded generator of uniform numbers in [0, 1). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A copy of items in random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** A random subset of items, in their order. */
  subset<T>(items: readonly T[], p = 0.5): T[] {
    return items.filter(() => this.chance(p));
  }
}

export const wanNames = ['isp-a', 'isp-b', 'lte', 'sat', 'peer-a'] as const;

/** Destination prefixes classes match on; flows are drawn to fall in and out of them. */
const dstPrefixes = ['10.30.0.0/16', '10.30.20.0/24', '192.0.2.0/24', '198.51.100.0/25', '0.0.0.0/0', '2001:db8::/32', '2001:db8:5::/48', '::/0', '203.0.113.128/25'];
const srcPrefixes = ['10.10.0.0/24', '10.10.0.0/25', '2001:db8:10::/64'];
const modes: readonly Mode[] = ['best', 'weighted', 'affinity', 'spray'];

function randomSteering(rng: Rng): ClassSteering {
  const sla: ClassSteering['sla'] = {};
  if (rng.chance(0.6)) sla.maxLossPct = rng.pick([0, 0.5, 1, 2, 5, 10]);
  if (rng.chance(0.5)) sla.maxLatencyMs = rng.pick([50, 100, 150, 250, 400]);
  if (rng.chance(0.4)) sla.maxJitterMs = rng.pick([5, 10, 30, 50]);
  if (rng.chance(0.3)) sla.minMos = rng.pick([3.5, 3.8, 4.0, 4.2]);
  const mode = rng.pick(modes);
  const out: ClassSteering = {
    sla,
    mode,
    preferWans: rng.shuffle(rng.subset(wanNames, 0.4)),
    hysteresisPct: rng.pick([0, 10, 20, 50, 100, 12.5]),
    holdMs: rng.pick([0, 1000, 5000, 30000, 60000]),
  };
  if (rng.chance(mode === 'weighted' ? 0.7 : 0.2)) {
    const weights: Record<string, number> = {};
    for (const w of rng.subset(wanNames, 0.6)) weights[w] = rng.range(1, 5);
    out.weights = weights;
  }
  return out;
}

/** A valid policy with 0-6 classes whose criteria overlap, so order matters. */
export function randomPolicy(rng: Rng, flows = { max: rng.range(20, 3000), idleTimeoutMs: rng.pick([1000, 5000, 30000, 120000]) }): SelectorPolicy {
  const classes: ClassPolicy[] = [];
  const n = rng.int(7);
  for (let i = 0; i < n; i++) {
    const match: ClassPolicy['match'] = {};
    if (rng.chance(0.5)) match.dst = rng.subset(dstPrefixes, 0.3).concat(rng.pick(dstPrefixes)).filter((p, j, a) => a.indexOf(p) === j);
    if (rng.chance(0.2)) match.src = [rng.pick(srcPrefixes)];
    if (rng.chance(0.5)) match.protocols = rng.subset([6, 17, 1, 58, 132, 47], 0.4).concat(rng.pick([6, 17]));
    if (rng.chance(0.5)) {
      match.ports = [];
      for (let k = rng.range(1, 3); k > 0; k--) {
        const lo = rng.pick([22, 53, 443, 5060, 10000, 1, 3389]);
        match.ports.push([lo, lo + rng.pick([0, 0, 10, 10000])]);
      }
    }
    // Some classes match by domain hint (unique, as policy.ts numbers them), alone or with more.
    const hint = rng.chance(0.3) ? rng.pick([1, 2, 3, 255].filter((h) => !classes.some((c) => c.domainHint === h))) : undefined;
    if (rng.chance(0.3) || (Object.keys(match).length === 0 && hint === undefined)) match.dscp = rng.subset([0, 8, 34, 46], 0.5).concat(46);
    classes.push({ name: `class-${i}`, match, ...(hint === undefined ? {} : { domainHint: hint }), ...randomSteering(rng) });
  }
  return { classes, default: randomSteering(rng), flows };
}

/** One path's metrics on coarse grids (to make ties) or, sometimes, anywhere. */
export function randomMetrics(rng: Rng): Pick<PathInput, 'state' | 'lossPct' | 'latencyMs' | 'jitterMs' | 'mos'> {
  const fine = rng.chance(0.3);
  const state: PathState = rng.pick(['up', 'up', 'up', 'up', 'degraded', 'down']);
  return {
    state,
    lossPct: fine ? rng.next() * 30 : rng.pick([0, 0, 0, 0.5, 1, 2, 5, 20, 100]),
    latencyMs: fine ? rng.next() * 600 : rng.pick([5, 10, 20, 40, 80, 150, 300, 700]),
    jitterMs: fine ? rng.next() * 80 : rng.pick([0, 1, 2, 5, 10, 40]),
    mos: fine ? 1 + rng.next() * 3.5 : rng.pick([0, 3.2, 3.8, 4.1, 4.4]),
  };
}

/** 0-6 paths with distinct ids (some near 2^32) on the WAN names. */
export function randomPaths(rng: Rng): PathInput[] {
  const paths: PathInput[] = [];
  const count = rng.chance(0.05) ? 0 : rng.range(1, 6);
  while (paths.length < count) {
    const id = rng.chance(0.1) ? 4294967295 - rng.int(3) : rng.range(1, 40);
    if (paths.some((p) => p.id === id)) continue;
    paths.push({
      id,
      wan: rng.pick(wanNames),
      weight: rng.pick([0, 1, 1, 2, 3, 10]),
      cost: rng.pick([0, 10, 10, 10, 50]),
      metered: rng.chance(0.2),
      ...randomMetrics(rng),
    });
  }
  return paths;
}

/** Changes some paths' metrics (as a probe round does), keeping the set. */
export function nudgePaths(rng: Rng, paths: readonly PathInput[]): PathInput[] {
  return paths.map((p) => (rng.chance(0.4) ? { ...p, ...randomMetrics(rng) } : p));
}

/** Moves some paths' metrics a little (as between two probe rounds of a steady link). */
export function driftPaths(rng: Rng, paths: readonly PathInput[]): PathInput[] {
  const drift = (x: number, hi: number): number => Math.min(hi, x * (0.75 + rng.next() * 0.5));
  return paths.map((p) => (rng.chance(0.6)
    ? { ...p, latencyMs: drift(p.latencyMs, 1_000_000), jitterMs: drift(p.jitterMs, 1_000_000), lossPct: drift(p.lossPct, 100) }
    : p));
}

const v4Dst = ['10.30.20.5', '10.30.1.9', '192.0.2.10', '198.51.100.3', '198.51.100.200', '203.0.113.130', '8.8.8.8', '1.1.1.1'];
const v6Dst = ['2001:db8::1', '2001:db8:5::9', '2001:db8:6::2', '2600::1', 'fe80::1'];

/** A pool of distinct flows; the workload draws from it so flows recur. */
export function randomFlows(rng: Rng, count: number): Flow[] {
  const out: Flow[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = rng.chance(0.3);
    const src = addressBytes(v6 ? `2001:db8:10::${(rng.int(4096) + 1).toString(16)}` : `10.10.${rng.int(2)}.${rng.range(1, 254)}`);
    const dst = addressBytes(v6 ? rng.pick(v6Dst) : rng.pick(v4Dst));
    const protocol = rng.pick([6, 6, 6, 17, 17, 1, 58, 132, 47, 136]);
    // Port protocols sometimes arrive as later fragments, without ports.
    const hasPorts = portProtocols.has(protocol) && !rng.chance(0.05);
    out.push({
      family: v6 ? 6 : 4,
      protocol,
      srcPort: hasPorts ? rng.range(1024, 65535) : 0,
      dstPort: hasPorts ? rng.pick([22, 53, 80, 443, 443, 5060, 10500, 3389, rng.range(1, 65535)]) : 0,
      src: src.bytes,
      dst: dst.bytes,
      dscp: rng.pick([0, 0, 0, 46, 34, 8, rng.int(64)]),
      hasPorts,
      bytes: rng.range(40, 1500),
      // Mostly none; the hints classes have, and ones no class has.
      domainHint: rng.pick([0, 0, 0, 0, 1, 2, 3, 255, rng.int(256)]),
    });
  }
  return out;
}
