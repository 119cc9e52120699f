// Package paird is the protocol core of tern-paird: VRRPv3 adverts on the wire, the election state machine, priority tracking and the gratuitous ARP / NA frames.
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
