// The fast path as steerd drives it: one selector per remote site, the
// NFQUEUE workers that run them on packets (native/src/nfq.rs), and the
// conntrack marks that hold each flow's path (native/src/conntrack.rs).
// The interface is what the daemon needs; tests pass a fake built on the
// TypeScript reference selector (reference.fixture.ts).
import { loadNative, type NativeModule } from '../lib/native/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { NativeSelector, readMoves } from './native.js';
import type { FlowTuple, Move, PathInput, PathSelector, SelectorPolicy } from './types.js';
import { formatAddressBytes, makeFlow, writeKey, MOVE_SIZE } from './wire.js';

export type QueueStats = ReturnType<NativeModule['nfqStats']>;

/** One steered flow as conntrack holds it. */
export interface CtFlow extends FlowTuple {
  mark: number;
  packets: number;
  bytes: number;
}

export interface MarkReport { updated: number; missing: number; failed: number; skipped: number }
export interface RemarkReport { matched: number; updated: number; failed: number }

/** One refresh of every site's selector (native/index.d.ts, steerRefresh). */
export interface RefreshRequest {
  /** Per selector, in the order given: its whole path set. */
  paths: PathInput[][];
  /** Per path mark: the classes it failed at the previous refresh ('*': it was down). */
  broken: Array<[number, string[]]>;
  /** Whether a path whose failed classes grew is swept (false until the tunnel states are known). */
  sweep: boolean;
}

/** One path swept: its flows of the classes it newly fails (every flow when down) got mark 0. */
export interface SweepReport {
  id: number;
  matched: number;
  updated: number;
  /** The classes of the flows found; ['*'] for a down path. */
  classes: string[];
  /** The classes the path newly fails, as it was swept for; ['*'] when down. */
  failed: string[];
}

export interface RefreshReport {
  /** The flows the selectors moved, site by site. */
  moves: Move[];
  /** Their conntrack updates; null when writing them failed (see error). */
  marks: MarkReport | null;
  /** Every path with the classes it fails now ('*': down), judged once, in the selector. */
  broken: Array<{ id: number; classes: string[] }>;
  sweeps: SweepReport[];
  /** A conntrack failure; what came after it (marks, then sweeps in order) was not done. */
  error: string | null;
}

export interface FastPath {
  /** The time selectors decide at (the workers' clock), ms. */
  now(): number;
  /** A selector for one site's flows. */
  createSelector(policy: SelectorPolicy): PathSelector;
  /** Binds queues first..first+count-1, each with its worker. */
  open(first: number, count: number, maxLen: number): void;
  /** Packets to prefixes go to selector; [] removes its route. */
  route(selector: PathSelector, prefixes: readonly string[]): void;
  stats(): QueueStats[];
  /** Unbinds every queue (traffic then bypasses them). */
  close(): void;
  /**
   * One refresh in one call: each selector takes its paths and moves the
   * flows that must leave, every path is judged against every class's SLA,
   * moved flows get their conntrack marks, and paths that newly fail
   * classes are swept. Time is the workers' clock.
   */
  refresh(selectors: readonly PathSelector[], request: RefreshRequest): RefreshReport;
  /** Every flow marked `mark` gets `newMark`. */
  remark(mark: number, newMark: number): RemarkReport;
  /** Flows whose conntrack mark & mask == value & mask, at most max. */
  flows(value: number, mask: number, max: number): CtFlow[];
  /** Deletes the flows whose conntrack mark & mask == mark & mask; provoke: their TCP clients learn at once (ctClear). */
  clear(mark: number, mask: number, provoke: boolean): CtClearReport;
  /** Gives each moved flow (by tuple) its `to` as conntrack mark. */
  setMarks(moves: readonly Move[]): MarkReport;
}

/** Bytes of one ctDump record (native/index.d.ts). */
export const CT_RECORD_SIZE = 80;

/** Reads ctDump records. */
export function decodeCtFlows(b: Buffer): CtFlow[] {
  const out: CtFlow[] = [];
  for (let at = 0; at + CT_RECORD_SIZE <= b.length; at += CT_RECORD_SIZE) {
    const family = b[at] as 4 | 6;
    const addr = (off: number): string => formatAddressBytes(family, b.subarray(off, off + 16));
    out.push({
      family,
      protocol: b[at + 1]!,
      srcPort: b.readUInt16LE(at + 2),
      dstPort: b.readUInt16LE(at + 4),
      src: addr(at + 6),
      dst: addr(at + 22),
      mark: b.readUInt32LE(at + 40),
      packets: Number(b.readBigUInt64LE(at + 48) + b.readBigUInt64LE(at + 64)),
      bytes: Number(b.readBigUInt64LE(at + 56) + b.readBigUInt64LE(at + 72)),
    });
  }
  return out;
}

