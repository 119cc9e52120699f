// For integration tests that need the kernel of a throwaway namespace: a
// process started there (`ip netns exec NS node fixture.js`) serves method
// calls on the objects it was given, one JSON line each way; the test side
// turns them into promises with TernErrors kept. The one framing of every
// such agent: tc's and qosd's fixtures, and agent.ts (Rtnl and WireGuard).
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { TernError, type ErrorCode } from '../../errors.js';

interface Call { id: number; target: string; method: string; args: unknown[] }
interface Reply { id: number; result?: unknown; error?: { code: string; message: string; details?: Record<string, unknown> } }

/** Serve calls on stdin against targets until stdin closes, then run onClose. */
export function serveAgent(targets: Record<string, object>, onClose: () => void = () => undefined): void {
  const reply = (o: Reply): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    let call: Call;
    try {
      call = JSON.parse(line) as Call;
    } catch {
      reply({ id: -1, error: { code: 'TERN_E_KERNEL_ARG', message: 'agent: bad request line' } });
      return;
    }
    const target = targets[call.target] as Record<string, unknown> | undefined;
    const fn = target?.[call.method];
    if (typeof fn !== 'function') {
      reply({ id: call.id, error: { code: 'TERN_E_KERNEL_ARG', message: `agent: no method ${call.target}.${call.method}` } });
      return;
    }
    Promise.resolve()
      .then(() => (fn as (...a: unknown[]) => unknown).apply(target, call.args))
      .then(
        (result) => reply({ id: call.id, result: result === undefined ? null : result }),
        (err: unknown) => reply({
          id: call.id,
          error: err instanceof TernError
            ? { code: err.code, message: err.message, details: err.details ?? {} }
            : { code: 'UNEXPECTED', message: err instanceof Error ? err.stack ?? err.message : String(err) },
        }),
      );
  }).on('close', onClose);
}

/** The test side: a fixture process running serveAgent inside a namespace. */
export class NetnsAgent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.error) {
        p.reject(r.error.code.startsWith('TERN_E_')
          ? new TernError(r.error.code as ErrorCode, r.error.message, { details: r.error.details ?? {} })
          : new Error(r.error.message));
      } else {
        p.resolve(r.result);
      }
    });
    child.stderr!.on('data', (b: Buffer) => { this.stderr += b.toString(); });
    this.exited = new Promise((resolve) => child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`agent exited; stderr: ${this.stderr}`));
      this.pending.clear();
      resolve();
    }));
  }

  /** Starts `node fixture` inside namespace ns; env adds variables. */
  static start(ns: string, fixture: string, env: Record<string, string> = {}): NetnsAgent {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, fixture], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    return new NetnsAgent(child);
  }

  /** The fixture's pid (ip netns exec replaces itself with node, so it is the spawned pid). */
  get pid(): number {
    return this.child.pid as number;
  }

  call<T = unknown>(target: string, method: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, target, method, args })}\n`);
    });
  }

  /** SIGKILL, as a crash would; resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Closes stdin so the fixture exits by itself. */
  async stop(): Promise<void> {
    this.child.stdin!.end();
    await this.exited;
  }
}
