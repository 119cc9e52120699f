// Package paird is tern-paird: two appliances on one LAN elect the gateway (VRRPv3), move the VIPs, track WAN health into the priority and offer each other's WANs.
export {
  encode, decode, sendForm, discardReasons,
  vrrpProtocol, vrrpVersion, vrrpTypeAdvertisement, vrrpTtl, vrrpGroupV4, vrrpGroupV6, headerLength, maxIntervalCs,
} from './packet.js';
export type {
  Advertisement, ChecksumMode, ChecksumForm, EncodeOptions, DecodeOptions, DecodeResult, Decoded, Discarded, DiscardReason,
} from './packet.js';
export { parseIpv4, type Ipv4Datagram, type Ipv4Malformed } from './ipv4.js';
export { VrrpMachine, skewTime, masterDownInterval } from './machine.js';
export type {
  State, TimerName, MachineEvent, Action, TransitionReason, Transition, MachineOptions, MachineStatus, Counters,
} from './machine.js';
export { VrrpRunner, type RunnerOptions } from './runner.js';
export { PriorityTracker, type TrackItem, type TrackState, type TrackItemStatus, type TrackerOptions } from './track.js';
export {
  gratuitousArp, unsolicitedNa, virtualMac, parseMac, formatMac, arpFrameLength, naFrameLength,
  type GarpOptions, type NaOptions,
} from './garp.js';
export { pairSettings, virtualLinkLocal, type PairSettings } from './settings.js';
export { readDatagram, nativeAdvertSocket, type AdvertSocket, type AdvertSocketFactory, type AdvertSocketStats, type ReceivedAdvert, type MalformedDatagram } from './socket.js';
export { VipManager, announcementFrames, macvlanLinkInfo, nativeFrameSender, virtualMacIfname, type VipKernel, type FrameSender, type FrameSenderFactory } from './vip.js';
export { PairInstance, type InstanceStatus, type Role, type RoleChange, type Vips } from './instance.js';
export { HealthInputs, type HealthItem, type ItemHealth, type ProbeVerdict } from './health.js';
export { PairSync, pairSyncPort, refusalReasons, type SyncFacts, type PeerFacts, type RefusalReason, type SyncCounters } from './sync.js';
export {
  encodeSync, decodeSync, deriveSyncKey, syncVersion, syncHeaderBytes, syncMacBytes, maxSyncBytes,
  type SyncBody, type SyncHeader, type SyncFrame, type SyncKey, type SyncDecode, type SyncDecodeReason,
} from './syncwire.js';
export { PeerPath, peerWanFacts, peerWanPlan, peerRulePriority, type PeerWanFacts, type PeerWanPlan } from './peer.js';
export { HookRunner, hookEnv, hooksDirName, type HookEvent, type HookResult } from './hooks.js';
export { LinkMonitor, linkFacts, type LinkFacts, type LinkSource } from './link.js';
export { createPaird, spec, chooseLocalAddress, loadSyncKey, siteKeyFiles, type PairdDeps, type PairRoleMessage } from './daemon.js';
