// The path selector in plain TypeScript: the same rules as the Rust selector
// (native/src/select.rs), written to be read. SELECTION.md is the contract;
// differential.test.ts holds the two to identical answers, and the benchmark
// measures the Rust against this. Floating-point sums are written in the same
// order as in Rust so that both round alike. Also steerd's refresh as the
// daemon once did it in TypeScript (referenceRefresh), the oracle of
// native/src/steer.rs. A fixture: tests and benchmarks only, never in the
// image, and no production module may import it (imports.test.ts).
import { TernError, errorMessage } from '../lib/errors.js';
import type { CtFlow, MarkReport, RefreshReport, RefreshRequest, RemarkReport, SweepReport } from './fastpath.js';
import { classOf } from './flows.js';
import type {
  Decision, Flow, Move, PathInput, PathSelector, SelectorPolicy, SelectorStats, SlaPolicy,
} from './types.js';
import { checkPaths, checkPolicy, type CheckedClass, type CheckedMatch, type CheckedPolicy, type CheckedPrefix } from './validate.js';
import {
  DECISION_SIZE, FLOW_RECORD_SIZE, KEY_SIZE, decodeFlow, encodeFlow, flowRecordProblem, makeFlow, portProtocols, readTuple, writeDecision, writeKey,
} from './wire.js';

/** The path id meaning "no path": there are no paths; the main table decides. */
export const NO_PATH = 0;

// Tiers, best first (SELECTION.md, "Scores").
const TIER_MEETS = 0;
const TIER_METERED = 1;
const TIER_HELD = 2;
const TIER_BREAKS_SLA = 3;
const TIER_DOWN = 4;
const TIER_GONE = 5;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a (32 bit) over `first` (a byte, when given) then bytes[start, end), then murmur3's finalizer. */
export function mixHash(bytes: Uint8Array, start = 0, end = bytes.length, first?: number): number {
  let h = FNV_OFFSET;
  if (first !== undefined) {
    h ^= first;
    h = Math.imul(h, FNV_PRIME);
  }
  for (let i = start; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, FNV_PRIME);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash mode weighted spreads by: the whole 38-byte key. */
export function flowHash(key: Uint8Array): number {
  return mixHash(key, 0, KEY_SIZE);
}

/** The hash mode affinity spreads by: family and the two addresses (bytes 0 and 6-37 of the key). */
export function pairHash(key: Uint8Array): number {
  return mixHash(key, 6, KEY_SIZE, key[0]!);
}

export function meetsSla(p: PathInput, sla: SlaPolicy): boolean {
  if (sla.maxLossPct !== undefined && p.lossPct > sla.maxLossPct) return false;
  if (sla.maxLatencyMs !== undefined && p.latencyMs > sla.maxLatencyMs) return false;
  if (sla.maxJitterMs !== undefined && p.jitterMs > sla.maxJitterMs) return false;
  if (sla.minMos !== undefined && p.mos < sla.minMos) return false;
  return true;
}

/** Quality in milliseconds, lower is better: 1 % loss weighs as 20 ms, jitter twice latency. */
export function pathScore(p: PathInput): number {
  return p.latencyMs + 2 * p.jitterMs + 20 * p.lossPct;
}

/** How far a path misses an SLA, in score units; 0 when it meets it. */
export function slaPenalty(p: PathInput, sla: SlaPolicy): number {
  let s = 0;
  if (sla.maxLossPct !== undefined) s += 20 * Math.max(p.lossPct - sla.maxLossPct, 0);
  if (sla.maxLatencyMs !== undefined) s += Math.max(p.latencyMs - sla.maxLatencyMs, 0);
  if (sla.maxJitterMs !== undefined) s += 2 * Math.max(p.jitterMs - sla.maxJitterMs, 0);
  if (sla.minMos !== undefined) s += 200 * Math.max(sla.minMos - p.mos, 0);
  return s;
}

/** `threshold` lowered by `pct` percent. */
const lowered = (threshold: number, pct: number): number => threshold * (100 - pct) / 100;

/** One path as one class sees it at one moment. */
interface Candidate {
  index: number;
  id: number;
  tier: number;
  degraded: boolean;
  rank: number;
  cost: number;
  score: number;
  penalty: number;
}

/** True when a ranks before b (SELECTION.md, "Ranking"). */
function better(a: Candidate, b: Candidate): boolean {
  if (a.tier !== b.tier) return a.tier < b.tier;
  if (a.tier <= TIER_HELD) {
    if (a.degraded !== b.degraded) return !a.degraded;
    if (a.rank !== b.rank) return a.rank < b.rank;
    if (a.cost !== b.cost) return a.cost < b.cost;
    if (a.score !== b.score) return a.score < b.score;
  } else {
    if (a.penalty !== b.penalty) return a.penalty < b.penalty;
    if (a.score !== b.score) return a.score < b.score;
  }
  return a.id < b.id;
}

function prefixContains(p: CheckedPrefix, family: number, address: Uint8Array): boolean {
  if (p.family !== family) return false;
  const whole = p.length >>> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== p.bytes[i]) return false;
  const rest = p.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole]! & mask) === p.bytes[whole];
}

