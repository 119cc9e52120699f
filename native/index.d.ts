// Types of Tern's native module (tern.node), written by hand to match
// src/lib.rs; daemons/lib/native/exports.test.ts checks that every function
// declared here is exported by the module and nothing else is.
//
// Every function throws an Error with a `code` property instead of crashing:
// TERN_E_NATIVE_ARG for an argument of the wrong type, TERN_E_NATIVE_PANIC
// when Rust code panicked (message `native: <function>: panic: ...`), and
// TERN_E_NATIVE_IO when a system call failed (the message carries errno).

/** The crate version (Cargo.toml), to tell a stale build from the expected one. */
export declare function version(): string;

/**
 * Sends `state` (newline-separated assignments such as "READY=1\nSTATUS=up")
 * as one datagram to the service manager socket in `$NOTIFY_SOCKET`, as
 * sd_notify(3) does; both a path and an `@abstract` name are accepted.
 * Returns false when `$NOTIFY_SOCKET` is unset (not run by systemd), true
 * when the datagram was sent. Throws TERN_E_NATIVE_IO when the variable is
 * not a usable address or the send fails.
 */
export declare function sdNotify(state: string): boolean;

/**
 * Gives the C heap's free pages back to the kernel (glibc malloc_trim(3)):
 * glibc keeps memory freed in the middle of its heap, such as Node's socket
 * read buffers after a burst of connections, so RSS stays high without it.
 * Returns true when some memory was released. Cheap when there is nothing
 * to release; run it after a full garbage collection.
 */
export declare function mallocTrim(): boolean;

/**
 * Panics inside Rust on purpose, with `message` as the panic text. Exists
 * only so tests can prove a panic becomes a TERN_E_NATIVE_PANIC exception
 * and Node keeps running.
 */
export declare function debugPanic(message: string): never;

// The path selector (src/select.rs; the rules are in
// daemons/steerd/SELECTION.md, and daemons/steerd/native.ts wraps these
// functions in a class). Records are little-endian and laid out as in
// daemons/steerd/wire.ts: a flow record is 48 bytes (byte 44: the packet's
// domain hint, 0 = none), a decision 8, a move 48.
// Invalid input throws TERN_E_NATIVE_ARG naming the key or record at fault
// and changes nothing.

/** A selector's handle: an opaque external, freed by the garbage collector. */
declare const selectorBrand: unique symbol;
interface Selector { readonly [selectorBrand]: true }

/** The path for one packet; pathId 0 means no path (there are none). */
interface SelectorDecision { pathId: number; class: string; moved: boolean }

/** A decision on a raw packet; parseError names why it could not be read (then: the default class, no flow state). */
interface SelectorPacketDecision extends SelectorDecision {
  parseError: 'truncated' | 'badVersion' | 'badHeader' | 'extensionChain' | null;
}

interface SelectorClassStats { name: string; flows: number; newFlows: number; packets: number; bytes: number; moves: number }
interface SelectorPathStats { id: number; wan: string; flows: number; newFlows: number; packets: number; bytes: number }
interface SelectorStats {
  flows: number;
  maxFlows: number;
  decisions: number;
  newFlows: number;
  moves: number;
  evictions: number;
  expirations: number;
  parseErrors: { truncated: number; badVersion: number; badHeader: number; extensionChain: number };
  classes: SelectorClassStats[];
  paths: SelectorPathStats[];
}

/** What debugParsePacket read: the flow (also as a 48-byte record), or why not. */
type ParsedPacket =
  | {
    ok: true; family: 4 | 6; protocol: number; src: string; dst: string; srcPort: number; dstPort: number;
    hasPorts: boolean; dscp: number; fragment: boolean; bytes: number; flow: Buffer;
  }
  | { ok: false; reason: 'truncated' | 'badVersion' | 'badHeader' | 'extensionChain' };

/** Creates a selector from a policy document (SelectorPolicy in daemons/steerd/types.ts) as JSON text. */
export declare function selectorCreate(policyJson: string): Selector;

/** Replaces the path set with the JSON array of paths (PathInput in daemons/steerd/types.ts). */
export declare function selectorSetPaths(selector: Selector, pathsJson: string): void;

