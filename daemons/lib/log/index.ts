// Package log makes Tern's pino loggers: JSON lines to stdout (journald),
// one child logger per component, secrets redacted by key name.
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Keys whose values are never written to a log, wherever they appear. */
export const redactedKeys = [
  'privateKey', 'private_key', 'presharedKey', 'preshared_key', 'psk', 'secret', 'password', 'token',
];

export interface LogOptions {
  /** Daemon or tool name, put on every line as `daemon`. */
  name: string;
  /** pino level; TERN_LOG_LEVEL overrides the default 'info'. */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
}

/** The root logger of a process. */
export function createLogger(opts: LogOptions): Logger {
  const paths = redactedKeys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
  const options: LoggerOptions = {
    level: opts.level ?? process.env.TERN_LOG_LEVEL ?? 'info',
    base: { daemon: opts.name, pid: process.pid },
    redact: { paths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}

/** A child logger for one component of a daemon (`component` on each line). */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/** A logger that writes nothing, for unit tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
