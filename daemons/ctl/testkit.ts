// Helpers for ternctl's unit tests: a CtlContext or a command line whose
// output is captured, on a throw-away appliance with fake daemons
// (daemons/lib/testkit).
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../lib/clock/index.js';
import type { TempAppliance } from '../lib/testkit/index.js';
import type { CtlContext, Io } from './context.js';
import { Daemons } from '../lib/views/daemons.js';
import { runCli } from './program.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

export { exampleConfig, fakeDaemon, tempAppliance, type TempAppliance } from '../lib/testkit/index.js';

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
