// The frames a new master sends so hosts and switches learn where the VIPs
// are: gratuitous ARP (an RFC 5227 announcement) for IPv4 and an unsolicited
// Neighbor Advertisement (RFC 4861 7.2.6) for IPv6, built byte for byte with
// their Ethernet header, ready for an AF_PACKET socket.
import { TernError } from '../lib/errors.js';
import { addressBytes, type Family } from './addr.js';
import { complement, pseudoSumV6, sum16 } from './checksum.js';

const etherTypeArp = 0x0806;
const etherTypeIpv6 = 0x86dd;
const ipProtoIcmpv6 = 58;
const icmpv6NeighborAdvert = 136;
/** Length of an ARP frame without padding (14 Ethernet + 28 ARP); the NIC pads to 60. */
export const arpFrameLength = 42;
/** Length of an unsolicited NA frame: 14 Ethernet + 40 IPv6 + 24 NA + 8 target link-layer option. */
export const naFrameLength = 86;

const argError = (what: string, got: unknown, want: string): TernError =>
  new TernError('TERN_E_PAIRD_ARG', `paird: announce: got ${what} ${JSON.stringify(got)}; want ${want}`);

/** The VRRP virtual MAC (RFC 9568 7.3): 00:00:5e:00:01:<vrid> for IPv4, 00:00:5e:00:02:<vrid> for IPv6. */
export function virtualMac(vrid: number, family: Family): Buffer {
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) throw argError('vrid', vrid, 'an integer 1-255');
  return Buffer.from([0x00, 0x00, 0x5e, 0x00, family === 4 ? 0x01 : 0x02, vrid]);
}

/** Parses aa:bb:cc:dd:ee:ff (or with dashes). */
export function parseMac(text: string): Buffer {
  if (typeof text !== 'string' || !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) {
    throw argError('MAC', text, 'six hex bytes like 00:00:5e:00:01:33');
  }
  return Buffer.from(text.split(/[:-]/).map((h) => parseInt(h, 16)));
}

/** Lowercase colon form of a MAC. */
export const formatMac = (mac: Uint8Array): string => Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');

function macBytes(input: Uint8Array | string): Buffer {
  const mac = typeof input === 'string' ? parseMac(input) : input;
  if (!(mac instanceof Uint8Array) || mac.length !== 6) throw argError('MAC', mac, '6 bytes');
  // A group MAC as a source would be dropped by every switch.
  if (((mac[0] as number) & 1) !== 0) throw argError('MAC', formatMac(mac), 'a unicast MAC (low bit of the first byte clear)');
  return Buffer.from(mac);
}

export interface GarpOptions {
  /** The MAC hosts should use for the address: the virtual MAC or the interface's own. */
  mac: Uint8Array | string;
  /** The IPv4 VIP. */
  address: string;
  /**
   * request (default): an RFC 5227 announcement — ARP request, sender and
   * target IP the VIP, target MAC zero. reply: the older gratuitous reply,
   * target MAC and IP the sender's, for hosts that only learn from replies.
   */
  op?: 'request' | 'reply';
}

/** A broadcast gratuitous ARP frame for one IPv4 VIP. */
export function gratuitousArp(opts: GarpOptions): Buffer {
  const mac = macBytes(opts.mac);
  const ip = addressBytes(opts.address);
  if (!ip || ip.length !== 4) throw argError('address', opts.address, 'an IPv4 address');
  const op = opts.op ?? 'request';
  const f = Buffer.alloc(arpFrameLength);
  f.fill(0xff, 0, 6); // broadcast destination
  mac.copy(f, 6);
  f.writeUInt16BE(etherTypeArp, 12);
  f.writeUInt16BE(1, 14); // hardware type Ethernet
  f.writeUInt16BE(0x0800, 16); // protocol IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(op === 'request' ? 1 : 2, 20);
  mac.copy(f, 22); // sender MAC
  f.set(ip, 28); // sender IP
  if (op === 'reply') mac.copy(f, 32); // target MAC; zero in a request (RFC 5227 2.3)
  f.set(ip, 38); // target IP
  return f;
}

export interface NaOptions {
  /** The MAC hosts should use for the address (target link-layer option and Ethernet source). */
  mac: Uint8Array | string;
  /** The IPv6 VIP. */
  target: string;
  /** Source of the IPv6 packet: an address on the interface; default the target itself. */
  src?: string;
  /** Router flag; default true: a VRRP master is the hosts' router (RFC 9568 6.4.2). */
  router?: boolean;
}

/**
 * An unsolicited Neighbor Advertisement to all nodes (ff02::1) for one IPv6
 * VIP: hop limit 255, flags Router (default) and Override, Solicited clear,
 * with the target link-layer address option.
 */
export function unsolicitedNa(opts: NaOptions): Buffer {
  const mac = macBytes(opts.mac);
  const target = addressBytes(opts.target);
  if (!target || target.length !== 16) throw argError('target', opts.target, 'an IPv6 address');
  const src = opts.src === undefined ? target : addressBytes(opts.src);
  if (!src || src.length !== 16) throw argError('source', opts.src, 'an IPv6 address');
  if (target[0] === 0xff) throw argError('target', opts.target, 'a unicast IPv6 address');
  if (src[0] === 0xff) throw argError('source', opts.src, 'a unicast IPv6 address on the interface');
  const allNodes = addressBytes('ff02::1') as Uint8Array;
  const f = Buffer.alloc(naFrameLength);
  Buffer.from([0x33, 0x33, 0x00, 0x00, 0x00, 0x01]).copy(f, 0); // ff02::1 mapped to Ethernet (RFC 2464 7)
  mac.copy(f, 6);
  f.writeUInt16BE(etherTypeIpv6, 12);
  const ip = 14;
  f[ip] = 0x60; // version 6, traffic class 0, flow label 0
  f.writeUInt16BE(32, ip + 4); // payload length
  f[ip + 6] = ipProtoIcmpv6;
  f[ip + 7] = 255; // hop limit: receivers drop ND with anything else (RFC 4861 7.1.2)
  f.set(src, ip + 8);
  f.set(allNodes, ip + 24);
  const icmp = ip + 40;
  f[icmp] = icmpv6NeighborAdvert;
  f[icmp + 1] = 0;
  f[icmp + 4] = ((opts.router ?? true) ? 0x80 : 0) | 0x20; // R, S clear, O
  f.set(target, icmp + 8);
  f[icmp + 24] = 2; // option: target link-layer address
  f[icmp + 25] = 1; // length in units of 8 bytes
  mac.copy(f, icmp + 26);
  f.writeUInt16BE(complement(pseudoSumV6(src, allNodes, ipProtoIcmpv6, 32) + sum16(f, icmp, icmp + 32)), icmp + 2);
  return f;
}
