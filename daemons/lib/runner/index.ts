// Package runner is the life cycle every tern-* daemon shares: load config,
// open the bus, announce readiness (pid/ready files and sd_notify), keep the
// systemd watchdog fed, reload on SIGHUP and stop cleanly on SIGTERM.
import fs from 'node:fs';
import { BusServer } from '../bus/index.js';
import { servedContract, type Contract, type ContractMethods, type ContractTopics, type RunnerMethods, type RunnerTopics } from '../api/index.js';
import { systemClock, type Clock, type TimerHandle } from '../clock/index.js';
import { loadConfig, type LoadedConfig, type TernConfig } from '../config/index.js';
import { TernError, errorMessage, isTernError } from '../errors.js';
import { Health } from '../health/index.js';
import { componentLogger, createLogger, type Logger } from '../log/index.js';
import { reclaimMemory, type Reclaim } from '../memory/index.js';
import { loadNative } from '../native/index.js';
import { fileIn, pidPath, resolvePaths, socketPath, type RuntimePaths } from '../paths/index.js';
import { Store } from '../store/index.js';

/** What a daemon gets from the runner when it starts. */
export interface DaemonContext {
  name: string;
  paths: RuntimePaths;
  config: TernConfig;
  configHash: string;
  logger: Logger;
  clock: Clock;
  health: Health;
  bus: BusServer;
  /** The shared state database, opened on first use and closed at stop. */
  store(): Promise<Store>;
}

/** What a daemon hands back: how to apply a new config, report and stop. */
export interface DaemonHooks {
  /** Apply a validated new config. Throw to refuse it: the old one stays. */
  reload?(config: TernConfig): Promise<void>;
  /** Daemon-specific facts merged into daemon.status. */
  status?(): Record<string, unknown>;
  /** Release what the daemon holds. Kernel state it owns stays (fail open). */
  stop?(): Promise<void>;
}

export interface DaemonSpec {
  /** Short name: 'tunneld' runs as tern-tunneld with socket tunneld.sock. */
  name: string;
  start(ctx: DaemonContext): Promise<DaemonHooks>;
}

/**
 * ctx.bus typed by the daemon's contract: handlers get the params the
 * contract declares and must return its result. Throws TERN_E_BUS_USAGE
 * when the runner opened the socket for another contract.
 */
export function contractBus<C extends Contract>(ctx: Pick<DaemonContext, 'bus' | 'name'>, api: C): BusServer<ContractMethods<C> & RunnerMethods, ContractTopics<C> & RunnerTopics> {
  if (api.daemon !== ctx.name) throw new TernError('TERN_E_BUS_USAGE', `runner: ${ctx.name}: the bus serves the ${ctx.name} contract, not ${api.daemon}'s`);
  return ctx.bus as unknown as BusServer<ContractMethods<C> & RunnerMethods, ContractTopics<C> & RunnerTopics>;
}

/** How the runner tells systemd about state; default the native sd_notify. */
export type Notifier = (state: string) => void;

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  paths?: Partial<RuntimePaths>;
  clock?: Clock;
  logger?: Logger;
  notify?: Notifier;
  /** How long stop() waits for the daemon's own stop hook (default 10 s). */
  stopTimeoutMs?: number;
}

/** A started daemon. */
export interface RunningDaemon {
  ctx: DaemonContext;
  reload(): Promise<{ configHash: string }>;
  stop(): Promise<void>;
}

/**
 * The notifier used under systemd: sends through the native module when
 * NOTIFY_SOCKET is set, does nothing otherwise (lab, tests, a shell).
 */
export function systemdNotifier(env: NodeJS.ProcessEnv = process.env): Notifier {
  if (!env.NOTIFY_SOCKET) return () => undefined;
  const native = loadNative();
  return (state) => { native.sdNotify(state); };
}

