// The WireGuard generic-netlink messages (linux/wireguard.h): SET_DEVICE
// requests built with the netlink package's encoder, and GET_DEVICE dump
// replies read by a decoder of our own.
//
// Two gaps in netlink@0.3.0's `wg` structs make this file necessary: its
// encoder never sets NLA_F_NESTED, which the kernel's strict validation of
// the wireguard family requires on WGDEVICE_A_PEERS, on each peer, on
// WGPEER_A_ALLOWEDIPS and on each allowed IP ("NLA_F_NESTED is missing",
// EINVAL); and its decoder expects array entries typed 1, 2, 3... while the
// kernel types every peer and allowed-IP entry 0. markNested() fixes the
// first; decodeDevice() reads both numberings.
import os from 'node:os';
import { AttrStream, parseAttributes, wg } from 'netlink';
import { TernError } from '../../errors.js';
import { AF_INET, AF_INET6, familyOf, formatCidr, formatEndpoint, maskBytes, parseCidr, parseEndpoint, type Family } from '../net/ip.js';
import { KEY_LEN, keyBytes, keyDigest, keyFromBytes, publicKeyBytesOf } from './keys.js';
import type { DeviceChange, DeviceSnapshot } from './types.js';

export const WG_GENL_NAME = 'wireguard';
export const WG_GENL_VERSION = 1;
export const WG_CMD_GET_DEVICE = 1;
export const WG_CMD_SET_DEVICE = 2;

export const NLA_F_NESTED = 0x8000;
const TYPE_MASK = 0x3fff;

// Attribute numbers from linux/wireguard.h.
const WGDEVICE_A_IFNAME = 2;
const WGDEVICE_A_PRIVATE_KEY = 3;
const WGDEVICE_A_PUBLIC_KEY = 4;
const WGDEVICE_A_LISTEN_PORT = 6;
const WGDEVICE_A_FWMARK = 7;
const WGDEVICE_A_PEERS = 8;
const WGPEER_A_PUBLIC_KEY = 1;
const WGPEER_A_PRESHARED_KEY = 2;
const WGPEER_A_ENDPOINT = 4;
const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 5;
const WGPEER_A_LAST_HANDSHAKE_TIME = 6;
const WGPEER_A_RX_BYTES = 7;
const WGPEER_A_TX_BYTES = 8;
const WGPEER_A_ALLOWEDIPS = 9;
const WGALLOWEDIP_A_FAMILY = 1;
const WGALLOWEDIP_A_IPADDR = 2;
const WGALLOWEDIP_A_CIDR_MASK = 3;

const LE = os.endianness() === 'LE';
const u16 = (b: Buffer, o = 0): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
const u32 = (b: Buffer): number => (LE ? b.readUInt32LE(0) : b.readUInt32BE(0));
const u64 = (b: Buffer): bigint => (LE ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0));
const s64 = (b: Buffer, o: number): bigint => (LE ? b.readBigInt64LE(o) : b.readBigInt64BE(o));

/** Reads the attribute headers of `buf` in place: [offset of header, type without flags]. */
function attrOffsets(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = u16(buf, off);
    if (len < 4 || off + len > buf.length) throw new Error(`attribute at offset ${off} has length ${len}`);
    out.push([off, u16(buf, off + 2) & TYPE_MASK]);
    off += (len + 3) & ~3;
  }
  return out;
}

function setNested(buf: Buffer, off: number): void {
  const t = u16(buf, off + 2) | NLA_F_NESTED;
  if (LE) buf.writeUInt16LE(t, off + 2);
  else buf.writeUInt16BE(t, off + 2);
}

const payload = (buf: Buffer, off: number): Buffer => buf.subarray(off + 4, off + u16(buf, off));

/** Sets NLA_F_NESTED on the peers list, each peer, each allowed-IP list and each allowed IP (in place). */
export function markNested(device: Buffer): Buffer {
  for (const [off, type] of attrOffsets(device)) {
    if (type !== WGDEVICE_A_PEERS) continue;
    setNested(device, off);
    const peers = payload(device, off);
    for (const [poff] of attrOffsets(peers)) {
      setNested(peers, poff);
      const peer = payload(peers, poff);
      for (const [aoff, atype] of attrOffsets(peer)) {
        if (atype !== WGPEER_A_ALLOWEDIPS) continue;
        setNested(peer, aoff);
        const ips = payload(peer, aoff);
        for (const [ioff] of attrOffsets(ips)) setNested(ips, ioff);
      }
    }
  }
  return device;
}

/** struct sockaddr_in / sockaddr_in6 for an endpoint text. */
export function encodeSockaddr(endpoint: string): Buffer {
  const e = parseEndpoint(endpoint);
  const out = Buffer.alloc(e.family === 4 ? 16 : 28);
  const af = e.family === 4 ? AF_INET : AF_INET6;
  if (LE) out.writeUInt16LE(af, 0);
  else out.writeUInt16BE(af, 0);
  out.writeUInt16BE(e.port, 2);
  e.bytes.copy(out, e.family === 4 ? 4 : 8);
  return out;
}

