// Throwaway network namespaces for the kernel package's integration tests,
// removed at the end even when a test fails or the process exits early,
// together with any wireguard-go process a test left in them.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv and resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(argv: string[]): Promise<RunResult> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs argv and resolves with stdout; rejects with its stderr on failure. */
export async function sh(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A short random hex tag for names that must be unique on the machine. */
export const uniqueTag = (bytes = 3): string => randomBytes(bytes).toString('hex');

const live = new Set<string>();
const wgNames = new Set<string>();

/** Pids of wireguard-go processes (any namespace) serving one of the names. */
export function wireguardGoPids(names: Iterable<string>): number[] {
  const want = new Set(names);
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'latin1').split('\0').filter(Boolean);
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && argv.some((a) => a.endsWith('wireguard-go')) && want.has(argv[argv.length - 1] as string)) out.push(Number(e));
    } catch {
      continue;
    }
  }
  return out;
}

/** Tells the cleanup which wireguard-go interface names a test may leave behind. */
export function trackWireguardGo(...names: string[]): void {
  for (const n of names) wgNames.add(n);
}

function killTracked(): void {
  for (const pid of wireguardGoPids(wgNames)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
  }
  for (const n of wgNames) fs.rmSync(`/var/run/wireguard/${n}.sock`, { force: true });
}

function cleanupSync(): void {
  killTracked();
  for (const ns of live) {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', cleanupSync);

/** A network namespace made for one test. */
export class TestNetns {
  private constructor(readonly name: string) {}

  /** Creates `tnk-<tag>-<random>` with lo up. */
  static async create(tag: string): Promise<TestNetns> {
    const name = `tnk-${tag}-${uniqueTag()}`;
    await sh(['ip', 'netns', 'add', name]);
    live.add(name);
    await sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return new TestNetns(name);
  }

  /** Runs argv inside the namespace. */
  exec(argv: string[]): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.name, ...argv]);
  }

  /** Runs argv inside the namespace; rejects on failure. */
  sh(argv: string[]): Promise<string> {
    return sh(['ip', 'netns', 'exec', this.name, ...argv]);
  }

  /** `ip -j ...` inside the namespace, parsed. */
  async ipJson<T = unknown[]>(args: string[]): Promise<T> {
    const out = await sh(['ip', '-j', '-n', this.name, ...args]);
    return JSON.parse(out.trim() === '' ? '[]' : out) as T;
  }

  async destroy(): Promise<void> {
    await run(['ip', 'netns', 'del', this.name]);
    live.delete(this.name);
  }
}

/** Kills (by pid) every wireguard-go process serving a tracked name and removes their sockets. */
export function killTrackedWireguardGo(): void {
  killTracked();
}
