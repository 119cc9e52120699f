// The STAMP Session-Reflector in stateful mode (RFC 8762 §4.3): it keeps its
// own sequence counter per sender, so the sender can split loss into forward
// and reverse (see session.ts). Pure logic: the daemon hands it each datagram
// with where and when it came from, and sends back whatever bytes it returns.
//
// It is reachable from the internet on every WAN, so it is built not to be
// abused: the reply is never longer than the request (no amplification), it
// never answers another reflector's port or a packet that is itself a reply
// (no reflection loops), and senders that are not known peers are
// rate-limited per source address and in total.
import net from 'node:net';
import { systemClock, type Clock } from '../lib/clock/index.js';
import {
  STAMP_PORT, TERN_ERROR_ESTIMATE, decodeReflectorPacket, decodeSenderPacket, encodeErrorEstimate, msToTimestamp,
  type ErrorEstimate,
} from './stamp.js';
import { checkNumber } from '../lib/history/validate.js';

export interface ReflectorOptions {
  clock?: Clock;
  /** Sources served at full rate (the other sites' tunnel addresses); default none. */
  isKnownPeer?: (address: string) => boolean;
  /** The reflector's own UDP port; packets from this port are another reflector's replies. Default 862. */
  port?: number;
  /** Per-address rate for unknown senders, packets/s (default 5) and burst (default 10). */
  unknownRatePerSec?: number;
  unknownBurst?: number;
  /** Rate for all unknown senders together, so spoofed source addresses cannot multiply the budget (default 100/s, burst 200). */
  unknownTotalRatePerSec?: number;
  unknownTotalBurst?: number;
  /** How many per-address buckets to keep; least recently used go first (default 4096). */
  maxUnknownSources?: number;
  /** How many sender sessions (address:port[:local] counters) to keep; least recently used go first (default 4096). */
  maxSessions?: number;
  /** A session idle this long starts again at 0 (default 60 s). */
  sessionIdleMs?: number;
  /** Largest request answered; default 9216 (the largest WAN MTU the config allows). */
  maxPacketBytes?: number;
  /** MBZ handling for requests, see stamp.ts DecodeOptions (default 'reject'). */
  mbz?: 'reject' | 'ignore';
  /** Error estimate put in replies (default: unsynchronised NTP clock). */
  errorEstimate?: ErrorEstimate;
}

export interface ReflectInput {
  bytes: Uint8Array;
  from: { address: string; port: number };
  /**
   * Where it arrived (local address or interface). Part of the session key:
   * a sender using one socket for several paths still gets one counter per
   * path, as long as the paths end on different local addresses or
   * interfaces. Give every path session its own source port regardless.
   */
  local?: string;
  /**
   * Wall-clock ms (fractions welcome) when the datagram was received: T2.
   * Read it from the same clock as the reflector's (T3 = clock.now()), or the
   * processing time T3 − T2 mixes two clocks.
   */
  rxTimeMs: number;
  /** TTL or Hop Limit of the received packet; undefined when the socket could not read it. */
  ttl?: number;
}

/** Why a datagram got no reply. */
export type ReflectDrop = 'malformed' | 'rate-limited' | 'foreign';

export type ReflectResult =
  | { ok: true; reply: Uint8Array; reflectorSeq: number }
  | { ok: false; reason: ReflectDrop; detail: string };

export interface ReflectorCounters {
  received: number;
  replied: number;
  /** Not a valid Session-Sender test packet (length, MBZ, error estimate). */
  malformed: number;
  /** An unknown sender over its budget. */
  rateLimited: number;
  /** Not for us: a reflector's reply, or a source that must not be answered (port 0, the STAMP port, bad address). */
  foreign: number;
}

interface Bucket { tokens: number; at: number }
interface Session { counter: number; lastSeen: number }

/** A stateful STAMP reflector. reflect() never throws on anything the network sends. */
export class Reflector {
  private readonly clock: Clock;
  private readonly isKnownPeer: (address: string) => boolean;
  private readonly port: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly totalRate: number;
  private readonly totalBurst: number;
  private readonly maxSources: number;
  private readonly maxSessions: number;
  private readonly idleMs: number;
  private readonly maxBytes: number;
  private readonly mbz: 'reject' | 'ignore';
  private readonly errorEstimateWord: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly sessions = new Map<string, Session>();
  private total: Bucket;
  private readonly stats: ReflectorCounters = { received: 0, replied: 0, malformed: 0, rateLimited: 0, foreign: 0 };

  constructor(opts: ReflectorOptions = {}) {
    const w = 'reflector: new';
    this.clock = opts.clock ?? systemClock;
    this.isKnownPeer = opts.isKnownPeer ?? (() => false);
    this.port = checkNumber(w, 'port', opts.port ?? STAMP_PORT, { integer: true, min: 1, max: 65535 });
    this.rate = checkNumber(w, 'unknownRatePerSec', opts.unknownRatePerSec ?? 5, { above: 0 });
    this.burst = checkNumber(w, 'unknownBurst', opts.unknownBurst ?? 10, { min: 1 });
    this.totalRate = checkNumber(w, 'unknownTotalRatePerSec', opts.unknownTotalRatePerSec ?? 100, { above: 0 });
    this.totalBurst = checkNumber(w, 'unknownTotalBurst', opts.unknownTotalBurst ?? 200, { min: 1 });
    this.maxSources = checkNumber(w, 'maxUnknownSources', opts.maxUnknownSources ?? 4096, { integer: true, min: 1 });
    this.maxSessions = checkNumber(w, 'maxSessions', opts.maxSessions ?? 4096, { integer: true, min: 1 });
    this.idleMs = checkNumber(w, 'sessionIdleMs', opts.sessionIdleMs ?? 60_000, { above: 0 });
    this.maxBytes = checkNumber(w, 'maxPacketBytes', opts.maxPacketBytes ?? 9216, { integer: true, min: 44, max: 65507 });
    this.mbz = opts.mbz ?? 'reject';
    this.errorEstimateWord = encodeErrorEstimate(opts.errorEstimate ?? TERN_ERROR_ESTIMATE);
    this.total = { tokens: this.totalBurst, at: this.clock.monotonic() };
  }

