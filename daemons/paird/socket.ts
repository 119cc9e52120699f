// The advert socket: VRRP messages out and in on the pair interface, through
// the native module's raw protocol-112 socket, with the IP facts the receive
// rules need (source, destination, TTL) read for each datagram.
import { TernError, errorMessage } from '../lib/errors.js';
import { loadNative, type NativeModule } from '../lib/native/index.js';
import type { Family } from './addr.js';
import { parseIpv4 } from './ipv4.js';
import { vrrpProtocol } from './packet.js';

/** One received VRRP message with what the IP layer said about it. */
export interface ReceivedAdvert {
  ok: true;
  src: string;
  dst: string;
  /** TTL / hop limit it arrived with. */
  ttl: number;
  /** The VRRP message (the IP payload). */
  payload: Uint8Array;
}

/** A datagram whose IP layer could not be read (counted, not decoded). */
export interface MalformedDatagram {
  ok: false;
  detail: string;
}

/** The native socket's counters (declared in native/index.d.ts), its family as paird names it. */
export type AdvertSocketStats = Omit<ReturnType<NativeModule['vrrpStats']>, 'family'> & { family: Family };

/** The socket the election uses; tests pass a fake. */
export interface AdvertSocket {
  /** Sends one VRRP message; throws TERN_E_PAIRD_SOCKET when the kernel refuses it. */
  send(src: string, dst: string, payload: Buffer): void;
  /**
   * While master: keep the last adverts going from the native thread if JS
   * falls more than a quarter interval behind, for at most maxStallMs
   * (intervalMs 0 turns it off). See vrrpBeacon in native/index.d.ts.
   */
  beacon(intervalMs: number, maxStallMs: number): void;
  stats(): AdvertSocketStats;
  close(): void;
}

export type AdvertSocketFactory = (
  device: string,
  family: Family,
  onPacket: (packet: ReceivedAdvert | MalformedDatagram) => void,
) => AdvertSocket;

/** The raw datagram the native socket hands over (VrrpPacket in native/index.d.ts). */
export interface RawDatagram {
  data: Uint8Array;
  src: string;
  dst: string;
  ttl: number;
}

/**
 * Reads one datagram from a raw socket: IPv4 ones carry their header (the
 * facts come from it), IPv6 ones only the payload (the facts come from the
 * control messages). Never throws.
 */
export function readDatagram(family: Family, d: RawDatagram): ReceivedAdvert | MalformedDatagram {
  if (family === 4) {
    const ip = parseIpv4(d.data);
    if (!ip.ok) return { ok: false, detail: ip.detail };
    if (ip.protocol !== vrrpProtocol) return { ok: false, detail: `got IP protocol ${ip.protocol}; want ${vrrpProtocol}` };
    return { ok: true, src: ip.src, dst: ip.dst, ttl: ip.ttl, payload: ip.payload };
  }
  if (d.dst === '') return { ok: false, detail: 'got no destination address from the kernel; want IPV6_PKTINFO' };
  if (d.ttl < 0) return { ok: false, detail: 'got no hop limit from the kernel; want IPV6_HOPLIMIT' };
  return { ok: true, src: d.src, dst: d.dst, ttl: d.ttl, payload: d.data };
}

/** The real socket: native vrrpOpen on the device. Throws TERN_E_PAIRD_SOCKET. */
export function nativeAdvertSocket(native: NativeModule = loadNative()): AdvertSocketFactory {
  return (device, family, onPacket) => {
    let handle: ReturnType<NativeModule['vrrpOpen']>;
    try {
      handle = native.vrrpOpen(device, family, (p) => onPacket(readDatagram(family, p)));
    } catch (err) {
      throw new TernError('TERN_E_PAIRD_SOCKET', `paird: socket: open on ${device} (IPv${family}): ${errorMessage(err)}`, { cause: err });
    }
    return {
      send(src, dst, payload) {
        try {
          native.vrrpSend(handle, src, dst, payload);
        } catch (err) {
          throw new TernError('TERN_E_PAIRD_SOCKET', `paird: socket: send advert from ${src} to ${dst} on ${device}: ${errorMessage(err)}`, { cause: err });
        }
      },
      beacon(intervalMs, maxStallMs) { native.vrrpBeacon(handle, intervalMs, maxStallMs); },
      stats() {
        const s = native.vrrpStats(handle);
        return { ...s, family: s.family as Family };
      },
      close() { native.vrrpClose(handle); },
    };
  };
}
