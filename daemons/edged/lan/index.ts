// Package lan runs the LAN's DHCP and DNS (Debian's dnsmasq) for tern-edged, learns the addresses of domain app classes, and intercepts LAN hosts' DNS.
export { LanServices, type LanServicesOptions, type LanServicesStatus, type Timers } from './services.js';
export { parseLeases, type Lease, type LeaseFile } from './leases.js';
export { parseSetElements, type DomainSet } from './domains.js';
export { answerTtlCap, interceptChain, nftsetDomain, renderDnsmasq, renderIntercept, type DnsmasqPlan, type LanPaths } from './render.js';
export { realProcessIo, runCommand, type Child, type CommandResult, type CommandRunner, type ProcessIo } from './proc.js';
