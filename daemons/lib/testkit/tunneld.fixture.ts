// tunneld's paths.list rows for tests: what tunneld makes of a planned path
// (daemons/tunneld/status.ts), whole, as its contract declares
// (daemons/lib/api/tunneld.ts PathTunnel).
import type { PathTunnelT } from '../api/index.js';
import type { PathPlan } from '../overlay/index.js';

/** The plan's facts a row is made of. */
export type PlannedTunnel = Pick<PathPlan, 'name' | 'site' | 'localWan' | 'remoteWan' | 'ifname' | 'listenPort' | 'table' | 'mark' | 'remoteLinkAddress'>;

export function pathTunnel(p: PlannedTunnel, state: PathTunnelT['state'] = 'up'): PathTunnelT {
  return {
    name: p.name, site: p.site, localWan: p.localWan, remoteWan: p.remoteWan, ifname: p.ifname, state,
    handshakeAgeMs: state === 'up' ? 1000 : null, endpoint: null, endpointWanted: null, endpointDrifts: 0,
    rxBytes: 0, txBytes: 0, listenPort: p.listenPort, table: p.table, mark: p.mark,
    probeAddress: `${p.remoteLinkAddress}%${p.ifname}`,
  };
}
