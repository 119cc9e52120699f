// Runs the kernel's command-line tools the daemons drive (nft, iptables-nft, ip):
// argv only (never a shell), input on stdin, bounded in time.
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How a daemon runs a command; tests pass a fake. */
export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

/** A command that has not finished after this long is killed and reported failed. */
export const commandTimeoutMs = 10_000;

/** The real runner: spawns argv[0] with the rest as arguments. */
export const runCommand: CommandRunner = (argv, input) => new Promise((resolve) => {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const timer = setTimeout(() => {
    stderr += `\n${argv[0]}: killed after ${commandTimeoutMs} ms`;
    child.kill('SIGKILL');
  }, commandTimeoutMs);
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.on('error', (err) => {
    clearTimeout(timer);
    resolve({ code: 127, stdout, stderr: `${stderr}${err.message}` });
  });
  child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code: code ?? 1, stdout, stderr });
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? '');
});
