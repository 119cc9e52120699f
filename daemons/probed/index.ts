// Package probed measures WAN and overlay-path health: STAMP probes and reflector, loss per direction, RTT, jitter, MOS, up/degraded/down state and history.
export {
  STAMP_MAX_BYTES, STAMP_PACKET_BYTES, STAMP_PORT, NTP_UNIX_OFFSET_SEC, TERN_ERROR_ESTIMATE,
  decodeErrorEstimate, decodeReflectorPacket, decodeSenderPacket, encodeErrorEstimate, encodeReflectorPacket, encodeSenderPacket,
  errorEstimateSeconds, msToNtp, msToTimestamp, ntpToMs, timestampDiffMs, timestampToMs, timestampsEqual,
  type DecodeOptions, type Decoded, type ErrorEstimate, type ReflectorPacket, type SenderPacket, type StampRejection, type Timestamp,
} from './stamp.js';
export {
  Reflector,
  type ReflectDrop, type ReflectInput, type ReflectResult, type ReflectorCounters, type ReflectorOptions,
} from './reflector.js';
export { VIRTUAL_ANCHOR, gapLabel, splitGap, type GapAnchor, type LossDirection } from './direction.js';
export {
  Session,
  type AnsweredProbe, type FinalProbe, type LostProbe, type ReceiveOutcome, type SessionCounters, type SessionListener, type SessionOptions,
} from './session.js';
export {
  JitterEstimator, MetricsWindow, mos,
  type MosInput, type WindowMetrics, type WindowOptions,
} from './metrics.js';
export {
  HealthStateMachine, WanHealth,
  type DegradedThresholds, type HealthState, type JudgedMetrics, type StateOptions, type Transition, type TransitionCause,
} from './state.js';
export { SampleAggregator, addProbe, emptySample, type ProbeSample } from './samples.js';
export {
  History, lossRatios,
  type LossRatios, type CompactReport, type HistoryOptions, type HistoryPoint, type HistoryQuery, type HistoryResult, type HistoryRetention,
  type HistoryStore, type Resolution,
} from '../lib/history/index.js';
export {
  PathMonitor,
  type PathMetrics, type PathMonitorOptions, type PathProbeSettings, type TimedTransition,
} from './monitor.js';
export { EchoSession, type EchoCounters, type EchoListener, type EchoOutcome, type EchoReply, type EchoSessionOptions } from './echo.js';
export { WanMonitor, wanTargetSubject, type WanMetrics, type WanMonitorOptions, type WanProbeSettings, type WanTargetMetrics } from './wan.js';
export { nativeIcmp, type IcmpOpenOptions, type IcmpReply, type IcmpTransport, type IcmpTransportFactory } from './icmp.js';
export {
  ReflectorServer, UdpPathSocket, canonicalAddress, udpPathSockets, withoutZone,
  type PathEnds, type PathSocket, type PathSocketCounters, type PathSocketFactory, type ReflectorServerOptions,
} from './transport.js';
export { PathProber, type PathInfo, type PathMetricsMessage, type PathProberOptions, type PathStateMessage } from './paths.js';
export { TunneldWatcher, parseTunneldPath, pathInfos, plannedPaths, type TunneldPath } from './tunnels.js';
export { HistoryWriter, type HistoryWriterOptions, type HistoryWriterStats, type ProbeEvent } from './writer.js';
export { GatewayWatcher, type GatewayWatcherOptions } from './gateway.js';
export {
  createProbed, defaultWanProbeDscp, dhcpWans, knownPeers, pathMatches, pathSettings, spec, waitingText, wanPlans,
  type ProbedDeps, type ProbedMethods, type WanSource, type WanStateMessage,
} from './daemon.js';
