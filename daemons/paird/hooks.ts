// Notify hooks for operators: on every role change, each executable file in
// <etc>/pair.d/ is run, in name order, with the event in environment
// variables. No shell, no arguments; a hook that fails or hangs is logged
// and killed, never in the way of the election.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';

/** The directory name under the config directory (/etc/tern/pair.d). */
export const hooksDirName = 'pair.d';
/** A hook still running after this long is killed (SIGKILL). */
export const hookTimeoutMs = 10_000;
/** Output kept per hook run, for the log. */
const maxOutput = 2048;

/** The event a hook gets, as TERN_PAIR_* variables. */
export interface HookEvent {
  /** `transition` for role changes. */
  event: string;
  from: string;
  to: string;
  reason: string;
  detail: string;
  priority: number;
  vrid: number;
  interface: string;
  vips: string[];
  /** Wall-clock ms. */
  at: number;
  /** identity.name of this box. */
  box: string;
}

/** The environment of a hook run: the daemon's PATH and the event, nothing else. */
export function hookEnv(e: HookEvent, basePath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): Record<string, string> {
  return {
    PATH: basePath,
    TERN_PAIR_EVENT: e.event,
    TERN_PAIR_FROM: e.from,
    TERN_PAIR_TO: e.to,
    TERN_PAIR_ROLE: e.to,
    TERN_PAIR_REASON: e.reason,
    TERN_PAIR_DETAIL: e.detail,
    TERN_PAIR_PRIORITY: String(e.priority),
    TERN_PAIR_VRID: String(e.vrid),
    TERN_PAIR_INTERFACE: e.interface,
    TERN_PAIR_VIPS: e.vips.join(' '),
    TERN_PAIR_AT: new Date(e.at).toISOString(),
    TERN_PAIR_BOX: e.box,
  };
}

/** One finished hook run. */
export interface HookResult {
  hook: string;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
  error?: string;
}

export interface HookRunnerOptions {
  dir: string;
  clock?: Clock;
  logger?: Logger;
  timeoutMs?: number;
}

/**
 * Runs the hooks of each event one after the other, and events in the
 * order they happened, so a slow hook never sees `backup` after `master`
 * for changes that went the other way.
 */
export class HookRunner {
  private readonly dir: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private chain: Promise<unknown> = Promise.resolve();
  readonly counters = { runs: 0, failures: 0 };

  constructor(opts: HookRunnerOptions) {
    this.dir = opts.dir;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.timeoutMs = opts.timeoutMs ?? hookTimeoutMs;
  }

  /** The executable regular files of the directory, sorted; none when it does not exist. */
  hooks(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.sort().map((n) => path.join(this.dir, n)).filter((f) => {
      try {
        const st = fs.statSync(f);
        // Editor leftovers (x~, .x.swp) are not hooks.
        return st.isFile() && (st.mode & 0o111) !== 0 && !/(~|\.swp|\.dpkg-[a-z]+)$/.test(f) && !path.basename(f).startsWith('.');
      } catch {
        return false;
      }
    });
  }

  /** Queues the event's hooks; resolves with their results once they ran. */
  run(e: HookEvent): Promise<HookResult[]> {
    const next = this.chain.then(async () => {
      const out: HookResult[] = [];
      for (const h of this.hooks()) out.push(await this.runOne(h, e));
      return out;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Waits for every queued run. */
  idle(): Promise<void> { return this.chain.then(() => undefined); }

  private runOne(hook: string, e: HookEvent): Promise<HookResult> {
    return new Promise((resolve) => {
      this.counters.runs++;
      let output = '';
      let timedOut = false;
      let settled = false;
      let timer: TimerHandle | undefined;
      const done = (r: HookResult): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        const failed = r.error !== undefined || r.code !== 0;
        if (failed) this.counters.failures++;
        const fields = { hook, code: r.code, signal: r.signal, timedOut: r.timedOut, output: r.output.trim(), err: r.error };
        if (failed) this.log.warn(fields, 'paird: hook failed');
        else this.log.info(fields, 'paird: hook ran');
        resolve(r);
      };
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(hook, [], { cwd: this.dir, env: hookEnv(e), stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        done({ hook, code: null, signal: null, timedOut: false, output: '', error: errorMessage(err) });
        return;
      }
      const keep = (b: Buffer): void => { if (output.length < maxOutput) output += b.toString('utf8').slice(0, maxOutput - output.length); };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      timer = this.clock.setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.timeoutMs);
      child.on('error', (err) => done({ hook, code: null, signal: null, timedOut, output, error: errorMessage(err) }));
      child.on('close', (code, signal) => done({ hook, code, signal, timedOut, output, ...(timedOut ? { error: `killed after ${this.timeoutMs} ms` } : {}) }));
    });
  }
}
