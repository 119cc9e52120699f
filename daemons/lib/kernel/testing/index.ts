// Package testing holds what the kernel package's integration tests share:
// throwaway namespaces and an agent process that makes kernel calls inside one.
export { TestNetns, run, sh, uniqueTag, trackWireguardGo, killTrackedWireguardGo, wireguardGoPids } from './netns.js';
export { Agent } from './agent-client.js';
export type { UapiRecord } from './agent.js';
