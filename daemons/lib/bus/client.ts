// The caller side of the bus: requests with timeouts, subscriptions, and
// reconnection with backoff that restores the subscriptions.
import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import path from 'node:path';
import { TernError, errorMessage } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../clock/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { LineDecoder, checkMaxMessageBytes, defaultMaxMessageBytes, encodeLine } from './framing.js';
import { fromErrorObject, parseMessage, type AnyMethods, type JsonRpcParams, type MethodMap } from './protocol.js';
import { anyMatches, patternProblem } from './topics.js';
import { socketPathProblem } from './socketfile.js';
import { checkParams, contractError, type Contract, type ContractMethods, type ContractTopics } from '../api/contract.js';

/** How the client waits between reconnection attempts. */
export interface ReconnectOptions {
  /** Delay before the first retry (default 100 ms). */
  initialMs: number;
  /** Longest delay (default 5000 ms). */
  maxMs: number;
  /** Growth per failed attempt (default 2). */
  factor: number;
  /** Random spread, as a fraction of the delay either way (default 0.2). */
  jitter: number;
}

export const defaultReconnect: ReconnectOptions = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.2 };

export interface BusClientOptions {
  /** The daemon's socket, normally socketPath(paths, daemon). */
  socketPath: string;
  /** Default systemClock; timeouts and backoff run on it. */
  clock?: Clock;
  /** Default: a silent logger; daemons pass a component logger. */
  logger?: Logger;
  /** Default request timeout (default 2000 ms). */
  timeoutMs?: number;
  /** How long one connection attempt may take (default timeoutMs). */
  connectTimeoutMs?: number;
  /** Largest message either way, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Backoff for automatic reconnection; false turns reconnection off. */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Source of randomness for jitter (default Math.random). */
  random?: () => number;
  /** Opens the socket (default net.createConnection); tests may wrap it. */
  connectSocket?: (socketPath: string) => net.Socket;
}

/**
 * Options with the contract of the daemon asked (daemons/lib/api): call()
 * is typed by it, params are checked before they leave and results when
 * they arrive, and subscribeTopic() hands on only payloads that match.
 */
export interface ContractClientOptions<C extends Contract> extends BusClientOptions {
  contract: C;
  /**
   * Check each result against the contract (default true). Off for a
   * reader that shows whatever part of a reply it got (ternctl): the
   * daemons check their own results in tests, and params are checked
   * either way.
   */
  checkResults?: boolean;
}

export interface RequestOptions {
  /** Overrides the client's timeoutMs for this request. */
  timeoutMs?: number;
}

/** Receives one notification: its params and the topic it came on. */
export type NotificationHandler = (params: unknown, topic: string) => void | Promise<void>;

/** Ends a subscription; calling it again does nothing. */
export type Unsubscribe = () => Promise<void>;

/** Events: `connected` after every (re)connection once subscriptions are restored; `disconnected` when an established connection drops. */
export interface BusClientEvents {
  connected: [];
  disconnected: [reason: TernError];
}

/** The arguments of call(): params may be left out when the method takes none. */
export type CallArgs<P> = undefined extends P ? [params?: P, opts?: RequestOptions] : [params: P, opts?: RequestOptions];

type State = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed';

interface Pending {
  method: string;
  resolve(result: unknown): void;
  reject(err: TernError): void;
  timer: TimerHandle;
}

interface Subscription {
  patterns: string[];
  handler: NotificationHandler;
}

/**
 * Delay before reconnection attempt number attempt (0 for the first):
 * initialMs * factor^attempt, capped at maxMs, spread by ±jitter.
 */
export function backoffDelay(attempt: number, opts: ReconnectOptions, random: () => number = Math.random): number {
  const base = Math.min(opts.maxMs, opts.initialMs * opts.factor ** attempt);
  const spread = base * opts.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(opts.maxMs, base + spread)));
}

