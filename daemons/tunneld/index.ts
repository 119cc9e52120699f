// Package tunneld runs the WireGuard overlay: a tunnel per (local WAN,
// remote WAN) to every other site, routes to remote LANs, and remote access
// for consultants; it publishes every path's state on the bus.
import { tunneldSpec } from './daemon.js';

/** tern-tunneld as main.ts runs it: the real kernel, resolver and key files. */
export const spec = tunneldSpec();
