// Package lab is the network lab: appliances, ISPs, hosts and remote users as network namespaces, with impairable links.
export {
  Lab, resolveRunDir, repoRoot, defaultLabRoot, registryDir, defaultPrefixPattern,
  type LabOptions, type LabState, type LabProcess, type LabProcessRecord, type ExitInfo,
} from './lab.js';
export {
  defaultTopology, multiWanTopology, validateTopology, findEnd, findNode, endsOf, applianceWans, applianceLan, siteOf,
  serverAddress, serverPrefix,
  type Topology, type LabNode, type LabLink, type LinkEnd, type LabRoute, type LabSite, type LabRemoteUser,
  type NodeRole, type LinkUse, type ApplianceWan, type LabInternet, type LabServer, type LabService,
} from './topology.js';
export {
  LinkImpairment, relayBinary, relayBuildCommand,
  type Direction, type ImpairRecord, type ImpairStats, type LinkSnapshot,
} from './impair.js';
export {
  startInternet, internetServers, serverWith, httpEcho, httpBurst, dnsQuery, parseDig, renderZone, renderNsdConf, iperfPort,
  type InternetServer, type StartedInternet, type HttpEchoOptions, type DnsAnswer, type DnsRecord,
} from './internet.js';
export type { EchoAnswer } from './http-echo.js';
export { startDaemons, discoverDaemons, type StartedDaemons, type StartDaemonsOptions } from './daemons.js';
export { renderApplianceConfig, labKeys, generateKeyPair, type LabKeys, type KeyPair } from './config.js';
export { ping, pingOne, iperf, parseFpingC, type PingResult, type PingOptions, type IperfResult, type IperfOptions } from './measure.js';
export { reachabilityPlan, runReachability, formatReachability, type ReachProbe, type ReachResult } from './checks.js';
export { run, mustRun, type CommandResult, type RunOptions } from './command.js';
export { scan, scanArgv, parseNmapXml, portsIn, maxScanPorts, type ScanResult, type ScanOptions, type PortState, type Protocol } from './scan.js';
export {
  startDhcpClient, waitForLease, currentLease, stopDhcpClient, parseDhclientLeases,
  type DhcpClient, type DhcpLease, type DhcpClientOptions,
} from './dhcp.js';
