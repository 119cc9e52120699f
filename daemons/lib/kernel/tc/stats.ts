// Counters of qdiscs, classes and actions from TCA_STATS2 (gnet_stats):
// bytes and packets sent, drops, overlimits, what waits in the queue.
import { parseAttrs, read } from './attr.js';

export interface TcStats {
  bytes: number;
  packets: number;
  drops: number;
  overlimits: number;
  requeues: number;
  /** Bytes waiting in the queue now. */
  backlog: number;
  /** Packets waiting in the queue now. */
  qlen: number;
}

const TCA_STATS_BASIC = 1, TCA_STATS_QUEUE = 3, TCA_STATS_PKT64 = 8;

/** Parses a TCA_STATS2 (or TCA_ACT_STATS) payload; null when it holds no basic counters. */
export function parseStats2(buf: Buffer | undefined): TcStats | null {
  if (!buf) return null;
  const a = parseAttrs(buf);
  const basic = a.get(TCA_STATS_BASIC);
  if (!basic || basic.length < 12) return null;
  const out: TcStats = { bytes: read.u64(basic, 0), packets: read.u32(basic, 8), drops: 0, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 };
  // Past 2^32 packets the kernel adds the full count in TCA_STATS_PKT64.
  const p64 = a.get(TCA_STATS_PKT64);
  if (p64 && p64.length >= 8) out.packets = read.u64(p64, 0);
  const q = a.get(TCA_STATS_QUEUE);
  if (q && q.length >= 20) {
    out.qlen = read.u32(q, 0);
    out.backlog = read.u32(q, 4);
    out.drops = read.u32(q, 8);
    out.requeues = read.u32(q, 12);
    out.overlimits = read.u32(q, 16);
  }
  return out;
}

/** One cake tin's counters (cake's diffserv tins, in the order cake lists them). */
export interface CakeTinStats {
  bytes: number;
  packets: number;
  drops: number;
  ecnMarks: number;
  backlog: number;
  /** Average delay of the tin's queue (µs). */
  avgDelayUs: number;
}

const TCA_STATS_APP = 4;
const TCA_CAKE_STATS_TIN_STATS = 10;
const TIN = { packets: 2, bytes: 3, drops: 4, ecnMarks: 8, backlog: 11, avgDelayUs: 19 } as const;

/**
 * Cake's per-tin counters: TCA_STATS2 → TCA_STATS_APP → TIN_STATS → one
 * nest per tin (1..n). Empty when the stats hold none (not cake).
 */
export function parseCakeTins(stats2: Buffer | undefined): CakeTinStats[] {
  if (!stats2) return [];
  const app = parseAttrs(stats2).get(TCA_STATS_APP);
  const tins = app ? parseAttrs(app).get(TCA_CAKE_STATS_TIN_STATS) : undefined;
  if (!tins) return [];
  return [...parseAttrs(tins).entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => {
    const t = parseAttrs(b);
    const u32 = (k: number): number => { const v = t.get(k); return v && v.length >= 4 ? read.u32(v, 0) : 0; };
    const u64 = (k: number): number => { const v = t.get(k); return v && v.length >= 8 ? read.u64(v, 0) : 0; };
    return { bytes: u64(TIN.bytes), packets: u32(TIN.packets), drops: u32(TIN.drops), ecnMarks: u32(TIN.ecnMarks), backlog: u32(TIN.backlog), avgDelayUs: u32(TIN.avgDelayUs) };
  });
}
