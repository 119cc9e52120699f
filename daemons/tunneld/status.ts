// The live state of every overlay path, read from WireGuard: handshake age,
// traffic counters and the endpoint in use. A path is up while its last
// handshake is fresher than WireGuard's own reject-after time.
import type { DeviceState } from '../lib/kernel/index.js';
import type { PathPlan } from '../lib/overlay/index.js';

/** WireGuard drops a session 180 s after its handshake (REJECT_AFTER_TIME). */
export const handshakeFreshMs = 180_000;

export type TunnelState = 'up' | 'down' | 'connecting';

/** One path as published on the bus (and shown by ternctl). */
export interface PathStatus {
  name: string;
  site: string;
  localWan: string;
  remoteWan: string;
  ifname: string;
  state: TunnelState;
  /** ms since the last handshake; null when there was none. */
  handshakeAgeMs: number | null;
  endpoint: string | null;
  /** The endpoint the config names (null: behind NAT, or a name not resolved); endpoint differs while it drifted. */
  endpointWanted: string | null;
  /** Times since tunneld started that the endpoint drifted away from endpointWanted (drift.ts). */
  endpointDrifts: number;
  rxBytes: number;
  txBytes: number;
  listenPort: number;
  table: number;
  mark: number;
  /** The address probes of this path are sent to (the remote end's link-local address). */
  probeAddress: string;
}

export function tunnelState(dev: DeviceState | undefined, nowMs: number): { state: TunnelState; age: number | null } {
  const hs = dev?.peers[0]?.lastHandshakeMs ?? null;
  if (hs === null) return { state: dev ? 'connecting' : 'down', age: null };
  const age = Math.max(0, nowMs - hs);
  return { state: age < handshakeFreshMs ? 'up' : 'down', age };
}

export function pathStatus(p: PathPlan, dev: DeviceState | undefined, nowMs: number,
  endpoint: { wanted: string | null; drifts: number } = { wanted: null, drifts: 0 }): PathStatus {
  const peer = dev?.peers[0];
  const { state, age } = tunnelState(dev, nowMs);
  return {
    name: p.name,
    site: p.site,
    localWan: p.localWan,
    remoteWan: p.remoteWan,
    ifname: p.ifname,
    state,
    handshakeAgeMs: age,
    endpoint: peer?.endpoint ?? null,
    endpointWanted: endpoint.wanted,
    endpointDrifts: endpoint.drifts,
    rxBytes: peer?.rxBytes ?? 0,
    txBytes: peer?.txBytes ?? 0,
    listenPort: p.listenPort,
    table: p.table,
    mark: p.mark,
    probeAddress: `${p.remoteLinkAddress}%${p.ifname}`,
  };
}

/**
 * What tunneld's last WireGuard reading says of a path, for its routing
 * table (desired.ts pathTableAction): 'up' (a handshake fresher than
 * handshakeFreshMs), 'down' (the device answered, with no fresh
 * handshake: stale, or none yet), 'failed' (the reading failed: up or down
 * is not known), 'none' (no reading since tunneld started, or the path has
 * no interface yet).
 */
export type PathReading = 'up' | 'down' | 'failed' | 'none';

/** The reading of one path from wg.get's outcome: the device, or that it is absent, or that the reading failed. */
export function pathReading(dev: DeviceState | 'absent' | 'failed', nowMs: number): PathReading {
  if (dev === 'absent') return 'none';
  if (dev === 'failed') return 'failed';
  return tunnelState(dev, nowMs).state === 'up' ? 'up' : 'down';
}
