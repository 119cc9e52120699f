// tc handles: 32-bit major:minor numbers naming qdiscs and classes, written
// the way tc(8) prints them (hex, "7471:11", "root", "ffff:").
import { TernError } from '../../errors.js';

/** TC_H_ROOT: the parent of a device's root qdisc. */
export const TC_H_ROOT = 0xffffffff;
/** TC_H_INGRESS (= TC_H_CLSACT): the parent of the ingress/clsact qdisc. */
export const TC_H_INGRESS = 0xfffffff1;
/** The handle the ingress qdisc always has (ffff:). */
export const INGRESS_HANDLE = 0xffff0000;
export const TC_H_UNSPEC = 0;

/** major:minor as a u32 handle; both 0-0xffff. */
export function tcHandle(major: number, minor = 0): number {
  for (const [what, v] of [['major', major], ['minor', minor]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
      throw new TernError('TERN_E_KERNEL_ARG', `kernel: tc handle: got ${what} ${JSON.stringify(v)}; want an integer 0-0xffff`);
    }
  }
  return ((major << 16) | minor) >>> 0;
}

export const majorOf = (h: number): number => (h >>> 16) & 0xffff;
export const minorOf = (h: number): number => h & 0xffff;

/** A handle as tc prints it: "root", "ingress", "7471:" (qdisc) or "7471:11" (class). */
export function formatHandle(h: number): string {
  if (h === TC_H_ROOT) return 'root';
  if (h === TC_H_INGRESS) return 'ingress';
  if (h === TC_H_UNSPEC) return 'none';
  const min = minorOf(h);
  return `${majorOf(h).toString(16)}:${min ? min.toString(16) : ''}`;
}

/** Parses "7471:11", "7471:", "root", "ingress" (hex numbers, as tc takes them). */
export function parseHandle(s: string): number {
  if (s === 'root') return TC_H_ROOT;
  if (s === 'ingress') return TC_H_INGRESS;
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{0,4})$/i.exec(s);
  if (!m) throw new TernError('TERN_E_KERNEL_ARG', `kernel: tc handle: got ${JSON.stringify(s)}; want major:minor in hex (e.g. 7471:11), root or ingress`);
  return tcHandle(parseInt(m[1]!, 16), m[2] ? parseInt(m[2], 16) : 0);
}

/** A u32 filter handle as tc prints it: htid:hash:node, e.g. "800::1". */
export function formatU32Handle(h: number): string {
  const ht = (h >>> 20) & 0xfff;
  const hash = (h >>> 12) & 0xff;
  const node = h & 0xfff;
  return `${ht.toString(16)}:${hash ? hash.toString(16) : ''}:${node ? node.toString(16) : ''}`;
}

/**
 * The u32 filter handle to ask for node n of a priority's root hash table.
 * The hash table id is left 0 for the kernel to fill in: the first u32
 * priority on a qdisc gets table 800:, later ones other ids, and a request
 * naming the wrong table is refused (EINVAL).
 */
export function u32Node(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 0xfff) {
    throw new TernError('TERN_E_KERNEL_ARG', `kernel: u32 filter handle: got node ${JSON.stringify(n)}; want an integer 1-0xfff`);
  }
  return n;
}

/** The node number of a u32 handle (its low 12 bits). */
export const u32NodeOf = (h: number): number => h & 0xfff;
