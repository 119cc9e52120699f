// Package paths resolves Tern's runtime directories, overridable by
// environment so several appliances can run side by side in the lab.
import path from 'node:path';

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

/** The bus socket of a daemon: <runDir>/<daemon>.sock. */
export function socketPath(paths: Pick<RuntimePaths, 'runDir'>, daemon: string): string {
  return path.join(paths.runDir, `${daemon}.sock`);
}

/** The pid file of a daemon: <runDir>/<daemon>.pid. */
export function pidPath(paths: Pick<RuntimePaths, 'runDir'>, daemon: string): string {
  return path.join(paths.runDir, `${daemon}.pid`);
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
