// The Rust selector (native/src/select.rs) behind the same PathSelector
// interface as the reference, for steerd and the tests. Invalid input throws
// the native module's TERN_E_NATIVE_ARG error, naming the key at fault.
import { loadNative, type NativeModule } from '../lib/native/index.js';
import type { Decision, Flow, Move, PathInput, PathSelector, SelectorStats } from './types.js';
import { FLOW_RECORD_SIZE, MOVE_SIZE, encodeFlow, readMove, readTuple } from './wire.js';

type Handle = ReturnType<NativeModule['selectorCreate']>;
type PacketDecision = ReturnType<NativeModule['selectorDecidePacket']>;

export interface NativeSelectorOptions {
  /** The loaded module; default loadNative(). */
  native?: NativeModule;
}

export class NativeSelector implements PathSelector {
  readonly classNames: readonly string[];
  private readonly native: NativeModule;
  /** The module's selector handle: the fast path routes packets to it (nfqRoute). */
  readonly handle: Handle;
  private readonly record = Buffer.alloc(FLOW_RECORD_SIZE);

  /** `policy` is a SelectorPolicy (or anything: Rust checks it). */
  constructor(policy: unknown, opts: NativeSelectorOptions = {}) {
    this.native = opts.native ?? loadNative();
    this.handle = this.native.selectorCreate(JSON.stringify(policy));
    this.classNames = this.native.selectorStats(this.handle).classes.map((c) => c.name);
  }

  setPaths(paths: readonly PathInput[]): void {
    this.native.selectorSetPaths(this.handle, JSON.stringify(paths));
  }

  decide(flow: Flow, nowMs: number): Decision {
    return this.native.selectorDecide(this.handle, encodeFlow(flow, this.record) as Buffer, nowMs);
  }

  decideBatch(flows: Uint8Array, nowMs: number): Buffer {
    const buf = Buffer.isBuffer(flows) ? flows : Buffer.from(flows.buffer, flows.byteOffset, flows.byteLength);
    return this.native.selectorDecideBatch(this.handle, buf, nowMs);
  }

  /** One raw IPv4/IPv6 packet, read and decided in Rust as the fast path does, with the domain hint its mark carried (0: none). */
  decidePacket(packet: Buffer, nowMs: number, domainHint = 0): PacketDecision {
    return this.native.selectorDecidePacket(this.handle, packet, nowMs, domainHint);
  }

  resteer(nowMs: number): Move[] {
    return readMoves(this.native.selectorResteer(this.handle, nowMs), this.classNames);
  }

  expire(nowMs: number): number {
    return this.native.selectorExpire(this.handle, nowMs);
  }

  stats(): SelectorStats {
    return this.native.selectorStats(this.handle);
  }
}

/** Move records (selectorResteer, steerRefresh) with the class names of their selector. */
export function readMoves(records: Buffer, classNames: readonly string[]): Move[] {
  const moves: Move[] = [];
  for (let at = 0; at < records.length; at += MOVE_SIZE) {
    const m = readMove(records, at);
    moves.push({ flow: readTuple(records, at), class: classNames[m.classIndex]!, from: m.from, to: m.to });
  }
  return moves;
}
