// The WireGuard cross-platform UAPI text protocol (wireguard.com/xplatform):
// requests `get=1` / `set=1` followed by key=value lines and a blank line;
// replies of key=value lines ending `errno=N` and a blank line. Pure
// functions: serializers for the requests, strict parsers for the replies.
// Secrets stop here: a parsed reply carries the public key derived from the
// private key, and only a digest of each preshared key.
import { TernError } from '../../errors.js';
import { errnoName } from '../net/errno.js';
import { formatCidr, formatEndpoint, maskBytes, parseCidr, parseEndpoint } from '../net/ip.js';
import { KEY_LEN, keyDigest, keyFromBytes, keyToHex, publicKeyBytesOf } from './keys.js';
import type { DeviceChange, DeviceSnapshot, PeerState } from './types.js';

/** Longest reply line accepted; real lines are under 100 bytes. */
export const MAX_LINE = 1024;

const ZERO_KEY_HEX = '0'.repeat(KEY_LEN * 2);

export const GET_REQUEST = 'get=1\n\n';

const uapiError = (op: string, msg: string, details: Record<string, unknown> = {}): TernError =>
  new TernError('TERN_E_KERNEL_WG_UAPI', `wireguard: uapi ${op}: ${msg}`, { details: { op, ...details } });

const int = (v: number, what: string, max: number): string => {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new TernError('TERN_E_KERNEL_ARG', `wireguard: uapi set: ${what}: got ${v}; want an integer 0-${max}`);
  }
  return String(v);
};

/** The `set=1` request for a change. Values are checked, so no value can carry a newline. */
export function serializeSet(c: DeviceChange): string {
  const lines = ['set=1'];
  if (c.privateKey !== undefined) lines.push(`private_key=${keyToHex(c.privateKey, 'private key')}`);
  if (c.listenPort !== undefined) lines.push(`listen_port=${int(c.listenPort, 'listen port', 65535)}`);
  if (c.fwmark !== undefined) lines.push(`fwmark=${int(c.fwmark, 'fwmark', 0xffffffff)}`);
  for (const p of c.peers) {
    lines.push(`public_key=${keyToHex(p.publicKey, 'peer public key')}`);
    if (p.remove) {
      lines.push('remove=true');
      continue;
    }
    if (p.presharedKey !== undefined) {
      lines.push(`preshared_key=${p.presharedKey === null ? ZERO_KEY_HEX : keyToHex(p.presharedKey, 'preshared key')}`);
    }
    if (p.endpoint !== undefined) lines.push(`endpoint=${formatEndpoint(parseEndpoint(p.endpoint))}`);
    if (p.persistentKeepalive !== undefined) {
      lines.push(`persistent_keepalive_interval=${int(p.persistentKeepalive, 'persistent keepalive', 65535)}`);
    }
    if (p.allowedIps !== undefined) {
      lines.push('replace_allowed_ips=true');
      for (const a of p.allowedIps) {
        const pr = parseCidr(a);
        lines.push(`allowed_ip=${formatCidr({ bytes: maskBytes(pr.bytes, pr.length), length: pr.length })}`);
      }
    }
  }
  return `${lines.join('\n')}\n\n`;
}

interface Line {
  key: string;
  value: string;
  n: number;
}

/**
 * Splits a reply into key=value lines and checks its errno. `text` is what
 * the transport read: everything up to and including the blank line.
 */
function readReply(op: string, text: string): Line[] {
  if (typeof text !== 'string' || !text.endsWith('\n\n')) throw uapiError(op, 'got a reply not ending in a blank line; want key=value lines and a blank line');
  const raw = text.slice(0, -2).split('\n');
  const lines: Line[] = [];
  raw.forEach((l, i) => {
    const n = i + 1;
    if (l.length > MAX_LINE) throw uapiError(op, `line ${n}: got ${l.length} bytes; want at most ${MAX_LINE}`);
    const eq = l.indexOf('=');
    const key = eq > 0 ? l.slice(0, eq) : '';
    if (!/^[a-z_]{1,64}$/.test(key) || !/^[\x20-\x7e]*$/.test(l)) {
      throw uapiError(op, `line ${n}: got ${JSON.stringify(l.slice(0, 64))}; want key=value`);
    }
    lines.push({ key, value: l.slice(eq + 1), n });
  });
  const last = lines[lines.length - 1];
  if (!last || last.key !== 'errno') throw uapiError(op, 'got a reply without errno=N as its last line; want errno');
  if (!/^-?[0-9]{1,9}$/.test(last.value)) throw uapiError(op, `errno: got ${JSON.stringify(last.value.slice(0, 32))}; want a number`);
  const errno = Number(last.value);
  if (errno !== 0) {
    const name = errnoName(errno);
    throw uapiError(op, `${name}: the device refused the request`, { errno: name });
  }
  for (const l of lines.slice(0, -1)) {
    if (l.key === 'errno') throw uapiError(op, `line ${l.n}: got errno before the end of the reply; want it last`);
  }
  return lines.slice(0, -1);
}

