// tunneld's bus API: the overlay paths' tunnel state (WireGuard's view),
// the WireGuard devices, the overlay's public facts, the remote users.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { PathId, Reply } from './schema.js';

export const TunnelState = Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('connecting')], {
  title: 'TunnelState', description: 'WireGuard\'s view of a path: up (fresh handshake), connecting (no handshake yet), down',
});

/** What probed builds a path socket from (site, WANs, interface, probe address): never empty. */
const NonEmpty = (description?: string) => Type.String({ minLength: 1, ...(description ? { description } : {}) });

export const PathTunnel = Reply({
  name: PathId,
  site: NonEmpty(),
  localWan: NonEmpty(),
  remoteWan: NonEmpty(),
  ifname: NonEmpty(),
  state: TunnelState,
  handshakeAgeMs: Type.Union([Type.Number(), Type.Null()], { description: 'ms since the last handshake; null when none' }),
  endpoint: Type.Union([Type.String(), Type.Null()]),
  endpointWanted: Type.Union([Type.String(), Type.Null()], { description: 'the endpoint the config names (null: behind NAT or not resolved)' }),
  endpointDrifts: Type.Integer({ description: 'times the endpoint drifted away since tunneld started' }),
  rxBytes: Type.Number(),
  txBytes: Type.Number(),
  listenPort: Type.Integer(),
  table: Type.Integer(),
  mark: Type.Integer(),
  probeAddress: NonEmpty('where probes of this path go: the far end\'s link-local address%ifname'),
}, { title: 'PathTunnel', description: 'one overlay path as tunneld sees it' });

export const WireGuardPeer = Reply({
  publicKey: Type.String(),
  endpoint: Type.Union([Type.String(), Type.Null()]),
  allowedIps: Type.Array(Type.String()),
  persistentKeepalive: Type.Number(),
  lastHandshakeMs: Type.Union([Type.Number(), Type.Null()]),
  rxBytes: Type.Number(),
  txBytes: Type.Number(),
  hasPresharedKey: Type.Boolean(),
}, { title: 'WireGuardPeer' });

export const RemoteUser = Reply({
  name: Type.String(),
  address: Type.String(),
  allowedPrefixes: Type.Array(Type.String()),
  revoked: Type.Boolean(),
  publicKey: Type.String(),
}, { title: 'RemoteUser', description: 'a remote-access user (config remoteUsers[]): public facts only' });

export const tunneldApi = defineContract({
  daemon: 'tunneld',
  summary: 'WireGuard tunnels: one per (local WAN, remote WAN) path, and the remote users.',
  methods: {
    'paths.list': { summary: 'every planned path with its tunnel state and counters', result: Type.Array(PathTunnel) },
    'tunnels.list': {
      summary: 'every WireGuard device on the box with its peers (public keys only)',
      result: Type.Array(Reply({
        ifname: Type.String(),
        ifindex: Type.Union([Type.Integer(), Type.Null()]),
        up: Type.Boolean(),
        listenPort: Type.Union([Type.Integer(), Type.Null()]),
        fwmark: Type.Union([Type.Integer(), Type.Null()]),
        peers: Type.Array(WireGuardPeer),
      }, { title: 'WireGuardDevice' })),
    },
    'overlay.info': {
      summary: 'this site, its public key, the WireGuard backend, the last reconcile',
      result: Reply({
        site: Type.String(),
        publicKey: Type.String(),
        backend: Type.String({ description: 'kernel or userspace (wireguard-go)' }),
        siteNumber: Type.Integer(),
        lastReconcile: Type.Unknown({ description: 'the last reconcile report, null before the first' }),
      }),
    },
    'ra.list': { summary: 'the remote-access users of the config, public facts only', result: Type.Array(RemoteUser) },
  },
  topics: {
    'paths.changed': { when: 'a path\'s tunnel state changed (not sent for removed paths)', payload: PathTunnel },
  },
});