/**
 * A connection to one daemon's bus socket. M declares the daemon's methods
 * for call(); request() is the untyped form.
 *
 * connect() makes one attempt and reports it. With reconnect on (the
 * default), a dropped or failed connection is retried in the background
 * with backoff until close(), and subscriptions are sent again each time.
 * Requests made while waiting to retry fail at once with TERN_E_BUS_CONNECT
 * rather than queue; a request on a client never connected connects first.
 */
export class BusClient<M extends MethodMap<M> = AnyMethods, T extends object = Record<string, unknown>> extends EventEmitter<BusClientEvents> {
  readonly socketPath: string;
  /** The contract of the daemon asked, when given. */
  readonly contract: Contract | undefined;
  private readonly checkResults: boolean;
  private violations = 0;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly reconnect: ReconnectOptions | undefined;
  private readonly random: () => number;
  private readonly connectSocket: (socketPath: string) => net.Socket;

  private state: State = 'idle';
  private socket: net.Socket | undefined;
  private attemptSocket: net.Socket | undefined;
  private decoder: LineDecoder | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: TimerHandle | undefined;
  private failures = 0;
  private lastError: TernError | undefined;
  /** The last error the server sent with id null on this connection (it closes after those). */
  private serverError: string | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Set<Subscription>();
  private readonly topicRefs = new Map<string, number>();

  /** A client typed and checked by the contract of the daemon it asks. */
  static for<C extends Contract>(opts: ContractClientOptions<C>): BusClient<ContractMethods<C>, ContractTopics<C>> {
    return new BusClient<ContractMethods<C>, ContractTopics<C>>(opts);
  }