/** Decides one packet of the flow in a 48-byte flow record, at time nowMs. */
export declare function selectorDecide(selector: Selector, flow: Buffer, nowMs: number): SelectorDecision;

/** Decides every 48-byte flow record in order, at time nowMs; answers one 8-byte decision record each. */
export declare function selectorDecideBatch(selector: Selector, flows: Buffer, nowMs: number): Buffer;

/**
 * Reads one raw IPv4/IPv6 packet and decides it, as the fast path will.
 * domainHint (0-255, default 0 = none) is what the packet's mark carried in
 * domainHintMask (daemons/lib/kernel/names.ts): the hint of the domain app
 * class whose set holds its destination; a class with that `domainHint`
 * matches only such packets (SELECTION.md, "Domain hints").
 */
export declare function selectorDecidePacket(selector: Selector, packet: Buffer, nowMs: number, domainHint?: number): SelectorPacketDecision;

/** Moves every flow whose path is gone, down or breaks its SLA; answers one 48-byte move record per moved flow. */
export declare function selectorResteer(selector: Selector, nowMs: number): Buffer;

/** Forgets flows idle for the policy's idleTimeoutMs; returns how many. */
export declare function selectorExpire(selector: Selector, nowMs: number): number;

/** The selector's counters. */
export declare function selectorStats(selector: Selector): SelectorStats;

// One refresh of steerd's selectors in one call (src/steer.rs): each
// selector takes its site's path set and moves the flows that must leave;
// every path is judged against every class's SLA; the moved flows get their
// new conntrack marks; and a path that now fails classes it did not fail
// before is swept (its flows of those classes, or all when it is down, get
// mark 0 and are decided again at their next packet). A conntrack failure
// does not throw: it is in `error`, and what came after it was not done.

/** What steerd asks of one refresh, as JSON text. */
interface SteerRefreshRequest {
  /** Per selector, in the order of `selectors`: its whole path set (PathInput in daemons/steerd/types.ts). */
  paths: unknown[][];
  /** Per path id: the classes it failed at the previous refresh ('*': it was down). */
  broken: Array<[number, string[]]>;
  /** Whether a path whose failed classes grew is swept (false until steerd knows the tunnel states). */
  sweep: boolean;
}

interface SteerRefreshReport {
  /** Per selector: the flows it moved, as 48-byte move records (as selectorResteer answers). */
  moves: Buffer[];
  /** The moved flows' conntrack updates; null when they failed (see error). */
  marks: CtMarkReport | null;
  /** Every path of every selector, in the order listed, with the classes it fails now ('*': down). */
  broken: Array<{ id: number; classes: string[] }>;
  /** The sweeps done, in order: classes of the flows found, and the classes the path newly fails (['*'] for a down path). */
  sweeps: Array<{ id: number; matched: number; updated: number; classes: string[]; failed: string[] }>;
  /** `native: steerRefresh: conntrack: ...` when writing to conntrack failed, else null. */
  error: string | null;
}

/** Refreshes every selector with its paths (requestJson: a SteerRefreshRequest) at nfqNowMs(), on the kernel's conntrack table. */
export declare function steerRefresh(selectors: Selector[], requestJson: string): SteerRefreshReport;

/** steerRefresh at time nowMs on an in-memory conntrack table of ctDump records, for tests and benchmarks; answers the table afterwards too. */
export declare function debugSteerRefresh(selectors: Selector[], requestJson: string, nowMs: number, conntrack: Buffer): SteerRefreshReport & { conntrack: Buffer };

/** Reads one raw packet as the fast path does, for tests; never throws on packet content. */
export declare function debugParsePacket(packet: Buffer): ParsedPacket;

/** The 32-bit hash modes weighted and affinity spread flows by (FNV-1a, murmur3 finalizer), for tests. */
export declare function debugHash(bytes: Buffer): number;

// ICMP echo for WAN probes (src/icmp.rs). A socket is tied to one WAN: bound
// to its address, marked with its fwmark (the policy rule sends it out of
// that WAN) and optionally bound to its interface. It is non-blocking: the
// caller polls icmpReceive, and each reply carries the kernel's receive time,
// so how late it is read does not change the RTT. Times are CLOCK_MONOTONIC
// in milliseconds (nanosecond resolution). System call failures throw
// TERN_E_NATIVE_IO with the errno text.

