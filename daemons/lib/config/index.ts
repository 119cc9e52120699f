// Package config reads /etc/tern/tern.yaml: its schema, the checks that name
// key path and line for every problem, and the JSON Schema editors load.
export { loadConfig, parseConfig, maxNesting, type LoadedConfig } from './load.js';
export { readConfigText, maxConfigBytes } from './read.js';
export {
  jsonSchema, jsonSchemaText, configVersion, limits, qosClassNames, defaultAppClass,
  type TernConfig, type IdentityConfig, type WanConfig, type LanConfig, type OverlayConfig,
  type RemoteSite, type RemoteSiteWan, type RemoteUser, type PairConfig, type PairTrack,
  type ProbesConfig, type QosConfig, type QosWan, type AutorateConfig, type QosClassName,
  type AppClass, type Policy, type DhcpConfig, type DnsConfig, type FirewallConfig, type FirewallRule,
  type PortForward, type InternetConfig, type FirewallZone, firewallZones,
} from './schema.js';
export { formatKeyPath, type ConfigIssue } from './issues.js';
export { wanTables } from './tables.js';
export { ownInterfaceGlobs, wanTableRange } from '../kernel/names.js';
export * as cidr from '../ip/index.js';