/** Checks a `set` reply: errno=0 and nothing malformed. */
export function parseSetReply(ifname: string, text: string): void {
  readReply(`set ${ifname}`, text);
}

function num(op: string, l: Line, max: number): number {
  if (!/^[0-9]{1,20}$/.test(l.value)) throw uapiError(op, `line ${l.n}: ${l.key}: got ${JSON.stringify(l.value.slice(0, 32))}; want a decimal number`);
  const v = BigInt(l.value);
  if (v > BigInt(max)) throw uapiError(op, `line ${l.n}: ${l.key}: got ${l.value}; want at most ${max}`);
  return Number(v);
}

function hexKey(op: string, l: Line): Buffer {
  if (!/^[0-9a-f]{64}$/i.test(l.value)) throw uapiError(op, `line ${l.n}: ${l.key}: got ${l.value.length} characters; want 64 hex digits`);
  return Buffer.from(l.value, 'hex');
}

/** Parses a `get` reply into a snapshot; TernError on anything malformed. */
export function parseGetReply(ifname: string, text: string): DeviceSnapshot {
  const op = `get ${ifname}`;
  const dev: DeviceSnapshot = { ifname, hasPrivateKey: false, publicKey: null, listenPort: 0, fwmark: 0, peers: [] };
  type Peer = DeviceSnapshot['peers'][number];
  let peer: Peer | undefined;
  let hsSec = 0;
  let hsNsec = 0;
  const endPeer = (): void => {
    if (!peer) return;
    peer.lastHandshakeMs = hsSec === 0 && hsNsec === 0 ? null : hsSec * 1000 + Math.floor(hsNsec / 1e6);
    dev.peers.push(peer);
    peer = undefined;
  };
  const inPeer = (l: Line): Peer => {
    if (!peer) throw uapiError(op, `line ${l.n}: got ${l.key} before any public_key; want peer fields after public_key`);
    return peer;
  };
  for (const l of readReply(op, text)) {
    switch (l.key) {
      case 'private_key': {
        if (peer) throw uapiError(op, `line ${l.n}: got private_key inside a peer; want it before the peers`);
        const raw = hexKey(op, l);
        dev.hasPrivateKey = !raw.equals(Buffer.alloc(KEY_LEN));
        dev.publicKey = dev.hasPrivateKey ? keyFromBytes(publicKeyBytesOf(raw)) : null;
        raw.fill(0);
        break;
      }
      case 'listen_port':
        dev.listenPort = num(op, l, 65535);
        break;
      case 'fwmark':
        dev.fwmark = num(op, l, 0xffffffff);
        break;
      case 'public_key':
        endPeer();
        hsSec = 0;
        hsNsec = 0;
        peer = {
          publicKey: keyFromBytes(hexKey(op, l)), endpoint: null, allowedIps: [], persistentKeepalive: 0,
          lastHandshakeMs: null, rxBytes: 0, txBytes: 0, hasPresharedKey: false, presharedKeyDigest: null,
        } satisfies PeerState & { presharedKeyDigest: string | null };
        break;
      case 'preshared_key': {
        const p = inPeer(l);
        const raw = hexKey(op, l);
        p.hasPresharedKey = !raw.equals(Buffer.alloc(KEY_LEN));
        p.presharedKeyDigest = p.hasPresharedKey ? keyDigest(raw) : null;
        raw.fill(0);
        break;
      }
      case 'endpoint': {
        const p = inPeer(l);
        try {
          p.endpoint = formatEndpoint(parseEndpoint(l.value));
        } catch {
          throw uapiError(op, `line ${l.n}: endpoint: got ${JSON.stringify(l.value.slice(0, 64))}; want ip:port or [ipv6]:port`);
        }
        break;
      }
      case 'persistent_keepalive_interval':
        inPeer(l).persistentKeepalive = num(op, l, 65535);
        break;
      case 'last_handshake_time_sec':
        inPeer(l);
        hsSec = num(op, l, Math.floor(Number.MAX_SAFE_INTEGER / 1000));
        break;
      case 'last_handshake_time_nsec':
        inPeer(l);
        hsNsec = num(op, l, 999_999_999);
        break;
      case 'rx_bytes':
        inPeer(l).rxBytes = num(op, l, Number.MAX_SAFE_INTEGER);
        break;
      case 'tx_bytes':
        inPeer(l).txBytes = num(op, l, Number.MAX_SAFE_INTEGER);
        break;
      case 'allowed_ip': {
        const p = inPeer(l);
        try {
          const a = parseCidr(l.value);
          p.allowedIps.push(formatCidr({ bytes: maskBytes(a.bytes, a.length), length: a.length }));
        } catch {
          throw uapiError(op, `line ${l.n}: allowed_ip: got ${JSON.stringify(l.value.slice(0, 64))}; want a prefix`);
        }
        break;
      }
      case 'protocol_version':
        inPeer(l);
        num(op, l, 0xffffffff);
        break;
      default:
        // Newer wireguard-go versions may add keys; the protocol lets readers skip them.
        break;
    }
  }
  endPeer();
  return dev;
}
