// Running the commands the lab is built from (ip, nft, tc, sysctl, fping):
// argv only, never a shell, with a timeout, output captured.
import { spawn, spawnSync } from 'node:child_process';
import { TernError } from '../../daemons/lib/errors.js';

/** What a finished command left behind. */
export interface CommandResult {
  /** Exit code; null when the command died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the lab killed it for running past its timeout. */
  timedOut: boolean;
}

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Extra environment, on top of the lab process's own. */
  env?: Record<string, string>;
  /** Text written to the command's stdin. */
  input?: string;
}

const defaultTimeoutMs = 30_000;

/** Run argv and collect its output; never throws for a non-zero exit. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? defaultTimeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new TernError('TERN_E_LAB_COMMAND', `lab: run: cannot start ${argv.join(' ')}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), timedOut });
    });
  });
}

function failure(argv: readonly string[], r: Pick<CommandResult, 'code' | 'signal' | 'stderr' | 'timedOut'>): TernError {
  const how = r.timedOut ? 'timed out' : r.code === null ? `died of ${r.signal}` : `exited ${r.code}`;
  return new TernError('TERN_E_LAB_COMMAND', `lab: run: ${argv.join(' ')}: ${how}; want exit 0: ${r.stderr.trim()}`, {
    details: { argv: [...argv], code: r.code, stderr: r.stderr },
  });
}

/** Run argv and return its stdout; a non-zero exit throws TERN_E_LAB_COMMAND. */
export async function mustRun(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw failure(argv, r);
  return r.stdout;
}

/**
 * The synchronous form, for teardown from a process 'exit' handler, where
 * nothing asynchronous runs any more.
 */
export function runSync(argv: readonly string[], opts: { timeoutMs?: number } = {}): CommandResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { timeout: opts.timeoutMs ?? defaultTimeoutMs, encoding: 'utf8' });
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? (r.error ? r.error.message : ''),
    timedOut: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT',
  };
}

/** runSync that throws TERN_E_LAB_COMMAND on a non-zero exit. */
export function mustRunSync(argv: readonly string[], opts: { timeoutMs?: number } = {}): string {
  const r = runSync(argv, opts);
  if (r.code !== 0) throw failure(argv, r);
  return r.stdout;
}

/** argv that runs argv inside network namespace ns. */
export function inNetns(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}
