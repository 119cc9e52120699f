// ternctl's exit codes and how an error maps to one. Scripts rely on these:
// they are documented in docs/ternctl.md and must not change meaning.
import { TernError, isPermissionError, isTernError, type ErrorCode } from '../lib/errors.js';

// Shared with the config transaction and the exporter (daemons/lib), which report permissions the same way.
export { isPermissionError, permissionError } from '../lib/errors.js';

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
