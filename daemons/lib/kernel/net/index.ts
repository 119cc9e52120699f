// Package net is the vocabulary the kernel wrappers share: IP addresses,
// prefixes and endpoints as bytes, argument checks, and errno-named errors.
export {
  AF_INET, AF_INET6, parseIp, formatIp, parseCidr, formatCidr, canonicalNetwork, parseEndpoint, formatEndpoint, maskBytes, maxPrefix, afOf, familyOf,
} from './ip.js';
export type { Family, IpAddr, IpPrefix, IpEndpoint, ParseCidrOptions } from './ip.js';
export { checkIfname, checkInt, checkU32, checkTable, checkRulePriority, checkMtu, checkPort, IFNAME_MAX } from './validate.js';
export { kernelError, errnoName, errnoText, netlinkErrno, hasErrno } from './errno.js';
