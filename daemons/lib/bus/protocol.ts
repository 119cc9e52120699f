// JSON-RPC 2.0 message types, their validation, and the mapping between
// TernError and JSON-RPC error objects.
import { TernError, errorCodes, isTernError, type ErrorCode } from '../errors.js';

/** A request id: the server echoes it in the reply. */
export type JsonRpcId = string | number | null;

/** Parameters are always structured: an object (by name) or an array. */
export type JsonRpcParams = Record<string, unknown> | unknown[];

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: JsonRpcParams;
}

/** A request without id: the receiver never replies to it. */
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: JsonRpcParams;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** What a Tern daemon puts in error.data: the Tern code, and details. */
export interface TernErrorData {
  code: ErrorCode;
  details?: Record<string, unknown>;
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: unknown;
}

export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: JsonRpcId;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;

/** JSON-RPC error codes used on the bus. */
export const rpcCodes = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** A TernError with no standard JSON-RPC counterpart; data.code says which. */
  ternError: -32000,
  /** A message over the size limit (data.code TERN_E_BUS_TOO_LARGE). */
  tooLarge: -32001,
  /** A message begun and not finished in time (data.code TERN_E_BUS_INCOMPLETE). */
  incomplete: -32002,
  /** The daemon is at a connection or memory limit (data.code TERN_E_BUS_BUSY). */
  busy: -32003,
} as const;

const rpcCodeOfTern: Partial<Record<ErrorCode, number>> = {
  TERN_E_BUS_PARSE: rpcCodes.parseError,
  TERN_E_BUS_INVALID_REQUEST: rpcCodes.invalidRequest,
  TERN_E_BUS_METHOD_NOT_FOUND: rpcCodes.methodNotFound,
  TERN_E_BUS_INVALID_PARAMS: rpcCodes.invalidParams,
  TERN_E_BUS_INTERNAL: rpcCodes.internalError,
  TERN_E_BUS_TOO_LARGE: rpcCodes.tooLarge,
  TERN_E_BUS_INCOMPLETE: rpcCodes.incomplete,
  TERN_E_BUS_BUSY: rpcCodes.busy,
};

const ternCodeOfRpc = new Map<number, ErrorCode>(
  Object.entries(rpcCodeOfTern).map(([tern, rpc]) => [rpc, tern as ErrorCode]),
);

/** The JSON-RPC code a TernError of the given code is sent with. */
export function rpcCodeFor(code: ErrorCode): number {
  return rpcCodeOfTern[code] ?? rpcCodes.ternError;
}

/** One received message, classified, or why it is not a valid message. */
export type Incoming =
  | { kind: 'request'; message: JsonRpcRequest }
  | { kind: 'notification'; message: JsonRpcNotification }
  | { kind: 'response'; message: JsonRpcResponse }
  /** Reply with error under id (null when the id could not be read). */
  | { kind: 'invalid'; id: JsonRpcId; error: TernError };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is JsonRpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function invalid(id: JsonRpcId, what: string): Incoming {
  return { kind: 'invalid', id, error: new TernError('TERN_E_BUS_INVALID_REQUEST', `bus: request: ${what}`) };
}

/**
 * Parse and classify one line. Batches (JSON arrays) are not supported on
 * the bus: they are answered with one invalid-request error, id null.
 */
export function parseMessage(text: string): Incoming {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      kind: 'invalid',
      id: null,
      error: new TernError('TERN_E_BUS_PARSE', `bus: parse: message is not valid JSON (${why}); want one JSON object per line`),
    };
  }
  if (Array.isArray(value)) {
    return invalid(null, 'got a batch (JSON array); batches are not supported, want one JSON object per line');
  }
  if (!isObject(value)) return invalid(null, `got ${describe(value)}; want a JSON-RPC 2.0 object`);

  const hasId = Object.hasOwn(value, 'id');
  const id = value.id;
  const replyId = hasId && isId(id) ? id : null;
  if (value.jsonrpc !== '2.0') return invalid(replyId, `jsonrpc is ${describe(value.jsonrpc)}; want "2.0"`);
  if (hasId && !isId(id)) return invalid(null, `id is ${describe(id)}; want a string, a number or null`);

  if (Object.hasOwn(value, 'method')) {
    if (typeof value.method !== 'string') return invalid(replyId, `method is ${describe(value.method)}; want a string`);
    const params = value.params;
    if (Object.hasOwn(value, 'params') && typeof params !== 'object') {
      return invalid(replyId, `params is ${describe(params)}; want an object or an array`);
    }
    if (params === null) return invalid(replyId, 'params is null; want an object or an array, or no params');
    const base = { jsonrpc: '2.0' as const, method: value.method, ...(params === undefined ? {} : { params: params as JsonRpcParams }) };
    if (hasId) return { kind: 'request', message: { ...base, id: id as JsonRpcId } };
    return { kind: 'notification', message: base };
  }

  const hasResult = Object.hasOwn(value, 'result');
  const hasError = Object.hasOwn(value, 'error');
  if (!hasResult && !hasError) return invalid(replyId, 'has no method; want a request naming a method');
  if (!hasId) return invalid(null, 'a response has no id; want the id of the request it answers');
  if (hasResult && hasError) return invalid(replyId, 'a response has both result and error; want exactly one');
  if (hasResult) return { kind: 'response', message: { jsonrpc: '2.0', id: id as JsonRpcId, result: value.result } };
  const error = value.error;
  if (!isObject(error) || !Number.isInteger(error.code) || typeof error.message !== 'string') {
    return invalid(replyId, 'a response error is not an object with an integer code and a string message');
  }
  const errorObject: JsonRpcErrorObject = { code: error.code as number, message: error.message };
  if (Object.hasOwn(error, 'data')) errorObject.data = error.data;
  return { kind: 'response', message: { jsonrpc: '2.0', id: id as JsonRpcId, error: errorObject } };
}

