// The daemon side of the bus: answers JSON-RPC requests on a Unix socket and
// publishes notifications to the connections subscribed to them.
import net from 'node:net';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { TernError, errorMessage, isTernError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../clock/index.js';
import type { Health } from '../health/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { LineDecoder, defaultMaxMessageBytes, encodeLine, checkMaxMessageBytes, type Frame } from './framing.js';
import {
  errorResponse,
  invalidParams,
  parseMessage,
  successResponse,
  toErrorObject,
  type AnyMethods,
  type JsonRpcId,
  type JsonRpcResponse,
  type MethodMap,
  type PingResult,
  type SubscriptionResult,
} from './protocol.js';
import { anyMatches, patternProblem, topicProblem } from './topics.js';
import { lookupGroupId, prepareSocketPath } from './socketfile.js';
import { checkParams, contractError, type Contract } from '../api/contract.js';

/** What a method handler learns about the call besides its params. */
export interface RequestContext {
  method: string;
  /** The request id; undefined when the client sent a notification (no reply). */
  id: JsonRpcId | undefined;
  /** Which connection asked (for logs). */
  connectionId: number;
  /** Aborted when the client disconnects; a long handler may stop early. */
  signal: AbortSignal;
  logger: Logger;
}

export type MethodHandler<P, R> = (params: P, ctx: RequestContext) => R | Promise<R>;

/**
 * Checks raw params and returns them typed. It throws a TernError
 * (invalidParams() makes the usual TERN_E_BUS_INVALID_PARAMS one); any other
 * exception is reported to the client as invalid params with its message,
 * so a schema library's validator can be wrapped as it is.
 */
export type ParamsValidator<P> = (params: unknown) => P;

export interface BusServerOptions {
  /** Where to listen, normally socketPath(paths, daemon): /run/tern/<daemon>.sock. */
  socketPath: string;
  /** Name rpc.ping reports; default the socket file name without `.sock`. */
  daemon?: string;
  /** Default: a silent logger; daemons pass their `bus` component logger. */
  logger?: Logger;
  /** Default systemClock. */
  clock?: Clock;
  /** Largest reply or notification sent, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /**
   * Largest message a client may send, in bytes (default 64 KiB, at most
   * maxMessageBytes). Requests are small (a method and a few params); this is
   * also the most one connection can make the daemon hold for a message
   * that has not ended yet.
   */
  maxRequestBytes?: number;
  /**
   * Bytes a connection may have waiting to be sent before it is dropped as
   * a slow consumer (default 8 MiB; at least maxMessageBytes).
   */
  maxWriteBufferBytes?: number;
  /**
   * Bytes waiting to be sent across all connections before the one with the
   * most waiting is dropped as a slow consumer (default 32 MiB; at least
   * maxWriteBufferBytes).
   */
  maxUnsentBytes?: number;
  /**
   * Connections open at once (default 64). At the limit a new connection
   * takes the place of one holding an unfinished message, else of one quiet
   * for idleEvictMs with no subscription; else it is refused.
   */
  maxConnections?: number;
  /**
   * Memory held for unfinished messages across all connections (default
   * 1 MiB; at least maxRequestBytes + 1). Over it, the connection holding the
   * most is closed.
   */
  maxBufferedBytes?: number;
  /** How long a client may take to finish a message it began (default 5000 ms). */
  incompleteTimeoutMs?: number;
  /**
   * How long a connection with no subscription and nothing running must have
   * been quiet before it may give its place to a new one at maxConnections
   * (default 30000 ms).
   */
  idleEvictMs?: number;
  /**
   * Where the warning bus.shedding is raised while the server refuses or
   * closes connections at its limits; default none.
   */
  health?: Health;
  /** Shedding is logged at most once per this interval, and its warning cleared after one without (default 10000 ms). */
  shedReportMs?: number;
  /**
   * Called once each time shedding ends (a report interval without any):
   * the moment to give back the memory the burst left (runner: reclaimMemory).
   */
  onSheddingEnd?: () => void;
  /** Requests one connection may have running before its reads pause (default 64). */
  maxInFlight?: number;
  /** Subscription patterns one connection may hold (default 256). */
  maxTopicsPerConnection?: number;
  /** Socket file mode (default 0o660). */
  mode?: number;
  /**
   * Group of the socket file: a name or gid; default `tern` when that group
   * exists, else the process's group; false leaves the group alone.
   */
  group?: string | number | false;
  /** Where group names are looked up (default /etc/group). */
  groupFile?: string;
  /**
   * The socket's contract (daemons/lib/api): only its methods may be
   * registered, and their params are checked against it before the handler
   * runs. Default none: nothing is checked but what method() is given.
   */
  contract?: Contract;
  /**
   * With a contract: also check each result (a mismatch is answered with
   * TERN_E_BUS_CONTRACT) and each published payload (a mismatch is not
   * sent). Costs a check per message, so on in tests and development:
   * default true when TERN_BUS_CHECK=1 or under tap (TAP=1).
   */
  checkResults?: boolean;
}

/** Counters a daemon can put in its status output. */
export interface BusServerStats {
  /** Connections open (not being closed by the server). */
  connections: number;
  /** Connections with at least one subscription pattern. */
  subscribers: number;
  /** Connections dropped because they did not read what was sent to them. */
  droppedSlowConsumers: number;
  /** Connections closed because they sent a message over maxRequestBytes. */
  closedTooLarge: number;
  /** Connections refused at maxConnections. */
  refusedConnections: number;
  /** Connections closed at maxConnections to make room for a new one. */
  evictedConnections: number;
  /** Connections closed for not finishing a message within incompleteTimeoutMs. */
  closedIncomplete: number;
  /** Connections closed because unfinished messages across connections passed maxBufferedBytes. */
  closedOverBuffer: number;
  /** Memory held now for unfinished messages, all connections. */
  bufferedBytes: number;
  /** Bytes waiting to be sent now, all connections. */
  unsentBytes: number;
  /** Most connections open at once since the server started. */
  peakConnections: number;
  /** Most memory held for unfinished messages at once since the server started (after the cap is enforced on each read). */
  peakBufferedBytes: number;
  /** True while the server is shedding connections at its limits (see bus.shedding). */
  shedding: boolean;
  /** Results and payloads that did not match the contract (checked with checkResults only). */
  contractViolations: number;
}

/** Why the server refused or closed a connection at one of its limits. */
type ShedReason = 'refused' | 'evicted' | 'incomplete' | 'over-buffer' | 'too-large' | 'slow-consumer';

interface MethodEntry {
  run(params: unknown, ctx: RequestContext, conn: Connection): unknown;
}

class Connection {
  readonly topics = new Set<string>();
  readonly abort = new AbortController();
  readonly decoder: LineDecoder;
  inFlight = 0;
  /** The client sent EOF; close our side once running requests are answered. */
  ended = false;
  /** Being closed by us: further input is ignored. */
  closing = false;
  closed = false;
  /** Reading stopped by us (requests running, or replies not read). */
  held = false;
  /** Messages read but not yet handled, waiting for the connection to be let go on. */
  readonly queue: Frame[] = [];
  /** This connection's share of the server's buffered total. */
  buffered = 0;
  /** Monotonic ms when the unfinished message began (or reading resumed); undefined when none. */
  partialSince: number | undefined;
  partialTimer: TimerHandle | undefined;
  /** Monotonic ms of the last bytes received. */
  lastActive: number;

  constructor(readonly id: number, readonly socket: net.Socket, maxRequestBytes: number, now: number) {
    this.decoder = new LineDecoder({ maxMessageBytes: maxRequestBytes });
    this.lastActive = now;
  }
}

const builtinPrefix = 'rpc.';
const probeTimeoutMs = 1000;
/** How long a connection closed for a too-large message gets to flush its error reply. */
const closeGraceMs = 1000;
/** The health warning raised while shedding. */
export const sheddingWarning = 'bus.shedding';

/**
 * A JSON-RPC 2.0 server on a Unix socket. Declare methods with method(),
 * then listen(). M declares the methods' types and T the topics'
 * notification params; both are optional.
 *
 * No input from a client can crash it or grow its memory without bound:
 * malformed messages get error replies, oversized or unfinished ones close
 * that connection, connections are capped, memory held for unfinished
 * messages is capped across connections, and a client that stops reading is
 * dropped once maxWriteBufferBytes is waiting for it (maxUnsentBytes across
 * all). Each limit reached is counted in stats(), logged at most once per
 * shedReportMs and raised as the health warning bus.shedding.
 */
export class BusServer<M extends MethodMap<M> = AnyMethods, T extends object = Record<string, unknown>> {
  readonly socketPath: string;
  readonly daemon: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly maxMessageBytes: number;
  private readonly maxRequestBytes: number;
  private readonly maxWriteBufferBytes: number;
  private readonly maxUnsentBytes: number;
  private readonly maxConnections: number;
  private readonly maxBufferedBytes: number;
  private readonly incompleteTimeoutMs: number;
  private readonly idleEvictMs: number;
  private readonly health: Health | undefined;
  private readonly shedReportMs: number;
  private readonly onSheddingEnd: (() => void) | undefined;
  private readonly maxInFlight: number;
  private readonly maxTopics: number;
  private readonly mode: number;
  private readonly group: string | number | false | undefined;
  private readonly groupFile: string;
  private readonly methods = new Map<string, MethodEntry>();
  private readonly contract: Contract | undefined;
  private readonly checkResults: boolean;
  private contractViolations = 0;
  private readonly conns = new Set<Connection>();
  private server: net.Server | undefined;
  private inode: number | undefined;
  private closing: Promise<void> | undefined;
  private startedAt = 0;
  private nextConnId = 1;
  /** Connections in conns not being closed by us: what maxConnections counts. */
  private open = 0;
  private bufferedTotal = 0;
  private peakConnections = 0;
  private peakBuffered = 0;
  private readonly shed: Record<ShedReason, number> = { refused: 0, evicted: 0, incomplete: 0, 'over-buffer': 0, 'too-large': 0, 'slow-consumer': 0 };
  /** Shed events since the last report; undefined while not shedding. */
  private shedWindow: Partial<Record<ShedReason, number>> | undefined;
  private shedTimer: TimerHandle | undefined;

  constructor(opts: BusServerOptions) {
    this.socketPath = path.resolve(opts.socketPath);
    this.daemon = opts.daemon ?? path.basename(this.socketPath).replace(/\.sock$/, '');
    this.log = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? systemClock;
    this.maxMessageBytes = checkMaxMessageBytes(opts.maxMessageBytes ?? defaultMaxMessageBytes);
    this.maxRequestBytes = opts.maxRequestBytes ?? Math.min(64 * 1024, this.maxMessageBytes);
    if (!Number.isSafeInteger(this.maxRequestBytes) || this.maxRequestBytes < 1 || this.maxRequestBytes > this.maxMessageBytes) {
      throw usage(`maxRequestBytes is ${this.maxRequestBytes}; want a positive integer of at most maxMessageBytes (${this.maxMessageBytes})`);
    }
    this.maxWriteBufferBytes = opts.maxWriteBufferBytes ?? Math.max(8 * 1024 * 1024, this.maxMessageBytes);
    if (!Number.isSafeInteger(this.maxWriteBufferBytes) || this.maxWriteBufferBytes < this.maxMessageBytes) {
      throw usage(`maxWriteBufferBytes is ${this.maxWriteBufferBytes}; want an integer of at least maxMessageBytes (${this.maxMessageBytes})`);
    }
    this.maxUnsentBytes = opts.maxUnsentBytes ?? Math.max(32 * 1024 * 1024, this.maxWriteBufferBytes);
    if (!Number.isSafeInteger(this.maxUnsentBytes) || this.maxUnsentBytes < this.maxWriteBufferBytes) {
      throw usage(`maxUnsentBytes is ${this.maxUnsentBytes}; want an integer of at least maxWriteBufferBytes (${this.maxWriteBufferBytes})`);
    }
    this.maxConnections = positiveInt('maxConnections', opts.maxConnections ?? 64);
    // One more byte than a request: a request of exactly maxRequestBytes
    // waits for the \n of its \r\n.
    this.maxBufferedBytes = opts.maxBufferedBytes ?? Math.max(1024 * 1024, this.maxRequestBytes + 1);
    if (!Number.isSafeInteger(this.maxBufferedBytes) || this.maxBufferedBytes < this.maxRequestBytes + 1) {
      throw usage(`maxBufferedBytes is ${this.maxBufferedBytes}; want an integer of at least maxRequestBytes + 1 (${this.maxRequestBytes + 1})`);
    }
    this.incompleteTimeoutMs = positiveInt('incompleteTimeoutMs', opts.incompleteTimeoutMs ?? 5000);
    this.idleEvictMs = positiveInt('idleEvictMs', opts.idleEvictMs ?? 30_000);
    this.shedReportMs = positiveInt('shedReportMs', opts.shedReportMs ?? 10_000);
    this.health = opts.health;
    this.onSheddingEnd = opts.onSheddingEnd;
    this.maxInFlight = positiveInt('maxInFlight', opts.maxInFlight ?? 64);
    this.maxTopics = positiveInt('maxTopicsPerConnection', opts.maxTopicsPerConnection ?? 256);
    this.mode = opts.mode ?? 0o660;
    if (!Number.isInteger(this.mode) || this.mode < 0 || this.mode > 0o777) {
      throw usage(`mode is ${this.mode}; want permission bits between 0 and 0o777`);
    }
    this.group = opts.group;
    this.groupFile = opts.groupFile ?? '/etc/group';
    this.contract = opts.contract;
    this.checkResults = opts.checkResults ?? (process.env.TERN_BUS_CHECK === '1' || process.env.TAP === '1');
    this.addBuiltins();
  }

  /**
   * Serve method name with handler. With a contract, name must be one of
   * its methods and the params are checked against it first; validate, when
   * given, checks the raw params (after the contract); without either the
   * handler gets params as sent (possibly undefined).
   */
  method<K extends keyof M & string>(
    name: K,
    handler: MethodHandler<M[K]['params'], M[K]['result']>,
    validate?: ParamsValidator<M[K]['params']>,
  ): this {
    if (typeof name !== 'string' || name.length === 0) throw usage(`method name is ${JSON.stringify(name)}; want a non-empty string`);
    if (name.startsWith(builtinPrefix)) throw usage(`method ${name}: names starting with ${builtinPrefix} are reserved for the bus`);
    if (this.methods.has(name)) throw usage(`method ${name} is already registered; want each method declared once`);
    const declared = this.contract?.methods[name];
    if (this.contract && !declared) {
      throw usage(`method ${name} is not in the ${this.contract.daemon} contract; declare it in daemons/lib/api first`);
    }
    this.methods.set(name, {
      run: (raw, ctx) => {
        let params: M[K]['params'];
        if (declared) raw = checkParams(declared, raw);
        if (validate) {
          try {
            params = validate(raw);
          } catch (err) {
            throw isTernError(err) ? err : invalidParams(name, errorMessage(err));
          }
        } else {
          params = raw as M[K]['params'];
        }
        if (!declared || !this.checkResults) return handler(params, ctx);
        return Promise.resolve(handler(params, ctx)).then((result) => {
          const m = declared.result.mismatch(result === undefined ? null : result);
          if (!m) return result;
          this.contractViolations++;
          const err = contractError(`bus server: ${this.daemon}`, `result of ${name}`, m);
          this.log.error({ method: name, ...m }, `${err.message}; the contract in daemons/lib/api and the daemon disagree`);
          throw err;
        });
      },
    });
    return this;
  }

  /** Names of every method served, built-ins included, sorted. */
  methodNames(): string[] {
    return [...this.methods.keys()].sort();
  }

  /**
   * Send the notification {method: topic, params} to every connection
   * subscribed to topic. Returns how many connections it was written to.
   * Throws TERN_E_BUS_USAGE for a bad topic or params that are not a JSON
   * object or array, and TERN_E_BUS_TOO_LARGE when the notification would
   * exceed maxMessageBytes.
   */
  publish<K extends keyof T & string>(topic: K, params: T[K]): number {
    const problem = topicProblem(topic);
    if (problem) throw usage(`publish: topic: ${problem}`);
    if (this.contract) {
      const declared = this.contract.topics[topic];
      if (!declared) throw usage(`publish ${topic}: the topic is not in the ${this.contract.daemon} contract; declare it in daemons/lib/api first`);
      const m = this.checkResults ? declared.payload.mismatch(params) : undefined;
      if (m) {
        // Not sent: a subscriber would refuse it anyway, and this is a bug to see in tests.
        this.contractViolations++;
        this.log.error({ topic, ...m }, `${contractError(`bus server: ${this.daemon}`, `topic ${topic}`, m).message}; not published`);
        return 0;
      }
    }
    if (params !== undefined && (typeof params !== 'object' || params === null)) {
      throw usage(`publish ${topic}: params is ${params === null ? 'null' : typeof params}; want an object, an array or undefined`);
    }
    let line: string;
    try {
      line = encodeLine({ jsonrpc: '2.0', method: topic, ...(params === undefined ? {} : { params }) });
    } catch (err) {
      throw usage(`publish ${topic}: params cannot be sent as JSON: ${errorMessage(err)}`);
    }
    const bytes = Buffer.byteLength(line) - 1;
    if (bytes > this.maxMessageBytes) {
      throw new TernError('TERN_E_BUS_TOO_LARGE', `bus server: publish ${topic}: the notification is ${bytes} bytes; want at most ${this.maxMessageBytes}`, {
        details: { topic, bytes, maxMessageBytes: this.maxMessageBytes },
      });
    }
    let sent = 0;
    for (const conn of this.conns) {
      if (conn.closing || !anyMatches(conn.topics, topic)) continue;
      if (this.write(conn, line)) sent++;
    }
    return sent;
  }

  stats(): BusServerStats {
    let subscribers = 0;
    for (const c of this.conns) if (!c.closing && c.topics.size > 0) subscribers++;
    return {
      connections: this.open,
      subscribers,
      droppedSlowConsumers: this.shed['slow-consumer'],
      closedTooLarge: this.shed['too-large'],
      refusedConnections: this.shed.refused,
      evictedConnections: this.shed.evicted,
      closedIncomplete: this.shed.incomplete,
      closedOverBuffer: this.shed['over-buffer'],
      bufferedBytes: this.bufferedTotal,
      unsentBytes: this.unsentBytes(),
      peakConnections: this.peakConnections,
      peakBufferedBytes: this.peakBuffered,
      shedding: this.shedWindow !== undefined,
      contractViolations: this.contractViolations,
    };
  }

  /**
   * Bind the socket. Creates its directory when missing and replaces a stale
   * socket file nothing answers on; throws TERN_E_BUS_LISTEN when another
   * instance answers there or the socket cannot be bound or given its mode
   * and group.
   */
  async listen(): Promise<void> {
    if (this.server || this.closing) throw usage(`listen on ${this.socketPath}: already called; want one listen() per server`);
    const where = `bus server: listen on ${this.socketPath}`;
    const prepared = await prepareSocketPath(this.socketPath, this.clock, probeTimeoutMs);
    if (prepared === 'replaced-stale') this.log.info({ socketPath: this.socketPath }, 'bus server: removed a stale socket file nothing answered on');
    const gid = await this.resolveGroup(where);

    // Paused on accept: a connection refused at the limit is never read.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.onConnection(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE'
        ? 'the socket appeared while starting: another instance is starting; want it stopped first'
        : code === 'EACCES'
          ? 'permission denied on the directory'
          : errorMessage(err);
      throw new TernError('TERN_E_BUS_LISTEN', `${where}: ${why}`, { cause: err, details: { socketPath: this.socketPath, errno: code } });
    }
    try {
      // The socket is created under the process umask (0022 leaves only the
      // owner able to connect), then widened to mode: never wider between.
      await fsp.chmod(this.socketPath, this.mode);
      const st = await fsp.lstat(this.socketPath);
      // A daemon whose primary group is the socket's (the units: Group=tern)
      // binds it in that group already; it makes no chown call, which its
      // unit's system call filter (~@privileged) would refuse.
      if (gid !== undefined && st.gid !== gid) await fsp.chown(this.socketPath, -1, gid);
      this.inode = st.ino;
    } catch (err) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw new TernError('TERN_E_BUS_LISTEN', `${where}: cannot set mode ${this.mode.toString(8)} and group ${gid ?? '(unchanged)'}: ${errorMessage(err)}`, {
        cause: err,
        details: { socketPath: this.socketPath },
      });
    }
    server.on('error', (err) => this.log.error({ err, socketPath: this.socketPath }, 'bus server: socket error'));
    this.server = server;
    this.startedAt = this.clock.monotonic();
    this.log.info({ socketPath: this.socketPath, mode: this.mode.toString(8), gid }, 'bus server: listening');
  }

  /**
   * Stop: close every connection (running handlers see ctx.signal aborted
   * and their results are dropped), stop listening and remove the socket
   * file if it is still ours. Safe to call more than once.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const server = this.server;
    for (const conn of this.conns) this.destroy(conn);
    this.clock.clearInterval(this.shedTimer);
    this.shedTimer = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      // Only unlink the file we bound: if it was replaced meanwhile, it
      // belongs to another instance.
      const st = await fsp.lstat(this.socketPath);
      if (st.ino === this.inode) await fsp.unlink(this.socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ err, socketPath: this.socketPath }, 'bus server: close: could not remove the socket file');
      }
    }
    this.log.info({ socketPath: this.socketPath }, 'bus server: closed');
  }

  private async resolveGroup(where: string): Promise<number | undefined> {
    const group = this.group;
    if (group === false) return undefined;
    if (typeof group === 'number') {
      if (!Number.isInteger(group) || group < 0) throw usage(`group is ${group}; want a gid, a group name or false`);
      return group;
    }
    let gid: number | undefined;
    try {
      gid = await lookupGroupId(group ?? 'tern', this.groupFile);
    } catch (err) {
      throw new TernError('TERN_E_BUS_LISTEN', `${where}: cannot read ${this.groupFile}: ${errorMessage(err)}`, { cause: err });
    }
    if (gid === undefined && group !== undefined) {
      throw new TernError('TERN_E_BUS_LISTEN', `${where}: group ${group} does not exist in ${this.groupFile}; want an existing group`, {
        details: { socketPath: this.socketPath, group },
      });
    }
    if (gid === undefined) this.log.debug('bus server: no group tern; the socket keeps the process group');
    return gid;
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.open >= this.maxConnections && !this.evictForNewcomer()) {
      this.refuse(socket);
      return;
    }
    const conn = new Connection(this.nextConnId++, socket, this.maxRequestBytes, this.clock.monotonic());
    this.conns.add(conn);
    this.open++;
    this.peakConnections = Math.max(this.peakConnections, this.open);
    this.log.debug({ conn: conn.id }, 'bus server: connection opened');
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('end', () => {
      conn.ended = true;
      const dropped = conn.decoder.pendingBytes;
      this.releaseInput(conn);
      if (dropped > 0) this.log.debug({ conn: conn.id, bytes: dropped }, 'bus server: client closed in the middle of a message; dropped it');
      if (conn.inFlight === 0 && conn.queue.length === 0 && !conn.closing) socket.end();
    });
    socket.on('drain', () => this.pump(conn));
    // Errors here are the client's doing (reset, broken pipe); 'close' follows.
    socket.on('error', (err) => this.log.debug({ conn: conn.id, err: errorMessage(err) }, 'bus server: connection error'));
    socket.on('close', () => {
      if (!conn.closing) this.open--;
      conn.closed = true;
      conn.abort.abort();
      this.releaseInput(conn);
      this.conns.delete(conn);
      this.log.debug({ conn: conn.id }, 'bus server: connection closed');
    });
    socket.resume();
  }

  /**
   * At maxConnections: close the connection holding the oldest unfinished
   * message, else the one quiet longest (at least idleEvictMs) with no
   * subscription, nothing running and nothing unsent, so a parked or idle
   * client cannot keep the daemons' own clients out. Returns whether one
   * was closed.
   */
  private evictForNewcomer(): boolean {
    const now = this.clock.monotonic();
    let parked: Connection | undefined;
    let idle: Connection | undefined;
    for (const c of this.conns) {
      if (c.closing) continue;
      // A held connection's message waits on us, not on its client.
      if (c.partialSince !== undefined && !c.held) {
        if (!parked || c.partialSince < parked.partialSince!) parked = c;
      } else if (c.topics.size === 0 && c.inFlight === 0 && c.socket.writableLength === 0 && now - c.lastActive >= this.idleEvictMs) {
        if (!idle || c.lastActive < idle.lastActive) idle = c;
      }
    }
    const victim = parked ?? idle;
    if (!victim) return false;
    const why = parked
      ? `a message begun ${Math.round(now - parked.partialSince!)} ms ago is still unfinished`
      : `quiet for ${Math.round(now - victim.lastActive)} ms with no subscription`;
    this.closeWithError(victim, 'evicted', busy(`the daemon is at its limit of ${this.maxConnections} connections and this one gave its place to a new one (${why})`, { maxConnections: this.maxConnections }));
    return true;
  }

  /** Tell a connection over maxConnections why, and close it unread. */
  private refuse(socket: net.Socket): void {
    socket.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'bus server: refused connection: error'));
    this.noteShed('refused');
    const err = busy(`the daemon is at its limit of ${this.maxConnections} connections; retry later`, { maxConnections: this.maxConnections });
    this.endWith(socket, encodeLine(errorResponse(null, toErrorObject(err, '').error)));
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.closing) return;
    conn.lastActive = this.clock.monotonic();
    for (const frame of conn.decoder.push(chunk)) conn.queue.push(frame);
    this.account(conn);
    this.pump(conn);
  }

  /**
   * Handle conn's queued messages while it may take more work, then stop or
   * resume reading it, and end it once the client's EOF left nothing to do.
   */
  private pump(conn: Connection): void {
    while (conn.queue.length > 0 && !conn.closing && !conn.closed && !this.mustHold(conn)) {
      const frame = conn.queue.shift()!;
      if (frame.kind === 'line') {
        this.onLine(conn, frame.text);
      } else if (frame.kind === 'invalid-utf8') {
        const err = new TernError('TERN_E_BUS_PARSE', `bus: parse: a ${frame.bytes}-byte message is not valid UTF-8; want UTF-8 JSON`);
        this.reply(conn, errorResponse(null, toErrorObject(err, '').error), '');
      } else {
        this.closeTooLarge(conn, frame.bytes);
      }
    }
    if (conn.closing || conn.closed) return;
    this.updateReading(conn);
    if (conn.ended && conn.inFlight === 0 && conn.queue.length === 0) conn.socket.end();
  }

  /**
   * Whether conn must wait before more of its requests are handled: it has
   * maxInFlight running, or more than one message's worth of replies it has
   * not read (back-pressure: a client that does not read cannot queue more
   * work, even with requests already read).
   */
  private mustHold(conn: Connection): boolean {
    return conn.inFlight >= this.maxInFlight || conn.socket.writableLength > this.maxMessageBytes;
  }

  /**
   * Bring the server's buffered total and conn's unfinished-message timer up
   * to date after its decoder changed; over maxBufferedBytes, close the
   * connections holding the most until under.
   */
  private account(conn: Connection): void {
    const held = conn.decoder.bufferedBytes;
    this.bufferedTotal += held - conn.buffered;
    conn.buffered = held;
    if (conn.decoder.pendingBytes === 0) {
      conn.partialSince = undefined;
      this.clock.clearTimeout(conn.partialTimer);
      conn.partialTimer = undefined;
    } else if (conn.partialSince === undefined) {
      conn.partialSince = this.clock.monotonic();
      if (!conn.held) this.armIncomplete(conn);
    }
    while (this.bufferedTotal > this.maxBufferedBytes) {
      let top: Connection | undefined;
      for (const c of this.conns) if (!c.closing && c.buffered > 0 && (!top || c.buffered > top.buffered)) top = c;
      if (!top) break;
      this.closeWithError(top, 'over-buffer', busy(
        `the daemon holds ${this.bufferedTotal} bytes of unfinished messages, over its limit of ${this.maxBufferedBytes}, and this connection held the most (${top.buffered}); want each message sent whole, ended by \\n`,
        { maxBufferedBytes: this.maxBufferedBytes },
      ));
    }
    // Counted once the cap is enforced: what stays held. The read that
    // crossed it was over only until the loop above closed a holder.
    this.peakBuffered = Math.max(this.peakBuffered, this.bufferedTotal);
  }

  private armIncomplete(conn: Connection): void {
    this.clock.clearTimeout(conn.partialTimer);
    conn.partialTimer = this.clock.setTimeout(() => {
      conn.partialTimer = undefined;
      if (conn.closing || conn.closed || conn.partialSince === undefined) return;
      const pending = conn.decoder.pendingBytes;
      const err = new TernError(
        'TERN_E_BUS_INCOMPLETE',
        `bus: read: a message begun ${this.incompleteTimeoutMs} ms ago is not finished (${pending} bytes, no newline); want each message sent whole, ended by \\n; closing the connection`,
        { details: { bytes: pending, incompleteTimeoutMs: this.incompleteTimeoutMs } },
      );
      this.closeWithError(conn, 'incomplete', err);
    }, this.incompleteTimeoutMs);
    conn.partialTimer.unref?.();
  }

  /** Let go of conn's unfinished message and its share of the buffered total. */
  private releaseInput(conn: Connection): void {
    conn.decoder.finish();
    if (conn.closing || conn.closed) conn.queue.length = 0;
    this.bufferedTotal -= conn.buffered;
    conn.buffered = 0;
    conn.partialSince = undefined;
    this.clock.clearTimeout(conn.partialTimer);
    conn.partialTimer = undefined;
  }

  /**
   * Stop reading conn while it must wait (see mustHold) or has messages
   * queued; read again once it may go on. The unfinished-message clock
   * stops meanwhile: the wait is ours.
   */
  private updateReading(conn: Connection): void {
    if (conn.closing || conn.closed) return;
    const hold = conn.queue.length > 0 || this.mustHold(conn);
    if (hold && !conn.held) {
      conn.held = true;
      conn.socket.pause();
      this.clock.clearTimeout(conn.partialTimer);
      conn.partialTimer = undefined;
    } else if (!hold && conn.held) {
      conn.held = false;
      if (conn.partialSince !== undefined) {
        conn.partialSince = this.clock.monotonic();
        this.armIncomplete(conn);
      }
      conn.socket.resume();
    }
  }

  private onLine(conn: Connection, text: string): void {
    const msg = parseMessage(text);
    switch (msg.kind) {
      case 'invalid':
        this.log.debug({ conn: conn.id, err: msg.error.message }, 'bus server: invalid message');
        this.reply(conn, errorResponse(msg.id, toErrorObject(msg.error, '').error), '');
        return;
      case 'response':
        this.log.debug({ conn: conn.id, id: msg.message.id }, 'bus server: ignored a response: the server sends no requests');
        return;
      case 'request':
        this.dispatch(conn, msg.message.method, msg.message.params, msg.message.id);
        return;
      case 'notification':
        this.dispatch(conn, msg.message.method, msg.message.params, undefined);
        return;
    }
  }

  /** Run a method; id undefined means a notification: run it, never reply. */
  private dispatch(conn: Connection, method: string, params: unknown, id: JsonRpcId | undefined): void {
    const entry = this.methods.get(method);
    if (!entry) {
      if (id === undefined) return;
      const err = new TernError('TERN_E_BUS_METHOD_NOT_FOUND', `bus: ${method}: no such method on ${this.daemon}; rpc.methods lists them`);
      this.reply(conn, errorResponse(id, toErrorObject(err, method).error), method);
      return;
    }
    const ctx: RequestContext = { method, id, connectionId: conn.id, signal: conn.abort.signal, logger: this.log };
    conn.inFlight++;
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(entry.run(params, ctx, conn));
    } catch (err) {
      outcome = Promise.reject(err);
    }
    outcome
      .then(
        (result) => {
          if (id !== undefined) this.reply(conn, successResponse(id, result), method);
        },
        (err: unknown) => {
          const { error, expected } = toErrorObject(err, method);
          if (!expected) this.log.error({ err, conn: conn.id, method }, 'bus server: method handler failed unexpectedly');
          else this.log.debug({ conn: conn.id, method, code: (err as TernError).code }, 'bus server: method returned an error');
          if (id !== undefined) this.reply(conn, errorResponse(id, error), method);
        },
      )
      .finally(() => this.settled(conn))
      .catch((err: unknown) => this.log.error({ err, method }, 'bus server: reply failed'));
  }

  private settled(conn: Connection): void {
    conn.inFlight--;
    if (conn.closed) return;
    this.pump(conn);
  }

  /** Send a response, unless the client is gone (then the result is dropped). */
  private reply(conn: Connection, response: JsonRpcResponse, method: string): void {
    if (conn.closed || conn.closing) {
      this.log.debug({ conn: conn.id, method }, 'bus server: client left before the reply; dropped it');
      return;
    }
    let line: string;
    try {
      line = encodeLine(response);
    } catch (err) {
      this.log.error({ err, conn: conn.id, method }, 'bus server: reply cannot be sent as JSON');
      line = encodeLine(errorResponse(response.id, toErrorObject(err, method).error));
    }
    const bytes = Buffer.byteLength(line) - 1;
    if (bytes > this.maxMessageBytes) {
      const err = new TernError('TERN_E_BUS_TOO_LARGE', `bus: ${method}: the reply is ${bytes} bytes; want at most ${this.maxMessageBytes}`, {
        details: { bytes, maxMessageBytes: this.maxMessageBytes },
      });
      this.log.error({ conn: conn.id, method, bytes }, 'bus server: reply too large; sent an error instead');
      line = encodeLine(errorResponse(response.id, toErrorObject(err, method).error));
    }
    this.write(conn, line);
  }

  /**
   * Queue line on conn. Drops the connection when more than
   * maxWriteBufferBytes waits for it, and the ones with the most waiting
   * while more than maxUnsentBytes waits across all.
   */
  private write(conn: Connection, line: string): boolean {
    const socket = conn.socket;
    if (conn.closed || conn.closing || socket.destroyed || !socket.writable) return false;
    socket.write(line);
    const unsent = socket.writableLength;
    if (unsent === 0) return true;
    if (unsent > this.maxWriteBufferBytes) {
      this.dropSlow(conn, `${unsent} bytes wait for it, over the limit of ${this.maxWriteBufferBytes} per connection`);
      return false;
    }
    let total = this.unsentBytes();
    while (total > this.maxUnsentBytes) {
      let top: Connection | undefined;
      for (const c of this.conns) if (!c.closing && (!top || c.socket.writableLength > top.socket.writableLength)) top = c;
      if (!top) break;
      total -= top.socket.writableLength;
      this.dropSlow(top, `${top.socket.writableLength} bytes wait for it, the most while ${this.maxUnsentBytes} bytes wait across connections`);
    }
    if (conn.closing) return false;
    if (unsent > this.maxMessageBytes) this.updateReading(conn);
    return true;
  }

  private unsentBytes(): number {
    let n = 0;
    for (const c of this.conns) if (!c.closing) n += c.socket.writableLength;
    return n;
  }

  /** Drop a connection that is not reading what is sent to it (telling it would only add to its backlog). */
  private dropSlow(conn: Connection, why: string): void {
    this.noteShed('slow-consumer', { conn: conn.id, why, topics: [...conn.topics] });
    this.destroy(conn);
  }

  private closeTooLarge(conn: Connection, bytes: number): void {
    const err = new TernError(
      'TERN_E_BUS_TOO_LARGE',
      `bus: read: a message passed ${this.maxRequestBytes} bytes (${bytes} seen without a newline); want at most ${this.maxRequestBytes} bytes per request; closing the connection`,
      { details: { maxRequestBytes: this.maxRequestBytes } },
    );
    this.closeWithError(conn, 'too-large', err);
  }

  /**
   * Close conn at a limit: count and report it, let go of its input at once,
   * send err (id null) and close once it is flushed.
   */
  private closeWithError(conn: Connection, reason: ShedReason, err: TernError): void {
    this.noteShed(reason, { conn: conn.id, err: err.message });
    this.markClosing(conn);
    this.releaseInput(conn);
    this.endWith(conn.socket, encodeLine(errorResponse(null, toErrorObject(err, '').error)));
  }

  /**
   * Send line and close once it is flushed, or after closeGraceMs when the
   * client reads nothing. Nothing more is read: whatever the client still
   * sends is left to the kernel, which drops it with the socket.
   */
  private endWith(socket: net.Socket, line: string): void {
    const timer = this.clock.setTimeout(() => socket.destroy(), closeGraceMs);
    timer.unref?.();
    socket.once('close', () => this.clock.clearTimeout(timer));
    socket.pause();
    socket.end(line, () => socket.destroy());
  }

  private markClosing(conn: Connection): void {
    if (conn.closing) return;
    conn.closing = true;
    if (!conn.closed) this.open--;
    conn.abort.abort();
  }

  private destroy(conn: Connection): void {
    this.markClosing(conn);
    this.releaseInput(conn);
    conn.socket.destroy();
  }

  /**
   * Count a connection refused or closed at a limit. The first one of a
   * spell is logged with its details and raises bus.shedding; further ones
   * are summed and logged once per shedReportMs; a report interval without
   * any clears the warning.
   */
  private noteShed(reason: ShedReason, details: Record<string, unknown> = {}): void {
    this.shed[reason]++;
    if (this.shedWindow) {
      this.shedWindow[reason] = (this.shedWindow[reason] ?? 0) + 1;
      return;
    }
    this.shedWindow = {};
    this.log.warn({ reason, ...details, limits: this.limits() }, `bus server: shedding: ${reason}; further ones are summed every ${this.shedReportMs} ms`);
    this.health?.set(sheddingWarning, `bus: refusing or closing connections at its limits (first: ${reason}); daemon.status bus counts them`);
    this.shedTimer = this.clock.setInterval(() => this.reportShed(), this.shedReportMs);
    this.shedTimer.unref?.();
  }

  private reportShed(): void {
    const window = this.shedWindow;
    if (window && Object.keys(window).length > 0) {
      this.shedWindow = {};
      this.log.warn({ shed: window, connections: this.open, bufferedBytes: this.bufferedTotal, limits: this.limits() }, `bus server: still shedding in the last ${this.shedReportMs} ms`);
      return;
    }
    this.shedWindow = undefined;
    this.clock.clearInterval(this.shedTimer);
    this.shedTimer = undefined;
    this.health?.clear(sheddingWarning);
    this.log.info({ totals: { ...this.shed } }, 'bus server: no longer shedding');
    try {
      this.onSheddingEnd?.();
    } catch (err) {
      this.log.error({ err }, 'bus server: onSheddingEnd failed');
    }
  }

  private limits(): Record<string, number> {
    return {
      maxConnections: this.maxConnections,
      maxRequestBytes: this.maxRequestBytes,
      maxBufferedBytes: this.maxBufferedBytes,
      incompleteTimeoutMs: this.incompleteTimeoutMs,
      maxWriteBufferBytes: this.maxWriteBufferBytes,
      maxUnsentBytes: this.maxUnsentBytes,
    };
  }

  private addBuiltins(): void {
    const subscription = (conn: Connection): SubscriptionResult => ({ topics: [...conn.topics].sort() });
    this.methods.set('rpc.ping', {
      run: (): PingResult => ({ daemon: this.daemon, pid: process.pid, uptimeMs: Math.max(0, Math.round(this.clock.monotonic() - this.startedAt)) }),
    });
    this.methods.set('rpc.methods', { run: () => ({ methods: this.methodNames() }) });
    this.methods.set('rpc.subscribe', {
      run: (params, _ctx, conn) => {
        const topics = topicsParam('rpc.subscribe', params, true)!;
        const added = topics.filter((t) => !conn.topics.has(t));
        if (conn.topics.size + added.length > this.maxTopics) {
          throw invalidParams('rpc.subscribe', `topics: the connection would hold ${conn.topics.size + added.length} patterns; want at most ${this.maxTopics}`);
        }
        for (const t of added) conn.topics.add(t);
        return subscription(conn);
      },
    });
    this.methods.set('rpc.unsubscribe', {
      run: (params, _ctx, conn) => {
        const topics = topicsParam('rpc.unsubscribe', params, false);
        if (topics === undefined) conn.topics.clear();
        else for (const t of topics) conn.topics.delete(t);
        return subscription(conn);
      },
    });
  }
}

/** The topics of rpc.subscribe / rpc.unsubscribe params; undefined means "all" (unsubscribe only). */
function topicsParam(method: string, params: unknown, required: boolean): string[] | undefined {
  const want = 'want {"topics": ["paths.up", "metrics.*", ...]}';
  if (params === undefined && !required) return undefined;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw invalidParams(method, `got ${params === undefined ? 'none' : Array.isArray(params) ? 'an array' : typeof params}; ${want}`);
  const topics = (params as { topics?: unknown }).topics;
  if (topics === undefined && !required) return undefined;
  if (!Array.isArray(topics)) throw invalidParams(method, `topics is ${topics === undefined ? 'missing' : typeof topics}; ${want}`);
  topics.forEach((t, i) => {
    const problem = patternProblem(t);
    if (problem) throw invalidParams(method, `topics[${i}]: ${problem}`);
  });
  return topics as string[];
}

function usage(what: string): TernError {
  return new TernError('TERN_E_BUS_USAGE', `bus server: ${what}`);
}

function busy(what: string, details: Record<string, unknown>): TernError {
  return new TernError('TERN_E_BUS_BUSY', `bus: ${what}`, { details });
}

function positiveInt(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw usage(`${name} is ${n}; want a positive integer`);
  return n;
}