/** Watchdog ping interval in ms from WATCHDOG_USEC (half of it), or undefined. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** Start a daemon: everything up to READY=1. Throws TERN_E_RUNNER_START. */
export async function runDaemon(spec: DaemonSpec, opts: RunOptions = {}): Promise<RunningDaemon> {
  const env = opts.env ?? process.env;
  const paths = resolvePaths(opts.paths ?? {}, env);
  const clock = opts.clock ?? systemClock;
  const root = opts.logger ?? createLogger({ name: `tern-${spec.name}` });
  const log = componentLogger(root, 'runner');
  const notify = opts.notify ?? systemdNotifier(env);
  const startedAt = clock.now();
  const health = new Health({ clock });

  let loaded: LoadedConfig;
  try {
    ensureDir(paths.runDir, 0o755);
    loaded = await loadConfig(paths.configFile);
  } catch (err) {
    throw startError(spec.name, 'load config', err);
  }

  // After the bus shed a burst of abusive connections, give back the memory
  // it left: without it glibc keeps the freed read buffers and RSS stays up.
  let reclaims = 0;
  let lastReclaim: (Reclaim & { at: number }) | undefined;
  const onSheddingEnd = (): void => {
    reclaimMemory().then((r) => {
      reclaims++;
      lastReclaim = { ...r, at: clock.now() };
      log.info({ rssBefore: r.rssBefore, rssAfter: r.rssAfter, collected: r.collected, trimmed: r.trimmed }, 'runner: memory: reclaimed after the bus stopped shedding');
    }, (err: unknown) => log.error({ err: errorMessage(err) }, 'runner: memory: reclaim failed'));
  };
  // The socket serves the daemon's contract (daemons/lib/api) and the runner's: params are
  // checked before any handler runs, results and payloads too in tests (TERN_BUS_CHECK=1).
  const bus = new BusServer({
    socketPath: socketPath(paths, spec.name), logger: componentLogger(root, 'bus'), clock, health, onSheddingEnd,
    contract: servedContract(spec.name), checkResults: env.TERN_BUS_CHECK === '1' || env.TAP === '1',
  });
  let storePromise: Promise<Store> | undefined;
  const ctx: DaemonContext = {
    name: spec.name,
    paths,
    config: loaded.config,
    configHash: loaded.hash,
    logger: root,
    clock,
    health,
    bus,
    store: () => (storePromise ??= Store.open(paths.dbFile, { logger: componentLogger(root, 'store') })),
  };

  let hooks: DaemonHooks = {};
  let watchdog: TimerHandle | undefined;
  let stopping: Promise<void> | undefined;

  const reload = async (): Promise<{ configHash: string }> => {
    notify('RELOADING=1');
    try {
      const next = await loadConfig(paths.configFile);
      if (next.hash !== ctx.configHash) {
        await hooks.reload?.(next.config);
        ctx.config = next.config;
        ctx.configHash = next.hash;
      }
      health.clear('config.reload');
      log.info({ configHash: ctx.configHash }, 'runner: reload: configuration applied');
      bus.publish('daemon.reloaded', { daemon: spec.name, configHash: ctx.configHash });
      return { configHash: ctx.configHash };
    } catch (err) {
      const e = isTernError(err) ? err : new TernError('TERN_E_RUNNER_RELOAD', `runner: reload: ${errorMessage(err)}`, { cause: err });
      health.set('config.reload', `reload refused, previous configuration kept: ${e.message}`, 'error');
      log.error({ code: e.code, err: e.message }, 'runner: reload: refused; keeping the previous configuration');
      throw e;
    } finally {
      notify(`READY=1\nSTATUS=${statusLine(spec.name, health)}`);
    }
  };

  const stop = (): Promise<void> => (stopping ??= (async () => {
    notify('STOPPING=1');
    clock.clearInterval(watchdog);
    try {
      await withTimeout(hooks.stop?.() ?? Promise.resolve(), opts.stopTimeoutMs ?? 10_000, clock);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'runner: stop: the daemon did not stop cleanly');
    }
    await bus.close().catch(() => undefined);
    if (storePromise) await (await storePromise.catch(() => undefined))?.close().catch(() => undefined);
    for (const f of [pidPath(paths, spec.name), readyPath(paths, spec.name)]) fs.rmSync(f, { force: true });
    log.info('runner: stopped');
  })());

  bus.method('daemon.status', () => ({
    daemon: spec.name,
    pid: process.pid,
    startedAt,
    uptimeMs: clock.now() - startedAt,
    configHash: ctx.configHash,
    health: health.overall(),
    warnings: health.list(),
    bus: bus.stats(),
    memory: { rss: process.memoryUsage.rss(), reclaims, ...(lastReclaim ? { lastReclaim } : {}) },
    ...(hooks.status?.() ?? {}),
  }));
  bus.method('daemon.reload', () => reload());
  bus.method('health.list', () => ({ overall: health.overall(), warnings: health.list() }));
  health.on('change', (change: unknown) => {
    bus.publish('health.changed', { daemon: spec.name, change });
    notify(`STATUS=${statusLine(spec.name, health)}`);
  });

  try {
    await bus.listen();
    hooks = await spec.start(ctx);
  } catch (err) {
    await bus.close().catch(() => undefined);
    throw startError(spec.name, 'start', err);
  }

  fs.writeFileSync(pidPath(paths, spec.name), `${process.pid}\n`);
  fs.writeFileSync(readyPath(paths, spec.name), `${JSON.stringify({ pid: process.pid, startedAt, configHash: ctx.configHash })}\n`);
  notify(`READY=1\nMAINPID=${process.pid}\nSTATUS=${statusLine(spec.name, health)}`);
  const every = watchdogIntervalMs(env);
  if (every !== undefined) {
    watchdog = clock.setInterval(() => notify('WATCHDOG=1'), every);
    watchdog.unref?.();
  }
  log.info({ configHash: ctx.configHash, socket: socketPath(paths, spec.name), watchdogMs: every }, 'runner: ready');
  return { ctx, reload, stop };
}

