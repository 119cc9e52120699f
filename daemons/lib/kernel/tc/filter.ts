// tc filters Tern uses: u32 (a selector of 32-bit key words, e.g. the TOS
// byte) with a class id and/or actions (mirred: redirect to an IFB),
// encoded to the kernel's bytes and decoded from its dumps.
import os from 'node:os';
import { TernError } from '../../errors.js';
import { Struct, attr, attrString, nest, parseAttrs, read, stringAttr, u32Attr } from './attr.js';
import { parseStats2, type TcStats } from './stats.js';

/** One 32-bit match: (word at offset & mask) == value, offset from the network header. */
export interface U32Key {
  /** The word as it appears on the wire, read big-endian. */
  value: number;
  mask: number;
  /** Byte offset from the start of the network header; a multiple of 4. */
  offset: number;
}

export interface MirredAction {
  kind: 'mirred';
  /** redirect takes the packet (tc's default 'stolen'); mirror sends a copy. */
  mode: 'redirect' | 'mirror';
  /** Which path of the target device the packet enters. */
  direction: 'egress' | 'ingress';
  ifindex: number;
}

export type TcAction = MirredAction;

export interface U32Options {
  kind: 'u32';
  keys: U32Key[];
  /** The class a match goes to (flowid). */
  classid?: number;
  actions?: TcAction[];
}

/** An action as read back, with its hit counters. */
export type TcActionInfo = (TcAction | { kind: string }) & { stats: TcStats | null };

export interface U32Info {
  kind: 'u32';
  keys: U32Key[];
  classid: number | null;
  actions: TcActionInfo[];
  /** Set on the hash table entries a dump lists besides the filters (no keys). */
  divisor: number | null;
}

export type FilterOptions = U32Options;

export const ETH_P = { all: 0x0003, ip: 0x0800, ipv6: 0x86dd } as const;
export type FilterProtocol = keyof typeof ETH_P;

const le = os.endianness() === 'LE';
const swap16 = (v: number): number => ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
/** htons: the protocol travels in tcm_info in network byte order. */
const htons = (v: number): number => (le ? swap16(v) : v);

/** tcm_info of a filter: TC_H_MAKE(prio << 16, htons(protocol)). */
export function filterInfo(prio: number, protocol: FilterProtocol): number {
  if (!Number.isInteger(prio) || prio < 1 || prio > 0xffff) {
    throw new TernError('TERN_E_KERNEL_ARG', `kernel: tc filter: got prio ${JSON.stringify(prio)}; want an integer 1-65535`);
  }
  const p = ETH_P[protocol];
  if (p === undefined) throw new TernError('TERN_E_KERNEL_ARG', `kernel: tc filter: got protocol ${JSON.stringify(protocol)}; want one of ${Object.keys(ETH_P).join(', ')}`);
  return ((prio << 16) | htons(p)) >>> 0;
}

/** The prio and protocol back out of tcm_info; protocol is the EtherType number. */
export function parseFilterInfo(info: number): { prio: number; protocol: number } {
  return { prio: (info >>> 16) & 0xffff, protocol: htons(info & 0xffff) };
}

export const protocolName = (p: number): string =>
  (Object.entries(ETH_P).find(([, v]) => v === p)?.[0]) ?? `0x${p.toString(16).padStart(4, '0')}`;

/** Keys matching a DSCP value: IPv4's TOS byte or IPv6's traffic class, ECN bits ignored. */
export function dscpKey(family: 4 | 6, dscp: number): U32Key {
  if (!Number.isInteger(dscp) || dscp < 0 || dscp > 63) {
    throw new TernError('TERN_E_KERNEL_ARG', `kernel: u32 dscp match: got ${JSON.stringify(dscp)}; want an integer 0-63`);
  }
  // IPv4 word 0: version/IHL, TOS, total length. IPv6 word 0: version(4), traffic class(8), flow label(20).
  return family === 4
    ? { offset: 0, mask: 0x00fc0000, value: (dscp << 18) >>> 0 }
    : { offset: 0, mask: 0x0fc00000, value: (dscp << 22) >>> 0 };
}