function matches(m: CheckedMatch, flow: Flow): boolean {
  if (m.dst && !m.dst.some((p) => prefixContains(p, flow.family, flow.dst))) return false;
  if (m.src && !m.src.some((p) => prefixContains(p, flow.family, flow.src))) return false;
  if (m.protocols && !m.protocols.has(flow.protocol)) return false;
  if (m.ports && (!flow.hasPorts || !m.ports.some(([lo, hi]) => lo <= flow.dstPort && flow.dstPort <= hi))) return false;
  if (m.dscp && !m.dscp.has(flow.dscp)) return false;
  return true;
}

interface FlowEntry {
  /** The key as the table's Map key. */
  keyText: string;
  key: Uint8Array;
  class: number;
  path: number;
  lastSeen: number;
  packets: number;
  bytes: number;
  /** Neighbours in least-recently-used order. */
  older: FlowEntry | undefined;
  newer: FlowEntry | undefined;
}

interface ClassState {
  /** Mode best: the path new flows get. */
  preferred: number;
  /** Path id → held until (ms). */
  holds: Map<number, number>;
}

interface Counters {
  newFlows: number;
  packets: number;
  bytes: number;
  moves: number;
}

const zeroCounters = (): Counters => ({ newFlows: 0, packets: 0, bytes: 0, moves: 0 });

/** The reference selector; see SELECTION.md. */
export class ReferenceSelector implements PathSelector {
  readonly classNames: readonly string[];
  private readonly policy: CheckedPolicy;
  /** Sorted by id. */
  private paths: PathInput[] = [];
  private pathCounters: Counters[] = [];
  /** Per class, per path index: position of its WAN in preferWans; its weight. */
  private preferRank: number[][];
  private weight: number[][];
  private readonly classState: ClassState[];
  private readonly classCounters: Counters[];
  /**
   * The flow table: a Map to find a flow by key, and a doubly linked list
   * from the least to the most recently used flow (as in native/src/flow.rs).
   * Not the Map's own insertion order: V8 leaves a hole for every deleted
   * entry until it rehashes, and finding the oldest entry past them made
   * every eviction slower the longer the table lived.
   */
  private readonly table = new Map<string, FlowEntry>();
  private oldest: FlowEntry | undefined;
  private newest: FlowEntry | undefined;
  private now = 0;
  private decisions = 0;
  private newFlows = 0;
  private moves = 0;
  private evictions = 0;
  private expirations = 0;
  private readonly keyScratch = Buffer.alloc(KEY_SIZE);
  private readonly recordScratch = new Uint8Array(FLOW_RECORD_SIZE);