/**
 * The entry point of a tern-* program: run the daemon, wire SIGHUP/SIGTERM,
 * exit 1 when it cannot start (systemd restarts it).
 */
export async function main(spec: DaemonSpec, opts: RunOptions = {}): Promise<void> {
  const logger = opts.logger ?? createLogger({ name: `tern-${spec.name}` });
  const fatal = (what: string) => (err: unknown): void => {
    logger.fatal({ code: isTernError(err) ? err.code : undefined, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined }, `runner: ${what}`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
  let d: RunningDaemon;
  try {
    d = await runDaemon(spec, { ...opts, logger });
  } catch (err) {
    fatal('start failed')(err);
    return;
  }
  process.on('SIGHUP', () => { d.reload().catch(() => undefined); });
  if (installHangHook(opts.env ?? process.env)) logger.warn(`runner: debug: ${hangHookEnv}=1: SIGUSR2 will hang the event loop`);
  let signals = 0;
  const onStop = (sig: string): void => {
    if (++signals > 1) process.exit(1);
    logger.info({ signal: sig }, 'runner: stopping');
    d.stop().then(() => process.exit(0), fatal('stop failed'));
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
}

/** The variable that arms the hang hook; see installHangHook. */
export const hangHookEnv = 'TERN_DEBUG_HANG';

/**
 * Test hook (issue 9): when TERN_DEBUG_HANG=1, SIGUSR2 blocks the event loop
 * for good, as a daemon stuck in a busy loop or a blocking call would be, so
 * the image test can prove the systemd watchdog restarts a hung daemon.
 * Atomics.wait parks the thread without burning CPU; no timer, socket or
 * signal handler of this process runs again. The shipped units never set the
 * variable; the image test adds it in a runtime drop-in. Returns whether
 * the hook was installed.
 */
export function installHangHook(env: NodeJS.ProcessEnv, proc: Pick<NodeJS.Process, 'on'> = process): boolean {
  if (env[hangHookEnv] !== '1') return false;
  proc.on('SIGUSR2', () => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); });
  return true;
}

/** The readiness file the lab and tests wait for: <runDir>/<daemon>.ready. */
export function readyPath(paths: Pick<RuntimePaths, 'runDir'>, daemon: string): string {
  return fileIn(paths.runDir, daemon, '.ready', 'daemon name');
}

function statusLine(name: string, health: Health): string {
  const ws = health.list();
  return ws.length === 0 ? `${name}: ok` : `${name}: ${health.overall()}: ${ws.map((w) => w.name).join(', ')}`;
}

function ensureDir(dir: string, mode: number): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw new TernError('TERN_E_PATHS', `runner: paths: cannot create ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}

function startError(name: string, step: string, err: unknown): TernError {
  const code = isTernError(err) ? ` [${err.code}]` : '';
  return new TernError('TERN_E_RUNNER_START', `runner: tern-${name}: ${step}: ${errorMessage(err)}${code}`, { cause: err });
}

function withTimeout(p: Promise<void>, ms: number, clock: Clock): Promise<void> {
  return new Promise((resolve, reject) => {
    const h = clock.setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(() => { clock.clearTimeout(h); resolve(); }, (e: unknown) => { clock.clearTimeout(h); reject(e); });
  });
}
