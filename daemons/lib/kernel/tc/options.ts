// TCA_OPTIONS of the qdiscs and classes Tern uses — htb, fq_codel, cake,
// tbf, pfifo/bfifo, ingress, clsact — encoded to the kernel's bytes and
// decoded from its dumps into the same shape, so desired and actual compare.
import { TernError } from '../../errors.js';
import { Struct, attr, parseAttrs, read, u32Attr, u64Attr, s32Attr } from './attr.js';

/** Rates are in bit/s here; the kernel keeps bytes/s, so a rate is stored as floor(bps / 8). */
export interface HtbQdiscOptions {
  kind: 'htb';
  /** Minor of the class unclassified packets go to (TCA_HTB_INIT defcls). */
  defaultClass: number;
  /** Divisor from rate to quantum for classes without one (default 10). */
  r2q?: number;
  /** Packets the direct queue holds (unclassified traffic when defaultClass is missing). */
  directQlen?: number;
}

export interface HtbClassOptions {
  kind: 'htb';
  rateBps: number;
  ceilBps: number;
  /** Bytes the class may send at once above its rate (kept by the kernel as a time at rate). */
  burstBytes: number;
  cburstBytes: number;
  /** DRR quantum in bytes between classes of one priority. */
  quantum: number;
  /** 0 (served first) to 7. */
  prio: number;
  /** Bytes added to every packet's length when charging it against rate and ceil. */
  overheadBytes?: number;
  /** Smallest length a packet is charged as. */
  mpu?: number;
}

export interface FqCodelOptions {
  kind: 'fq_codel';
  targetUs?: number;
  intervalUs?: number;
  /** Packets. */
  limit?: number;
  ecn?: boolean;
  flows?: number;
  quantum?: number;
  memoryLimit?: number;
}

export const cakeDiffservModes = ['diffserv3', 'diffserv4', 'diffserv8', 'besteffort', 'precedence'] as const;
export type CakeDiffserv = (typeof cakeDiffservModes)[number];
export const cakeFlowModes = ['flowblind', 'srchost', 'dsthost', 'hosts', 'flows', 'dual-srchost', 'dual-dsthost', 'triple-isolate'] as const;
export type CakeFlowMode = (typeof cakeFlowModes)[number];
export const cakeAckFilters = ['none', 'filter', 'aggressive'] as const;

export interface CakeOptions {
  kind: 'cake';
  /** Shaper rate; 0 = unlimited. */
  bandwidthBps: number;
  diffserv?: CakeDiffserv;
  flowMode?: CakeFlowMode;
  /** Per-packet overhead over the IP packet (cake replaces the Ethernet header with it). */
  overheadBytes?: number;
  mpu?: number;
  /** Look through NAT (conntrack) for the host isolation. */
  nat?: boolean;
  /** Clear DSCP after classifying. */
  wash?: boolean;
  /** Shaping received traffic (on an IFB): count dropped packets against the rate too. */
  ingress?: boolean;
  ackFilter?: (typeof cakeAckFilters)[number];
  rttUs?: number;
  /** Split GSO super-packets so a big one cannot hold up a voice packet. */
  splitGso?: boolean;
  memoryLimit?: number;
}

export interface TbfOptions {
  kind: 'tbf';
  rateBps: number;
  burstBytes: number;
  /** Bytes that may wait in the queue. */
  limitBytes: number;
  overheadBytes?: number;
}

export interface FifoOptions {
  kind: 'bfifo' | 'pfifo';
  /** Bytes for bfifo, packets for pfifo. */
  limit: number;
}

export interface NoOptions {
  kind: 'ingress' | 'clsact';
}

export type QdiscOptions = HtbQdiscOptions | FqCodelOptions | CakeOptions | TbfOptions | FifoOptions | NoOptions;
export type QdiscKind = QdiscOptions['kind'];
export type ClassOptions = HtbClassOptions;

// Attribute numbers from <linux/pkt_sched.h>.
const TCA_HTB_PARMS = 1, TCA_HTB_INIT = 2, TCA_HTB_DIRECT_QLEN = 5, TCA_HTB_RATE64 = 6, TCA_HTB_CEIL64 = 7;
const TC_HTB_PROTOVER = 3;
const TCA_FQ_CODEL = { target: 1, limit: 2, interval: 3, ecn: 4, flows: 5, quantum: 6, memoryLimit: 9 } as const;
const TCA_CAKE = {
  baseRate64: 2, diffservMode: 3, atm: 4, flowMode: 5, overhead: 6, rtt: 7, memory: 10, nat: 11, raw: 12,
  wash: 13, mpu: 14, ingress: 15, ackFilter: 16, splitGso: 17,
} as const;
const TCA_TBF_PARMS = 1, TCA_TBF_RATE64 = 4, TCA_TBF_BURST = 6;
const TC_LINKLAYER_ETHERNET = 1;
/** The kernel's psched tick is 64 ns (PSCHED_SHIFT 6): HTB and tbf buffers travel in ticks. */
const NS_PER_TICK = 64;
const U32_MAX = 0xffffffff;

