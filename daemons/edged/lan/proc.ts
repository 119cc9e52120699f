// The process-level I/O LanServices needs, behind one interface so unit
// tests pass fakes: spawning dnsmasq, reading /proc to recognise it again,
// signals; nft runs through the shared runner (daemons/lib/kernel/nft).
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';

/** A dnsmasq LanServices started: its pid, its stderr lines, its exit. */
export interface Child {
  pid: number;
  onStderr(cb: (line: string) => void): void;
  onExit(cb: (code: number | null, signal: string | null) => void): void;
  /** Stop reading its stderr and let this process exit without it (it keeps running). */
  release(): void;
}

export { runCommand, type CommandResult, type CommandRunner } from '../../lib/kernel/nft/index.js';

export interface ProcessIo {
  /** Start argv in its own session, so it outlives this process. */
  spawn(argv: readonly string[]): Child;
  /** The argv of a running process, or undefined when there is none. */
  cmdline(pid: number): Promise<string[] | undefined>;
  /** Its start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a reused pid apart. */
  startTime(pid: number): Promise<string | undefined>;
  kill(pid: number, signal: NodeJS.Signals): void;
}

// stderr kept per line: dnsmasq says why it would not start there; a runaway line is cut.
const maxLine = 2048;

export const realProcessIo: ProcessIo = {
  spawn(argv) {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const lineCbs: Array<(l: string) => void> = [];
    let buf = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0 || buf.length > maxLine) {
        const end = nl >= 0 ? nl : maxLine;
        const line = buf.slice(0, end);
        buf = buf.slice(nl >= 0 ? end + 1 : end);
        for (const cb of lineCbs) cb(line);
      }
    });
    child.stderr!.on('error', () => undefined);
    const exitCbs: Array<(c: number | null, s: string | null) => void> = [];
    let exited: [number | null, string | null] | undefined;
    child.on('exit', (code, signal) => { exited = [code, signal]; for (const cb of exitCbs) cb(code, signal); });
    // A spawn failure (no binary) is reported as an exit with code 127, like a shell would.
    child.on('error', () => { if (!exited) { exited = [127, null]; for (const cb of exitCbs) cb(127, null); } });
    return {
      pid: child.pid ?? -1,
      onStderr: (cb) => { lineCbs.push(cb); },
      onExit: (cb) => { if (exited) cb(...exited); else exitCbs.push(cb); },
      release: () => {
        lineCbs.length = 0;
        exitCbs.length = 0;
        child.stderr!.destroy();
        child.unref();
      },
    };
  },
  async cmdline(pid) {
    try {
      const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
      return raw.length ? raw.replace(/\0$/, '').split('\0') : undefined;
    } catch { return undefined; }
  },
  async startTime(pid) {
    try {
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and ')': count fields after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has exited: it only waits to be reaped.
      return rest[0] === 'Z' || rest[0] === 'X' ? undefined : rest[19];
    } catch { return undefined; }
  },
  kill(pid, signal) {
    try { process.kill(pid, signal); } catch { /* gone already */ }
  },
};