  /** Throws TERN_E_STEER_INPUT when the policy is not valid. */
  constructor(policy: unknown) {
    const checked = checkPolicy(policy);
    if (!checked.ok) throw new TernError('TERN_E_STEER_INPUT', `steerd: reference: create: ${checked.problem}`, { details: { problem: checked.problem } });
    this.policy = checked.value;
    this.classNames = this.policy.classes.map((c) => c.name);
    const n = this.policy.classes.length;
    this.preferRank = Array.from({ length: n }, () => []);
    this.weight = Array.from({ length: n }, () => []);
    this.classState = Array.from({ length: n }, () => ({ preferred: NO_PATH, holds: new Map() }));
    this.classCounters = Array.from({ length: n }, zeroCounters);
  }

  setPaths(input: readonly PathInput[]): void {
    const checked = checkPaths(input);
    if (!checked.ok) throw new TernError('TERN_E_STEER_INPUT', `steerd: reference: setPaths: ${checked.problem}`, { details: { problem: checked.problem } });
    const paths = checked.value;
    this.pathCounters = paths.map((p) => {
      const i = this.pathIndex(p.id);
      return i === undefined ? zeroCounters() : this.pathCounters[i]!;
    });
    this.policy.classes.forEach((rule, c) => {
      this.preferRank[c] = paths.map((p) => {
        const at = rule.preferWans.indexOf(p.wan);
        return at < 0 ? rule.preferWans.length : at;
      });
      this.weight[c] = paths.map((p) => (rule.weights ? rule.weights.get(p.wan) ?? 0 : p.weight));
    });
    const ids = new Set(paths.map((p) => p.id));
    for (const state of this.classState) {
      if (!ids.has(state.preferred)) state.preferred = NO_PATH;
      for (const id of [...state.holds.keys()]) if (!ids.has(id)) state.holds.delete(id);
    }
    this.paths = paths;
  }