function bad(what: string, got: unknown, want: string): never {
  throw new TernError('TERN_E_KERNEL_ARG', `kernel: tc ${what}: got ${JSON.stringify(got)}; want ${want}`);
}

function int(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(what, v, `an integer ${min}-${max}`);
  return v;
}

/** A rate in bit/s to the kernel's bytes/s: at least 1 byte/s (a zero rate is refused by every shaper). */
function bytesPerSec(what: string, bps: unknown): number {
  if (typeof bps !== 'number' || !Number.isFinite(bps) || bps < 8 || bps > 8 * 2 ** 50) bad(what, bps, 'a rate of 8 bit/s to 2^53 bit/s');
  return Math.floor(bps / 8);
}

/** Bytes that take the given time at a rate, and back; the kernel stores bursts as times. */
const ticksFor = (bytes: number, rateBytes: number): number => Math.min(U32_MAX, Math.floor((bytes * 1e9) / rateBytes / NS_PER_TICK));
const bytesFor = (ticks: number, rateBytes: number): number => Math.round((ticks * NS_PER_TICK * rateBytes) / 1e9);

/**
 * struct tc_ratespec (12 bytes). linklayer ethernet tells the kernel the
 * rate is exact per byte, so it needs no rate table: HTB and tbf consult
 * TCA_*_RTAB only for linklayer 0 (iproute2 before 3.8), to find ATM cells.
 */
function ratespec(rateBytes: number, overhead = 0, mpu = 0): Buffer {
  return new Struct(12)
    .u8(0, 0) // cell_log: rate tables only
    .u8(1, TC_LINKLAYER_ETHERNET)
    .u16(2, int('overhead', overhead, 0, 0xffff))
    .s16(4, 0)
    .u16(6, int('mpu', mpu, 0, 0xffff))
    .u32(8, Math.min(rateBytes, U32_MAX))
    .buf;
}

interface Ratespec { rateBytes: number; overhead: number; mpu: number; linklayer: number }
const readRatespec = (b: Buffer, off: number): Ratespec => ({
  linklayer: read.u8(b, off + 1) & 0x0f,
  overhead: read.u16(b, off + 2),
  mpu: read.u16(b, off + 6),
  rateBytes: read.u32(b, off + 8),
});

// ---- htb ----------------------------------------------------------------

function encodeHtbQdisc(o: HtbQdiscOptions): Buffer {
  const glob = new Struct(20)
    .u32(0, TC_HTB_PROTOVER)
    .u32(4, int('htb r2q', o.r2q ?? 10, 1, U32_MAX))
    .u32(8, int('htb default class', o.defaultClass, 0, 0xffff))
    .u32(12, 0) // debug
    .u32(16, 0) // direct_pkts: a counter the kernel fills in
    .buf;
  const attrs = [attr(TCA_HTB_INIT, glob)];
  if (o.directQlen !== undefined) attrs.push(u32Attr(TCA_HTB_DIRECT_QLEN, int('htb direct_qlen', o.directQlen, 0, U32_MAX)));
  return Buffer.concat(attrs);
}

function decodeHtbQdisc(buf: Buffer): HtbQdiscOptions {
  const a = parseAttrs(buf);
  const glob = a.get(TCA_HTB_INIT);
  if (!glob || glob.length < 20) throw new RangeError('htb: no TCA_HTB_INIT in the options');
  const out: HtbQdiscOptions = { kind: 'htb', defaultClass: read.u32(glob, 8), r2q: read.u32(glob, 4) };
  const q = a.get(TCA_HTB_DIRECT_QLEN);
  if (q && q.length >= 4) out.directQlen = read.u32(q, 0);
  return out;
}

