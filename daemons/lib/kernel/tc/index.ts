// Package tc is Tern's traffic control over rtnetlink: qdiscs, classes and filters (htb, fq_codel, cake, tbf, fifo, ingress, u32 + mirred), built and read as bytes.
export { Tc, openTcSocket } from './tc.js';
export type { TcSocket, TcOptions, LinkRef, QdiscSpec, ClassSpec, FilterSpec, QdiscInfo, ClassInfo, FilterInfo } from './tc.js';
export {
  encodeQdiscOptions, decodeQdiscOptions, encodeClassOptions, decodeClassOptions,
  normalizeQdiscOptions, normalizeClassOptions, optionsMatch,
  cakeDiffservModes, cakeFlowModes, cakeAckFilters,
} from './options.js';
export type {
  QdiscOptions, QdiscKind, ClassOptions, HtbQdiscOptions, HtbClassOptions, FqCodelOptions, CakeOptions,
  CakeDiffserv, CakeFlowMode, TbfOptions, FifoOptions, NoOptions,
} from './options.js';
export {
  encodeFilterOptions, decodeFilterOptions, filterMatches, filterInfo, parseFilterInfo, dscpKey, matchAll, ETH_P, protocolName,
} from './filter.js';
export type { U32Key, U32Options, U32Info, MirredAction, TcAction, TcActionInfo, FilterOptions, FilterProtocol } from './filter.js';
export {
  TC_H_ROOT, TC_H_INGRESS, TC_H_UNSPEC, INGRESS_HANDLE, tcHandle, majorOf, minorOf, formatHandle, parseHandle,
  formatU32Handle, u32Node, u32NodeOf,
} from './handle.js';
export { parseStats2, parseCakeTins, type TcStats, type CakeTinStats } from './stats.js';