/** The endpoint text of a sockaddr; undefined when it is not a well-formed IPv4/IPv6 one. */
export function decodeSockaddr(b: Buffer): string | undefined {
  if (b.length < 2) return undefined;
  const family = familyOf(u16(b, 0));
  if (family === 4 && b.length >= 8) return formatEndpoint({ family, bytes: b.subarray(4, 8), port: b.readUInt16BE(2) });
  if (family === 6 && b.length >= 24) return formatEndpoint({ family, bytes: b.subarray(8, 24), port: b.readUInt16BE(2) });
  return undefined;
}

/** The netlink package's view of a change, before encoding. */
export function deviceMessage(ifname: string, c: DeviceChange, peers = c.peers, withDevice = true): wg.Device {
  const d: wg.Device = { ifname };
  if (withDevice) {
    if (c.privateKey !== undefined) d.privateKey = keyBytes(c.privateKey, 'private key');
    if (c.listenPort !== undefined) d.listenPort = c.listenPort;
    if (c.fwmark !== undefined) d.fwmark = c.fwmark;
  }
  if (peers.length === 0) return d;
  d.peers = peers.map((p) => {
    const peer: wg.Peer = { publicKey: keyBytes(p.publicKey, 'peer public key') };
    if (p.remove) return { ...peer, flags: { removeMe: true } };
    if (p.presharedKey !== undefined) peer.presharedKey = p.presharedKey === null ? Buffer.alloc(KEY_LEN) : keyBytes(p.presharedKey, 'preshared key');
    if (p.endpoint !== undefined) peer.endpoint = encodeSockaddr(p.endpoint);
    if (p.persistentKeepalive !== undefined) peer.persistentKeepaliveInterval = p.persistentKeepalive;
    if (p.allowedIps !== undefined) {
      peer.flags = { replaceAllowedIps: true };
      peer.allowedIps = p.allowedIps.map((a) => {
        const pr = parseCidr(a);
        return { family: pr.family === 4 ? AF_INET : AF_INET6, ipaddr: maskBytes(pr.bytes, pr.length), cidrMask: pr.length };
      });
    }
    return peer;
  });
  return d;
}

/** Encodes a wg.Device as SET_DEVICE attributes, nested flags set. */
export function encodeDevice(d: wg.Device): Buffer {
  const s = new AttrStream();
  s.emit(wg.formatDevice(d));
  return markNested(Buffer.concat(s.bufs));
}

/**
 * Largest SET_DEVICE payload we build. The kernel would take more, but
 * `wg` keeps messages near a page too, and small messages keep a failure
 * to one batch of peers.
 */
export const MAX_SET_BYTES = 32 * 1024;

/** A change as one or more SET_DEVICE payloads: device fields in the first, then peers in batches. */
export function encodeSetDevice(ifname: string, c: DeviceChange): Buffer[] {
  const out: Buffer[] = [];
  let batch: DeviceChange['peers'] = [];
  let size = 0;
  const flush = (): void => {
    out.push(encodeDevice(deviceMessage(ifname, c, batch, out.length === 0)));
    batch = [];
    size = 0;
  };
  for (const p of c.peers) {
    const est = 128 + 32 * (p.allowedIps?.length ?? 0);
    if (batch.length > 0 && size + est > MAX_SET_BYTES) flush();
    batch.push(p);
    size += est;
  }
  if (batch.length > 0 || out.length === 0) flush();
  return out;
}

/** The GET_DEVICE request attributes for an interface name. */
export function encodeGetDevice(ifname: string): Buffer {
  return encodeDevice({ ifname });
}

type Snap = DeviceSnapshot;
type SnapPeer = Snap['peers'][number];

const bad = (ifname: string, what: string): TernError =>
  new TernError('TERN_E_KERNEL_NETLINK', `wireguard: get ${ifname}: malformed GET_DEVICE reply: ${what}`, { details: { op: `get ${ifname}` } });

function each(ifname: string, buf: Buffer, fn: (type: number, data: Buffer) => void): void {
  try {
    parseAttributes(buf, (a) => fn(a.type, a.data));
  } catch (err) {
    if (err instanceof TernError) throw err;
    throw bad(ifname, err instanceof Error ? err.message : String(err));
  }
}

function decodeAllowedIp(ifname: string, buf: Buffer): string | undefined {
  let family: Family | undefined;
  let addr: Buffer | undefined;
  let mask: number | undefined;
  each(ifname, buf, (t, d) => {
    if (t === WGALLOWEDIP_A_FAMILY && d.length >= 2) family = familyOf(u16(d));
    else if (t === WGALLOWEDIP_A_IPADDR) addr = d;
    else if (t === WGALLOWEDIP_A_CIDR_MASK && d.length >= 1) mask = d[0];
  });
  if (!family || !addr || mask === undefined || addr.length !== (family === 4 ? 4 : 16) || mask > (family === 4 ? 32 : 128)) return undefined;
  return formatCidr({ bytes: maskBytes(addr, mask), length: mask });
}