  constructor(opts: BusClientOptions & { contract?: Contract; checkResults?: boolean }) {
    super();
    this.socketPath = path.resolve(opts.socketPath);
    this.contract = opts.contract;
    this.checkResults = opts.checkResults ?? true;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.timeoutMs = positiveMs('timeoutMs', opts.timeoutMs ?? 2000);
    this.connectTimeoutMs = positiveMs('connectTimeoutMs', opts.connectTimeoutMs ?? this.timeoutMs);
    this.maxMessageBytes = checkMaxMessageBytes(opts.maxMessageBytes ?? defaultMaxMessageBytes);
    if (opts.reconnect === false) {
      this.reconnect = undefined;
    } else {
      const r = { ...defaultReconnect, ...opts.reconnect };
      if (!(r.initialMs >= 0 && r.maxMs >= r.initialMs && r.factor >= 1 && r.jitter >= 0 && r.jitter <= 1)) {
        throw usage(`reconnect is ${JSON.stringify(r)}; want 0 <= initialMs <= maxMs, factor >= 1, 0 <= jitter <= 1`);
      }
      this.reconnect = r;
    }
    this.random = opts.random ?? Math.random;
    this.connectSocket = opts.connectSocket ?? ((p) => net.createConnection(p));
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /**
   * Connect now. Resolves once connected and subscriptions are restored;
   * rejects with TERN_E_BUS_CONNECT saying why (no socket, refused,
   * permission denied, no answer). With reconnect on, retries continue in
   * the background after a rejection until close().
   */
  connect(): Promise<void> {
    switch (this.state) {
      case 'closed':
        return Promise.reject(this.closedError('connect'));
      case 'connected':
        return Promise.resolve();
      case 'connecting':
        return this.connecting!;
      case 'waiting':
        this.clock.clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        return this.startAttempt();
      case 'idle':
        return this.startAttempt();
    }
  }

  /**
   * Call method and wait for its result. Rejects with TERN_E_BUS_TIMEOUT
   * when no reply comes within the timeout, TERN_E_BUS_CLOSED when the
   * connection drops first, TERN_E_BUS_CONNECT when not connected, and with
   * the daemon's own TernError (code, message, details) when it answers
   * with an error.
   */
  async request<R = unknown>(method: string, params?: JsonRpcParams, opts: RequestOptions = {}): Promise<R> {
    await this.ready(method);
    return (await this.send(method, params, opts.timeoutMs ?? this.timeoutMs)) as R;
  }

  /**
   * request() with the types declared in M: `client.call('paths.list', {...})`.
   * With a contract, params are checked before they leave
   * (TERN_E_BUS_INVALID_PARAMS) and the result when it arrives
   * (TERN_E_BUS_CONTRACT, naming the field): what the caller gets is what
   * the contract says.
   */
  async call<K extends keyof M & string>(method: K, ...args: CallArgs<M[K]['params']>): Promise<M[K]['result']> {
    const [params, opts] = args;
    const declared = this.contract?.methods[method];
    // rpc.* are the bus's own (rpc.ping, rpc.methods): every socket serves them.
    if (this.contract && !declared && !method.startsWith('rpc.')) {
      throw usage(`${method}: not in the ${this.contract.daemon} contract (daemons/lib/api); want one of ${Object.keys(this.contract.methods).join(', ')}`);
    }
    if (declared) checkParams(declared, params);
    const result = await this.request<M[K]['result']>(method, params as JsonRpcParams | undefined, opts);
    const m = this.checkResults ? declared?.result.mismatch(result) : undefined;
    if (m) {
      this.violations++;
      throw contractError(`bus client: ${this.contract!.daemon}`, `result of ${method}`, m);
    }
    return result;
  }

  /**
   * Subscribe to one topic of the contract; handler gets only payloads that
   * match it. One that does not is logged (the first of every 100),
   * counted in contractViolations and dropped: a consumer never acts on a
   * message whose shape it was not promised.
   */
  subscribeTopic<K extends keyof T & string>(topic: K, handler: (payload: T[K], topic: K) => void | Promise<void>): Promise<Unsubscribe> {
    const declared = this.contract?.topics[topic];
    if (!declared) return Promise.reject(usage(`subscribeTopic ${topic}: ${this.contract ? `not in the ${this.contract.daemon} contract` : 'the client has no contract'}`));
    return this.subscribe([topic], (params) => {
      const m = declared.payload.mismatch(params);
      if (m) {
        if (this.violations++ % 100 === 0) {
          this.log.warn({ topic, ...m, violations: this.violations }, contractError(`bus client: ${this.contract!.daemon}`, `topic ${topic}`, m).message + '; dropped');
        }
        return undefined;
      }
      return handler(params as T[K], topic);
    });
  }

  /** Results and payloads refused for not matching the contract. */
  get contractViolations(): number {
    return this.violations;
  }

  /**
   * Receive the notifications of topics (names, or prefixes ending in `*`).
   * Resolves once the daemon has confirmed, or at once when not connected
   * (the subscription is sent on connecting). Resolves to the function that
   * ends this subscription.
   */
  async subscribe(topics: readonly string[], handler: NotificationHandler): Promise<Unsubscribe> {
    if (this.state === 'closed') throw this.closedError('rpc.subscribe');
    if (topics.length === 0) throw usage('subscribe: topics is empty; want at least one topic or pattern');
    topics.forEach((t, i) => {
      const problem = patternProblem(t);
      if (problem) throw usage(`subscribe: topics[${i}]: ${problem}`);
    });
    const sub: Subscription = { patterns: [...new Set(topics)], handler };
    this.subs.add(sub);
    const added = this.ref(sub.patterns);
    if (added.length > 0 && this.state === 'connected') {
      try {
        await this.send('rpc.subscribe', { topics: added }, this.timeoutMs);
      } catch (err) {
        this.subs.delete(sub);
        this.unref(sub.patterns);
        throw err;
      }
    }
    let ended = false;
    return async () => {
      if (ended) return;
      ended = true;
      this.subs.delete(sub);
      const removed = this.unref(sub.patterns);
      if (removed.length === 0 || this.state !== 'connected') return;
      try {
        await this.send('rpc.unsubscribe', { topics: removed }, this.timeoutMs);
      } catch (err) {
        // Harmless: notifications for these topics are dropped on arrival.
        this.log.debug({ err: errorMessage(err), topics: removed }, 'bus client: unsubscribe not confirmed');
      }
    };
  }

  /** Close the connection, stop reconnecting, fail pending requests with TERN_E_BUS_CLOSED. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.failPending((method) => this.closedError(method));
    this.subs.clear();
    this.topicRefs.clear();
    const sockets = [this.socket, this.attemptSocket].filter((s): s is net.Socket => s !== undefined && !s.closed);
    this.socket = undefined;
    this.attemptSocket = undefined;
    await Promise.all(sockets.map((s) => {
      const closed = once(s, 'close').then(() => undefined, () => undefined);
      s.destroy();
      return closed;
    }));
  }

  private startAttempt(): Promise<void> {
    this.state = 'connecting';
    const attempt = this.open().finally(() => {
      if (this.connecting === attempt) this.connecting = undefined;
    });
    this.connecting = attempt;
    return attempt;
  }

  private open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const problem = socketPathProblem(this.socketPath);
      if (problem) {
        this.failed(new TernError('TERN_E_BUS_CONNECT', `bus client: connect to ${this.socketPath}: ${problem}`, { details: { socketPath: this.socketPath } }));
        reject(this.lastError);
        return;
      }
      const sock = this.connectSocket(this.socketPath);
      this.attemptSocket = sock;
      let settled = false;
      const fail = (err: TernError): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (this.attemptSocket === sock) this.attemptSocket = undefined;
        sock.destroy();
        this.failed(err);
        reject(err);
      };
      const timer = this.clock.setTimeout(() => afterPendingIo(() => {
        fail(new TernError('TERN_E_BUS_CONNECT', `bus client: connect to ${this.socketPath}: no answer within ${this.connectTimeoutMs} ms: is the daemon stuck?`, {
          details: { socketPath: this.socketPath, timeoutMs: this.connectTimeoutMs },
        }));
      }), this.connectTimeoutMs);
      sock.once('error', (err: NodeJS.ErrnoException) => fail(connectError(this.socketPath, err)));
      sock.once('close', () => fail(this.state === 'closed' ? this.closedError('connect') : connectError(this.socketPath, Object.assign(new Error('closed while connecting'), { code: 'ECONNRESET' }))));
      sock.once('connect', () => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        this.attemptSocket = undefined;
        if (this.state === 'closed') {
          sock.destroy();
          reject(this.closedError('connect'));
          return;
        }
        this.adopt(sock).then(resolve, reject);
      });
    });
  }

  /** A connection attempt failed: remember why and schedule the next one. */
  private failed(err: TernError): void {
    this.lastError = err;
    if (this.state === 'closed') return;
    if (!this.reconnect) {
      this.state = 'idle';
      return;
    }
    this.state = 'waiting';
    const delay = backoffDelay(this.failures++, this.reconnect, this.random);
    this.log.debug({ socketPath: this.socketPath, delayMs: delay, err: err.message }, 'bus client: will retry');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state !== 'waiting') return;
      this.startAttempt().catch((e: unknown) => this.log.debug({ err: errorMessage(e) }, 'bus client: reconnection attempt failed'));
    }, delay);
  }

  private async adopt(sock: net.Socket): Promise<void> {
    this.socket = sock;
    this.decoder = new LineDecoder({ maxMessageBytes: this.maxMessageBytes });
    this.serverError = undefined;
    this.state = 'connected';
    sock.on('data', (chunk: Buffer) => this.onData(sock, chunk));
    sock.on('error', (err) => this.log.debug({ err: errorMessage(err), socketPath: this.socketPath }, 'bus client: connection error'));
    sock.on('close', () => this.onClose(sock));
    this.log.info({ socketPath: this.socketPath }, 'bus client: connected');
    const topics = [...this.topicRefs.keys()];
    if (topics.length > 0) {
      try {
        await this.send('rpc.subscribe', { topics }, this.timeoutMs);
      } catch (err) {
        if (this.socket === sock) this.log.error({ err: errorMessage(err), topics }, 'bus client: could not restore subscriptions');
      }
    }
    if (this.socket !== sock || this.state !== 'connected') {
      throw this.lastError ?? this.closedError('connect');
    }
    this.failures = 0;
    this.emit('connected');
  }

  private onClose(sock: net.Socket): void {
    if (this.socket !== sock) return;
    this.socket = undefined;
    this.decoder = undefined;
    const said = this.serverError ? `; the daemon said: ${this.serverError}` : '';
    this.failPending((method) => new TernError('TERN_E_BUS_CLOSED', `bus client: ${method} on ${this.socketPath}: the connection closed before the reply${said}`, {
      details: { method, socketPath: this.socketPath },
    }));
    if (this.state === 'closed') return;
    const reason = new TernError('TERN_E_BUS_CLOSED', `bus client: connection to ${this.socketPath} closed${said}`, { details: { socketPath: this.socketPath } });
    this.log.warn({ socketPath: this.socketPath, err: reason.message }, 'bus client: disconnected');
    this.failed(reason);
    this.emit('disconnected', reason);
  }

  private onData(sock: net.Socket, chunk: Buffer): void {
    if (this.socket !== sock || !this.decoder) return;
    for (const frame of this.decoder.push(chunk)) {
      if (this.socket !== sock) return;
      if (frame.kind === 'line') {
        this.onLine(frame.text);
      } else if (frame.kind === 'invalid-utf8') {
        this.log.warn({ socketPath: this.socketPath, bytes: frame.bytes }, 'bus client: ignored a message that is not valid UTF-8');
      } else {
        this.serverError = `(nothing: the client got a message over ${this.maxMessageBytes} bytes and closed)`;
        this.log.error({ socketPath: this.socketPath, bytes: frame.bytes, limit: this.maxMessageBytes }, 'bus client: message from the daemon too large; closing');
        sock.destroy();
        return;
      }
    }
  }

  private onLine(text: string): void {
    const msg = parseMessage(text);
    if (msg.kind === 'notification') {
      this.deliver(msg.message.method, msg.message.params);
      return;
    }
    if (msg.kind !== 'response') {
      this.log.warn({ socketPath: this.socketPath, kind: msg.kind }, 'bus client: ignored a message that is not a response or notification');
      return;
    }
    const res = msg.message;
    if (res.id === null && 'error' in res) {
      this.serverError = res.error.message;
      this.log.warn({ socketPath: this.socketPath, err: res.error.message }, 'bus client: the daemon reported an error about this connection');
      return;
    }
    const p = typeof res.id === 'number' ? this.pending.get(res.id) : undefined;
    if (!p) {
      this.log.debug({ socketPath: this.socketPath, id: res.id }, 'bus client: reply to no pending request (timed out?); dropped');
      return;
    }
    this.pending.delete(res.id as number);
    this.clock.clearTimeout(p.timer);
    if ('error' in res) p.reject(fromErrorObject(res.error, p.method));
    else p.resolve(res.result);
  }

  private deliver(topic: string, params: unknown): void {
    for (const sub of [...this.subs]) {
      if (!this.subs.has(sub) || !anyMatches(sub.patterns, topic)) continue;
      try {
        const done = sub.handler(params, topic);
        if (done instanceof Promise) done.catch((err: unknown) => this.log.error({ err, topic }, 'bus client: notification handler failed'));
      } catch (err) {
        this.log.error({ err, topic }, 'bus client: notification handler failed');
      }
    }
  }

  private async ready(method: string): Promise<void> {
    if (this.state === 'idle') await this.connect();
    else if (this.state === 'connecting') await this.connecting;
    if (this.state === 'connected') return;
    if (this.state === 'closed') throw this.closedError(method);
    const last = this.lastError ? `; last error: ${this.lastError.message}` : '';
    throw new TernError('TERN_E_BUS_CONNECT', `bus client: ${method} on ${this.socketPath}: not connected (retrying in the background)${last}`, {
      details: { method, socketPath: this.socketPath },
    });
  }

  private send(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const sock = this.socket;
    if (!sock || this.state !== 'connected') return Promise.reject(this.closedError(method));
    if (params !== undefined && (typeof params !== 'object' || params === null)) {
      return Promise.reject(new TernError('TERN_E_BUS_INVALID_PARAMS', `bus client: ${method}: params is ${params === null ? 'null' : typeof params}; want an object, an array or none`));
    }
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) return Promise.reject(usage(`${method}: timeoutMs is ${timeoutMs}; want a positive number`));
    const id = this.nextId++;
    let line: string;
    try {
      line = encodeLine({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    } catch (err) {
      return Promise.reject(usage(`${method}: params cannot be sent as JSON: ${errorMessage(err)}`));
    }
    const bytes = Buffer.byteLength(line) - 1;
    if (bytes > this.maxMessageBytes) {
      return Promise.reject(new TernError('TERN_E_BUS_TOO_LARGE', `bus client: ${method}: the request is ${bytes} bytes; want at most ${this.maxMessageBytes}`, {
        details: { method, bytes, maxMessageBytes: this.maxMessageBytes },
      }));
    }
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => afterPendingIo(() => {
        if (this.pending.get(id)?.timer !== timer) return; // answered meanwhile
        this.pending.delete(id);
        reject(new TernError('TERN_E_BUS_TIMEOUT', `bus client: ${method} on ${this.socketPath}: no reply within ${timeoutMs} ms; want the daemon to answer (is it stuck?)`, {
          details: { method, socketPath: this.socketPath, timeoutMs },
        }));
      }), timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      sock.write(line);
    });
  }

  private failPending(errorFor: (method: string) => TernError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      this.clock.clearTimeout(p.timer);
      p.reject(errorFor(p.method));
    }
  }

  /** Count patterns in; returns those not subscribed before. */
  private ref(patterns: string[]): string[] {
    const added: string[] = [];
    for (const p of patterns) {
      const n = this.topicRefs.get(p) ?? 0;
      if (n === 0) added.push(p);
      this.topicRefs.set(p, n + 1);
    }
    return added;
  }

  /** Count patterns out; returns those no subscription needs any more. */
  private unref(patterns: string[]): string[] {
    const removed: string[] = [];
    for (const p of patterns) {
      const n = this.topicRefs.get(p) ?? 0;
      if (n <= 1) {
        this.topicRefs.delete(p);
        removed.push(p);
      } else {
        this.topicRefs.set(p, n - 1);
      }
    }
    return removed;
  }

  private closedError(method: string): TernError {
    return new TernError('TERN_E_BUS_CLOSED', `bus client: ${method} on ${this.socketPath}: the client is closed`, {
      details: { method, socketPath: this.socketPath },
    });
  }
}

