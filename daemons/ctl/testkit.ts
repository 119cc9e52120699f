// Helpers for ternctl's unit tests: a throw-away appliance (directories and
// a valid tern.yaml), daemons faked with the real runner, and a CtlContext
// or a command line whose output is captured.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../lib/clock/index.js';
import { silentLogger } from '../lib/log/index.js';
import { resolvePaths, type RuntimePaths } from '../lib/paths/index.js';
import { runDaemon, type DaemonHooks, type DaemonContext, type RunningDaemon } from '../lib/runner/index.js';
import type { CtlContext, Io } from './context.js';
import { Daemons } from './daemons.js';
import { runCli } from './program.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

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

export interface Captured {
  io: Io;
  out(): string;
  err(): string;
}

export function captureIo(stdin = ''): Captured {
  let out = '';
  let err = '';
  const input = new PassThrough();
  input.end(stdin);
  return {
    io: { out: (s) => { out += s; }, err: (s) => { err += s; }, isTTY: false, stdin: input, stdinIsTTY: stdin === '' },
    out: () => out,
    err: () => err,
  };
}

/** A CtlContext on the appliance, as runCli would make it. */
export function testContext(app: TempAppliance, opts: { timeoutMs?: number; io?: Io; json?: boolean; signal?: AbortSignal } = {}): CtlContext {
  // Patient by default: tests share a loaded machine; the short timeouts are tested on purpose where they matter.
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return {
    paths: app.paths, env: { ...app.env }, clock: systemClock, io: opts.io ?? captureIo().io, json: opts.json ?? false, color: false,
    timeoutMs, daemons: new Daemons({ paths: app.paths, timeoutMs }), signal: opts.signal ?? new AbortController().signal, self: [process.execPath, path.join(repo, 'dist', 'daemons', 'ctl', 'main.js')],
  };
}

/** Run a ternctl command line on the appliance; stdout, stderr and the exit code. */
export async function ternctl(app: TempAppliance, args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo(stdin);
  const code = await runCli({ args, env: { ...app.env, NO_COLOR: '1' }, io: c.io, signal: new AbortController().signal });
  return { code, out: c.out(), err: c.err() };
}
