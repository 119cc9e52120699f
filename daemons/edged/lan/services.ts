// LanServices runs dnsmasq for the LAN: renders its config, starts it or
// adopts the one a previous edged started, restarts it with backoff when it
// exits, keeps the DNS intercept chain in place, and reads leases and
// learned domain sets for ternctl.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../lib/log/index.js';
import { TernError, errorMessage } from '../../lib/errors.js';
import { nftTable } from '../../lib/kernel/names.js';
import type { TernConfig } from '../../lib/config/schema.js';
import { parseSetElements, type DomainSet } from './domains.js';
import { maxLeaseFileBytes, parseLeases, type Lease } from './leases.js';
import { realProcessIo, runCommand, type Child, type CommandRunner, type ProcessIo } from './proc.js';
import { confFile, leaseFile, pidFile, renderDnsmasq, renderIntercept, wanted, type DnsmasqPlan, type LanPaths } from './render.js';

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface LanServicesOptions {
  /** tmpfs directory for dnsmasq.conf and the record of the running dnsmasq (/run/tern/edged). */
  runDir: string;
  /** Directory of the lease file, kept across reboots (/var/lib/tern/edged). */
  stateDir: string;
  log: Logger;
  /** The dnsmasq binary; default /usr/sbin/dnsmasq (Debian's dnsmasq-base). */
  dnsmasq?: string;
  /** Process I/O: spawn, /proc, signals; default the real ones. */
  proc?: ProcessIo;
  /** Runs nft; default spawns it. */
  nft?: CommandRunner;
  timers?: Timers;
  /** How often an adopted dnsmasq (not our child, so no exit event) is checked to be alive; default 2 s. */
  pollMs?: number;
  /** How long start waits for dnsmasq to write its pid file (it does so once its sockets are bound); default 5 s. */
  readyMs?: number;
}

export interface LanServicesStatus {
  dhcp: boolean;
  dns: boolean;
  intercept: boolean;
  running: boolean;
  pid?: number;
  /** True when this edged found dnsmasq running and kept it. */
  adopted: boolean;
  /** Restarts after dnsmasq exited on its own. */
  restarts: number;
  configHash?: string;
  lastExit?: { code: number | null; signal: string | null; at: number };
  problems: string[];
}

/** What edged records about the dnsmasq it started, to adopt it after a restart. */
interface Record_ {
  pid: number;
  startTime: string;
  hash: string;
}

const backoffMs = (n: number): number => Math.min(30_000, 1000 * 2 ** Math.min(n, 5));
/** A dnsmasq that ran this long before exiting starts over at the shortest backoff. */
const stableMs = 60_000;

export class LanServices {
  private readonly paths: LanPaths;
  private readonly proc: ProcessIo;
  private readonly nft: CommandRunner;
  private readonly timers: Timers;
  private readonly pollMs: number;
  private readonly readyMs: number;
  private readonly log: Logger;
  private plan: DnsmasqPlan | undefined;
  private cfg: TernConfig | undefined;
  private pid: number | undefined;
  private startTime: string | undefined;
  private child: Child | undefined;
  private adopted = false;
  private restarts = 0;
  private failures = 0;
  private startedAt = 0;
  private lastExit: LanServicesStatus['lastExit'];
  private timer: unknown;
  private supervising = false;
  private readonly problems = new Map<string, string>();

  constructor(opts: LanServicesOptions) {
    this.paths = { runDir: opts.runDir, stateDir: opts.stateDir, dnsmasq: opts.dnsmasq ?? '/usr/sbin/dnsmasq' };
    this.proc = opts.proc ?? realProcessIo;
    this.nft = opts.nft ?? runCommand;
    this.timers = opts.timers ?? realTimers;
    this.pollMs = opts.pollMs ?? 2000;
    this.readyMs = opts.readyMs ?? 5000;
    this.log = opts.log;
  }

  private get recordFile(): string { return path.join(this.paths.runDir, 'dnsmasq.state.json'); }