function decodePeer(ifname: string, buf: Buffer): SnapPeer | undefined {
  const p: SnapPeer = {
    publicKey: '', endpoint: null, allowedIps: [], persistentKeepalive: 0, lastHandshakeMs: null,
    rxBytes: 0, txBytes: 0, hasPresharedKey: false, presharedKeyDigest: null,
  };
  let key: Buffer | undefined;
  each(ifname, buf, (t, d) => {
    switch (t) {
      case WGPEER_A_PUBLIC_KEY:
        key = d;
        break;
      case WGPEER_A_PRESHARED_KEY:
        if (d.length === KEY_LEN && !d.equals(Buffer.alloc(KEY_LEN))) {
          p.hasPresharedKey = true;
          p.presharedKeyDigest = keyDigest(d);
        }
        break;
      case WGPEER_A_ENDPOINT:
        p.endpoint = decodeSockaddr(d) ?? null;
        break;
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
        if (d.length >= 2) p.persistentKeepalive = u16(d);
        break;
      case WGPEER_A_LAST_HANDSHAKE_TIME:
        if (d.length >= 16) {
          const sec = s64(d, 0);
          const nsec = s64(d, 8);
          if (sec > 0n || nsec > 0n) p.lastHandshakeMs = Number(sec * 1000n + nsec / 1_000_000n);
        }
        break;
      case WGPEER_A_RX_BYTES:
        if (d.length >= 8) p.rxBytes = Number(u64(d));
        break;
      case WGPEER_A_TX_BYTES:
        if (d.length >= 8) p.txBytes = Number(u64(d));
        break;
      case WGPEER_A_ALLOWEDIPS:
        // Entries are typed 0 by the kernel (1, 2... by other encoders): the type is not read.
        each(ifname, d, (_t, ip) => {
          const a = decodeAllowedIp(ifname, ip);
          if (a) p.allowedIps.push(a);
        });
        break;
      default:
        break;
    }
  });
  if (!key || key.length !== KEY_LEN) return undefined;
  p.publicKey = keyFromBytes(key);
  return p;
}

/**
 * Reads the replies of one GET_DEVICE dump into a snapshot. A device with
 * many peers spans several replies; a peer whose allowed IPs did not fit
 * continues at the start of the next reply with the same public key.
 */
export function decodeDevice(ifname: string, replies: Buffer[]): DeviceSnapshot {
  const dev: DeviceSnapshot = { ifname, hasPrivateKey: false, publicKey: null, listenPort: 0, fwmark: 0, peers: [] };
  let skipped = 0;
  for (const reply of replies) {
    let privateKey: Buffer | undefined;
    let publicKey: Buffer | undefined;
    const peers: SnapPeer[] = [];
    each(ifname, reply, (t, d) => {
      if (t === WGDEVICE_A_IFNAME && d.toString('latin1').replace(/\0.*$/s, '') !== ifname) throw bad(ifname, `reply names interface ${JSON.stringify(d.toString('latin1').replace(/\0.*$/s, ''))}`);
      else if (t === WGDEVICE_A_PRIVATE_KEY) privateKey = d;
      else if (t === WGDEVICE_A_PUBLIC_KEY) publicKey = d;
      else if (t === WGDEVICE_A_LISTEN_PORT && d.length >= 2) dev.listenPort = u16(d);
      else if (t === WGDEVICE_A_FWMARK && d.length >= 4) dev.fwmark = u32(d);
      else if (t === WGDEVICE_A_PEERS) {
        each(ifname, d, (_t, pd) => {
          const p = decodePeer(ifname, pd);
          if (p) peers.push(p);
          else skipped++;
        });
      }
    });
    if (privateKey && privateKey.length === KEY_LEN && !privateKey.equals(Buffer.alloc(KEY_LEN))) {
      dev.hasPrivateKey = true;
      dev.publicKey = publicKey && publicKey.length === KEY_LEN ? keyFromBytes(publicKey) : keyFromBytes(publicKeyBytesOf(privateKey));
    }
    // The reply buffer is ours: scrub the secret rather than leave it to the garbage collector.
    privateKey?.fill(0);
    const last = dev.peers[dev.peers.length - 1];
    const first = peers[0];
    if (last && first && first.publicKey === last.publicKey) {
      last.allowedIps.push(...first.allowedIps);
      peers.shift();
    }
    dev.peers.push(...peers);
  }
  if (skipped > 0) throw bad(ifname, `${skipped} peer(s) without a 32-byte public key`);
  return dev;
}