/** An ICMP socket's handle: an opaque external; the descriptor is closed by icmpClose or the garbage collector. */
declare const icmpSocketBrand: unique symbol;
interface IcmpSocket { readonly [icmpSocketBrand]: true }

/** One echo reply to this socket's requests (foreign and malformed datagrams are only counted). */
interface IcmpReply {
  /** Who answered. */
  from: string;
  /** The 16-bit sequence number of the request. */
  seq: number;
  /** When the request was sent (icmpSend's answer, echoed in the payload), monotonic ms. */
  sentMs: number;
  /** When the kernel received the reply, monotonic ms. */
  rxMs: number;
  /** TTL / hop limit of the reply; 0 when unknown. */
  ttl: number;
  /** Length of the datagram read. */
  bytes: number;
}

interface IcmpStats {
  /** dgram: an unprivileged ping socket; raw: a raw socket (CAP_NET_RAW). */
  kind: 'dgram' | 'raw';
  family: 4 | 6;
  /** The echo id of its requests (the kernel's on ping sockets; 0 before the first send when unbound). */
  id: number;
  sent: number;
  sendErrors: number;
  received: number;
  malformed: number;
  notReply: number;
  /** Replies to someone else's requests (other id or token). */
  foreign: number;
  badChecksum: number;
  truncated: number;
}

/**
 * Opens an ICMP echo socket of source's family, bound to source (0.0.0.0 or
 * :: for no bind), with SO_MARK mark (0: none) and SO_BINDTODEVICE device
 * ('': none); requests carry payloadBytes (16-65507) of payload and DSCP
 * dscp (0-63, set as IP_TOS / IPV6_TCLASS dscp << 2; 0: the default). Linux
 * answers an echo request with the request's TOS, so replies carry it too.
 */
export declare function icmpOpen(source: string, mark: number, device: string, payloadBytes: number, dscp: number): IcmpSocket;

/** Sends echo request seq (0-65535) to target (an address; fe80::1%eth0 for a scope); returns the send time, monotonic ms. */
export declare function icmpSend(socket: IcmpSocket, target: string, seq: number): number;

/**
 * Sends bytes to address:port from the source address `from` (IP_PKTINFO /
 * IPV6_PKTINFO), without blocking; throws on failure. How a socket on the
 * unspecified address answers from the address it was asked on.
 */
export declare function udpSendFrom(set: UdpSet, socket: number, bytes: Buffer, address: string, port: number, from: string): void;

/** Reads up to max waiting datagrams without blocking and returns the replies among them (none: an empty array). */
export declare function icmpReceive(socket: IcmpSocket, max: number): IcmpReply[];

/** The socket's kind, echo id and counters. */
export declare function icmpStats(socket: IcmpSocket): IcmpStats;

/** Closes the socket now; later calls on it throw TERN_E_NATIVE_IO, closing again does nothing. */
export declare function icmpClose(socket: IcmpSocket): void;

// UDP for STAMP (src/udp.rs): a set of non-blocking UDP sockets read
// together. Every datagram carries the kernel's receive time
// (SO_TIMESTAMPNS moved onto CLOCK_MONOTONIC), so how late JS polls does
// not show in a measured RTT. Sockets are numbered within their set. A
// link-local address carries its interface as %zone, both ways. System call
// failures throw TERN_E_NATIVE_IO with the errno text.

/** A UDP socket set's handle: an opaque external; its sockets are closed by udpSetClose or the garbage collector. */
declare const udpSetBrand: unique symbol;
interface UdpSet { readonly [udpSetBrand]: true }

/** One datagram read by udpPoll. */
interface UdpDatagram {
  /** The socket it arrived on (udpOpen's number). */
  socket: number;
  /** The sender's address: IPv4 dotted (also for IPv4 on a dual-stack socket), IPv6 with %zone when link-local. */
  from: string;
  port: number;
  /** When the kernel received it, monotonic ms. */
  rxMs: number;
  /** Its TTL / hop limit; 0 when unknown. */
  ttl: number;
  /**
   * The address it was sent to (IPv4 dotted, IPv6 with %zone when
   * link-local); only on sockets bound to the unspecified address.
   */
  to?: string;
  data: Buffer;
}