  /**
   * Render, load the intercept chain, and adopt the dnsmasq a previous edged
   * left running when it runs this very config; else (re)start it. A value
   * that cannot be rendered throws TERN_E_LAN_CONFIG before anything changes.
   */
  async start(cfg: TernConfig): Promise<void> {
    const plan = renderDnsmasq(cfg, this.paths);
    this.cfg = cfg;
    this.supervising = true;
    await this.applyIntercept(cfg);
    const want = wanted(cfg);
    if (!want.dhcp && !want.dns) {
      // Nothing to serve: a dnsmasq left from an earlier config goes.
      this.plan = plan;
      await this.adoptOrForget(plan, false);
      return;
    }
    await this.writeConf(plan);
    this.plan = plan;
    if (await this.adoptOrForget(plan, true)) return;
    await this.launch();
  }

  /** Apply a new config: re-render, and restart dnsmasq only when its config or argv changed. */
  async reload(cfg: TernConfig): Promise<void> {
    if (!this.supervising) return this.start(cfg);
    const plan = renderDnsmasq(cfg, this.paths);
    this.cfg = cfg;
    await this.applyIntercept(cfg);
    const want = wanted(cfg);
    if (plan.hash === this.plan?.hash && (this.pid !== undefined || (!want.dhcp && !want.dns))) return;
    this.cancelTimer();
    await this.terminate();
    this.plan = plan;
    this.failures = 0;
    if (!want.dhcp && !want.dns) { await this.forgetRecord(); return; }
    await this.writeConf(plan);
    await this.launch();
  }

  status(): LanServicesStatus {
    const want = this.cfg ? wanted(this.cfg) : { dhcp: false, dns: false };
    return {
      ...want,
      intercept: this.cfg?.lan.dns?.enabled === true && this.cfg.lan.dns.interceptPort53,
      running: this.pid !== undefined,
      ...(this.pid !== undefined ? { pid: this.pid } : {}),
      adopted: this.adopted,
      restarts: this.restarts,
      ...(this.plan ? { configHash: this.plan.hash } : {}),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      problems: [...this.problems.values()],
    };
  }

  /** The leases in the lease file, each field checked (hostnames come from the clients). */
  async leases(): Promise<Lease[]> {
    let text: string;
    try {
      const fh = await fs.open(leaseFile(this.paths), 'r');
      try {
        // Read no more than the file holds, and never past the bound.
        const size = Math.min((await fh.stat()).size, maxLeaseFileBytes);
        const buf = Buffer.alloc(size);
        const { bytesRead } = await fh.read(buf, 0, size, 0);
        text = buf.subarray(0, bytesRead).toString('utf8');
      } finally { await fh.close(); }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new TernError('TERN_E_LAN_DNSMASQ', `edged: lan: read leases: ${leaseFile(this.paths)}: ${errorMessage(err)}`);
    }
    const parsed = parseLeases(text);
    if (parsed.rejected.length) {
      this.problems.set('leases', `lease file: ${parsed.rejected.length} line(s) skipped, first at line ${parsed.rejected[0]!.line}: ${parsed.rejected[0]!.reason}`);
    } else this.problems.delete('leases');
    return parsed.leases;
  }

  /** The addresses learned for each domain app class, with the time each has left. */
  async domains(): Promise<DomainSet[]> {
    const out: DomainSet[] = [];
    for (const d of this.plan?.domainSets ?? []) {
      for (const [family, set] of [[4, d.set4], [6, d.set6]] as const) {
        const r = await this.nft(['nft', '-j', 'list', 'set', 'inet', nftTable, set]);
        const base = { appClass: d.appClass, family, set };
        if (r.code !== 0) { out.push({ ...base, elements: [], problem: `nft list set: ${r.stderr.trim().split('\n')[0] ?? ''}` }); continue; }
        const els = parseSetElements(r.stdout, family);
        out.push(typeof els === 'string' ? { ...base, elements: [], problem: els } : { ...base, elements: els });
      }
    }
    return out;
  }