/** The key tc writes for `match u32 0 0`: every packet. */
export const matchAll: U32Key = { offset: 0, mask: 0, value: 0 };

// <linux/pkt_cls.h>, <linux/tc_act/tc_mirred.h>
const TCA_U32_CLASSID = 1, TCA_U32_DIVISOR = 4, TCA_U32_SEL = 5, TCA_U32_ACT = 7;
const TCA_ACT_KIND = 1, TCA_ACT_OPTIONS = 2, TCA_ACT_STATS = 4;
const TCA_MIRRED_PARMS = 2;
const TC_U32_TERMINAL = 1;
const TC_ACT_PIPE = 3, TC_ACT_STOLEN = 4;
const MIRRED_EACTION = { 'egress/redirect': 1, 'egress/mirror': 2, 'ingress/redirect': 3, 'ingress/mirror': 4 } as const;
const SEL_SIZE = 16, KEY_SIZE = 16, MIRRED_SIZE = 28;

function bad(what: string, got: unknown, want: string): never {
  throw new TernError('TERN_E_KERNEL_ARG', `kernel: u32 filter: ${what}: got ${JSON.stringify(got)}; want ${want}`);
}

/** struct tc_u32_sel followed by its keys. */
function encodeSel(keys: U32Key[], terminal: boolean): Buffer {
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > 128) bad('keys', keys?.length, '1-128 keys');
  const s = new Struct(SEL_SIZE + KEY_SIZE * keys.length);
  // flags, offshift, nkeys; offmask, off, offoff, hoff, hmask stay 0 (no variable offsets, no hashing).
  s.u8(0, terminal ? TC_U32_TERMINAL : 0).u8(2, keys.length);
  keys.forEach((k, i) => {
    const o = SEL_SIZE + KEY_SIZE * i;
    for (const [f, v] of [['mask', k?.mask], ['value', k?.value]] as const) {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff) bad(`key ${i} ${f}`, v, 'a u32');
    }
    if (!Number.isInteger(k.offset) || k.offset < 0 || k.offset > 0x7ff8 || k.offset % 4 !== 0) bad(`key ${i} offset`, k.offset, 'a multiple of 4, 0-32760');
    // tc keeps only the bits the mask looks at.
    s.be32(o, k.mask).be32(o + 4, (k.value & k.mask) >>> 0).s32(o + 8, k.offset).s32(o + 12, 0);
  });
  return s.buf;
}

function encodeAction(a: TcAction, order: number): Buffer {
  if (a?.kind !== 'mirred') bad(`action ${order}`, (a as { kind?: unknown } | undefined)?.kind, 'mirred');
  const eaction = MIRRED_EACTION[`${a.direction}/${a.mode}` as keyof typeof MIRRED_EACTION];
  if (!eaction) bad(`action ${order}`, `${a.direction} ${a.mode}`, 'egress|ingress and redirect|mirror');
  if (!Number.isInteger(a.ifindex) || a.ifindex < 1 || a.ifindex > 0x7fffffff) bad(`action ${order} ifindex`, a.ifindex, 'a positive interface index');
  const parms = new Struct(MIRRED_SIZE)
    .u32(0, 0) // index: 0 = a new action instance
    .u32(4, 0) // capab
    .s32(8, a.mode === 'redirect' ? TC_ACT_STOLEN : TC_ACT_PIPE)
    .s32(12, 0) // refcnt
    .s32(16, 0) // bindcnt
    .s32(20, eaction)
    .u32(24, a.ifindex)
    .buf;
  return nest(order, [stringAttr(TCA_ACT_KIND, 'mirred'), nest(TCA_ACT_OPTIONS, [attr(TCA_MIRRED_PARMS, parms)])]);
}

