// Package bus is the local bus between Tern daemons: newline-delimited JSON-RPC 2.0 over Unix sockets, requests plus subscriptions.
export { BusServer } from './server.js';
export type { BusServerOptions, BusServerStats, MethodHandler, ParamsValidator, RequestContext } from './server.js';
export { BusClient, backoffDelay, connectError, defaultReconnect } from './client.js';
export type {
  BusClientEvents,
  BusClientOptions,
  CallArgs,
  NotificationHandler,
  ReconnectOptions,
  RequestOptions,
  Unsubscribe,
} from './client.js';
export { invalidParams, rpcCodes, rpcCodeFor } from './protocol.js';
export type {
  AnyMethods,
  BuiltinMethods,
  JsonRpcErrorObject,
  JsonRpcId,
  JsonRpcParams,
  MethodMap,
  MethodSpec,
  PingResult,
  SubscriptionResult,
  TernErrorData,
} from './protocol.js';
export { defaultMaxMessageBytes } from './framing.js';
export { topicMatches } from './topics.js';
