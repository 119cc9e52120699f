// The TypeScript types of the contracts' messages, for producers and
// consumers alike (Static of the schemas: they cannot drift apart).
import type { Static } from '@sinclair/typebox';
import type { ContractMethods, ContractTopics } from './contract.js';
import type { DaemonStatus, HealthWarning, runnerApi } from './runner.js';
import type { PathTunnel, RemoteUser, TunnelState, tunneldApi } from './tunneld.js';
import type { HistoryPoint, PathMetrics, PathState, WanMetrics, WanState, WanTargetMetrics, probedApi } from './probed.js';
import type { FlowRow, InternetClear, InternetView, SteerCounters, SteerPath, SteerProbe, steerdApi } from './steerd.js';
import type { PairStatus, PeerWan, pairdApi } from './paird.js';
import type { QosCapabilities, QosWan, qosdApi } from './qosd.js';
import type { DomainSet, EdgeCounter, EdgeLan, EdgeStatus, Lease, NatWan, edgedApi } from './edged.js';
import type { Verdict } from './schema.js';

export type VerdictT = Static<typeof Verdict>;
export type DaemonStatusT = Static<typeof DaemonStatus>;
export type HealthWarningT = Static<typeof HealthWarning>;
export type PathTunnelT = Static<typeof PathTunnel>;
export type RemoteUserT = Static<typeof RemoteUser>;
export type TunnelStateT = Static<typeof TunnelState>;
export type PathMetricsT = Static<typeof PathMetrics>;
export type PathStateT = Static<typeof PathState>;
export type WanMetricsT = Static<typeof WanMetrics>;
export type WanStateT = Static<typeof WanState>;
export type WanTargetMetricsT = Static<typeof WanTargetMetrics>;
export type HistoryPointT = Static<typeof HistoryPoint>;
export type SteerPathT = Static<typeof SteerPath>;
export type SteerProbeT = Static<typeof SteerProbe>;
export type SteerCountersT = Static<typeof SteerCounters>;
export type FlowRowT = Static<typeof FlowRow>;
export type InternetClearT = Static<typeof InternetClear>;
export type InternetViewT = Static<typeof InternetView>;
export type PairStatusT = Static<typeof PairStatus>;
export type PeerWanT = Static<typeof PeerWan>;
export type QosWanT = Static<typeof QosWan>;
export type QosCapabilitiesT = Static<typeof QosCapabilities>;
export type EdgeStatusT = Static<typeof EdgeStatus>;
export type EdgeCounterT = Static<typeof EdgeCounter>;
export type NatWanT = Static<typeof NatWan>;
export type EdgeLanT = Static<typeof EdgeLan>;
export type LeaseT = Static<typeof Lease>;
export type DomainSetT = Static<typeof DomainSet>;

export type RunnerMethods = ContractMethods<typeof runnerApi>;
export type RunnerTopics = ContractTopics<typeof runnerApi>;
/** A daemon's socket serves its own methods and the runner's. */
export type TunneldMethods = ContractMethods<typeof tunneldApi> & RunnerMethods;
export type TunneldTopics = ContractTopics<typeof tunneldApi> & RunnerTopics;
export type ProbedMethods = ContractMethods<typeof probedApi> & RunnerMethods;
export type ProbedTopics = ContractTopics<typeof probedApi> & RunnerTopics;
export type SteerdMethods = ContractMethods<typeof steerdApi> & RunnerMethods;
export type SteerdTopics = ContractTopics<typeof steerdApi> & RunnerTopics;
export type PairdMethods = ContractMethods<typeof pairdApi> & RunnerMethods;
export type PairdTopics = ContractTopics<typeof pairdApi> & RunnerTopics;
export type QosdMethods = ContractMethods<typeof qosdApi> & RunnerMethods;
export type QosdTopics = ContractTopics<typeof qosdApi> & RunnerTopics;
export type EdgedMethods = ContractMethods<typeof edgedApi> & RunnerMethods;
export type EdgedTopics = ContractTopics<typeof edgedApi> & RunnerTopics;

/** Any method some daemon's socket serves. */
export type AnyDaemonMethod = { [D in keyof DaemonMethods]: keyof DaemonMethods[D] & string }[keyof DaemonMethods];

/** Each daemon's socket's methods by daemon name. */
export interface DaemonMethods {
  tunneld: TunneldMethods;
  probed: ProbedMethods;
  steerd: SteerdMethods;
  paird: PairdMethods;
  qosd: QosdMethods;
  edged: EdgedMethods;
}