interface UdpBatch {
  /** Monotonic ms when the reading ended: rxMs − nowMs is each datagram's age then (≤ 0). */
  nowMs: number;
  datagrams: UdpDatagram[];
}

interface UdpStats {
  sockets: number;
  opened: number;
  closed: number;
  received: number;
  /** Datagrams longer than 9216 bytes, dropped. */
  truncated: number;
  /** Errors a socket reported on reading (an ICMP error queued on a connected socket). */
  receiveErrors: number;
  sent: number;
  sendErrors: number;
}

/** A new, empty set of UDP sockets. */
export declare function udpSetCreate(): UdpSet;

/**
 * Opens a socket bound to address (fe80::1%eth0 for a scope; '::' takes IPv4
 * too, as mapped addresses) and port (0: any), with SO_REUSEADDR when asked;
 * returns its number in the set.
 */
export declare function udpOpen(set: UdpSet, address: string, port: number, reuseAddress: boolean): number;

/** Connects a socket: udpSend goes there, only its datagrams are received, and the route is looked up once. */
export declare function udpConnect(set: UdpSet, socket: number, address: string, port: number): void;

/** The socket's local port (what port 0 became). */
export declare function udpLocalPort(set: UdpSet, socket: number): number;

/** Sends bytes to a connected socket's peer, without blocking; throws on failure. */
export declare function udpSend(set: UdpSet, socket: number, bytes: Buffer): void;

/** Sends bytes to address:port, without blocking; throws on failure. */
export declare function udpSendTo(set: UdpSet, socket: number, bytes: Buffer, address: string, port: number): void;

/**
 * Sends bytes to address:port from the source address `from` (IP_PKTINFO /
 * IPV6_PKTINFO), without blocking; throws on failure. How a socket on the
 * unspecified address answers from the address it was asked on.
 */
export declare function udpSendFrom(set: UdpSet, socket: number, bytes: Buffer, address: string, port: number, from: string): void;

/** Reads up to max waiting datagrams of all the set's sockets without blocking (none: an empty list). */
export declare function udpPoll(set: UdpSet, max: number): UdpBatch;

/** Closes one socket; false when the set has no such socket. */
export declare function udpClose(set: UdpSet, socket: number): boolean;

/** The set's counters. */
export declare function udpStats(set: UdpSet): UdpStats;

/** Closes every socket of the set now; later calls on it throw TERN_E_NATIVE_IO, closing again does nothing. */
export declare function udpSetClose(set: UdpSet): void;

// The fast path (src/nfq.rs): NFQUEUE worker threads, one per queue, that
// give the first packet of a steered flow its path through the selector of
// the remote site its destination belongs to, and accept it with the path's
// mark (0: the main table). The queue is bound fail-open with a bounded
// length; closing it (or the process dying) unbinds it, and the rules'
// bypass lets packets through. Times the workers decide at are nfqNowMs().

/** An open queue's handle: an opaque external; the worker stops at nfqClose or when the garbage collector frees it. */
declare const nfQueueBrand: unique symbol;
interface NfQueue { readonly [nfQueueBrand]: true }

interface NfQueueStats {
  queue: number;
  /** Sites routed to a selector now. */
  routes: number;
  /** Packets read, verdicts sent, sends that carried them, the most in one send. */
  packets: number;
  verdicts: number;
  batches: number;
  largestBatch: number;
  /** Verdicts with a path mark. */
  steered: number;
  /** Packets for no routed site, or with no readable destination (mark 0). */
  unrouted: number;
  /** Packets of a site with no path (mark 0). */
  noPath: number;
  /** Netlink messages with no packet id (nothing to answer). */
  malformed: number;
  /** Packets whose selector was unusable after a panic inside it. */
  poisoned: number;
  /** Panics caught while deciding a packet (the packet was accepted unmarked). */
  panics: number;
  recvErrors: number;
  sendErrors: number;
  /** Verdicts the kernel refused. */
  verdictErrors: number;
  /** Packets that could not be read, by reason; each still got a verdict. */
  parseErrors: { truncated: number; badVersion: number; badHeader: number; extensionChain: number };
}

/** Binds NFQUEUE queueNum (0-65535) with at most maxLen (1-65536) packets queued and starts its worker. Throws TERN_E_NATIVE_IO (EBUSY: another process has the queue; EPERM). */
export declare function nfqOpen(queueNum: number, maxLen: number): NfQueue;