  /**
   * Stop supervising and leave dnsmasq running: DHCP and DNS go on while
   * edged restarts, and the next edged adopts it. The intercept chain stays.
   */
  async stop(): Promise<void> {
    this.supervising = false;
    this.cancelTimer();
    this.child?.release();
    this.child = undefined;
  }

  /** Stop dnsmasq and remove the intercept chain: the LAN services are switched off. */
  async shutdown(): Promise<void> {
    this.supervising = false;
    this.cancelTimer();
    await this.terminate();
    await this.forgetRecord();
    const off = `add table inet ${nftTable}\nadd chain inet ${nftTable} edge_dns_intercept\ndelete chain inet ${nftTable} edge_dns_intercept\n`;
    const r = await this.nft(['nft', '-f', '-'], off);
    if (r.code !== 0) this.log.warn({ err: r.stderr.trim() }, 'lan: remove the DNS intercept chain failed');
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async applyIntercept(cfg: TernConfig): Promise<void> {
    const r = await this.nft(['nft', '-f', '-'], renderIntercept(cfg));
    if (r.code === 0) { this.problems.delete('intercept'); return; }
    const msg = `edged: lan: load DNS intercept chain: nft: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`;
    this.problems.set('intercept', msg);
    this.log.error({ code: 'TERN_E_LAN_NFT' }, msg);
  }

  private async writeConf(plan: DnsmasqPlan): Promise<void> {
    await fs.mkdir(this.paths.runDir, { recursive: true, mode: 0o755 });
    // The lease file's directory is edged's alone (MAC addresses and hostnames of the LAN's hosts).
    await fs.mkdir(this.paths.stateDir, { recursive: true, mode: 0o700 });
    const tmp = `${confFile(this.paths)}.tmp`;
    await fs.writeFile(tmp, plan.conf, { mode: 0o644 });
    await fs.rename(tmp, confFile(this.paths));
  }

  private async readRecord(): Promise<Record_ | undefined> {
    try {
      const r = JSON.parse(await fs.readFile(this.recordFile, 'utf8')) as unknown;
      if (typeof r !== 'object' || r === null) return undefined;
      const { pid, startTime, hash } = r as Record<string, unknown>;
      if (!Number.isInteger(pid) || (pid as number) < 2 || typeof startTime !== 'string' || typeof hash !== 'string') return undefined;
      return { pid: pid as number, startTime, hash };
    } catch { return undefined; }
  }

  private async forgetRecord(): Promise<void> {
    await fs.rm(this.recordFile, { force: true });
  }

  /** Is pid the dnsmasq we recorded (same argv, same start time), still running? */
  private async isOurs(rec: Record_, argv: readonly string[]): Promise<boolean> {
    const cmd = await this.proc.cmdline(rec.pid);
    if (!cmd || cmd.length !== argv.length || cmd.some((a, i) => a !== argv[i])) return false;
    return (await this.proc.startTime(rec.pid)) === rec.startTime;
  }

  /**
   * Keep the recorded dnsmasq when it runs this plan (keep: true); stop it
   * when it runs another config or nothing should run. A pid that is no
   * longer our dnsmasq (exited, reused) is left alone.
   */
  private async adoptOrForget(plan: DnsmasqPlan, keep: boolean): Promise<boolean> {
    const rec = await this.readRecord();
    if (!rec || !(await this.isOurs(rec, plan.argv))) return false;
    if (keep && rec.hash === plan.hash) {
      this.pid = rec.pid;
      this.startTime = rec.startTime;
      this.adopted = true;
      this.startedAt = this.timers.now();
      this.log.info({ pid: rec.pid, hash: plan.hash }, 'lan: adopted the running dnsmasq');
      this.poll();
      return true;
    }
    this.log.info({ pid: rec.pid, was: rec.hash, now: plan.hash }, 'lan: the running dnsmasq has another config; restarting it');
    this.pid = rec.pid;
    this.startTime = rec.startTime;
    await this.terminate();
    await this.forgetRecord();
    return false;
  }

  /** Watch an adopted dnsmasq: no exit event reaches us, so look in /proc. */
  private poll(): void {
    this.cancelTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      const pid = this.pid;
      if (pid === undefined || this.child || !this.supervising) return;
      void this.proc.startTime(pid).then((st) => {
        if (this.pid !== pid || !this.supervising) return;
        if (st === this.startTime) this.poll();
        else this.exited(null, null);
      });
    }, this.pollMs);
  }

  private async launch(): Promise<void> {
    const plan = this.plan!;
    await fs.rm(pidFile(this.paths), { force: true });
    const child = this.proc.spawn(plan.argv);
    this.child = child;
    this.adopted = false;
    this.startedAt = this.timers.now();
    const stderr: string[] = [];
    child.onStderr((line) => {
      if (stderr.length < 20) stderr.push(line);
      this.log.warn({ dnsmasq: line }, 'lan: dnsmasq says');
    });
    let early: [number | null, string | null] | undefined;
    child.onExit((code, signal) => {
      if (this.child !== child) return;
      early = [code, signal];
      this.child = undefined;
      this.exited(code, signal);
    });
    this.pid = child.pid;
    this.startTime = await this.proc.startTime(child.pid);
    // Ready once dnsmasq wrote its pid file: it does so after binding its sockets.
    let ready = false;
    for (let i = 0; i < this.readyMs / 20 && !early && !ready; i++) {
      ready = (await fs.readFile(pidFile(this.paths), 'utf8').catch(() => '')).trim() === String(child.pid);
      if (!ready) await new Promise((r) => setTimeout(r, 20));
    }
    if (early) {
      const why = stderr.join(' ').trim() || `exit ${early[0] ?? early[1]}`;
      const msg = `edged: lan: start dnsmasq: it exited at once: ${why}`;
      this.problems.set('dnsmasq', msg);
      throw new TernError('TERN_E_LAN_DNSMASQ', msg);
    }
    if (this.startTime !== undefined) {
      const rec: Record_ = { pid: child.pid, startTime: this.startTime, hash: plan.hash };
      const tmp = `${this.recordFile}.tmp`;
      await fs.writeFile(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o644 });
      await fs.rename(tmp, this.recordFile);
    }
    if (ready) this.problems.delete('dnsmasq');
    else this.problems.set('dnsmasq', `dnsmasq (pid ${child.pid}) has not written its pid file after ${this.readyMs} ms: its sockets may not be bound`);
    this.log.info({ pid: child.pid, hash: plan.hash }, 'lan: dnsmasq started');
  }

  /** dnsmasq went away on its own: record it and start it again after a backoff. */
  private exited(code: number | null, signal: string | null): void {
    const at = this.timers.now();
    this.lastExit = { code, signal, at };
    if (at - this.startedAt >= stableMs) this.failures = 0;
    this.pid = undefined;
    this.startTime = undefined;
    this.adopted = false;
    if (!this.supervising) return;
    const delay = backoffMs(this.failures++);
    this.problems.set('dnsmasq', `dnsmasq exited (code ${code ?? '-'}, signal ${signal ?? '-'}); restart in ${delay} ms`);
    this.log.warn({ code, signal, delayMs: delay }, 'lan: dnsmasq exited; restarting');
    this.cancelTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (!this.supervising || this.pid !== undefined) return;
      this.restarts++;
      this.launch().catch((err) => this.log.error({ err: errorMessage(err) }, 'lan: restart dnsmasq failed'));
    }, delay);
  }

  /** Stop the dnsmasq we run (SIGTERM, then SIGKILL after 5 s) and wait until it is gone. */
  private async terminate(): Promise<void> {
    const pid = this.pid;
    const st = this.startTime;
    if (pid === undefined) return;
    const child = this.child;
    this.child = undefined;
    this.pid = undefined;
    this.startTime = undefined;
    child?.release();
    this.proc.kill(pid, 'SIGTERM');
    const gone = async (): Promise<boolean> => (await this.proc.startTime(pid)) !== st;
    for (let i = 0; i < 250; i++) {
      if (await gone()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.proc.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 20));
  }
}