/**
 * The error object to send for err. A TernError keeps its message and goes
 * with data { code, details }; anything else is an unexpected failure whose
 * message may hold internals, so the peer gets only a generic -32603 (the
 * caller logs the real error).
 */
export function toErrorObject(err: unknown, method: string): { error: JsonRpcErrorObject; expected: boolean } {
  if (isTernError(err)) {
    const data: TernErrorData = { code: err.code, ...(err.details ? { details: err.details } : {}) };
    return { error: { code: rpcCodeFor(err.code), message: err.message, data }, expected: true };
  }
  const data: TernErrorData = { code: 'TERN_E_BUS_INTERNAL' };
  return {
    error: { code: rpcCodes.internalError, message: `bus: ${method}: internal error; the daemon's log has the details`, data },
    expected: false,
  };
}

/**
 * The TernError for an error reply to method. When data.code is a Tern code
 * the remote error is rebuilt as it was thrown (code, message, details);
 * otherwise the JSON-RPC code picks the nearest bus code.
 */
export function fromErrorObject(error: JsonRpcErrorObject, method: string): TernError {
  const data = error.data;
  if (isObject(data) && typeof data.code === 'string' && Object.hasOwn(errorCodes, data.code)) {
    const details = isObject(data.details) ? data.details : undefined;
    return new TernError(data.code as ErrorCode, error.message, details ? { details } : {});
  }
  const code = ternCodeOfRpc.get(error.code) ?? 'TERN_E_BUS_INTERNAL';
  return new TernError(code, `bus client: ${method}: remote error ${error.code}: ${error.message}`, {
    details: { rpcCode: error.code, ...(data === undefined ? {} : { data }) },
  });
}

/** The TernError a params validator throws: `bus: <method>: params: <what>`. */
export function invalidParams(method: string, what: string): TernError {
  return new TernError('TERN_E_BUS_INVALID_PARAMS', `bus: ${method}: params: ${what}`);
}

export function successResponse(id: JsonRpcId, result: unknown): JsonRpcSuccess {
  // A handler that returns nothing still owes the caller a result member.
  return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
}

export function errorResponse(id: JsonRpcId, error: JsonRpcErrorObject): JsonRpcFailure {
  return { jsonrpc: '2.0', id, error };
}

/** One method's declared types: what it takes and what it returns. */
export interface MethodSpec {
  params: unknown;
  result: unknown;
}

/**
 * A daemon's methods by name, each with its MethodSpec. Declare one next to
 * the daemon and share it with its clients:
 * `type TunnelMethods = { 'paths.list': { params: undefined; result: Path[] } }`.
 */
export type MethodMap<M> = { [K in keyof M]: MethodSpec };

/** The method map of a server or client that declares none. */
export type AnyMethods = Record<string, MethodSpec>;

/** What rpc.ping returns. */
export interface PingResult {
  /** Daemon name (from the socket file name unless set). */
  daemon: string;
  pid: number;
  /** Milliseconds since the server started listening. */
  uptimeMs: number;
}

/** What rpc.subscribe and rpc.unsubscribe return: the connection's patterns now. */
export interface SubscriptionResult {
  topics: string[];
}

/** The methods every bus server answers. */
export interface BuiltinMethods {
  'rpc.ping': { params: undefined; result: PingResult };
  'rpc.methods': { params: undefined; result: { methods: string[] } };
  'rpc.subscribe': { params: { topics: string[] }; result: SubscriptionResult };
  'rpc.unsubscribe': { params: { topics?: string[] } | undefined; result: SubscriptionResult };
}
