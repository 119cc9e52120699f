// The selector's vocabulary, shared by the Rust selector's wrapper
// (native.ts) and the TypeScript reference (reference.fixture.ts); SELECTION.md says
// what each field means to a decision.
import type { NativeModule } from '../lib/native/index.js';

export type Mode = 'best' | 'weighted' | 'affinity' | 'spray';
export type PathState = 'up' | 'degraded' | 'down';

/** What a path must deliver for a class; a limit left out is no limit. */
export interface SlaPolicy {
  maxLossPct?: number;
  maxLatencyMs?: number;
  maxJitterMs?: number;
  minMos?: number;
}

/** What flows of a class look like: every criterion given, any value within one. */
export interface ClassMatch {
  /** Destination prefixes, network form ("10.0.0.0/8"). */
  dst?: string[];
  /** Source prefixes. */
  src?: string[];
  /** IP protocol numbers. */
  protocols?: number[];
  /** Destination port ranges [low, high]; only flows with ports match. */
  ports?: Array<[number, number]>;
  /** DSCP values of the first packet. */
  dscp?: number[];
}

/** How the flows of one class choose and keep a path. */
export interface ClassSteering {
  sla: SlaPolicy;
  mode: Mode;
  /** WANs in order of preference among paths that meet the SLA. */
  preferWans: string[];
  /** WAN name to weight (1-1000); unlisted WANs get none. Without it, each path's own weight. */
  weights?: Record<string, number>;
  /** Mode best: how much better a path's score must be before new flows switch to it. */
  hysteresisPct: number;
  /** After a flow of this class leaves a path, the path ranks as held this long. */
  holdMs: number;
}

export interface ClassPolicy extends ClassSteering {
  name: string;
  match: ClassMatch;
  /**
   * 1-255, unique: the class matches a packet only when the packet carries
   * this domain hint (its destination is in the class's domain sets) and
   * `match` matches too (policy.ts domainHints).
   */
  domainHint?: number;
}

/** The document both selectors are created from (policy.ts compiles it from the config). */
export interface SelectorPolicy {
  /** App classes in match order; the first match wins. */
  classes: ClassPolicy[];
  /** The policy of flows no class matched. */
  default: ClassSteering;
  flows: {
    /** Most flows tracked; the least recently used makes room. */
    max: number;
    /** A flow unseen this long is forgotten. */
    idleTimeoutMs: number;
  };
}

/** One path and what probing last measured on it. */
export interface PathInput {
  /** 1 to 2^32-1; also the fwmark and routing table of the path. */
  id: number;
  wan: string;
  /** Weight in modes weighted, affinity and spray when the class has no weights (0-1000). */
  weight: number;
  /** Lower is preferred between paths that meet the SLA alike (0-1000). */
  cost: number;
  /** Billed by volume: used only when nothing unmetered meets the SLA. */
  metered: boolean;
  state: PathState;
  lossPct: number;
  latencyMs: number;
  jitterMs: number;
  mos: number;
}

/** One flow as its packet shows it (wire.ts encodes it as a 48-byte record). */
export interface Flow {
  family: 4 | 6;
  protocol: number;
  /** 0 unless hasPorts. */
  srcPort: number;
  dstPort: number;
  /** 16 bytes; IPv4 in the first 4, the rest zero. */
  src: Uint8Array;
  dst: Uint8Array;
  dscp: number;
  /** False for protocols without ports and for non-first fragments. */
  hasPorts: boolean;
  /** Packet length, for the byte counters. */
  bytes: number;
  /**
   * The domain hint the packet's mark carried (1-255: its destination is in
   * the domain set of the class with that `domainHint`); 0 or absent: none.
   */
  domainHint?: number;
}

/** The path for one packet. */
export interface Decision {
  /** 0: no path (there are none); the packet follows the main table. */
  pathId: number;
  class: string;
  /** True when this packet's flow left its previous path. */
  moved: boolean;
}

/** A flow's identity, readable. */
export interface FlowTuple {
  family: 4 | 6;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

/** A flow resteer moved; the fast path rewrites its conntrack mark. */
export interface Move {
  flow: FlowTuple;
  class: string;
  from: number;
  to: number;
}

/**
 * A selector's counters, as the native selector reports them (declared once,
 * in native/index.d.ts; the TypeScript reference fills the same shape, with
 * parseErrors always 0). Classes in policy order, default last; paths by id.
 */
export type SelectorStats = ReturnType<NativeModule['selectorStats']>;
export type ClassStats = SelectorStats['classes'][number];
export type PathStats = SelectorStats['paths'][number];

/** What both selectors offer; see SELECTION.md. */
export interface PathSelector {
  /** The class names in policy order, default last: index i is class i of a decision record. */
  readonly classNames: readonly string[];
  /** Replaces the path set; invalid input changes nothing. */
  setPaths(paths: readonly PathInput[]): void;
  decide(flow: Flow, nowMs: number): Decision;
  /** Decides each 48-byte flow record in order; answers 8-byte decision records (wire.ts). */
  decideBatch(flows: Uint8Array, nowMs: number): Buffer;
  /** Moves every flow whose path is gone, down or breaks its SLA. */
  resteer(nowMs: number): Move[];
  /** Forgets idle flows; returns how many. */
  expire(nowMs: number): number;
  stats(): SelectorStats;
}
