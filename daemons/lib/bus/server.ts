// The daemon side of the bus: answers JSON-RPC requests on a Unix socket and
// publishes notifications to the connections subscribed to them.
import net from 'node:net';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { TernError, errorMessage, isTernError } from '../errors.js';
import { systemClock, type Clock } from '../clock/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { LineDecoder, defaultMaxMessageBytes, encodeLine, checkMaxMessageBytes } from './framing.js';
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
  /** Largest message either way, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /**
   * Bytes a connection may have waiting to be sent before it is dropped as
   * a slow consumer (default 8 MiB; at least maxMessageBytes).
   */
  maxWriteBufferBytes?: number;
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
}

/** Counters a daemon can put in its status output. */
export interface BusServerStats {
  connections: number;
  /** Connections with at least one subscription pattern. */
  subscribers: number;
  /** Connections dropped because they did not read what was sent to them. */
  droppedSlowConsumers: number;
  /** Connections closed because they sent a message over maxMessageBytes. */
  closedTooLarge: number;
}

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

  constructor(readonly id: number, readonly socket: net.Socket, maxMessageBytes: number) {
    this.decoder = new LineDecoder({ maxMessageBytes });
  }
}

const builtinPrefix = 'rpc.';
const probeTimeoutMs = 1000;
/** How long a connection closed for a too-large message gets to flush its error reply. */
const closeGraceMs = 1000;

/**
 * A JSON-RPC 2.0 server on a Unix socket. Declare methods with method(),
 * then listen(). M declares the methods' types and T the topics'
 * notification params; both are optional.
 *
 * No input from a client can crash it: malformed messages get error
 * replies, oversized ones close that connection, a client that stops reading
 * is dropped once maxWriteBufferBytes is waiting for it.
 */
export class BusServer<M extends MethodMap<M> = AnyMethods, T extends object = Record<string, unknown>> {
  readonly socketPath: string;
  readonly daemon: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly maxMessageBytes: number;
  private readonly maxWriteBufferBytes: number;
  private readonly maxInFlight: number;
  private readonly maxTopics: number;
  private readonly mode: number;
  private readonly group: string | number | false | undefined;
  private readonly groupFile: string;
  private readonly methods = new Map<string, MethodEntry>();
  private readonly conns = new Set<Connection>();
  private server: net.Server | undefined;
  private inode: number | undefined;
  private closing: Promise<void> | undefined;
  private startedAt = 0;
  private nextConnId = 1;
  private droppedSlow = 0;
  private closedTooLarge = 0;

  constructor(opts: BusServerOptions) {
    this.socketPath = path.resolve(opts.socketPath);
    this.daemon = opts.daemon ?? path.basename(this.socketPath).replace(/\.sock$/, '');
    this.log = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? systemClock;
    this.maxMessageBytes = checkMaxMessageBytes(opts.maxMessageBytes ?? defaultMaxMessageBytes);
    this.maxWriteBufferBytes = opts.maxWriteBufferBytes ?? Math.max(8 * 1024 * 1024, this.maxMessageBytes);
    if (!Number.isSafeInteger(this.maxWriteBufferBytes) || this.maxWriteBufferBytes < this.maxMessageBytes) {
      throw usage(`maxWriteBufferBytes is ${this.maxWriteBufferBytes}; want an integer of at least maxMessageBytes (${this.maxMessageBytes})`);
    }
    this.maxInFlight = positiveInt('maxInFlight', opts.maxInFlight ?? 64);
    this.maxTopics = positiveInt('maxTopicsPerConnection', opts.maxTopicsPerConnection ?? 256);
    this.mode = opts.mode ?? 0o660;
    if (!Number.isInteger(this.mode) || this.mode < 0 || this.mode > 0o777) {
      throw usage(`mode is ${this.mode}; want permission bits between 0 and 0o777`);
    }
    this.group = opts.group;
    this.groupFile = opts.groupFile ?? '/etc/group';
    this.addBuiltins();
  }

