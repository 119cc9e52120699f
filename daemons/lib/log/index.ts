// Package log makes Tern's pino loggers: JSON lines to stdout (journald),
// one child logger per component, secrets redacted by name at any depth and
// in any case, and by value (every secret the process holds, in every
// encoding) wherever they appear in a line.
import { pino, type Logger, type LoggerOptions } from 'pino';
import { hasSecrets, processSecrets, redactFields, type SecretSet } from '../secrets/index.js';

export type { Logger };

export interface LogOptions {
  /** Daemon or tool name, put on every line as `daemon`. */
  name: string;
  /** pino level; TERN_LOG_LEVEL overrides the default 'info'. */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
  /** The secret values never written (default processSecrets: what this process generated or read from key files). */
  secrets?: SecretSet;
}

/**
 * The root logger of a process. Field names are checked on the object
 * before it is serialised (a copy is made only when a secret name is
 * found); values are checked on the finished line, which covers the
 * message, child bindings and error texts too.
 */
export function createLogger(opts: LogOptions): Logger {
  const secrets = opts.secrets ?? processSecrets;
  const scrub = (o: Record<string, unknown>): Record<string, unknown> => (hasSecrets(o) ? redactFields(o) : o);
  const options: LoggerOptions = {
    level: opts.level ?? process.env.TERN_LOG_LEVEL ?? 'info',
    base: { daemon: opts.name, pid: process.pid },
    formatters: { log: scrub, bindings: scrub },
    hooks: { streamWrite: (line) => (secrets.size ? secrets.redactText(line).text : line) },
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
