// Package testing holds what the kernel package's integration tests share:
// throwaway namespaces and agent processes that make kernel calls inside one
// (netns-agent.ts, the framing every fixture serving calls uses).
export { TestNetns, run, sh, uniqueTag, trackWireguardGo, killTrackedWireguardGo, wireguardGoPids } from './netns.js';
export { Agent } from './agent-client.js';
export { NetnsAgent, serveAgent } from './netns-agent.js';
export type { UapiRecord } from './agent.js';