  /**
   * Serve method name with handler. validate, when given, checks the raw
   * params first; without it the handler gets params as sent (possibly
   * undefined), so declare one for any method that takes params.
   */
  method<K extends keyof M & string>(
    name: K,
    handler: MethodHandler<M[K]['params'], M[K]['result']>,
    validate?: ParamsValidator<M[K]['params']>,
  ): this {
    if (typeof name !== 'string' || name.length === 0) throw usage(`method name is ${JSON.stringify(name)}; want a non-empty string`);
    if (name.startsWith(builtinPrefix)) throw usage(`method ${name}: names starting with ${builtinPrefix} are reserved for the bus`);
    if (this.methods.has(name)) throw usage(`method ${name} is already registered; want each method declared once`);
    this.methods.set(name, {
      run: (raw, ctx) => {
        let params: M[K]['params'];
        if (validate) {
          try {
            params = validate(raw);
          } catch (err) {
            throw isTernError(err) ? err : invalidParams(name, errorMessage(err));
          }
        } else {
          params = raw as M[K]['params'];
        }
        return handler(params, ctx);
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
    for (const c of this.conns) if (c.topics.size > 0) subscribers++;
    return { connections: this.conns.size, subscribers, droppedSlowConsumers: this.droppedSlow, closedTooLarge: this.closedTooLarge };
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

    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
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
    const conn = new Connection(this.nextConnId++, socket, this.maxMessageBytes);
    this.conns.add(conn);
    this.log.debug({ conn: conn.id }, 'bus server: connection opened');
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('end', () => {
      conn.ended = true;
      const dropped = conn.decoder.finish();
      if (dropped > 0) this.log.debug({ conn: conn.id, bytes: dropped }, 'bus server: client closed in the middle of a message; dropped it');
      if (conn.inFlight === 0) socket.end();
    });
    // Errors here are the client's doing (reset, broken pipe); 'close' follows.
    socket.on('error', (err) => this.log.debug({ conn: conn.id, err: errorMessage(err) }, 'bus server: connection error'));
    socket.on('close', () => {
      conn.closed = true;
      conn.abort.abort();
      this.conns.delete(conn);
      this.log.debug({ conn: conn.id }, 'bus server: connection closed');
    });
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.closing) return;
    for (const frame of conn.decoder.push(chunk)) {
      if (conn.closing || conn.closed) return;
      if (frame.kind === 'line') {
        this.onLine(conn, frame.text);
      } else if (frame.kind === 'invalid-utf8') {
        const err = new TernError('TERN_E_BUS_PARSE', `bus: parse: a ${frame.bytes}-byte message is not valid UTF-8; want UTF-8 JSON`);
        this.reply(conn, errorResponse(null, toErrorObject(err, '').error), '');
      } else {
        this.closeTooLarge(conn, frame.bytes);
        return;
      }
    }
    if (conn.inFlight >= this.maxInFlight && !conn.socket.isPaused()) conn.socket.pause();
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
    if (conn.inFlight < this.maxInFlight && conn.socket.isPaused() && !conn.closing) conn.socket.resume();
    if (conn.ended && conn.inFlight === 0) conn.socket.end();
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

  /** Queue line on conn; drops the connection when it is not reading. */
  private write(conn: Connection, line: string): boolean {
    const socket = conn.socket;
    if (conn.closed || conn.closing || socket.destroyed || !socket.writable) return false;
    socket.write(line);
    if (socket.writableLength > this.maxWriteBufferBytes) {
      this.droppedSlow++;
      this.log.warn(
        { conn: conn.id, bufferedBytes: socket.writableLength, limit: this.maxWriteBufferBytes, topics: [...conn.topics] },
        'bus server: dropped a connection that is not reading what is sent to it',
      );
      this.destroy(conn);
      return false;
    }
    return true;
  }

  private closeTooLarge(conn: Connection, bytes: number): void {
    this.closedTooLarge++;
    this.log.warn({ conn: conn.id, bytes, limit: this.maxMessageBytes }, 'bus server: message too large; closing the connection');
    const err = new TernError(
      'TERN_E_BUS_TOO_LARGE',
      `bus: read: a message passed ${this.maxMessageBytes} bytes (${bytes} seen without a newline); want at most ${this.maxMessageBytes} bytes per line; closing the connection`,
      { details: { maxMessageBytes: this.maxMessageBytes } },
    );
    const line = encodeLine(errorResponse(null, toErrorObject(err, '').error));
    conn.closing = true;
    conn.abort.abort();
    const socket = conn.socket;
    // Reading goes on (and is discarded) until the reply is flushed, so a
    // client still writing does not block the close.
    const timer = this.clock.setTimeout(() => socket.destroy(), closeGraceMs);
    socket.once('close', () => this.clock.clearTimeout(timer));
    socket.end(line, () => socket.destroy());
  }

  private destroy(conn: Connection): void {
    conn.closing = true;
    conn.abort.abort();
    conn.socket.destroy();
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

function positiveInt(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw usage(`${name} is ${n}; want a positive integer`);
  return n;
}