/** TCA_OPTIONS of a u32 filter. */
export function encodeFilterOptions(o: FilterOptions): Buffer {
  if (o?.kind !== 'u32') bad('kind', (o as { kind?: unknown } | undefined)?.kind, 'u32');
  const actions = o.actions ?? [];
  if (o.classid === undefined && actions.length === 0) bad('result', 'neither classid nor actions', 'a classid, actions or both');
  const parts: Buffer[] = [];
  if (o.classid !== undefined) {
    if (!Number.isInteger(o.classid) || o.classid < 1 || o.classid > 0xffffffff) bad('classid', o.classid, 'a class handle');
    parts.push(u32Attr(TCA_U32_CLASSID, o.classid));
  }
  // TERMINAL: a match ends classification with this node's result.
  parts.push(attr(TCA_U32_SEL, encodeSel(o.keys, true)));
  if (actions.length > 0) parts.push(nest(TCA_U32_ACT, actions.map((a, i) => encodeAction(a, i + 1))));
  return Buffer.concat(parts);
}

function decodeAction(buf: Buffer): TcActionInfo {
  const a = parseAttrs(buf);
  const kind = attrString(a.get(TCA_ACT_KIND) ?? Buffer.alloc(0));
  const stats = parseStats2(a.get(TCA_ACT_STATS));
  if (kind === 'mirred') {
    const opts = parseAttrs(a.get(TCA_ACT_OPTIONS) ?? Buffer.alloc(0));
    const p = opts.get(TCA_MIRRED_PARMS);
    if (p && p.length >= MIRRED_SIZE) {
      const e = read.s32(p, 20);
      const name = Object.entries(MIRRED_EACTION).find(([, v]) => v === e)?.[0];
      if (name) {
        const [direction, mode] = name.split('/') as ['egress' | 'ingress', 'redirect' | 'mirror'];
        return { kind: 'mirred', mode, direction, ifindex: read.u32(p, 24), stats };
      }
    }
  }
  return { kind, stats };
}

/** The u32 options of a dump entry. */
export function decodeFilterOptions(kind: string, buf: Buffer | undefined): U32Info | null {
  if (kind !== 'u32' || !buf) return null;
  const a = parseAttrs(buf);
  const out: U32Info = { kind: 'u32', keys: [], classid: null, actions: [], divisor: null };
  const div = a.get(TCA_U32_DIVISOR);
  if (div && div.length >= 4) out.divisor = read.u32(div, 0);
  const cls = a.get(TCA_U32_CLASSID);
  if (cls && cls.length >= 4) out.classid = read.u32(cls, 0);
  const sel = a.get(TCA_U32_SEL);
  if (sel && sel.length >= SEL_SIZE) {
    const n = read.u8(sel, 2);
    for (let i = 0; i < n && SEL_SIZE + KEY_SIZE * (i + 1) <= sel.length; i++) {
      const o = SEL_SIZE + KEY_SIZE * i;
      out.keys.push({ mask: read.be32(sel, o), value: read.be32(sel, o + 4), offset: read.s32(sel, o + 8) });
    }
  }
  const acts = a.get(TCA_U32_ACT);
  if (acts) {
    const byOrder = [...parseAttrs(acts).entries()].sort((x, y) => x[0] - y[0]);
    for (const [, b] of byOrder) out.actions.push(decodeAction(b));
  }
  return out;
}

/** True when a dumped u32 entry does what the desired options say (keys, class, actions). */
export function filterMatches(desired: U32Options, actual: U32Info | null): boolean {
  if (!actual || actual.divisor !== null) return false;
  const keys = desired.keys.map((k) => ({ mask: k.mask >>> 0, value: (k.value & k.mask) >>> 0, offset: k.offset }));
  if (keys.length !== actual.keys.length || keys.some((k, i) => {
    const g = actual.keys[i]!;
    return g.mask !== k.mask || g.value !== k.value || g.offset !== k.offset;
  })) return false;
  if ((desired.classid ?? null) !== actual.classid) return false;
  const acts = desired.actions ?? [];
  if (acts.length !== actual.actions.length) return false;
  return acts.every((w, i) => {
    const g = actual.actions[i] as Partial<MirredAction>;
    return g.kind === w.kind && g.mode === w.mode && g.direction === w.direction && g.ifindex === w.ifindex;
  });
}
