// Package api declares every daemon's bus API once, as typed and validated
// contracts: methods with params and results, topics with payloads.
import { mergeContracts, type Contract } from './contract.js';
import { edgedApi } from './edged.js';
import { pairdApi } from './paird.js';
import { probedApi } from './probed.js';
import { qosdApi } from './qosd.js';
import { runnerApi } from './runner.js';
import { steerdApi } from './steerd.js';
import { tunneldApi } from './tunneld.js';

export {
  checkParams, checker, contractError, defineContract, mergeContracts, mismatchText, paramsError, shown, typeText,
  type Checker, type Contract, type ContractMethods, type ContractTopics, type MethodContract, type Mismatch, type TopicContract,
} from './contract.js';
export { runnerApi, DaemonStatus, HealthWarning } from './runner.js';
export { tunneldApi, PathTunnel, RemoteUser, TunnelState } from './tunneld.js';
export { probedApi, HistoryPoint, PathMetrics, PathState, WanMetrics, WanState, WanTargetMetrics } from './probed.js';
export { steerdApi, FlowRow, SteerCounters, SteerPath, SteerProbe } from './steerd.js';
export { pairdApi, PairStatus, PeerWan } from './paird.js';
export { qosdApi, QosCapabilities, QosWan } from './qosd.js';
export { edgedApi, EdgeCounter, EdgeStatus, NatWan } from './edged.js';
export type * from './types.js';

/** Every daemon's own contract, in the order ternctl status lists them. */
export const daemonApis = {
  tunneld: tunneldApi,
  probed: probedApi,
  steerd: steerdApi,
  paird: pairdApi,
  qosd: qosdApi,
  edged: edgedApi,
} as const;

export type ApiDaemon = keyof typeof daemonApis;

/** Every contract: the runner's, then each daemon's. */
export const allContracts: Contract[] = [runnerApi, ...Object.values(daemonApis)];

const served = new Map<string, Contract>();

/**
 * What the socket of daemon serves: the runner's methods and topics plus
 * the daemon's own; undefined for a daemon without a contract (test
 * fixtures), whose bus then checks nothing.
 */
export function servedContract(daemon: string): Contract | undefined {
  if (!Object.hasOwn(daemonApis, daemon)) return undefined;
  let c = served.get(daemon);
  if (!c) {
    c = mergeContracts(daemon, runnerApi, daemonApis[daemon as ApiDaemon]);
    served.set(daemon, c);
  }
  return c;
}