function encodeHtbClass(o: HtbClassOptions): Buffer {
  const rate = bytesPerSec('htb rate', o.rateBps);
  const ceil = bytesPerSec('htb ceil', o.ceilBps);
  if (ceil < rate) bad('htb ceil', o.ceilBps, `at least the rate ${o.rateBps}`);
  const overhead = o.overheadBytes ?? 0;
  const mpu = o.mpu ?? 0;
  const parms = Buffer.concat([ratespec(rate, overhead, mpu), ratespec(ceil, overhead, mpu), Buffer.alloc(20)]);
  const tail = new Struct(20)
    .u32(0, ticksFor(int('htb burst', o.burstBytes, 1, U32_MAX), rate))
    .u32(4, ticksFor(int('htb cburst', o.cburstBytes, 1, U32_MAX), ceil))
    .u32(8, int('htb quantum', o.quantum, 1, U32_MAX))
    .u32(12, 0) // level: the kernel's to report
    .u32(16, int('htb prio', o.prio, 0, 7))
    .buf;
  tail.copy(parms, 24);
  const attrs = [attr(TCA_HTB_PARMS, parms)];
  // Above 2^32-1 bytes/s (34 Gbit/s) the 32-bit field says ~0 and the real rate rides in RATE64/CEIL64.
  if (rate > U32_MAX) attrs.push(u64Attr(TCA_HTB_RATE64, rate));
  if (ceil > U32_MAX) attrs.push(u64Attr(TCA_HTB_CEIL64, ceil));
  return Buffer.concat(attrs);
}

function decodeHtbClass(buf: Buffer): HtbClassOptions {
  const a = parseAttrs(buf);
  const p = a.get(TCA_HTB_PARMS);
  if (!p || p.length < 44) throw new RangeError('htb class: no TCA_HTB_PARMS in the options');
  const rate = readRatespec(p, 0);
  const ceil = readRatespec(p, 12);
  const r64 = a.get(TCA_HTB_RATE64);
  const c64 = a.get(TCA_HTB_CEIL64);
  const rateBytes = r64 && r64.length >= 8 ? read.u64(r64, 0) : rate.rateBytes;
  const ceilBytes = c64 && c64.length >= 8 ? read.u64(c64, 0) : ceil.rateBytes;
  return {
    kind: 'htb',
    rateBps: rateBytes * 8,
    ceilBps: ceilBytes * 8,
    burstBytes: bytesFor(read.u32(p, 24), rateBytes),
    cburstBytes: bytesFor(read.u32(p, 28), ceilBytes),
    quantum: read.u32(p, 32),
    prio: read.u32(p, 40),
    overheadBytes: rate.overhead,
    mpu: rate.mpu,
  };
}

// ---- fq_codel -------------------------------------------------------------

function encodeFqCodel(o: FqCodelOptions): Buffer {
  const attrs: Buffer[] = [];
  if (o.targetUs !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.target, int('fq_codel target', o.targetUs, 1, U32_MAX)));
  if (o.limit !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.limit, int('fq_codel limit', o.limit, 1, U32_MAX)));
  if (o.intervalUs !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.interval, int('fq_codel interval', o.intervalUs, 1, U32_MAX)));
  if (o.ecn !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.ecn, o.ecn ? 1 : 0));
  if (o.flows !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.flows, int('fq_codel flows', o.flows, 1, 65536)));
  if (o.quantum !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.quantum, int('fq_codel quantum', o.quantum, 1, 1 << 20)));
  if (o.memoryLimit !== undefined) attrs.push(u32Attr(TCA_FQ_CODEL.memoryLimit, int('fq_codel memory_limit', o.memoryLimit, 1, U32_MAX)));
  return Buffer.concat(attrs);
}

function decodeFqCodel(buf: Buffer): FqCodelOptions {
  const a = parseAttrs(buf);
  const u = (t: number): number | undefined => { const b = a.get(t); return b && b.length >= 4 ? read.u32(b, 0) : undefined; };
  const out: FqCodelOptions = { kind: 'fq_codel' };
  const set = <K extends keyof FqCodelOptions>(k: K, v: FqCodelOptions[K] | undefined): void => { if (v !== undefined) out[k] = v; };
  set('targetUs', u(TCA_FQ_CODEL.target));
  set('limit', u(TCA_FQ_CODEL.limit));
  set('intervalUs', u(TCA_FQ_CODEL.interval));
  const ecn = u(TCA_FQ_CODEL.ecn);
  set('ecn', ecn === undefined ? undefined : ecn !== 0);
  set('flows', u(TCA_FQ_CODEL.flows));
  set('quantum', u(TCA_FQ_CODEL.quantum));
  set('memoryLimit', u(TCA_FQ_CODEL.memoryLimit));
  return out;
}

// ---- cake -----------------------------------------------------------------

function indexIn<T extends string>(what: string, list: readonly T[], v: unknown): number {
  const i = list.indexOf(v as T);
  if (i < 0) bad(what, v, `one of ${list.join(', ')}`);
  return i;
}

