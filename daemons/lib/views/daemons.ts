// Reaching the appliance's daemons from ternctl, the exporter and the config
// transaction: one short-lived bus
// connection per daemon, short timeouts, and errors that say in plain words
// whether a daemon is not running, not responding, or not ours to ask.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { servedContract, type DaemonMethods } from '../api/index.js';
import { BusClient } from '../bus/index.js';
import { systemClock, type Clock } from '../clock/index.js';
import { TernError, errorMessage, isTernError } from '../errors.js';
import type { Warning } from '../health/index.js';
import { socketPath, type RuntimePaths } from '../paths/index.js';
import type net from 'node:net';

/** Every daemon ternctl knows, in the order status shows them. */
export const knownDaemons = ['tunneld', 'probed', 'steerd', 'paird', 'qosd', 'edged'] as const;
export type DaemonName = (typeof knownDaemons)[number];

/** The params and result of a daemon's method, by its contract. */
export type ParamsOf<D extends DaemonName, K extends keyof DaemonMethods[D]> = DaemonMethods[D][K] extends { params: infer P } ? P : never;
export type ResultOf<D extends DaemonName, K extends keyof DaemonMethods[D]> = DaemonMethods[D][K] extends { result: infer R } ? R : never;

/** running: answered; not running: no socket or nothing listening; not responding: no answer in time. */
export type LivenessState = 'running' | 'not running' | 'not responding' | 'permission denied';

/** One daemon as `status` shows it. */
export interface Liveness {
  daemon: string;
  state: LivenessState;
  socket: string;
  pid: number | null;
  uptimeMs: number | null;
  configHash: string | null;
  health: 'ok' | 'warning' | 'error' | null;
  warnings: Warning[];
  /** daemon.status fields beyond the runner's own (the daemon's status hook). */
  status: Record<string, unknown>;
  /** For people: why it is not running or not responding; null when running. */
  reason: string | null;
}

export interface DaemonsOptions {
  paths: Pick<RuntimePaths, 'runDir'>;
  /** Per request (default 2000 ms). */
  timeoutMs?: number;
  /** Per connection attempt (default the request timeout). */
  connectTimeoutMs?: number;
  clock?: Clock;
  /** Opens sockets; tests may wrap it. */
  connectSocket?: (path: string) => net.Socket;
}

const runnerKeys = new Set(['daemon', 'pid', 'startedAt', 'uptimeMs', 'configHash', 'health', 'warnings', 'bus', 'memory']);

/**
 * The daemons of one appliance. A daemon found unreachable once is not
 * tried again in the same run, so a command that asks it several things
 * waits for its timeout at most once.
 */
export class Daemons {
  private readonly paths: Pick<RuntimePaths, 'runDir'>;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly clock: Clock;
  private readonly connectSocket: ((path: string) => net.Socket) | undefined;
  private readonly clients = new Map<string, BusClient>();
  private readonly down = new Map<string, TernError>();
  private readonly methodCache = new Map<string, Promise<Set<string>>>();
  private readonly liveCache = new Map<string, Promise<Liveness>>();

  constructor(opts: DaemonsOptions) {
    this.paths = opts.paths;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? this.timeoutMs;
    this.clock = opts.clock ?? systemClock;
    this.connectSocket = opts.connectSocket;
  }

  socket(daemon: string): string {
    return socketPath(this.paths, daemon);
  }

  /**
   * Call a method of a daemon, typed by its contract (daemons/lib/api).
   * Throws TERN_E_CTL_DAEMON (not running, not responding),
   * TERN_E_CTL_PERMISSION, TERN_E_BUS_USAGE for a method the contract does
   * not declare (nothing is sent), or the daemon's own error.
   */
  ask<D extends DaemonName, K extends keyof DaemonMethods[D] & string>(
    daemon: D, method: K, params?: ParamsOf<D, K>, opts: { timeoutMs?: number } = {},
  ): Promise<ResultOf<D, K>> {
    return this.call<ResultOf<D, K>>(daemon, method, params as Record<string, unknown> | undefined, opts);
  }

  /**
   * call() untyped: for a daemon with a contract the method must be one of
   * it (its params are checked before they are sent).
   */
  async call<T = unknown>(daemon: string, method: string, params?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    const known = this.down.get(daemon);
    if (known) throw known;
    const client = this.client(daemon);
    try {
      const o = { timeoutMs: opts.timeoutMs ?? this.timeoutMs };
      return (client.contract ? await client.call(method, params, o) : await client.request<T>(method, params, o)) as T;
    } catch (err) {
      const e = this.explain(daemon, method, err, opts.timeoutMs ?? this.timeoutMs);
      if (e.code === 'TERN_E_CTL_DAEMON' || e.code === 'TERN_E_CTL_PERMISSION') this.down.set(daemon, e);
      throw e;
    }
  }

  /** call(), or undefined when the daemon is unreachable or does not serve the method. */
  async tryCall<T = unknown>(daemon: string, method: string, params?: Record<string, unknown>): Promise<T | undefined> {
    try {
      return await this.call<T>(daemon, method, params);
    } catch {
      return undefined;
    }
  }

  /** The methods a daemon serves (rpc.methods); empty when unreachable. */
  methods(daemon: string): Promise<Set<string>> {
    let p = this.methodCache.get(daemon);
    if (!p) {
      p = this.call<{ methods: string[] }>(daemon, 'rpc.methods').then((r) => new Set(r.methods), () => new Set<string>());
      this.methodCache.set(daemon, p);
    }
    return p;
  }