  /** Counters since creation (a copy). */
  counters(): ReflectorCounters {
    return { ...this.stats };
  }

  /** How many sender sessions and rate-limit buckets are held (bounded by the options). */
  tableSizes(): { sessions: number; buckets: number } {
    return { sessions: this.sessions.size, buckets: this.buckets.size };
  }

  /** Answer one datagram: the reply bytes, or why there is none. */
  reflect(input: ReflectInput): ReflectResult {
    this.stats.received++;
    const { bytes, from } = input;
    if (!from || typeof from.address !== 'string' || net.isIP(from.address) === 0) {
      return this.drop('foreign', `source address ${String(from?.address)} is not an IP address`);
    }
    if (!Number.isInteger(from.port) || from.port < 1 || from.port > 65535 || from.port === this.port) {
      // Answering the STAMP port would let a spoofed packet set two
      // reflectors answering each other forever.
      return this.drop('foreign', `source port ${from.port} must not be answered`);
    }
    if (!(bytes instanceof Uint8Array) || bytes.length > this.maxBytes) {
      return this.drop('malformed', `length ${bytes?.length}; want at most ${this.maxBytes}`);
    }
    const req = decodeSenderPacket(bytes, { mbz: this.mbz });
    if (!req.ok) {
      if (req.reason === 'mbz-nonzero' && decodeReflectorPacket(bytes).ok) {
        return this.drop('foreign', 'a Session-Reflector packet (a reply), not a test packet');
      }
      return this.drop('malformed', `${req.reason}: ${req.detail}`);
    }
    const now = this.clock.monotonic();
    if (!this.isKnownPeer(from.address) && !this.admit(from.address, now)) {
      return this.drop('rate-limited', `unknown sender ${from.address} over ${this.rate}/s`);
    }
    const seq = this.nextSeq(`${from.address}|${from.port}|${input.local ?? ''}`, now);
    const rx = Number.isFinite(input.rxTimeMs) ? input.rxTimeMs : this.clock.now();
    const ttl = Number.isInteger(input.ttl) && input.ttl! >= 1 && input.ttl! <= 255 ? input.ttl! : 0;
    // Same length as the request (symmetric size, RFC 8762 §4.3) and never
    // longer. Octets past 44 are zero: we do not echo what a stranger wrote.
    const reply = new Uint8Array(bytes.length);
    const v = new DataView(reply.buffer);
    const t2 = msToTimestamp(rx);
    const t3 = msToTimestamp(Math.max(rx, this.clock.now()));
    v.setUint32(0, seq);
    v.setUint32(4, t3.seconds);
    v.setUint32(8, t3.fraction);
    v.setUint16(12, this.errorEstimateWord);
    v.setUint32(16, t2.seconds);
    v.setUint32(20, t2.fraction);
    reply.set(bytes.subarray(0, 4), 24);   // Session-Sender Sequence Number
    reply.set(bytes.subarray(4, 12), 28);  // Session-Sender Timestamp
    reply.set(bytes.subarray(12, 14), 36); // Session-Sender Error Estimate
    v.setUint8(40, ttl);
    this.stats.replied++;
    return { ok: true, reply, reflectorSeq: seq };
  }

  private drop(reason: ReflectDrop, detail: string): ReflectResult {
    if (reason === 'malformed') this.stats.malformed++;
    else if (reason === 'rate-limited') this.stats.rateLimited++;
    else this.stats.foreign++;
    return { ok: false, reason, detail };
  }

  /** Per-address token bucket, then the shared one; a bucket is charged only when both allow. */
  private admit(address: string, now: number): boolean {
    let b = this.buckets.get(address);
    if (b) {
      this.buckets.delete(address); // re-insert: Map order is our LRU order
    } else {
      b = { tokens: this.burst, at: now };
      if (this.buckets.size >= this.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(address, b);
    refill(b, now, this.rate, this.burst);
    refill(this.total, now, this.totalRate, this.totalBurst);
    if (b.tokens < 1 || this.total.tokens < 1) return false;
    b.tokens -= 1;
    this.total.tokens -= 1;
    return true;
  }

  /** The reply's sequence number: packets received from this sender before this one (RFC 8762 §4.3.1 stateful mode). */
  private nextSeq(key: string, now: number): number {
    let s = this.sessions.get(key);
    if (s) {
      this.sessions.delete(key);
      if (now - s.lastSeen > this.idleMs) s.counter = 0;
    } else {
      s = { counter: 0, lastSeen: now };
      if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    }
    this.sessions.set(key, s);
    s.lastSeen = now;
    const seq = s.counter;
    s.counter = (s.counter + 1) >>> 0;
    return seq;
  }
}

function refill(b: Bucket, now: number, rate: number, burst: number): void {
  if (now > b.at) {
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
  }
}