/** Packets to these prefixes (JSON array, network form) are decided by selector; '[]' removes the selector's route. */
export declare function nfqRoute(queue: NfQueue, selector: Selector, prefixesJson: string): void;

/** The worker's counters. */
export declare function nfqStats(queue: NfQueue): NfQueueStats;

/** Stops the worker and unbinds the queue; later calls on it throw TERN_E_NATIVE_IO, closing again does nothing. */
export declare function nfqClose(queue: NfQueue): void;

/** CLOCK_MONOTONIC in ms: the time the workers give the selectors; pass it to their resteer and expire. */
export declare function nfqNowMs(): number;

// Conntrack marks (src/conntrack.rs, libnetfilter_conntrack). A steered
// flow's path is its conntrack mark, restored onto every packet in the
// kernel; rewriting it moves the flow at its next packet. System call
// failures throw TERN_E_NATIVE_IO.

interface CtMarkReport {
  updated: number;
  /** No such flow in conntrack (ended, or not yet confirmed). */
  missing: number;
  failed: number;
  /** Flows without ports (no tuple to address them by): left to ctRemark. */
  skipped: number;
}

interface CtRemarkReport { matched: number; updated: number; failed: number }

/** Sets each 48-byte move record's flow (selectorResteer's answer) to its `to` path as conntrack mark. */
export declare function ctSetMarks(moves: Buffer): CtMarkReport;

/** Every flow whose conntrack mark is mark gets newMark (0: decided again at its next packet). */
export declare function ctRemark(mark: number, newMark: number): CtRemarkReport;

/**
 * The flows whose conntrack mark & mask equals mark & mask, at most max, as
 * 80-byte records: the 38-byte flow key of the original direction, 2 zero
 * bytes, mark u32, 4 zero bytes, then u64 original packets, original bytes,
 * reply packets, reply bytes (0 unless conntrack accounting is on), little-endian.
 */
export declare function ctDump(mark: number, mask: number, max: number): Buffer;

/** What ctClear did. A failure never throws: it is counted, and the first one is in `error`. */
interface CtClearReport {
  /** Entries whose mark & mask equals mark & mask. */
  matched: number;
  /** Entries deleted (one gone meanwhile is neither deleted nor an error). */
  deleted: number;
  /** Deleted entries that were established TCP connections: the ones a provoke is sent for. */
  tcp: number;
  /** Provoke packets sent (provoke true), one per deleted established TCP entry. */
  provoked: number;
  /** Deletions refused and provoke packets not sent. */
  errors: number;
  /** `native: ctClear: ...` for the first failure (the dump itself, a deletion, a send), else null. */
  error: string | null;
}

/**
 * Deletes every conntrack entry, IPv4 and IPv6, whose mark & mask equals
 * mark & mask (mark & mask must not be 0: that would clear every unsteered
 * flow). For a WAN that went down: a flow NATed through it cannot move to
 * another WAN (its source address would change), so it is cleared, and its
 * next packet is a new flow.
 *
 * provoke: for each deleted established TCP entry, the LAN client (the
 * original source) is sent one segment that seems to come from the server
 * (original destination address and port), a SYN-ACK the client must answer
 * with an ACK (RFC 5961 §4.2 challenge ACK; RFC 793 for a stack without it:
 * an ACK when out of window, a reset when in it). The ACK reaches the box as
 * a new flow without SYN: the firewall rejects it with a TCP reset, or,
 * without one, it leaves by another WAN and the server, which has no such
 * connection, answers with a reset. Either way the client's connection ends
 * at once instead of waiting on a blackholed download. A SYN-ACK and not a
 * bare ACK, because conntrack takes a bare ACK up as a new connection
 * (nf_conntrack_tcp_loose) and the client's answer would then be part of
 * it, neither new nor NATed; a SYN-ACK starts no conntrack entry.
 * Limits: the client answers at most one such segment per
 * tcp_invalid_ratelimit (500 ms) per connection; UDP and other flows are
 * only cleared (their next datagram is a new flow on another WAN).
 * Needs CAP_NET_ADMIN (conntrack) and CAP_NET_RAW (the provoke).
 */
export declare function ctClear(mark: number, mask: number, provoke: boolean): CtClearReport;

