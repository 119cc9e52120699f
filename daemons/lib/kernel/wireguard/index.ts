// Package wireguard runs Tern's WireGuard interfaces through one interface,
// WireGuardBackend, over kernel WireGuard (genetlink) or wireguard-go (UAPI).
export type {
  WireGuardBackend, DeviceState, PeerState, DesiredDevice, DesiredPeer, ConfigureResult, DeviceChange, PeerChange, DeviceSnapshot,
} from './types.js';
export {
  generatePrivateKey, generatePresharedKey, publicKeyOf, isKey, keyToHex, hexToKey, keyBytes, keyFromBytes, readKeyFile, redact,
} from './keys.js';
export { planChange, isEmptyChange, summarize, publicState } from './plan.js';
export { UserspaceBackend } from './userspace.js';
export type { UserspaceBackendOptions } from './userspace.js';
export { KernelBackend, openWgGenlSocket } from './kernel.js';
export type { KernelBackendOptions, WgGenlSocket } from './kernel.js';
export { WireguardGo, wireguardGoCeilingProblem, readInotifyCeiling, INOTIFY_INSTANCES } from './wggo.js';
export type { WireguardGoOptions, ProcessRef } from './wggo.js';
export { createUapiTransport, uapiSocketPath, DEFAULT_UAPI_DIR } from './uapi-socket.js';
export type { UapiTransport, UapiSocketOptions } from './uapi-socket.js';
export { createWireGuardBackend, detectWireGuard, kernelProbe, findProgram } from './detect.js';
export type { WireGuardKind, WireGuardProbe, CreateBackendOptions } from './detect.js';