/** Move records (48 bytes: key, class, from, to) for ctSetMarks. */
export function encodeMoves(moves: readonly Move[]): Buffer {
  const out = Buffer.alloc(moves.length * MOVE_SIZE);
  moves.forEach((m, i) => {
    const at = i * MOVE_SIZE;
    writeKey(makeFlow({ src: m.flow.src, dst: m.flow.dst, protocol: m.flow.protocol, srcPort: m.flow.srcPort, dstPort: m.flow.dstPort }), out, at);
    out.writeUInt32LE(m.from >>> 0, at + 40);
    out.writeUInt32LE(m.to >>> 0, at + 44);
  });
  return out;
}

/** The real fast path: tern.node's queues, selectors and conntrack calls. */
export class NativeFastPath implements FastPath {
  private readonly native: NativeModule;
  private queues: Array<ReturnType<NativeModule['nfqOpen']>> = [];

  constructor(native: NativeModule = loadNative()) {
    this.native = native;
  }

  now(): number {
    return this.native.nfqNowMs();
  }

  createSelector(policy: SelectorPolicy): PathSelector {
    return new NativeSelector(policy, { native: this.native });
  }

  open(first: number, count: number, maxLen: number): void {
    const opened: Array<ReturnType<NativeModule['nfqOpen']>> = [];
    try {
      for (let q = first; q < first + count; q++) opened.push(this.native.nfqOpen(q, maxLen));
    } catch (err) {
      for (const q of opened) this.native.nfqClose(q);
      throw new TernError('TERN_E_STEER_QUEUE', `steerd: fast path: bind queues ${first}-${first + count - 1}: ${errorMessage(err)}`, { cause: err });
    }
    this.queues.push(...opened);
  }

  route(selector: PathSelector, prefixes: readonly string[]): void {
    if (!(selector instanceof NativeSelector)) {
      throw new TernError('TERN_E_STEER_INPUT', 'steerd: fast path: route: expected a selector from createSelector');
    }
    for (const q of this.queues) this.native.nfqRoute(q, selector.handle, JSON.stringify(prefixes));
  }

  stats(): QueueStats[] {
    return this.queues.map((q) => this.native.nfqStats(q));
  }

  close(): void {
    for (const q of this.queues) this.native.nfqClose(q);
    this.queues = [];
  }

  refresh(selectors: readonly PathSelector[], request: RefreshRequest): RefreshReport {
    const native = selectors.map((s) => {
      if (!(s instanceof NativeSelector)) {
        throw new TernError('TERN_E_STEER_INPUT', 'steerd: fast path: refresh: expected selectors from createSelector');
      }
      return s;
    });
    const r = this.native.steerRefresh(native.map((s) => s.handle), JSON.stringify(request));
    const moves = r.moves.flatMap((records, i) => (records.length ? readMoves(records, native[i]!.classNames) : []));
    return { ...r, moves };
  }

  remark(mark: number, newMark: number): RemarkReport {
    return this.native.ctRemark(mark, newMark);
  }

  flows(value: number, mask: number, max: number): CtFlow[] {
    return decodeCtFlows(this.native.ctDump(value >>> 0, mask >>> 0, max));
  }

  clear(mark: number, mask: number, provoke: boolean): CtClearReport {
    return nativeCtClear(this.native, mark, mask, provoke);
  }

  setMarks(moves: readonly Move[]): MarkReport {
    return nativeSetMarks(this.native, moves);
  }
}

/** What ctClear did (native/index.d.ts, natfast): flows deleted, established TCP clients provoked into a reset. */
export interface CtClearReport {
  matched: number;
  deleted: number;
  tcp: number;
  provoked: number;
  errors: number;
  error: string | null;
}

/** ctClear as tern.node declares it; a module built before it has none (reported, not thrown). */
type CtClearFn = (mark: number, mask: number, provoke: boolean) => CtClearReport;

/** Deletes the conntrack entries whose mark & mask == mark & mask; with provoke, each established TCP client gets an ACK it answers, which the firewall resets. */
export function nativeCtClear(native: NativeModule, mark: number, mask: number, provoke: boolean): CtClearReport {
  const fn = (native as unknown as { ctClear?: CtClearFn }).ctClear;
  if (typeof fn !== 'function') {
    return { matched: 0, deleted: 0, tcp: 0, provoked: 0, errors: 0, error: 'steerd: fast path: clear: tern.node has no ctClear (built before it)' };
  }
  return fn.call(native, mark >>> 0, mask >>> 0, provoke);
}

/** Sets conntrack marks by tuple (ctSetMarks), for tests of the clearing order. */
export function nativeSetMarks(native: NativeModule, moves: readonly Move[]): MarkReport {
  return native.ctSetMarks(encodeMoves(moves));
}
