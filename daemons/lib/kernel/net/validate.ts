// Checks on what Tern asks of the kernel, made before anything is sent, so a
// bad argument fails with a message naming it rather than a bare EINVAL.
import { TernError } from '../../errors.js';

/** IFNAMSIZ is 16 including the terminating NUL. */
export const IFNAME_MAX = 15;

const U32_MAX = 0xffffffff;

function fail(what: string, got: unknown, want: string): never {
  throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${what}: got ${JSON.stringify(got)}; want ${want}`);
}

/**
 * An interface name the kernel accepts (dev_valid_name): 1-15 bytes, not
 * '.' or '..', no '/', ':', whitespace or control characters.
 */
export function checkIfname(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) fail('interface name', name, 'a non-empty string');
  if (Buffer.byteLength(name) > IFNAME_MAX) fail('interface name', name, `at most ${IFNAME_MAX} bytes`);
  // Printable ASCII only: the kernel would take UTF-8, but such names break ip(8) output and logs.
  if (name === '.' || name === '..' || !/^[\x21-\x7e]+$/.test(name) || /[/:]/.test(name)) {
    fail('interface name', name, "printable characters other than '/' and ':', not '.' or '..'");
  }
  return name;
}

/** An integer in [min, max]. */
export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(what, v, `an integer ${min}-${max}`);
  return v;
}

/** A u32 (fwmark, mask, metric). */
export const checkU32 = (what: string, v: unknown): number => checkInt(what, v, 0, U32_MAX);

/**
 * A routing table id: 1 to 2^32-1. Table 0 (RT_TABLE_UNSPEC) would make
 * the kernel pick main for a route and "any table" for a rule, which is
 * never what a caller naming a table means.
 */
export const checkTable = (v: unknown): number => checkInt('routing table', v, 1, U32_MAX);

/**
 * A rule priority: 1 to 2^32-1. Priority 0 holds the kernel's `lookup
 * local` rule; a Tern rule placed there would run before local delivery.
 */
export const checkRulePriority = (v: unknown): number => checkInt('rule priority', v, 1, U32_MAX);

/** An MTU the kernel can take on any link type Tern uses (IPv4 minimum 68). */
export const checkMtu = (v: unknown): number => checkInt('mtu', v, 68, 65535);

/** A UDP port; 0 lets WireGuard choose. */
export const checkPort = (what: string, v: unknown): number => checkInt(what, v, 0, 65535);
