// Package kernel is Tern's access to the kernel's networking: rtnetlink
// (links, addresses, routes, policy rules), WireGuard (kernel or wireguard-go),
// traffic control, and the gateways DHCP put in the routes.
export * from './net/index.js';
export * from './rtnl/index.js';
export * from './wireguard/index.js';
export * from './tc/index.js';
export * from './gateway/index.js';
