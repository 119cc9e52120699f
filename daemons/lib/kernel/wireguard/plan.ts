// Compares a device as read with the device as wanted and yields the
// smallest change: device fields only when they differ, and one entry per
// peer that is new, changed or gone. Both backends send what this returns,
// so "configure twice changes nothing the second time" is decided here.
import { TernError } from '../../errors.js';
import { canonicalNetwork, formatEndpoint, parseEndpoint } from '../net/ip.js';
import { checkPort, checkU32 } from '../net/validate.js';
import { isKey, keyBytes, keyDigest, publicKeyOf } from './keys.js';
import type { ConfigureResult, DesiredDevice, DesiredPeer, DeviceChange, DeviceSnapshot, DeviceState, PeerChange } from './types.js';

const argError = (ifname: string, what: string, got: string, want: string): TernError =>
  new TernError('TERN_E_KERNEL_ARG', `wireguard: configure ${ifname}: ${what}: got ${got}; want ${want}`);

/** A desired peer with every field checked and in canonical form. */
interface CleanPeer {
  publicKey: string;
  presharedKeyDigest: string | null;
  presharedKey: string | null;
  endpoint: string | undefined;
  allowedIps: string[];
  persistentKeepalive: number;
}

function cleanPeer(ifname: string, p: DesiredPeer, i: number): CleanPeer {
  const at = `peers[${i}]`;
  if (!p || typeof p !== 'object') throw argError(ifname, at, typeof p, 'a peer object');
  if (!isKey(p.publicKey)) throw argError(ifname, `${at}.publicKey`, JSON.stringify(p.publicKey), 'a 44-character base64 key');
  if (p.presharedKey !== undefined && !isKey(p.presharedKey)) {
    throw argError(ifname, `${at}.presharedKey`, 'a malformed key', 'a 44-character base64 key');
  }
  if (!Array.isArray(p.allowedIps)) throw argError(ifname, `${at}.allowedIps`, typeof p.allowedIps, 'an array of prefixes');
  // WireGuard stores allowed IPs with the host bits cleared; compare in that form.
  const allowedIps = [...new Set(p.allowedIps.map((a) => canonicalNetwork(a)))];
  const keepalive = p.persistentKeepalive ?? 0;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
    throw argError(ifname, `${at}.persistentKeepalive`, String(keepalive), 'an integer 0-65535 (seconds)');
  }
  return {
    publicKey: p.publicKey,
    presharedKey: p.presharedKey ?? null,
    presharedKeyDigest: p.presharedKey === undefined ? null : keyDigest(keyBytes(p.presharedKey)),
    endpoint: p.endpoint === undefined ? undefined : formatEndpoint(parseEndpoint(p.endpoint)),
    allowedIps,
    persistentKeepalive: keepalive,
  };
}

const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && new Set([...a, ...b]).size === a.length;

/** The change from `current` to `desired` (empty peers and no fields when they match). */
export function planChange(ifname: string, current: DeviceSnapshot, desired: DesiredDevice): DeviceChange {
  if (!desired || typeof desired !== 'object') throw argError(ifname, 'desired', typeof desired, 'a device object');
  if (!isKey(desired.privateKey)) throw argError(ifname, 'privateKey', 'a malformed key', 'a 44-character base64 key');
  if (!Array.isArray(desired.peers)) throw argError(ifname, 'peers', typeof desired.peers, 'an array');
  const ownPublic = publicKeyOf(desired.privateKey);
  const change: DeviceChange = { peers: [] };
  if (current.publicKey !== ownPublic) change.privateKey = desired.privateKey;
  // Port 0 asks WireGuard to pick one; the port it picked is then as good as any, not a difference.
  if (desired.listenPort !== undefined && checkPort('listen port', desired.listenPort) !== 0 && desired.listenPort !== current.listenPort) {
    change.listenPort = desired.listenPort;
  }
  if (desired.fwmark !== undefined && checkU32('fwmark', desired.fwmark) !== current.fwmark) change.fwmark = desired.fwmark;

  const want = new Map<string, CleanPeer>();
  desired.peers.forEach((p, i) => {
    const c = cleanPeer(ifname, p, i);
    if (want.has(c.publicKey)) throw argError(ifname, `peers[${i}].publicKey`, c.publicKey, 'each peer once');
    if (c.publicKey === ownPublic) throw argError(ifname, `peers[${i}].publicKey`, c.publicKey, "a key other than the device's own public key");
    want.set(c.publicKey, c);
  });
  // An allowed IP belongs to one peer; WireGuard would hand it to the last one named and the
  // next comparison would see a difference again, so a shared one is a caller error.
  const owner = new Map<string, string>();
  for (const w of want.values()) {
    for (const a of w.allowedIps) {
      const other = owner.get(a);
      if (other !== undefined) throw argError(ifname, 'allowedIps', `${a} on peers ${other} and ${w.publicKey}`, 'each allowed IP on one peer');
      owner.set(a, w.publicKey);
    }
  }
  const have = new Map(current.peers.map((p) => [p.publicKey, p]));

  // Removals first: an allowed IP moving from a removed peer to another one is then never refused.
  for (const key of have.keys()) if (!want.has(key)) change.peers.push({ publicKey: key, remove: true });
  for (const w of want.values()) {
    const h = have.get(w.publicKey);
    if (!h) {
      const add: PeerChange = { publicKey: w.publicKey, allowedIps: w.allowedIps, persistentKeepalive: w.persistentKeepalive };
      if (w.endpoint !== undefined) add.endpoint = w.endpoint;
      if (w.presharedKey !== null) add.presharedKey = w.presharedKey;
      change.peers.push(add);
      continue;
    }
    const c: PeerChange = { publicKey: w.publicKey };
    if (w.endpoint !== undefined && w.endpoint !== h.endpoint) c.endpoint = w.endpoint;
    if (w.persistentKeepalive !== h.persistentKeepalive) c.persistentKeepalive = w.persistentKeepalive;
    if (w.presharedKeyDigest !== h.presharedKeyDigest) c.presharedKey = w.presharedKey;
    if (!sameSet(w.allowedIps, h.allowedIps.map((a) => canonicalNetwork(a)))) c.allowedIps = w.allowedIps;
    if (Object.keys(c).length > 1) change.peers.push(c);
  }
  return change;
}

/** True when the change does nothing. */
export const isEmptyChange = (c: DeviceChange): boolean =>
  c.privateKey === undefined && c.listenPort === undefined && c.fwmark === undefined && c.peers.length === 0;

/** The loggable summary of a change (public keys and field names only). */
export function summarize(c: DeviceChange, current: DeviceSnapshot, requests: number): ConfigureResult {
  const existing = new Set(current.peers.map((p) => p.publicKey));
  const device = (['privateKey', 'listenPort', 'fwmark'] as const).filter((k) => c[k] !== undefined);
  return {
    device: [...device],
    added: c.peers.filter((p) => !p.remove && !existing.has(p.publicKey)).map((p) => p.publicKey),
    updated: c.peers.filter((p) => !p.remove && existing.has(p.publicKey)).map((p) => p.publicKey),
    removed: c.peers.filter((p) => p.remove).map((p) => p.publicKey),
    requests,
  };
}

/** The snapshot without what only the comparison needs (preshared key digests). */
export function publicState(s: DeviceSnapshot): DeviceState {
  return { ...s, peers: s.peers.map(({ presharedKeyDigest: _digest, ...p }) => p) };
}
