// Package paths resolves Tern's runtime directories, overridable by
// environment so several appliances can run side by side in the lab.
import path from 'node:path';
import { TernError } from '../errors.js';

/** Where one appliance keeps its files. */
export interface RuntimePaths {
  /** Configuration directory (default /etc/tern; env TERN_ETC_DIR). */
  etcDir: string;
  /** Sockets, pid and readiness files (default /run/tern; env TERN_RUN_DIR). */
  runDir: string;
  /** Database and keys (default /var/lib/tern; env TERN_STATE_DIR). */
  stateDir: string;
  /** The configuration file (default <etcDir>/tern.yaml; env TERN_CONFIG). */
  configFile: string;
  /** The SQLite state database (<stateDir>/tern.db). */
  dbFile: string;
  /** Private keys, mode 0700 directory of 0600 files (<stateDir>/keys). */
  keysDir: string;
}

/**
 * What a name that becomes part of a file name may be (a remote user, a
 * daemon, a lab): no dot, no slash, nothing a shell or a path would read
 * differently, so `../x` can never leave the directory it is put in.
 */
export const fileNamePattern = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The sentence that says what fileNamePattern allows, for error messages. */
export const fileNameRule = "want lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 32 characters";

/** name, when it may become part of a file name; TERN_E_PATHS_NAME saying what is wrong otherwise. */
export function checkFileName(name: unknown, what: string): string {
  if (typeof name === 'string' && fileNamePattern.test(name)) return name;
  const got = typeof name === 'string' ? JSON.stringify(name) : typeof name;
  throw new TernError('TERN_E_PATHS_NAME', `paths: ${what}: got ${got}; ${fileNameRule}`, { details: { what } });
}

/**
 * <dir>/<name><suffix> for a name from outside (config, command line, bus,
 * a file): the name is checked first, and the result must lie directly in
 * dir, so no input can make Tern write or delete anywhere else.
 */
export function fileIn(dir: string, name: string, suffix: string, what: string): string {
  checkFileName(name, what);
  const base = path.resolve(dir);
  const file = path.resolve(base, `${name}${suffix}`);
  if (path.dirname(file) !== base) {
    throw new TernError('TERN_E_PATHS_NAME', `paths: ${what}: ${JSON.stringify(name + suffix)} would leave ${base}; want a plain file name`, { details: { what } });
  }
  return file;
}

/** The bus socket of a daemon: <runDir>/<daemon>.sock. */
export function socketPath(paths: Pick<RuntimePaths, 'runDir'>, daemon: string): string {
  return fileIn(paths.runDir, daemon, '.sock', 'daemon name');
}

/** The pid file of a daemon: <runDir>/<daemon>.pid. */
export function pidPath(paths: Pick<RuntimePaths, 'runDir'>, daemon: string): string {
  return fileIn(paths.runDir, daemon, '.pid', 'daemon name');
}

/** Resolve runtime paths from overrides, then the environment, then defaults. */
export function resolvePaths(over: Partial<RuntimePaths> = {}, env: NodeJS.ProcessEnv = process.env): RuntimePaths {
  const etcDir = path.resolve(over.etcDir ?? env.TERN_ETC_DIR ?? '/etc/tern');
  const runDir = path.resolve(over.runDir ?? env.TERN_RUN_DIR ?? '/run/tern');
  const stateDir = path.resolve(over.stateDir ?? env.TERN_STATE_DIR ?? '/var/lib/tern');
  return {
    etcDir,
    runDir,
    stateDir,
    configFile: path.resolve(over.configFile ?? env.TERN_CONFIG ?? path.join(etcDir, 'tern.yaml')),
    dbFile: over.dbFile ?? path.join(stateDir, 'tern.db'),
    keysDir: over.keysDir ?? path.join(stateDir, 'keys'),
  };
}
