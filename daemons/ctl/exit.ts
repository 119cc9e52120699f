// ternctl's exit codes and how an error maps to one. Scripts rely on these:
// they are documented in docs/ternctl.md and must not change meaning.
import { TernError, isTernError, type ErrorCode } from '../lib/errors.js';

export const exitCodes = {
  /** The command did what was asked. */
  ok: 0,
  /** The operation failed (bad config file, daemon refused, nothing found...). */
  failed: 1,
  /** ternctl was called wrongly: unknown command or option, missing or bad argument. */
  usage: 2,
  /** A daemon the command needs is not running or not responding. */
  unreachable: 3,
  /** The user may not read a socket, file or database the command needs. */
  permission: 4,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

const unreachableCodes: ReadonlySet<ErrorCode> = new Set(['TERN_E_CTL_DAEMON', 'TERN_E_BUS_CONNECT', 'TERN_E_BUS_TIMEOUT', 'TERN_E_BUS_CLOSED']);

/** True when err is about file or socket permissions (errno EACCES/EPERM anywhere in its chain). */
export function isPermissionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'TERN_E_CTL_PERMISSION') return true;
    const errno = (e as TernError).details?.errno;
    if (errno === 'EACCES' || errno === 'EPERM') return true;
  }
  return false;
}

/** The exit code for an error a command threw. */
export function exitCodeFor(err: unknown): ExitCode {
  if (isTernError(err, 'TERN_E_CTL_USAGE')) return exitCodes.usage;
  if (isPermissionError(err)) return exitCodes.permission;
  if (isTernError(err) && unreachableCodes.has(err.code)) return exitCodes.unreachable;
  return exitCodes.failed;
}

/** A usage error (exit 2): what was wrong, and a hint how to call it right. */
export function usageError(message: string, hint?: string): TernError {
  return new TernError('TERN_E_CTL_USAGE', `ternctl: ${message}${hint ? `\nhint: ${hint}` : ''}`, { details: hint ? { hint } : undefined });
}

/** A permission error (exit 4) for a path, saying what to do. */
export function permissionError(what: string, file: string, cause?: unknown): TernError {
  return new TernError('TERN_E_CTL_PERMISSION',
    `ternctl: ${what}: permission denied on ${file}: run as root or join group tern`, { cause, details: { file, errno: 'EACCES' } });
}
