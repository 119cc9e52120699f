// The test side of agent.ts: starts it inside a namespace and turns calls
// into promises; kernel errors come back as TernErrors with their codes.
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TernError, type ErrorCode } from '../../errors.js';

const agentPath = fileURLToPath(new URL('./agent.js', import.meta.url));

interface Reply {
  id: number;
  result?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

export class Agent {
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
        const e = r.error.code.startsWith('TERN_E_')
          ? new TernError(r.error.code as ErrorCode, r.error.message, { details: r.error.details ?? {} })
          : new Error(r.error.message);
        p.reject(e);
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

  /** Starts the agent in namespace ns; env adds variables (TERN_TEST_WG_PREFIX). */
  static start(ns: string, env: Record<string, string> = {}): Agent {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, agentPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    return new Agent(child);
  }

  /** The agent's pid (ip netns exec replaces itself with node, so it is the spawned pid). */
  get pid(): number {
    return this.child.pid as number;
  }

  call<T = unknown>(target: 'rtnl' | 'wg' | 'agent', method: string, ...args: unknown[]): Promise<T> {
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

  /** Closes stdin so the agent exits by itself. */
  async stop(): Promise<void> {
    this.child.stdin!.end();
    await this.exited;
  }
}
