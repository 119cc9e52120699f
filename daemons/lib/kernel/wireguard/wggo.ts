// Starting, finding and stopping wireguard-go processes.
//
// Why the interface outlives the daemon that made it: wireguard-go is run
// in its default (daemonizing) mode. The process we spawn creates the TUN
// device and binds the UAPI socket, re-executes itself in the background
// with both descriptors, and exits 0 only once both exist, so its exit is
// the readiness signal. The background copy is never our child: it is
// reparented to init (or the nearest subreaper), holds no pipe to us (its
// stdio is /dev/null because LOG_LEVEL is removed from its environment, so
// it cannot die of SIGPIPE when we go), and because we spawn with
// `detached` (setsid) it is not in our process group or session, so
// signals aimed at the daemon's group or terminal do not reach it.
// Under systemd the unit must not kill its whole cgroup on stop
// (KillMode=process) or must run the launcher through systemd-run;
// `command` lets the caller prefix such a wrapper.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TernError } from '../../errors.js';
import { systemClock, type Clock } from '../../clock/index.js';
import { checkIfname } from '../net/validate.js';

export interface WireguardGoOptions {
  /** argv before the interface name; default ['wireguard-go'] (looked up in PATH). */
  command?: string[];
  /** How long the setup process may take; default 10000 ms. */
  startTimeoutMs?: number;
  /** How long a stopped process may take to exit before SIGKILL; default 5000 ms. */
  stopTimeoutMs?: number;
  clock?: Clock;
  spawn?: (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
  /** Default '/proc'. */
  procDir?: string;
}

/** A process as found: pid plus kernel start time, so a reused pid is never signalled. */
export interface ProcessRef {
  pid: number;
  startTime: string;
}

const OUTPUT_CAP = 4096;
const POLL_MS = 25;

const sleep = (clock: Clock, ms: number): Promise<void> => new Promise((r) => { clock.setTimeout(r, ms); });

/** Starts, finds and stops the wireguard-go process of an interface in this network namespace. */
export class WireguardGo {
  private readonly command: string[];
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly clock: Clock;
  private readonly spawn: NonNullable<WireguardGoOptions['spawn']>;
  private readonly procDir: string;

  constructor(opts: WireguardGoOptions = {}) {
    this.command = opts.command ?? ['wireguard-go'];
    if (this.command.length === 0) throw new TernError('TERN_E_KERNEL_ARG', 'wireguard: wireguard-go: got an empty command; want at least the program');
    this.startTimeoutMs = opts.startTimeoutMs ?? 10000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5000;
    this.clock = opts.clock ?? systemClock;
    this.spawn = opts.spawn ?? nodeSpawn;
    this.procDir = opts.procDir ?? '/proc';
  }

  /** The program name matched in /proc (the last path element of the wireguard-go binary). */
  private get program(): string {
    const bin = this.command.find((a) => path.basename(a).startsWith('wireguard-go')) ?? this.command[this.command.length - 1];
    return path.basename(bin as string);
  }

