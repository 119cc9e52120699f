// Package testkit is for unit tests of the box's tools: a throw-away
// appliance (directories and a valid tern.yaml) and daemons faked with the
// real runner, so a client talks to a real bus socket.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../log/index.js';
import { resolvePaths, type RuntimePaths } from '../paths/index.js';
import { runDaemon, type DaemonHooks, type DaemonContext, type RunningDaemon } from '../runner/index.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));

/** The example office config from docs/, valid as it stands. */
export function exampleConfig(): string {
  return fs.readFileSync(path.join(repo, 'docs', 'examples', 'tern.yaml'), 'utf8');
}

export interface TempAppliance {
  dir: string;
  env: Record<string, string>;
  paths: RuntimePaths;
  cleanup(): void;
}

/** Directories etc/run/state under a temp dir, tern.yaml written (default: the example). */
export function tempAppliance(configText: string = exampleConfig()): TempAppliance {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ternctl-'));
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_CONFIG: path.join(dir, 'etc', 'tern.yaml') };
  for (const d of [env.TERN_ETC_DIR, env.TERN_RUN_DIR, env.TERN_STATE_DIR]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(env.TERN_CONFIG, configText, { mode: 0o640 });
  return { dir, env, paths: resolvePaths({}, env), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A daemon run by the real runner under the appliance's paths: real
 * daemon.status and daemon.reload; methods and hooks from the test.
 */
export function fakeDaemon(app: TempAppliance, name: string, setup: (ctx: DaemonContext) => DaemonHooks = () => ({})): Promise<RunningDaemon> {
  return runDaemon({ name, start: async (ctx) => setup(ctx) }, { env: app.env, logger: silentLogger(), notify: () => undefined });
}