function encodeCake(o: CakeOptions): Buffer {
  const attrs: Buffer[] = [];
  const rate = o.bandwidthBps === 0 ? 0 : bytesPerSec('cake bandwidth', o.bandwidthBps);
  attrs.push(u64Attr(TCA_CAKE.baseRate64, rate));
  if (o.diffserv !== undefined) attrs.push(u32Attr(TCA_CAKE.diffservMode, indexIn('cake diffserv', cakeDiffservModes, o.diffserv)));
  if (o.flowMode !== undefined) attrs.push(u32Attr(TCA_CAKE.flowMode, indexIn('cake flow mode', cakeFlowModes, o.flowMode)));
  // An overhead switches cake to computing packet sizes itself from the IP length.
  if (o.overheadBytes !== undefined) attrs.push(s32Attr(TCA_CAKE.overhead, int('cake overhead', o.overheadBytes, -64, 256)));
  if (o.mpu !== undefined) attrs.push(u32Attr(TCA_CAKE.mpu, int('cake mpu', o.mpu, 0, 256)));
  if (o.rttUs !== undefined) attrs.push(u32Attr(TCA_CAKE.rtt, int('cake rtt', o.rttUs, 1, U32_MAX)));
  if (o.memoryLimit !== undefined) attrs.push(u32Attr(TCA_CAKE.memory, int('cake memlimit', o.memoryLimit, 1, U32_MAX)));
  if (o.nat !== undefined) attrs.push(u32Attr(TCA_CAKE.nat, o.nat ? 1 : 0));
  if (o.wash !== undefined) attrs.push(u32Attr(TCA_CAKE.wash, o.wash ? 1 : 0));
  if (o.ingress !== undefined) attrs.push(u32Attr(TCA_CAKE.ingress, o.ingress ? 1 : 0));
  if (o.ackFilter !== undefined) attrs.push(u32Attr(TCA_CAKE.ackFilter, indexIn('cake ack-filter', cakeAckFilters, o.ackFilter)));
  if (o.splitGso !== undefined) attrs.push(u32Attr(TCA_CAKE.splitGso, o.splitGso ? 1 : 0));
  return Buffer.concat(attrs);
}

function decodeCake(buf: Buffer): CakeOptions {
  const a = parseAttrs(buf);
  const u = (t: number): number | undefined => { const b = a.get(t); return b && b.length >= 4 ? read.u32(b, 0) : undefined; };
  const rate = a.get(TCA_CAKE.baseRate64);
  const out: CakeOptions = { kind: 'cake', bandwidthBps: rate && rate.length >= 8 ? read.u64(rate, 0) * 8 : 0 };
  const ds = u(TCA_CAKE.diffservMode);
  if (ds !== undefined && cakeDiffservModes[ds]) out.diffserv = cakeDiffservModes[ds];
  const fm = u(TCA_CAKE.flowMode);
  if (fm !== undefined && cakeFlowModes[fm]) out.flowMode = cakeFlowModes[fm];
  // The dump carries OVERHEAD always and RAW only while no overhead is set.
  const oh = a.get(TCA_CAKE.overhead);
  if (oh && oh.length >= 4 && !a.has(TCA_CAKE.raw)) out.overheadBytes = read.s32(oh, 0);
  const flag = (k: 'nat' | 'wash' | 'ingress' | 'splitGso', t: number): void => { const v = u(t); if (v !== undefined) out[k] = v !== 0; };
  flag('nat', TCA_CAKE.nat);
  flag('wash', TCA_CAKE.wash);
  flag('ingress', TCA_CAKE.ingress);
  flag('splitGso', TCA_CAKE.splitGso);
  const mpu = u(TCA_CAKE.mpu);
  if (mpu !== undefined) out.mpu = mpu;
  const rtt = u(TCA_CAKE.rtt);
  if (rtt !== undefined) out.rttUs = rtt;
  const mem = u(TCA_CAKE.memory);
  if (mem !== undefined) out.memoryLimit = mem;
  const ack = u(TCA_CAKE.ackFilter);
  if (ack !== undefined && cakeAckFilters[ack]) out.ackFilter = cakeAckFilters[ack];
  return out;
}

// ---- tbf --------------------------------------------------------------------

function encodeTbf(o: TbfOptions): Buffer {
  const rate = bytesPerSec('tbf rate', o.rateBps);
  const burst = int('tbf burst', o.burstBytes, 1, U32_MAX);
  const parms = Buffer.alloc(36);
  ratespec(rate, o.overheadBytes ?? 0).copy(parms, 0);
  // peakrate stays all zero: no peak rate.
  new Struct(12)
    .u32(0, int('tbf limit', o.limitBytes, 1, U32_MAX))
    .u32(4, ticksFor(burst, rate))
    .u32(8, 0) // mtu: only with a peak rate
    .buf.copy(parms, 24);
  const attrs = [attr(TCA_TBF_PARMS, parms), u32Attr(TCA_TBF_BURST, burst)];
  if (rate > U32_MAX) attrs.push(u64Attr(TCA_TBF_RATE64, rate));
  return Buffer.concat(attrs);
}

