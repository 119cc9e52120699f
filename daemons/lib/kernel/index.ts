// Package kernel is Tern's access to the kernel's networking: rtnetlink
// (links, addresses, routes, policy rules) and WireGuard (kernel or wireguard-go).
export * from './net/index.js';
export * from './rtnl/index.js';
export * from './wireguard/index.js';
export * from './tc/index.js';
