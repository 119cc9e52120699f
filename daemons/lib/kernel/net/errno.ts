// Turns what the netlink library throws into TernErrors that name the
// operation, the object and the kernel's errno (EEXIST, ENODEV, EPERM...).
import os from 'node:os';
import { TernError, type ErrorCode } from '../../errors.js';

const byNumber = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n, name] as [number, string]),
);
// Linux has one number for both; EOPNOTSUPP is the name netlink code uses.
byNumber.set(os.constants.errno.EOPNOTSUPP, 'EOPNOTSUPP');

/** The errno name of a (positive or negative) errno number, e.g. 17 → EEXIST. */
export function errnoName(n: number): string {
  return byNumber.get(Math.abs(n)) ?? `errno ${Math.abs(n)}`;
}

const words: Record<string, string> = {
  EEXIST: 'already exists',
  ENODEV: 'no such interface',
  ENOENT: 'no such object',
  ESRCH: 'no such object',
  EPERM: 'operation not permitted (needs CAP_NET_ADMIN)',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  ENETUNREACH: 'network unreachable (gateway not on a connected prefix)',
  EOPNOTSUPP: 'not supported by this kernel',
  EADDRNOTAVAIL: 'address not available',
  EBUSY: 'busy',
  ERANGE: 'value out of range',
  ETIMEDOUT: 'no reply from the kernel',
  ENOBUFS: 'kernel buffer full',
};

/** A short human meaning of an errno name. */
export const errnoText = (name: string): string => words[name] ?? name.toLowerCase();

/**
 * The errno name carried by an error from the netlink package: its
 * rejections read `Request rejected: EEXIST` (or a bare number when Node has
 * no name for it), socket failures carry `code`, and timeouts are plain text.
 */
export function netlinkErrno(err: unknown): string | undefined {
  if (err instanceof TernError) {
    const e = err.details?.errno;
    return typeof e === 'string' ? e : undefined;
  }
  if (!(err instanceof Error)) return undefined;
  const m = /^Request rejected: (-?[0-9]+|E[A-Z0-9]+)$/.exec(err.message);
  if (m) {
    const v = m[1] as string;
    if (/^-?[0-9]+$/.test(v)) return errnoName(Number(v));
    return v === 'ENOTSUP' ? 'EOPNOTSUPP' : v;
  }
  if (err.message === 'Timeout has been reached') return 'ETIMEDOUT';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code === 'ENOTSUP' ? 'EOPNOTSUPP' : code;
  return undefined;
}

/**
 * The TernError for a failed kernel operation, e.g.
 * `kernel: route replace 10.2.0.0/24 table 1101: ENODEV: no such interface wg-o1-h1`.
 * `subject` names the object the errno refers to when it helps (an
 * interface name for ENODEV).
 */
export function kernelError(
  op: string,
  err: unknown,
  opts: { subject?: string; code?: ErrorCode; component?: string } = {},
): TernError {
  if (err instanceof TernError) return err;
  const errno = netlinkErrno(err);
  const component = opts.component ?? 'kernel';
  const code = opts.code ?? 'TERN_E_KERNEL_NETLINK';
  if (errno) {
    const text = errnoText(errno) + (opts.subject ? ` ${opts.subject}` : '');
    return new TernError(code, `${component}: ${op}: ${errno}: ${text}`, { cause: err, details: { op, errno } });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new TernError(code, `${component}: ${op}: malformed or failed netlink exchange: ${msg}`, {
    cause: err,
    details: { op },
  });
}

/** True when err is a kernel failure with the given errno name. */
export function hasErrno(err: unknown, name: string): boolean {
  return netlinkErrno(err) === name;
}
