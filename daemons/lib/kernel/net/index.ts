// Package net is the vocabulary the kernel wrappers share: IP addresses,
// prefixes and endpoints as bytes, argument checks, errno-named errors, and
// the request plumbing of their netlink clients (netlink-client.ts, used by
// rtnl, tc and wireguard from inside the kernel package only).
export {
  AF_INET, AF_INET6, parseIp, formatIp, parseCidr, formatCidr, canonicalNetwork, parseEndpoint, formatEndpoint, maskBytes, maxPrefix, afOf, familyOf,
} from './ip.js';
export type { Family, IpAddr, IpPrefix, IpEndpoint, ParseCidrOptions } from './ip.js';
export { checkIfname, checkInt, checkU32, checkTable, checkRulePriority, checkMtu, checkPort, IFNAME_MAX } from './validate.js';
export { kernelError, errnoName, errnoText, netlinkErrno, hasErrno } from './errno.js';
