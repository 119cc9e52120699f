// Package rtnl is Tern's typed rtnetlink client: links, addresses, routes and
// policy rules of the network namespace the process runs in.
export { Rtnl, openRtnlSocket, linkKind, linkInfoFor } from './rtnl.js';
export type { RtnlOptions, RtnlSocket, LinkInfo, AddressInfo, RouteSpec, RouteInfo, RouteType, RuleSpec, RuleInfo } from './rtnl.js';
