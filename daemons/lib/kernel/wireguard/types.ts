// The shapes every WireGuard backend shares: what a device looks like when
// read (no secrets in it), what a caller wants it to be, and what changed.

/** One peer as read from the device. Safe to log: it carries no secret. */
export interface PeerState {
  /** base64, 44 characters. */
  publicKey: string;
  /** `192.0.2.1:51820` or `[2001:db8::1]:51820`; null until known. */
  endpoint: string | null;
  /** Canonical prefixes, in the device's order. */
  allowedIps: string[];
  /** Seconds; 0 means off. */
  persistentKeepalive: number;
  /** Wall-clock ms of the last completed handshake; null when never. */
  lastHandshakeMs: number | null;
  rxBytes: number;
  txBytes: number;
  hasPresharedKey: boolean;
}

/** One device as read. The private key is never returned, only whether one is set and its public key. */
export interface DeviceState {
  ifname: string;
  hasPrivateKey: boolean;
  publicKey: string | null;
  /** 0 when no port is bound yet. */
  listenPort: number;
  /** 0 means off. */
  fwmark: number;
  peers: PeerState[];
}

/**
 * What configure() compares against: the device state plus a digest of
 * each peer's preshared key, so a changed key is noticed without the key
 * itself leaving the backend's reader.
 */
export interface DeviceSnapshot extends DeviceState {
  peers: (PeerState & { presharedKeyDigest: string | null })[];
}

/** A peer as the caller wants it. */
export interface DesiredPeer {
  publicKey: string;
  /** Secret. Omitted means none: a key set on the device is removed. */
  presharedKey?: string;
  /**
   * IP endpoint. Omitted means "leave it": the peer may be one that
   * connects to us and whose endpoint WireGuard learns (roaming).
   */
  endpoint?: string;
  allowedIps: string[];
  /** Seconds, 0-65535; omitted means off. */
  persistentKeepalive?: number;
}

/** A device as the caller wants it. */
export interface DesiredDevice {
  /** Secret, base64. */
  privateKey: string;
  /** Omitted or 0 means "leave it" (WireGuard picks a port and keeps it). */
  listenPort?: number;
  /** Omitted means "leave it"; 0 turns it off. */
  fwmark?: number;
  /** The complete peer list: peers on the device but not here are removed. */
  peers: DesiredPeer[];
}

/** One peer's change, as both backends send it. */
export interface PeerChange {
  publicKey: string;
  remove?: true;
  endpoint?: string;
  persistentKeepalive?: number;
  /** Secret. null removes the key. */
  presharedKey?: string | null;
  /** When present, the peer's allowed IPs are replaced by exactly these. */
  allowedIps?: string[];
}

/** The minimal change that takes a device to the desired state. */
export interface DeviceChange {
  /** Secret. */
  privateKey?: string;
  listenPort?: number;
  fwmark?: number;
  peers: PeerChange[];
}

/** What configure() did, by public key. Safe to log. */
export interface ConfigureResult {
  /** Device fields set: 'privateKey', 'listenPort', 'fwmark'. */
  device: string[];
  added: string[];
  updated: string[];
  removed: string[];
  /** Requests sent to the device (UAPI set or genetlink SET_DEVICE); 0 when nothing differed. */
  requests: number;
}

/**
 * A way to run WireGuard interfaces: the kernel module (genetlink) or
 * wireguard-go (UAPI). Both act in the network namespace of the process.
 */
export interface WireGuardBackend {
  readonly kind: 'kernel' | 'userspace';
  /** Creates the interface, administratively down and unconfigured. Fails if it exists. */
  create(ifname: string): Promise<void>;
  exists(ifname: string): Promise<boolean>;
  /** Names of this backend's interfaces that carry Tern's prefix. */
  list(): Promise<string[]>;
  get(ifname: string): Promise<DeviceState>;
  /**
   * Takes the interface to `desired`, changing only what differs (device
   * fields, then each peer on its own); never recreates it. Callers
   * serialize configure() calls per interface.
   */
  configure(ifname: string, desired: DesiredDevice): Promise<ConfigureResult>;
  /** Removes the interface (and its process, for wireguard-go). A missing interface is not an error. */
  destroy(ifname: string): Promise<void>;
  /** Releases sockets; interfaces stay as they are. */
  close(): void;
}