/**
 * ctClear on an in-memory conntrack table of ctDump records, for tests:
 * byte 38 of a record (zero in ctDump's) is here its TCP conntrack state
 * (3: established). Nothing is sent: the provoke packets it would send are
 * answered, whole IPv4/IPv6 packets with checksums, with the table afterwards.
 */
export declare function debugCtClear(mark: number, mask: number, provoke: boolean, conntrack: Buffer): CtClearReport & { conntrack: Buffer; packets: Buffer[] };

// Raw sockets for tern-paird (src/sock.rs). A VRRP socket is a raw socket of
// IP protocol 112 pinned to one interface, in the VRRP group on it
// (224.0.0.18 / ff02::12), sending with TTL / hop limit 255 and without
// multicast loopback. A thread per socket receives and calls onPacket on the
// JS thread for each datagram; at most 256 wait, more are dropped (counted).
// The socket keeps the event loop alive until vrrpClose. System call
// failures throw TERN_E_NATIVE_IO with the errno text.

/** A VRRP socket's handle: an opaque external; vrrpClose (or the garbage collector) stops its thread. */
declare const vrrpSocketBrand: unique symbol;
interface VrrpSocket { readonly [vrrpSocketBrand]: true }

/** One datagram of IP protocol 112 received on the socket's interface. */
interface VrrpPacket {
  /** IPv4: the whole datagram, IP header first (parse it for TTL and addresses). IPv6: the VRRP message only. */
  data: Buffer;
  /** Source address. */
  src: string;
  /** Destination address (from IP_PKTINFO / IPV6_PKTINFO); '' when the kernel gave none. */
  dst: string;
  /** TTL / hop limit it arrived with; -1 when the kernel gave none. */
  ttl: number;
  /** Interface it arrived on; 0 when the kernel gave none. */
  ifindex: number;
}

interface VrrpStats {
  device: string;
  ifindex: number;
  family: 4 | 6;
  /** False once the receive thread stopped (closed, or a fatal error in lastError). */
  receiving: boolean;
  received: number;
  delivered: number;
  /** Dropped because 256 datagrams were already waiting for JS. */
  dropped: number;
  /** Longer than 8192 bytes: not an advert. */
  truncated: number;
  receiveErrors: number;
  sent: number;
  sendErrors: number;
  /** Adverts the beacon resent while JS was late. */
  beaconSent: number;
  lastError: string | null;
}

/** Opens a VRRP socket of family 4 or 6 on device and starts receiving into onPacket. */
export declare function vrrpOpen(device: string, family: number, onPacket: (packet: VrrpPacket) => void): VrrpSocket;

/** Sends one VRRP message (payload, checksum included) from source (an address on the interface) to destination (the group or a peer). */
export declare function vrrpSend(socket: VrrpSocket, source: string, destination: string, payload: Buffer): void;

/** The socket's interface and counters. */
export declare function vrrpStats(socket: VrrpSocket): VrrpStats;

/**
 * Arms the beacon for a master (intervalMs > 0) or turns it off (0): while
 * armed, when no advert went out for 1.25 × intervalMs, the receive thread
 * resends the last advert sent to each destination, for at most maxStallMs
 * after the last vrrpSend. Keeps a master's adverts going while JS is held
 * up (garbage collection, a starved CPU); a wedged daemon still hands over.
 */
export declare function vrrpBeacon(socket: VrrpSocket, intervalMs: number, maxStallMs: number): void;

/** Stops the receive thread and closes the socket; later calls on it throw TERN_E_NATIVE_IO, closing again does nothing. */
export declare function vrrpClose(socket: VrrpSocket): void;

/** A packet socket's handle (AF_PACKET, send only). */
declare const etherSocketBrand: unique symbol;
interface EtherSocket { readonly [etherSocketBrand]: true }

/** Opens a send-only AF_PACKET socket on device, for gratuitous ARP and unsolicited NA. */
export declare function etherOpen(device: string): EtherSocket;

/** Sends one whole Ethernet frame (14-9018 bytes, header included; destination MAC and EtherType read from it). */
export declare function etherSend(socket: EtherSocket, frame: Buffer): void;

/** Closes the packet socket; closing again does nothing. */
export declare function etherClose(socket: EtherSocket): void;