  private pathIndex(id: number): number | undefined {
    let lo = 0;
    let hi = this.paths.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.paths[mid]!.id;
      if (m === id) return mid;
      if (m < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private static checkNow(nowMs: number, action: string): void {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < 0) {
      throw new TernError('TERN_E_STEER_INPUT', `steerd: reference: ${action}: nowMs: expected a finite number >= 0; got ${String(nowMs)}`);
    }
  }

  /** Time only moves forward: an earlier nowMs counts as the latest seen. */
  private advance(nowMs: number): number {
    if (nowMs > this.now) this.now = nowMs;
    return this.now;
  }

  /** Adds e at the most recent end of the list. */
  private link(e: FlowEntry): void {
    e.older = this.newest;
    e.newer = undefined;
    if (this.newest) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
  }

  private unlink(e: FlowEntry): void {
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = undefined;
    e.newer = undefined;
  }

  private remove(e: FlowEntry): void {
    this.unlink(e);
    this.table.delete(e.keyText);
  }

  private idle(e: FlowEntry, now: number): boolean {
    return now - e.lastSeen >= this.policy.idleTimeoutMs;
  }

  /** The first class that matches; a class with a domain hint only a flow carrying that hint. */
  private classify(flow: Flow): number {
    const last = this.policy.classes.length - 1;
    for (let i = 0; i < last; i++) {
      const c = this.policy.classes[i]!;
      if (c.domainHint !== undefined && c.domainHint !== (flow.domainHint ?? 0)) continue;
      const m = c.match;
      if (m && matches(m, flow)) return i;
    }
    return last;
  }

  private held(c: number, id: number, now: number): boolean {
    const until = this.classState[c]!.holds.get(id);
    return until !== undefined && until > now;
  }

  private tier(c: number, i: number, now: number): number {
    const p = this.paths[i]!;
    if (p.state === 'down') return TIER_DOWN;
    if (!meetsSla(p, this.policy.classes[c]!.sla)) return TIER_BREAKS_SLA;
    if (this.held(c, p.id, now)) return TIER_HELD;
    if (p.metered) return TIER_METERED;
    return TIER_MEETS;
  }

  private rankPaths(c: number, now: number): Candidate[] {
    const sla = this.policy.classes[c]!.sla;
    return this.paths.map((p, i) => ({
      index: i,
      id: p.id,
      tier: this.tier(c, i, now),
      degraded: p.state === 'degraded',
      rank: this.preferRank[c]![i]!,
      cost: p.cost,
      score: pathScore(p),
      penalty: slaPenalty(p, sla),
    }));
  }

  private static top(candidates: Candidate[]): Candidate {
    let best = candidates[0]!;
    for (const c of candidates) if (better(c, best)) best = c;
    return best;
  }

  /** Mode best: the preferred path, switched only as SELECTION.md says. */
  private chooseBest(c: number, now: number): number {
    const candidates = this.rankPaths(c, now);
    const best = ReferenceSelector.top(candidates);
    const state = this.classState[c]!;
    if (state.preferred !== best.id) {
      const cur = candidates.find((x) => x.id === state.preferred);
      if (cur && cur.tier <= TIER_HELD
        && best.tier === cur.tier && best.degraded === cur.degraded && best.rank === cur.rank && best.cost === cur.cost
        && best.score >= lowered(cur.score, this.policy.classes[c]!.hysteresisPct)) {
        return cur.id;
      }
    }
    state.preferred = best.id;
    return best.id;
  }

  /** Modes weighted, affinity, spray: a weighted choice by x in the best tier with weight. */
  private chooseWeighted(c: number, x: number, now: number): number {
    const candidates = this.rankPaths(c, now);
    const weights = this.weight[c]!;
    for (let tier = TIER_MEETS; tier <= TIER_HELD; tier++) {
      const inTier = candidates.filter((k) => k.tier === tier);
      const total = inTier.reduce((sum, k) => sum + weights[k.index]!, 0);
      if (total === 0) continue;
      let r = x % total;
      for (const k of inTier) {
        const w = weights[k.index]!;
        if (r < w) return k.id;
        r -= w;
      }
    }
    return ReferenceSelector.top(candidates).id;
  }

  /** The path a flow with `key` of class c gets now; packets: its packets before this one (spray). */
  private choose(c: number, key: Uint8Array, packets: number, now: number): number {
    if (this.paths.length === 0) return NO_PATH;
    switch (this.policy.classes[c]!.mode) {
      case 'best': return this.chooseBest(c, now);
      case 'weighted': return this.chooseWeighted(c, flowHash(key), now);
      case 'affinity': return this.chooseWeighted(c, pairHash(key), now);
      case 'spray': return this.chooseWeighted(c, packets, now);
    }
  }

  /** Moves e if its path is gone, down or breaks the SLA and a better one exists. */
  private reconsider(e: FlowEntry, now: number): { from: number; to: number } | undefined {
    const c = e.class;
    const rule: CheckedClass = this.policy.classes[c]!;
    const from = e.path;
    const fromIndex = this.pathIndex(from);
    let fromTier: number;
    if (fromIndex === undefined) fromTier = TIER_GONE;
    else if (this.paths[fromIndex]!.state === 'down') fromTier = TIER_DOWN;
    else if (!meetsSla(this.paths[fromIndex]!, rule.sla)) fromTier = TIER_BREAKS_SLA;
    else return undefined;

    const to = this.choose(c, e.key, 0, now);
    if (to === from) return undefined;
    const toIndex = this.pathIndex(to);
    let should: boolean;
    if (fromTier === TIER_GONE) should = true;
    else if (toIndex === undefined) should = false;
    else if (fromTier === TIER_DOWN) should = this.tier(c, toIndex, now) <= TIER_BREAKS_SLA;
    else {
      const toTier = this.tier(c, toIndex, now);
      should = toTier <= TIER_HELD
        || (toTier === TIER_BREAKS_SLA
          && slaPenalty(this.paths[toIndex]!, rule.sla) < lowered(slaPenalty(this.paths[fromIndex!]!, rule.sla), rule.hysteresisPct));
    }
    if (!should) return undefined;
    if (fromIndex !== undefined) this.classState[c]!.holds.set(from, now + rule.holdMs);
    e.path = to;
    this.moves++;
    this.classCounters[c]!.moves++;
    return { from, to };
  }

  decide(flow: Flow, nowMs: number): Decision {
    // Through the record, so a flow the record cannot carry is refused as
    // the native selector refuses it.
    const record = encodeFlow(flow, this.recordScratch);
    const problem = flowRecordProblem(record);
    if (problem) throw new TernError('TERN_E_STEER_INPUT', `steerd: reference: decide: flow: ${problem}`);
    ReferenceSelector.checkNow(nowMs, 'decide');
    const d = this.decideOne(decodeFlow(record), this.advance(nowMs));
    return { pathId: d.path, class: this.classNames[d.class]!, moved: d.moved };
  }

  private decideOne(flow: Flow, now: number): { path: number; class: number; moved: boolean } {
    this.decisions++;
    writeKey(flow, this.keyScratch);
    const keyText = this.keyScratch.toString('latin1');
    let e = this.table.get(keyText);
    if (e && this.idle(e, now)) {
      this.remove(e);
      this.expirations++;
      e = undefined;
    }
    let moved = false;
    if (e) {
      this.unlink(e);
      this.link(e);
      e.lastSeen = now;
      if (this.policy.classes[e.class]!.mode === 'spray') e.path = this.choose(e.class, e.key, e.packets, now);
      else moved = this.reconsider(e, now) !== undefined;
    } else {
      const c = this.classify(flow);
      if (this.table.size >= this.policy.maxFlows && this.oldest) {
        this.remove(this.oldest);
        this.evictions++;
      }
      const key = Uint8Array.from(this.keyScratch);
      e = { keyText, key, class: c, path: this.choose(c, key, 0, now), lastSeen: now, packets: 0, bytes: 0, older: undefined, newer: undefined };
      this.table.set(keyText, e);
      this.link(e);
      this.newFlows++;
      this.classCounters[c]!.newFlows++;
      const i = this.pathIndex(e.path);
      if (i !== undefined) this.pathCounters[i]!.newFlows++;
    }
    e.packets++;
    e.bytes += flow.bytes;
    const cc = this.classCounters[e.class]!;
    cc.packets++;
    cc.bytes += flow.bytes;
    const i = this.pathIndex(e.path);
    if (i !== undefined) {
      this.pathCounters[i]!.packets++;
      this.pathCounters[i]!.bytes += flow.bytes;
    }
    return { path: e.path, class: e.class, moved };
  }

  decideBatch(flows: Uint8Array, nowMs: number): Buffer {
    if (flows.length % FLOW_RECORD_SIZE !== 0) {
      throw new TernError('TERN_E_STEER_INPUT', `steerd: reference: decideBatch: flows: expected a multiple of ${FLOW_RECORD_SIZE} bytes; got ${flows.length}`);
    }
    ReferenceSelector.checkNow(nowMs, 'decideBatch');
    const n = flows.length / FLOW_RECORD_SIZE;
    // Check every record before deciding any, so a bad batch changes nothing.
    for (let i = 0; i < n; i++) {
      const problem = flowRecordProblem(flows, i * FLOW_RECORD_SIZE);
      if (problem) throw new TernError('TERN_E_STEER_INPUT', `steerd: reference: decideBatch: flows: record ${i}: ${problem}`);
    }
    const now = this.advance(nowMs);
    const out = Buffer.alloc(n * DECISION_SIZE);
    for (let i = 0; i < n; i++) {
      const d = this.decideOne(decodeFlow(flows, i * FLOW_RECORD_SIZE), now);
      writeDecision(out, i * DECISION_SIZE, d.path, d.class, d.moved);
    }
    return out;
  }

  resteer(nowMs: number): Move[] {
    ReferenceSelector.checkNow(nowMs, 'resteer');
    const now = this.advance(nowMs);
    const moves: Move[] = [];
    // Moving a flow does not change its place in the list.
    for (let e = this.oldest; e; e = e.newer) {
      if (this.idle(e, now) || this.policy.classes[e.class]!.mode === 'spray') continue;
      const m = this.reconsider(e, now);
      if (m) moves.push({ flow: readTuple(e.key), class: this.classNames[e.class]!, from: m.from, to: m.to });
    }
    return moves;
  }

  expire(nowMs: number): number {
    ReferenceSelector.checkNow(nowMs, 'expire');
    const now = this.advance(nowMs);
    let removed = 0;
    while (this.oldest && this.idle(this.oldest, now)) {
      this.remove(this.oldest);
      removed++;
    }
    this.expirations += removed;
    return removed;
  }

  stats(): SelectorStats {
    const classFlows = this.policy.classes.map(() => 0);
    const pathFlows = this.paths.map(() => 0);
    for (const e of this.table.values()) {
      classFlows[e.class]!++;
      const i = this.pathIndex(e.path);
      if (i !== undefined) pathFlows[i]!++;
    }
    return {
      flows: this.table.size,
      maxFlows: this.policy.maxFlows,
      decisions: this.decisions,
      newFlows: this.newFlows,
      moves: this.moves,
      evictions: this.evictions,
      expirations: this.expirations,
      parseErrors: { truncated: 0, badVersion: 0, badHeader: 0, extensionChain: 0 },
      classes: this.policy.classes.map((c, i) => {
        const k = this.classCounters[i]!;
        return { name: c.name, flows: classFlows[i]!, newFlows: k.newFlows, packets: k.packets, bytes: k.bytes, moves: k.moves };
      }),
      paths: this.paths.map((p, i) => {
        const k = this.pathCounters[i]!;
        return { id: p.id, wan: p.wan, flows: pathFlows[i]!, newFlows: k.newFlows, packets: k.packets, bytes: k.bytes };
      }),
    };
  }
}

/**
 * The classes whose SLA a path breaks ('*' when it is down: every class
 * must leave it), in policy order with default last.
 */
export function brokenFor(policy: SelectorPolicy, p: PathInput): Set<string> {
  if (p.state === 'down') return new Set(['*']);
  const out = new Set<string>();
  for (const c of policy.classes) if (!meetsSla(p, c.sla)) out.add(c.name);
  if (!meetsSla(p, policy.default.sla)) out.add('default');
  return out;
}

/** The conntrack operations a refresh uses. */
export interface RefreshConntrack {
  setMarks(moves: readonly Move[]): MarkReport;
  remark(mark: number, newMark: number): RemarkReport;
  flows(value: number, mask: number, max: number): CtFlow[];
}

/** A conntrack table in memory, answering as the kernel's (and native/src/steer.rs's Table) does. */
export class MemoryConntrack implements RefreshConntrack {
  constructor(public flowsHeld: CtFlow[] = []) {}