  /**
   * Is the daemon there, and what does daemon.status say. Never throws.
   * Asked once per run (see fresh()).
   */
  liveness(daemon: string): Promise<Liveness> {
    let p = this.liveCache.get(daemon);
    if (!p) {
      p = this.askStatus(daemon);
      this.liveCache.set(daemon, p);
    }
    return p;
  }

  /**
   * Forget what was learnt (liveness, methods, unreachable daemons), for
   * commands that ask again and again (--watch, the exporter).
   */
  fresh(): void {
    this.liveCache.clear();
    this.methodCache.clear();
    this.down.clear();
  }

  private async askStatus(daemon: string): Promise<Liveness> {
    const base: Liveness = {
      daemon, state: 'running', socket: this.socket(daemon), pid: null, uptimeMs: null, configHash: null,
      health: null, warnings: [], status: {}, reason: null,
    };
    try {
      const s = await this.call<Record<string, unknown>>(daemon, 'daemon.status');
      const status = Object.fromEntries(Object.entries(s).filter(([k]) => !runnerKeys.has(k)));
      return {
        ...base,
        pid: typeof s.pid === 'number' ? s.pid : null,
        uptimeMs: typeof s.uptimeMs === 'number' ? s.uptimeMs : null,
        configHash: typeof s.configHash === 'string' ? s.configHash : null,
        health: s.health === 'ok' || s.health === 'warning' || s.health === 'error' ? s.health : null,
        warnings: Array.isArray(s.warnings) ? (s.warnings as Warning[]) : [],
        status,
      };
    } catch (err) {
      return { ...base, state: livenessOf(err), reason: errorMessage(err).replace(/^ternctl: \S+ is (not running|not responding): /, '') };
    }
  }

  /** liveness() of every known daemon, in parallel (so the whole takes one timeout at most). */
  all(): Promise<Liveness[]> {
    return Promise.all(knownDaemons.map((d) => this.liveness(d)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }

  private client(daemon: string): BusClient {
    let c = this.clients.get(daemon);
    if (!c) {
      const contract = servedContract(daemon);
      c = new BusClient({
        ...(contract ? { contract, checkResults: false } : {}),
        socketPath: this.socket(daemon),
        timeoutMs: this.timeoutMs,
        connectTimeoutMs: this.connectTimeoutMs,
        reconnect: false,
        clock: this.clock,
        ...(this.connectSocket ? { connectSocket: this.connectSocket } : {}),
      });
      this.clients.set(daemon, c);
    }
    return c;
  }

  /** Turn a bus error into one a field engineer reads without knowing the bus. */
  private explain(daemon: string, method: string, err: unknown, timeoutMs: number): TernError {
    const sock = this.socket(daemon);
    if (!isTernError(err)) return new TernError('TERN_E_CTL_DAEMON', `ternctl: ${daemon}: ${method}: ${errorMessage(err)}`, { cause: err });
    const errno = err.details?.errno;
    if (err.code === 'TERN_E_BUS_CONNECT') {
      if (errno === 'EACCES' || errno === 'EPERM') {
        return new TernError('TERN_E_CTL_PERMISSION', `ternctl: ${daemon}: permission denied on ${sock}: run as root or join group tern`, {
          cause: err, details: { daemon, socket: sock, errno },
        });
      }
      if (errno === 'ENOENT' || errno === 'ECONNREFUSED' || errno === 'ENOTDIR') {
        const why = errno === 'ECONNREFUSED' ? `nothing listens on ${sock} (it left its socket behind)` : `no socket at ${sock}`;
        return new TernError('TERN_E_CTL_DAEMON', `ternctl: ${daemon} is not running: ${why}`, { cause: err, details: { daemon, socket: sock, state: 'not running' } });
      }
      if (!fs.existsSync(sock)) {
        return new TernError('TERN_E_CTL_DAEMON', `ternctl: ${daemon} is not running: no socket at ${sock}`, { cause: err, details: { daemon, socket: sock, state: 'not running' } });
      }
      return new TernError('TERN_E_CTL_DAEMON', `ternctl: ${daemon} is not responding: it did not accept a connection within ${this.connectTimeoutMs} ms`, {
        cause: err, details: { daemon, socket: sock, state: 'not responding' },
      });
    }
    if (err.code === 'TERN_E_BUS_TIMEOUT') {
      return new TernError('TERN_E_CTL_DAEMON', `ternctl: ${daemon} is not responding: no reply to ${method} within ${timeoutMs} ms`, {
        cause: err, details: { daemon, socket: sock, state: 'not responding', method },
      });
    }
    if (err.code === 'TERN_E_BUS_CLOSED') {
      return new TernError('TERN_E_CTL_DAEMON', `ternctl: ${daemon} closed the connection during ${method} (did it stop or crash?)`, {
        cause: err, details: { daemon, socket: sock, state: 'not responding', method },
      });
    }
    return err;
  }
}

/** The liveness state an error from Daemons.call() stands for. */
export function livenessOf(err: unknown): LivenessState {
  if (isTernError(err, 'TERN_E_CTL_PERMISSION')) return 'permission denied';
  if (isTernError(err, 'TERN_E_CTL_DAEMON')) return err.details?.state === 'not running' ? 'not running' : 'not responding';
  // The daemon answered, with an error: it runs.
  return 'running';
}

/**
 * The known daemons installed with Tern (<daemons dir>/<name>/main.js):
 * the ones a healthy box runs. A daemon not installed is not reported as down.
 */
export function installedDaemons(daemonsDir: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')): DaemonName[] {
  return knownDaemons.filter((d) => fs.existsSync(path.join(daemonsDir, d, 'main.js')));
}