/** The TERN_E_BUS_CONNECT error for a failed connect, saying what to check. */
export function connectError(socketPath: string, err: NodeJS.ErrnoException): TernError {
  const where = `bus client: connect to ${socketPath}`;
  let why: string;
  switch (err.code) {
    case 'ENOENT':
      why = 'no socket there: is the daemon running?';
      break;
    case 'ECONNREFUSED':
      why = 'connection refused (the socket file exists but nothing listens): is the daemon running?';
      break;
    case 'EACCES':
    case 'EPERM':
      why = 'permission denied: are you in group tern?';
      break;
    case 'EAGAIN':
      why = 'the daemon is not accepting connections (backlog full): is it stuck?';
      break;
    case 'ECONNRESET':
      why = 'the daemon closed the connection while it was being set up';
      break;
    default:
      why = errorMessage(err);
  }
  return new TernError('TERN_E_BUS_CONNECT', `${where}: ${why}`, { cause: err, details: { socketPath, errno: err.code } });
}

function usage(what: string): TernError {
  return new TernError('TERN_E_BUS_USAGE', `bus client: ${what}`);
}

function positiveMs(name: string, n: number): number {
  if (!(Number.isFinite(n) && n > 0)) throw usage(`${name} is ${n}; want a positive number of milliseconds`);
  return n;
}

/**
 * Run a timeout's verdict after the I/O that is already waiting: when the
 * event loop was blocked past a deadline (a slow or emulated box, a long
 * synchronous start-up), its timers run before the connect or the reply
 * that arrived in time, which would read as a stuck daemon.
 */
function afterPendingIo(verdict: () => void): void {
  setImmediate(verdict);
}