function decodeTbf(buf: Buffer): TbfOptions {
  const a = parseAttrs(buf);
  const p = a.get(TCA_TBF_PARMS);
  if (!p || p.length < 36) throw new RangeError('tbf: no TCA_TBF_PARMS in the options');
  const rate = readRatespec(p, 0);
  const r64 = a.get(TCA_TBF_RATE64);
  const rateBytes = r64 && r64.length >= 8 ? read.u64(r64, 0) : rate.rateBytes;
  return {
    kind: 'tbf',
    rateBps: rateBytes * 8,
    limitBytes: read.u32(p, 24),
    burstBytes: bytesFor(read.u32(p, 28), rateBytes),
    overheadBytes: rate.overhead,
  };
}

// ---- fifo -------------------------------------------------------------------

/** pfifo/bfifo take struct tc_fifo_qopt itself as TCA_OPTIONS, not attributes. */
function encodeFifo(o: FifoOptions): Buffer {
  return new Struct(4).u32(0, int(`${o.kind} limit`, o.limit, 1, U32_MAX)).buf;
}

function decodeFifo(kind: 'bfifo' | 'pfifo', buf: Buffer): FifoOptions {
  if (buf.length < 4) throw new RangeError(`${kind}: options shorter than struct tc_fifo_qopt`);
  return { kind, limit: read.u32(buf, 0) };
}

// ---- dispatch -----------------------------------------------------------------

/** TCA_OPTIONS for a qdisc; undefined for kinds that take none. */
export function encodeQdiscOptions(o: QdiscOptions): Buffer | undefined {
  switch (o?.kind) {
    case 'htb': return encodeHtbQdisc(o);
    case 'fq_codel': return encodeFqCodel(o);
    case 'cake': return encodeCake(o);
    case 'tbf': return encodeTbf(o);
    case 'bfifo': case 'pfifo': return encodeFifo(o);
    case 'ingress': case 'clsact': return undefined;
    default: return bad('qdisc kind', (o as { kind?: unknown } | undefined)?.kind, 'htb, fq_codel, cake, tbf, bfifo, pfifo, ingress or clsact');
  }
}

/** The qdisc options of a dump, or null for kinds this module does not read (mq, noqueue...). */
export function decodeQdiscOptions(kind: string, buf: Buffer | undefined): QdiscOptions | null {
  if (kind === 'ingress' || kind === 'clsact') return { kind };
  if (!buf) return null;
  switch (kind) {
    case 'htb': return decodeHtbQdisc(buf);
    case 'fq_codel': return decodeFqCodel(buf);
    case 'cake': return decodeCake(buf);
    case 'tbf': return decodeTbf(buf);
    case 'bfifo': case 'pfifo': return decodeFifo(kind, buf);
    default: return null;
  }
}

/** TCA_OPTIONS for a class (HTB only). */
export function encodeClassOptions(o: ClassOptions): Buffer {
  if (o?.kind !== 'htb') bad('class kind', (o as { kind?: unknown } | undefined)?.kind, 'htb');
  return encodeHtbClass(o);
}

export function decodeClassOptions(kind: string, buf: Buffer | undefined): ClassOptions | null {
  return kind === 'htb' && buf ? decodeHtbClass(buf) : null;
}

/**
 * What the kernel will report back for these options: the same encoding
 * and decoding a dump goes through, so rounding (bytes/s, ticks) matches.
 */
export function normalizeQdiscOptions(o: QdiscOptions): QdiscOptions {
  return decodeQdiscOptions(o.kind, encodeQdiscOptions(o)) ?? o;
}

export function normalizeClassOptions(o: ClassOptions): ClassOptions {
  return decodeClassOptions(o.kind, encodeClassOptions(o)) ?? o;
}

/**
 * True when actual already has every option desired sets (after the
 * kernel's rounding); options desired leaves out may be anything.
 */
export function optionsMatch<T extends { kind: string }>(desired: T, actual: object | null, normalize: (o: T) => T): boolean {
  const got = actual as Record<string, unknown> | null;
  if (!got || got.kind !== desired.kind) return false;
  const want = normalize(desired) as Record<string, unknown>;
  for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
    if (v === undefined) continue;
    if (want[k] !== got[k]) return false;
  }
  return true;
}