  /** Runs the setup process and resolves once it exits 0 (TUN and UAPI socket exist). */
  async start(ifname: string): Promise<void> {
    checkIfname(ifname);
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Each of these would change how the background copy runs: with LOG_LEVEL it
    // would keep our pipes as stdout/stderr and die of SIGPIPE once we exit.
    for (const k of ['LOG_LEVEL', 'WG_PROCESS_FOREGROUND', 'WG_TUN_FD', 'WG_UAPI_FD']) delete env[k];
    const [cmd, ...pre] = this.command as [string, ...string[]];
    return new Promise<void>((resolve, reject) => {
      let output = '';
      let settled = false;
      const child = this.spawn(cmd, [...pre, ifname], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
      const keep = (b: Buffer): void => { if (output.length < OUTPUT_CAP) output += b.toString('utf8').slice(0, OUTPUT_CAP - output.length); };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const settle = (err?: TernError): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const lastLines = (): string => output.split('\n').map((l) => l.trim()).filter((l) => l && !/^[│┌└]/.test(l)).slice(-2).join(' / ');
      const timer = this.clock.setTimeout(() => {
        if (child.pid !== undefined) child.kill('SIGKILL');
        settle(new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: create ${ifname}: wireguard-go did not finish setup within ${this.startTimeoutMs} ms`));
      }, this.startTimeoutMs);
      child.on('error', (err: NodeJS.ErrnoException) => settle(new TernError('TERN_E_KERNEL_WG_BACKEND',
        `wireguard: create ${ifname}: cannot run ${cmd}: ${err.code ?? err.message}`, { cause: err })));
      child.on('close', (code, signal) => {
        if (code === 0) return settle();
        settle(new TernError('TERN_E_KERNEL_WG_BACKEND',
          `wireguard: create ${ifname}: wireguard-go exited with ${signal ?? `code ${code}`}: ${lastLines() || 'no output'}`,
          { details: { ifname, code, signal } }));
      });
    });
  }

  /** The wireguard-go processes serving ifname in this network namespace. */
  find(ifname: string): ProcessRef[] {
    checkIfname(ifname);
    const self = this.netnsOf('self');
    const out: ProcessRef[] = [];
    let entries: string[];
    try {
      entries = fs.readdirSync(this.procDir);
    } catch {
      return out;
    }
    for (const e of entries) {
      if (!/^[0-9]+$/.test(e)) continue;
      let argv: string[];
      try {
        argv = fs.readFileSync(path.join(this.procDir, e, 'cmdline'), 'latin1').split('\0').filter((a) => a !== '');
      } catch {
        continue;
      }
      if (!argv.some((a) => path.basename(a) === this.program) || argv[argv.length - 1] !== ifname) continue;
      // The UAPI socket directory is shared by all namespaces, the process list too: match ours only.
      if (this.netnsOf(e) !== self) continue;
      const startTime = this.startTime(Number(e));
      if (startTime !== undefined) out.push({ pid: Number(e), startTime });
    }
    return out;
  }

  private netnsOf(pid: string): string | undefined {
    try {
      return fs.readlinkSync(path.join(this.procDir, pid, 'ns', 'net'));
    } catch {
      return undefined;
    }
  }

  /** Field 22 of /proc/<pid>/stat; undefined when gone or a zombie. */
  private startTime(pid: number): string | undefined {
    let stat: string;
    try {
      stat = fs.readFileSync(path.join(this.procDir, String(pid), 'stat'), 'latin1');
    } catch {
      return undefined;
    }
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' || f[0] === 'X' ? undefined : f[19];
  }

  /** True while the very process of ref runs (not a zombie, not a reused pid). */
  alive(ref: ProcessRef): boolean {
    return this.startTime(ref.pid) === ref.startTime;
  }

  /** Stops the processes: SIGTERM, then SIGKILL for any still running after stopTimeoutMs. */
  async stop(refs: ProcessRef[]): Promise<void> {
    const signal = (sig: NodeJS.Signals): void => {
      for (const ref of refs) {
        if (!this.alive(ref)) continue;
        try { process.kill(ref.pid, sig); } catch { /* exited between the check and the signal */ }
      }
    };
    const wait = async (): Promise<void> => {
      const polls = Math.max(1, Math.ceil(this.stopTimeoutMs / POLL_MS));
      for (let i = 0; i < polls && refs.some((r) => this.alive(r)); i++) await sleep(this.clock, POLL_MS);
    };
    signal('SIGTERM');
    await wait();
    if (!refs.some((r) => this.alive(r))) return;
    signal('SIGKILL');
    await wait();
    const left = refs.filter((r) => this.alive(r)).map((r) => r.pid);
    if (left.length > 0) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: destroy: wireguard-go pid ${left.join(', ')} still running after SIGKILL`);
    }
  }
}

/** Where the kernel keeps the per-user ceiling on inotify instances. */
export const INOTIFY_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';

/**
 * Why wireguard-go could not start `wanted` interfaces, or undefined when it
 * can: each wireguard-go holds one inotify instance (it watches its UAPI
 * socket), and the kernel refuses more than fs.inotify.max_user_instances
 * per user (default 128), shared with everything else the user runs. The
 * failure wireguard-go itself gives is an unhelpful "Connection reset by
 * peer" on its socket. `ceiling` is the sysctl's value (null: unreadable).
 */
export function wireguardGoCeilingProblem(wanted: number, ceiling: number | null, headroom = 32): string | undefined {
  if (ceiling === null || !Number.isInteger(wanted) || wanted <= 0) return undefined;
  if (wanted + headroom <= ceiling) return undefined;
  return `wireguard-go needs one inotify instance per interface: ${wanted} interfaces planned, `
    + `fs.inotify.max_user_instances is ${ceiling}; want at least ${wanted + headroom} `
    + `(set it in /etc/sysctl.d; the kernel WireGuard module needs none)`;
}

/** The current fs.inotify.max_user_instances, or null when it cannot be read. */
export function readInotifyCeiling(file = INOTIFY_INSTANCES): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}
