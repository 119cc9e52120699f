// ICMP echo through the native module (native/src/icmp.rs): one socket per
// WAN and address family, bound to the WAN's address, marked with the WAN's
// fwmark (tunneld's `fwmark → WAN table` rule routes it out of that WAN) and
// bound to the WAN's interface, and marked with the WAN's probe DSCP (EF by
// default: the probes then take QoS's realtime class both ways and measure
// the ISP's queue, not Tern's own). Non-blocking: the WAN monitor polls
// receive(); replies carry the kernel's receive time, so RTT does not depend
// on when they are read.
import { TernError, errorMessage } from '../lib/errors.js';
import { loadNative, type NativeModule } from '../lib/native/index.js';
import type { EchoReply } from './echo.js';
import { canonicalAddress } from './transport.js';

/** A reply and who sent it. */
export interface IcmpReply extends EchoReply {
  from: string;
}

/** What the WAN monitor needs of an ICMP socket. */
export interface IcmpTransport {
  /** Send echo request seq to target; returns the send time (ms, the transport's clock). Throws on failure. */
  send(target: string, seq: number): number;
  /** Replies waiting, at most max. */
  receive(max: number): IcmpReply[];
  stats(): Record<string, unknown>;
  close(): void;
}

export interface IcmpOpenOptions {
  /** The WAN's address, or 0.0.0.0 / :: to leave the socket unbound (DHCP WAN not known yet). */
  source: string;
  /** The WAN's fwmark; 0 for none. */
  mark: number;
  /** The WAN's interface; '' for none. */
  device: string;
  /** Echo payload, default 56 bytes (as ping and fping send). */
  payloadBytes?: number;
  /** DSCP of the requests (0-63; the replies come back with it too); default 0, unmarked. */
  dscp?: number;
}

/** Opens an ICMP socket for a WAN. Throws TERN_E_PROBE_SOCKET saying which WAN setting failed. */
export type IcmpTransportFactory = (opts: IcmpOpenOptions) => IcmpTransport;

/** The native factory. */
export function nativeIcmp(native: NativeModule = loadNative()): IcmpTransportFactory {
  return (opts) => {
    let sock: ReturnType<NativeModule['icmpOpen']>;
    try {
      sock = native.icmpOpen(opts.source, opts.mark, opts.device, opts.payloadBytes ?? 56, opts.dscp ?? 0);
    } catch (err) {
      throw new TernError('TERN_E_PROBE_SOCKET',
        `probed: icmp: open from ${opts.source} (mark ${opts.mark.toString(16)}, device ${opts.device || 'none'}, dscp ${opts.dscp ?? 0}): ${errorMessage(err)}`, { cause: err });
    }
    return {
      send: (target, seq) => native.icmpSend(sock, target, seq),
      receive: (max) => native.icmpReceive(sock, max).map((r) => ({ from: canonicalAddress(r.from), seq: r.seq, sentMs: r.sentMs, rxMs: r.rxMs })),
      stats: () => ({ ...native.icmpStats(sock) }),
      close: () => native.icmpClose(sock),
    };
  };
}