  setMarks(moves: readonly Move[]): MarkReport {
    const r = { updated: 0, missing: 0, failed: 0, skipped: 0 };
    for (const m of moves) {
      if (!portProtocols.has(m.flow.protocol)) {
        r.skipped++;
        continue;
      }
      const f = this.flowsHeld.find((c) => c.family === m.flow.family && c.protocol === m.flow.protocol && c.src === m.flow.src
        && c.dst === m.flow.dst && c.srcPort === m.flow.srcPort && c.dstPort === m.flow.dstPort);
      if (f) {
        f.mark = m.to;
        r.updated++;
      } else {
        r.missing++;
      }
    }
    return r;
  }

  remark(mark: number, newMark: number): RemarkReport {
    const hit = this.flowsHeld.filter((c) => c.mark === mark);
    for (const c of hit) c.mark = newMark;
    return { matched: hit.length, updated: hit.length, failed: 0 };
  }

  flows(value: number, mask: number, max: number): CtFlow[] {
    return this.flowsHeld.filter((c) => ((c.mark & mask) >>> 0) === ((value & mask) >>> 0)).slice(0, max);
  }
}

/** ctDump records (80 bytes) of flows, counters in the original direction: what debugSteerRefresh reads. */
export function encodeCtFlows(flows: readonly CtFlow[]): Buffer {
  const out = Buffer.alloc(flows.length * 80);
  flows.forEach((f, i) => {
    const at = i * 80;
    writeKey(makeFlow({ src: f.src, dst: f.dst, protocol: f.protocol, srcPort: f.srcPort, dstPort: f.dstPort }), out, at);
    out.writeUInt32LE(f.mark >>> 0, at + 40);
    out.writeBigUInt64LE(BigInt(f.packets), at + 48);
    out.writeBigUInt64LE(BigInt(f.bytes), at + 56);
  });
  return out;
}

/**
 * One refresh the way steerd did it in TypeScript before issue 16 (one
 * native call per step): per site, setPaths, resteer and the SLA judged
 * here; then the moved flows' marks; then the sweeps of paths whose failed
 * classes grew. Answers what steerRefresh answers.
 */
export function referenceRefresh(
  sites: ReadonlyArray<{ selector: PathSelector; policy: SelectorPolicy }>,
  request: RefreshRequest,
  nowMs: number,
  ct: RefreshConntrack,
): RefreshReport {
  const moves: Move[] = [];
  const broken: Array<{ id: number; classes: string[] }> = [];
  const tasks: Array<{ id: number; classes: Set<string>; policy: SelectorPolicy }> = [];
  const before = new Map(request.broken.map(([id, classes]) => [id, new Set(classes)]));
  sites.forEach(({ selector, policy }, i) => {
    const inputs = request.paths[i]!;
    selector.setPaths(inputs);
    moves.push(...selector.resteer(nowMs));
    for (const p of inputs) {
      const b = brokenFor(policy, p);
      broken.push({ id: p.id, classes: [...b] });
      const was = before.get(p.id) ?? new Set<string>();
      const added = new Set([...b].filter((c) => !was.has(c)));
      if (request.sweep && added.size) tasks.push({ id: p.id, classes: b.has('*') ? b : added, policy });
    }
  });
  const report: RefreshReport = { moves, marks: null, broken, sweeps: [], error: null };
  try {
    report.marks = moves.length ? ct.setMarks(moves) : { updated: 0, missing: 0, failed: 0, skipped: 0 };
  } catch (err) {
    report.error = `reference: conntrack: set the marks of moved flows: ${errorMessage(err)}`;
    return report;
  }
  for (const task of tasks) {
    try {
      report.sweeps.push(sweep(ct, task));
    } catch (err) {
      report.error = `reference: conntrack: sweep path 0x${task.id.toString(16)}: ${errorMessage(err)}`;
      break;
    }
  }
  return report;
}

function sweep(ct: RefreshConntrack, task: { id: number; classes: Set<string>; policy: SelectorPolicy }): SweepReport {
  const failed = [...task.classes];
  if (task.classes.has('*')) {
    const r = ct.remark(task.id, 0);
    return { id: task.id, matched: r.matched, updated: r.updated, classes: ['*'], failed };
  }
  const hit = ct.flows(task.id, 0xffffffff, 1_000_000)
    .map((f) => ({ f, cls: classOf(task.policy, f) }))
    .filter(({ cls }) => task.classes.has(cls));
  if (!hit.length) return { id: task.id, matched: 0, updated: 0, classes: [], failed };
  const r = ct.setMarks(hit.map(({ f, cls }) => ({ flow: f, class: cls, from: task.id, to: 0 })));
  return { id: task.id, matched: hit.length, updated: r.updated, classes: [...new Set(hit.map(({ cls }) => cls))], failed };
}
