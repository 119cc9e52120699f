//! ICMP echo for WAN probes (tern-probed): a non-blocking socket tied to one
//! WAN, echo requests carrying our own token, and replies read without
//! blocking together with the kernel's receive time.
//!
//! Why the socket is tied to the WAN three ways: it is bound to the WAN's
//! address (the source address the ISP expects), it carries the WAN's fwmark
//! (`SO_MARK`: tunneld's `fwmark → WAN table` rule routes it out of that WAN
//! whatever the main table says), and, when given, `SO_BINDTODEVICE` pins it
//! to the WAN interface, so a probe can never leave by another WAN and call
//! that WAN healthy.
//!
//! Why requests carry a DSCP (`IP_TOS` / `IPV6_TCLASS`): the probes measure
//! the latency the ISP's queue adds, which qosd's autorate reacts to. Sent
//! with DSCP 0 they would wait in qosd's own best-effort queue behind the
//! traffic they are meant to measure; marked EF they take qosd's realtime
//! class, and Linux (like most hosts and routers) copies the request's TOS
//! into the echo reply, so the reply skips qosd's ingress queue too.
//!
//! Socket kind: an unprivileged ICMP "ping socket" (`SOCK_DGRAM`,
//! `IPPROTO_ICMP`) when `net.ipv4.ping_group_range` allows it (the kernel
//! then picks the echo id and hands each socket only its own replies), else
//! a raw socket (needs `CAP_NET_RAW`), which sees every echo reply of its
//! family: `ICMP_FILTER` keeps out everything but echo replies, and replies
//! are matched on id and on a random 64-bit token in the payload.
//!
//! Why JS polls instead of a receive thread: libuv cannot watch an arbitrary
//! descriptor from JS, and a thread would need thread-safe functions for a
//! few packets a second. Instead every reply carries the kernel's receive
//! timestamp (`SO_TIMESTAMPNS`), so how late JS reads the socket never shows
//! in the RTT; the daemon reads before it declares a probe lost.
//!
//! Times are CLOCK_MONOTONIC in milliseconds (f64, nanosecond resolution):
//! the send time is taken just before `sendto` and travels in the payload;
//! the kernel's timestamp is CLOCK_REALTIME and is moved onto the monotonic
//! clock by its age at the moment it is read.
//!
//! The socket-address, control-message and clock helpers are sys.rs's,
//! shared with udp.rs (STAMP sockets), so both read timestamps the same way.

use std::ffi::{c_int, CString};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::handle::HandleKind;
use crate::napi::{napi_type_tag, napi_value, Call, JsError};
use crate::sys::{
    self, address_of, clock_ns, interface_index, monotonic_ns, ns_to_ms, read_ancillary, rx_monotonic, set_option,
    setopt, sockaddr, Control, AF_INET, AF_INET6, CLOCK_REALTIME, IPPROTO_IP, IPPROTO_IPV6, IPV6_RECVHOPLIMIT,
    IP_RECVTTL, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET, SO_BINDTODEVICE, SO_TIMESTAMPNS,
};

// Linux (asm-generic) constants only ICMP uses; the same on x86_64 and arm64.
const IPPROTO_ICMP: c_int = 1;
const IPPROTO_ICMPV6: c_int = 58;
const SOL_RAW: c_int = 255;
const SO_MARK: c_int = 36;
const IP_TOS: c_int = 1;
const IPV6_TCLASS: c_int = 67;
const ICMP_FILTER: c_int = 1;
const ICMP6_FILTER: c_int = 1;

/// ICMP echo types: request and reply for IPv4 and IPv6.
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// The largest DSCP: six bits.
pub const MAX_DSCP: u8 = 63;

/// The TOS / traffic-class byte of `dscp`: the DSCP in the upper six bits,
/// ECN (the lower two) left 0, not ECN-capable, as ping sends.
pub fn traffic_class(dscp: u8) -> Result<c_int, String> {
    if dscp > MAX_DSCP {
        return Err(format!("dscp: expected 0-{}; got {}", MAX_DSCP, dscp));
    }
    Ok((dscp as c_int) << 2)
}

/// Header, then our token and the send time: the smallest payload we send.
pub const ECHO_HEADER_BYTES: usize = 8;
pub const MIN_PAYLOAD_BYTES: usize = 16;
/// Largest payload: an IPv4 datagram of 65535 minus IP and ICMP headers.
pub const MAX_PAYLOAD_BYTES: usize = 65_507;

/// The Internet checksum (RFC 1071) of `bytes`.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: header, token, send time, zero padding to
/// `payload_bytes`. IPv4 gets its checksum here; for ICMPv6 the kernel
/// computes it (it covers a pseudo-header only the kernel knows in full).
pub fn encode_echo_request(
    v6: bool,
    id: u16,
    seq: u16,
    token: u64,
    sent_ns: u64,
    payload_bytes: usize,
) -> Vec<u8> {
    let payload = payload_bytes.max(MIN_PAYLOAD_BYTES);
    let mut p = vec![0u8; ECHO_HEADER_BYTES + payload];
    p[0] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(&token.to_be_bytes());
    p[16..24].copy_from_slice(&sent_ns.to_be_bytes());
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// An echo reply that is ours.
#[derive(Debug, PartialEq)]
pub struct EchoReply {
    pub id: u16,
    pub seq: u16,
    /// The send time our request carried, CLOCK_MONOTONIC ns.
    pub sent_ns: u64,
    /// TTL or hop limit from the IPv4 header, when the datagram has one.
    pub ttl: Option<u8>,
}

/// Why a received datagram is not one of our replies.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Reject {
    /// Too short, or an IPv4 header that does not add up.
    Malformed,
    /// Not an echo reply (only possible without a kernel filter).
    NotReply,
    /// A reply to someone else: another id or another token.
    Foreign,
    /// The IPv4 ICMP checksum is wrong.
    BadChecksum,
}

/// How a socket's datagrams start.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Framing {
    /// Raw IPv4: the IP header comes first.
    Ipv4Header,
    /// Ping sockets and raw ICMPv6: the ICMP header comes first.
    Icmp,
}

/// Reads one datagram as a reply to our requests: `id` is checked when
/// given (raw sockets; a ping socket's kernel already matched it), `token`
/// always. IPv4 checksums are verified: raw sockets get packets before the
/// kernel's ICMP code has checked them.
pub fn decode_echo_reply(
    data: &[u8],
    v6: bool,
    framing: Framing,
    id: Option<u16>,
    token: u64,
) -> Result<EchoReply, Reject> {
    let (icmp, ttl) = match framing {
        Framing::Icmp => (data, None),
        Framing::Ipv4Header => {
            if data.len() < 20 || data[0] >> 4 != 4 {
                return Err(Reject::Malformed);
            }
            let ihl = ((data[0] & 0x0f) as usize) * 4;
            if ihl < 20 || data.len() < ihl || data[9] != IPPROTO_ICMP as u8 {
                return Err(Reject::Malformed);
            }
            (&data[ihl..], Some(data[8]))
        }
    };
    if icmp.len() < ECHO_HEADER_BYTES + MIN_PAYLOAD_BYTES {
        return Err(Reject::Malformed);
    }
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp[0] != want || icmp[1] != 0 {
        return Err(Reject::NotReply);
    }
    if !v6 && checksum(icmp) != 0 {
        return Err(Reject::BadChecksum);
    }
    let got_id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let got_token = u64::from_be_bytes(icmp[8..16].try_into().expect("8 bytes"));
    if id.is_some_and(|i| i != got_id) || got_token != token {
        return Err(Reject::Foreign);
    }
    Ok(EchoReply {
        id: got_id,
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        sent_ns: u64::from_be_bytes(icmp[16..24].try_into().expect("8 bytes")),
        ttl,
    })
}

/// Parses "a.b.c.d", "x::y" or "fe80::1%eth0" (scope by interface name or index).
pub fn parse_address(text: &str) -> Result<(IpAddr, u32), String> {
    let (addr, scope) = match text.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{:?} is not an IP address", text))?;
    let scope_id = match (scope, ip) {
        (None, _) => 0,
        (Some(_), IpAddr::V4(_)) => {
            return Err(format!("{:?}: IPv4 addresses have no scope", text))
        }
        (Some(s), IpAddr::V6(_)) => match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => interface_index(s).map_err(|e| format!("{:?}: {}", text, e))?,
        },
    };
    Ok((ip, scope_id))
}

/// What `EchoSocket::open` is asked for.
pub struct OpenOptions<'a> {
    /// The WAN's address; the unspecified address (0.0.0.0, ::) leaves the
    /// socket unbound but still picks the family.
    pub source: &'a str,
    /// SO_MARK; 0 for none.
    pub mark: u32,
    /// SO_BINDTODEVICE; empty for none.
    pub device: &'a str,
    pub payload_bytes: usize,
    /// DSCP of the requests (IP_TOS / IPV6_TCLASS); 0 leaves the default.
    pub dscp: u8,
    /// Refuse ping sockets and go straight to raw (tests of the raw path).
    pub raw_only: bool,
}

/// Counters of one socket.
#[derive(Default, Clone, Copy)]
pub struct Counters {
    pub sent: u64,
    pub send_errors: u64,
    pub received: u64,
    pub malformed: u64,
    pub not_reply: u64,
    pub foreign: u64,
    pub bad_checksum: u64,
    pub truncated: u64,
}

/// One reply as JS gets it.
pub struct Received {
    pub from: IpAddr,
    pub reply: EchoReply,
    /// Kernel receive time moved onto CLOCK_MONOTONIC, ns.
    pub rx_ns: u64,
    pub bytes: usize,
}

/// An ICMP echo socket tied to one WAN.
pub struct EchoSocket {
    fd: OwnedFd,
    v6: bool,
    raw: bool,
    /// The echo id: ours on raw sockets, the kernel's on ping sockets (0 until known).
    id: u16,
    token: u64,
    payload_bytes: usize,
    pub counters: Counters,
}

/// A random 64 bits without a dependency: the kernel's, else time and address.
fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_ne_bytes(b);
    }
    let here = &b as *const _ as u64;
    clock_ns(CLOCK_REALTIME) ^ here.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15
}

impl EchoSocket {
    pub fn open(o: &OpenOptions) -> Result<EchoSocket, String> {
        let (source, scope) = parse_address(o.source).map_err(|e| format!("source: {}", e))?;
        if o.payload_bytes < MIN_PAYLOAD_BYTES || o.payload_bytes > MAX_PAYLOAD_BYTES {
            return Err(format!(
                "payloadBytes: expected {}-{}; got {}",
                MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, o.payload_bytes
            ));
        }
        let tclass = traffic_class(o.dscp)?;
        let v6 = source.is_ipv6();
        let (domain, proto) = if v6 {
            (AF_INET6, IPPROTO_ICMPV6)
        } else {
            (AF_INET, IPPROTO_ICMP)
        };
        let dgram = if o.raw_only {
            None
        } else {
            Some(sys::open_socket(domain, SOCK_DGRAM, proto))
        };
        let (fd, raw) = match dgram {
            Some(Ok(fd)) => (fd, false),
            Some(Err(dgram_err)) => {
                let fd = sys::open_socket(domain, SOCK_RAW, proto).map_err(|raw_err| {
                    format!("ping socket: {}; raw socket: {} (needs CAP_NET_RAW or net.ipv4.ping_group_range)", dgram_err, raw_err)
                })?;
                (fd, true)
            }
            None => {
                let fd = sys::open_socket(domain, SOCK_RAW, proto).map_err(|raw_err| format!("raw socket: {}", raw_err))?;
                (fd, true)
            }
        };
        let s = fd.as_raw_fd();
        let one: c_int = 1;
        if o.mark != 0 {
            setopt(s, SOL_SOCKET, SO_MARK, &o.mark)
                .map_err(|e| format!("SO_MARK {:#x}: {} (needs CAP_NET_ADMIN)", o.mark, e))?;
        }
        if !o.device.is_empty() {
            let name = CString::new(o.device).map_err(|_| "device: holds a NUL".to_string())?;
            set_option(s, SOL_SOCKET, SO_BINDTODEVICE, name.as_bytes_with_nul(), &format!("SO_BINDTODEVICE {}", o.device))?;
        }
        if tclass != 0 {
            if v6 {
                set_option(s, IPPROTO_IPV6, IPV6_TCLASS, &tclass, &format!("IPV6_TCLASS {:#04x}", tclass))?;
            } else {
                set_option(s, IPPROTO_IP, IP_TOS, &tclass, &format!("IP_TOS {:#04x}", tclass))?;
            }
        }
        set_option(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, "SO_TIMESTAMPNS")?;
        if v6 {
            set_option(s, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, "IPV6_RECVHOPLIMIT")?;
        } else {
            set_option(s, IPPROTO_IP, IP_RECVTTL, &one, "IP_RECVTTL")?;
        }
        if raw {
            // Let only echo replies through: a raw socket otherwise gets
            // every ICMP message the box receives.
            if v6 {
                let mut block = [0xffff_ffffu32; 8];
                block[(ECHO_REPLY_V6 >> 5) as usize] &= !(1u32 << (ECHO_REPLY_V6 & 31));
                set_option(s, IPPROTO_ICMPV6, ICMP6_FILTER, &block, "ICMP6_FILTER")?;
            } else {
                let block: u32 = !(1u32 << ECHO_REPLY_V4);
                set_option(s, SOL_RAW, ICMP_FILTER, &block, "ICMP_FILTER")?;
            }
        }
        // A ping socket is bound even to the unspecified address: that is
        // when the kernel gives it its echo id.
        if !source.is_unspecified() || !raw {
            let (sa, len) = sockaddr(source, 0, scope);
            sys::bind_to(s, &sa, len).map_err(|e| format!("bind {}: {}", o.source, e))?;
        }
        let token = random_u64();
        let mut sock = EchoSocket {
            fd,
            v6,
            raw,
            id: 0,
            token,
            payload_bytes: o.payload_bytes,
            counters: Counters::default(),
        };
        sock.id = if raw {
            (token >> 48) as u16
        } else {
            sock.bound_port()
        };
        Ok(sock)
    }

    /// The port of a ping socket is its echo id.
    fn bound_port(&self) -> u16 {
        sys::local_address(self.fd.as_raw_fd()).map_or(0, |sa| u16::from_be(sa.port))
    }

    pub fn kind(&self) -> &'static str {
        if self.raw {
            "raw"
        } else {
            "dgram"
        }
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn family(&self) -> u8 {
        if self.v6 {
            6
        } else {
            4
        }
    }

    /// Sends echo request `seq` to `target`; returns the send time (monotonic ns).
    pub fn send(&mut self, target: &str, seq: u16) -> Result<u64, String> {
        let (ip, scope) = parse_address(target).map_err(|e| format!("target: {}", e))?;
        if ip.is_ipv6() != self.v6 {
            return Err(format!(
                "target: {} is IPv{}; this socket is IPv{}",
                target,
                if ip.is_ipv6() { 6 } else { 4 },
                self.family()
            ));
        }
        let sent = monotonic_ns();
        let packet =
            encode_echo_request(self.v6, self.id, seq, self.token, sent, self.payload_bytes);
        let (sa, len) = sockaddr(ip, 0, scope);
        if let Err(e) = sys::send_to(self.fd.as_raw_fd(), &packet, &sa, len) {
            self.counters.send_errors += 1;
            return Err(format!("sendto {}: {}", target, e));
        }
        if !self.raw && self.id == 0 {
            // An unbound ping socket gets its id on the first send.
            self.id = self.bound_port();
        }
        self.counters.sent += 1;
        Ok(sent)
    }

    /// Reads up to `max` datagrams without blocking; only our replies are
    /// returned, the rest are counted. Ok(empty) when nothing is waiting.
    pub fn receive(&mut self, max: usize) -> Result<Vec<Received>, String> {
        let mut out = Vec::new();
        // Room for the largest reply we can provoke (IPv4 header + echo).
        let mut buf = vec![0u8; 60 + ECHO_HEADER_BYTES + self.payload_bytes];
        let mut control: Control = [0u64; 16];
        for _ in 0..max {
            let m = match sys::receive(self.fd.as_raw_fd(), &mut buf, &mut control) {
                Ok(m) => m,
                Err(err) => match err.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(format!("recvmsg: {}", err)),
                },
            };
            let now_mono = monotonic_ns();
            let now_real = clock_ns(CLOCK_REALTIME);
            self.counters.received += 1;
            if m.truncated {
                self.counters.truncated += 1;
                continue;
            }
            let data = &buf[..m.len];
            let anc = read_ancillary(sys::control_bytes(&control), m.control_len);
            let framing = if self.raw && !self.v6 {
                Framing::Ipv4Header
            } else {
                Framing::Icmp
            };
            let id = if self.raw { Some(self.id) } else { None };
            match decode_echo_reply(data, self.v6, framing, id, self.token) {
                Ok(mut reply) => {
                    reply.ttl = reply.ttl.or(anc.ttl);
                    let from = match address_of(&m.from) {
                        Some(a) => a,
                        None => {
                            self.counters.malformed += 1;
                            continue;
                        }
                    };
                    out.push(Received {
                        from,
                        reply,
                        rx_ns: rx_monotonic(anc.rx_real, now_real, now_mono),
                        bytes: data.len(),
                    });
                }
                Err(Reject::Malformed) => self.counters.malformed += 1,
                Err(Reject::NotReply) => self.counters.not_reply += 1,
                Err(Reject::Foreign) => self.counters.foreign += 1,
                Err(Reject::BadChecksum) => self.counters.bad_checksum += 1,
            }
        }
        Ok(out)
    }
}

// --- The JS functions (registered in lib.rs) --------------------------------

/// An ICMP socket handle, from icmpOpen until icmpClose; the tag is
/// "tern_icm", "p_sock_1".
pub(crate) static ICMP: HandleKind<EchoSocket> = HandleKind::new(
    napi_type_tag {
        lower: 0x7465_726e_5f69_636d,
        upper: 0x705f_736f_636b_5f31,
    },
    "socket",
    "an ICMP socket from icmpOpen",
    "the socket is closed",
);

pub(crate) fn integer_arg(call: &Call, index: usize, name: &str, max: f64) -> Result<f64, JsError> {
    let n = call.number_arg(index, name)?;
    if !(n.is_finite() && n >= 0.0 && n <= max && n.fract() == 0.0) {
        return Err(call.arg_error(name, &format!("an integer 0-{}", max), &format!("{}", n)));
    }
    Ok(n)
}

/// `icmpOpen(source: string, mark: number, device: string, payloadBytes: number, dscp: number): IcmpSocket`
pub fn icmp_open(call: &Call) -> Result<napi_value, JsError> {
    let source = call.string_arg(0, "source")?;
    let mark = integer_arg(call, 1, "mark", u32::MAX as f64)? as u32;
    let device = call.string_arg(2, "device")?;
    let payload = integer_arg(call, 3, "payloadBytes", MAX_PAYLOAD_BYTES as f64)? as usize;
    let dscp = integer_arg(call, 4, "dscp", MAX_DSCP as f64)? as u8;
    if parse_address(&source).is_err() {
        return Err(call.arg_error(
            "source",
            "an IP address (0.0.0.0 or :: for none)",
            &format!("{:?}", source),
        ));
    }
    if payload < MIN_PAYLOAD_BYTES {
        return Err(call.arg_error(
            "payloadBytes",
            &format!("at least {}", MIN_PAYLOAD_BYTES),
            &payload.to_string(),
        ));
    }
    let opts = OpenOptions {
        source: &source,
        mark,
        device: &device,
        payload_bytes: payload,
        dscp,
        raw_only: false,
    };
    let sock = EchoSocket::open(&opts).map_err(|e| call.io_error(&e))?;
    ICMP.wrap(call, sock)
}

/// `icmpSend(socket: IcmpSocket, target: string, seq: number): number` (send time, monotonic ms)
pub fn icmp_send(call: &Call) -> Result<napi_value, JsError> {
    let target = call.string_arg(1, "target")?;
    let seq = integer_arg(call, 2, "seq", u16::MAX as f64)? as u16;
    let sent = ICMP.with(call, |s| {
        s.send(&target, seq).map_err(|e| call.io_error(&e))
    })?;
    call.number(ns_to_ms(sent))
}

/// `icmpReceive(socket: IcmpSocket, max: number): IcmpReply[]`
pub fn icmp_receive(call: &Call) -> Result<napi_value, JsError> {
    let max = integer_arg(call, 1, "max", 65_536.0)? as usize;
    let got = ICMP.with(call, |s| s.receive(max).map_err(|e| call.io_error(&e)))?;
    let mut items = Vec::with_capacity(got.len());
    for r in &got {
        items.push(call.object(&[
            ("from", call.string(&r.from.to_string())?),
            ("seq", call.number(r.reply.seq as f64)?),
            ("sentMs", call.number(ns_to_ms(r.reply.sent_ns))?),
            ("rxMs", call.number(ns_to_ms(r.rx_ns))?),
            ("ttl", call.number(r.reply.ttl.unwrap_or(0) as f64)?),
            ("bytes", call.number(r.bytes as f64)?),
        ])?);
    }
    call.array(&items)
}

/// `icmpStats(socket: IcmpSocket): IcmpStats`
pub fn icmp_stats(call: &Call) -> Result<napi_value, JsError> {
    let (kind, family, id, c) =
        ICMP.with(call, |s| Ok((s.kind(), s.family(), s.id(), s.counters)))?;
    let n = |v: u64| call.number(v as f64);
    call.object(&[
        ("kind", call.string(kind)?),
        ("family", n(family as u64)?),
        ("id", n(id as u64)?),
        ("sent", n(c.sent)?),
        ("sendErrors", n(c.send_errors)?),
        ("received", n(c.received)?),
        ("malformed", n(c.malformed)?),
        ("notReply", n(c.not_reply)?),
        ("foreign", n(c.foreign)?),
        ("badChecksum", n(c.bad_checksum)?),
        ("truncated", n(c.truncated)?),
    ])
}

/// `icmpClose(socket: IcmpSocket): void`: closes the descriptor now; closing twice is fine.
pub fn icmp_close(call: &Call) -> Result<napi_value, JsError> {
    ICMP.close(call)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::MSG_DONTWAIT;
    use crate::testkit::Rng;
    use std::ffi::c_void;
    use std::mem;
    use std::net::Ipv4Addr;

    /// The request bytes of id 0x1234, seq 1, token 0x0102030405060708, sent
    /// at 1 ms, 16 bytes of payload; the checksum was computed independently
    /// (Python, RFC 1071 one's-complement sum).
    const REQUEST_V4: [u8; 24] = [
        0x08, 0x00, 0x93, 0x67, 0x12, 0x34, 0x00, 0x01, //
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42, 0x40,
    ];
    const TOKEN: u64 = 0x0102_0304_0506_0708;

    #[test]
    fn request_bytes_and_checksum() {
        let p = encode_echo_request(false, 0x1234, 1, TOKEN, 1_000_000, 16);
        assert_eq!(
            p,
            REQUEST_V4.to_vec(),
            "got {:02x?}; want {:02x?}",
            p,
            REQUEST_V4
        );
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to 0");
        let p6 = encode_echo_request(true, 0x1234, 1, TOKEN, 1_000_000, 16);
        assert_eq!(p6[0], 128, "ICMPv6 echo request type");
        assert_eq!(&p6[2..4], &[0, 0], "ICMPv6 checksum left to the kernel");
        assert_eq!(&p6[4..], &REQUEST_V4[4..]);
        let padded = encode_echo_request(false, 7, 9, TOKEN, 5, 56);
        assert_eq!(padded.len(), 64, "56 bytes of payload like ping");
        assert!(padded[24..].iter().all(|&b| b == 0), "padding is zero");
        assert_eq!(
            encode_echo_request(false, 7, 9, TOKEN, 5, 3).len(),
            24,
            "payload never below the token and time"
        );
    }

    #[test]
    fn checksum_of_odd_lengths_and_carries() {
        // RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // An odd trailing byte is padded with zero on the right.
        assert_eq!(checksum(&[0x01]), !0x0100u16);
        assert_eq!(checksum(&[0xff, 0xff, 0xff, 0xff]), 0x0000);
        assert_eq!(checksum(&[]), 0xffff);
    }

    fn reply_of(request: &[u8], v6: bool) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = if v6 { 129 } else { 0 };
        r[2] = 0;
        r[3] = 0;
        if !v6 {
            let c = checksum(&r);
            r[2..4].copy_from_slice(&c.to_be_bytes());
        }
        r
    }

    fn with_ipv4_header(icmp: &[u8], ttl: u8) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, ttl, 1, 0, 0, 198, 18, 1, 1, 198, 18, 1, 2,
        ];
        let len = (ip.len() + icmp.len()) as u16;
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        ip.extend_from_slice(icmp);
        ip
    }

    #[test]
    fn reply_decoding_matches_id_token_and_seq() {
        let reply = reply_of(&REQUEST_V4, false);
        let want = EchoReply {
            id: 0x1234,
            seq: 1,
            sent_ns: 1_000_000,
            ttl: None,
        };
        assert_eq!(
            decode_echo_reply(&reply, false, Framing::Icmp, None, TOKEN),
            Ok(want)
        );
        let raw = with_ipv4_header(&reply, 61);
        let got = decode_echo_reply(&raw, false, Framing::Ipv4Header, Some(0x1234), TOKEN).unwrap();
        assert_eq!((got.seq, got.ttl), (1, Some(61)));

        struct Case {
            name: &'static str,
            data: Vec<u8>,
            framing: Framing,
            id: Option<u16>,
            want: Reject,
        }
        let mut bad_sum = reply.clone();
        bad_sum[20] ^= 0x40;
        let mut other_token = reply_of(
            &encode_echo_request(false, 0x1234, 1, TOKEN + 1, 1_000_000, 16),
            false,
        );
        other_token.truncate(24);
        let request = REQUEST_V4.to_vec();
        let mut options = with_ipv4_header(&reply, 64);
        options[0] = 0x4f; // IHL 60 bytes: longer than the datagram
        let cases = vec![
            Case {
                name: "truncated",
                data: reply[..23].to_vec(),
                framing: Framing::Icmp,
                id: None,
                want: Reject::Malformed,
            },
            Case {
                name: "empty",
                data: vec![],
                framing: Framing::Icmp,
                id: None,
                want: Reject::Malformed,
            },
            Case {
                name: "a request, not a reply",
                data: request,
                framing: Framing::Icmp,
                id: None,
                want: Reject::NotReply,
            },
            Case {
                name: "bad checksum",
                data: bad_sum,
                framing: Framing::Icmp,
                id: None,
                want: Reject::BadChecksum,
            },
            Case {
                name: "other id on a raw socket",
                data: with_ipv4_header(&reply, 64),
                framing: Framing::Ipv4Header,
                id: Some(0x4321),
                want: Reject::Foreign,
            },
            Case {
                name: "other token",
                data: other_token,
                framing: Framing::Icmp,
                id: None,
                want: Reject::Foreign,
            },
            Case {
                name: "IPv4 header longer than the datagram",
                data: options,
                framing: Framing::Ipv4Header,
                id: None,
                want: Reject::Malformed,
            },
            Case {
                name: "not IPv4",
                data: vec![0x60; 48],
                framing: Framing::Ipv4Header,
                id: None,
                want: Reject::Malformed,
            },
            Case {
                name: "an IPv6 reply read as IPv4",
                data: reply_of(&REQUEST_V4, true),
                framing: Framing::Icmp,
                id: None,
                want: Reject::NotReply,
            },
        ];
        for c in cases {
            let got = decode_echo_reply(&c.data, false, c.framing, c.id, TOKEN);
            assert_eq!(
                got,
                Err(c.want),
                "{}: got {:?}; want {:?}",
                c.name,
                got,
                c.want
            );
        }
        // ICMPv6: no checksum check here (the kernel verified it), type 129.
        let r6 = reply_of(&encode_echo_request(true, 5, 6, TOKEN, 42, 16), true);
        let got = decode_echo_reply(&r6, true, Framing::Icmp, Some(5), TOKEN).unwrap();
        assert_eq!((got.id, got.seq, got.sent_ns), (5, 6, 42));
    }

    #[test]
    fn decoding_random_bytes_never_panics() {
        let mut rng = Rng::new(0x1c3d);
        let mut accepted = 0;
        for i in 0..200_000 {
            let len = rng.below(96);
            let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 4 == 0 && len >= 24 {
                // Mostly-valid replies with one random byte changed.
                let mut r = reply_of(
                    &encode_echo_request(false, 1, i as u16, TOKEN, 7, len - 8),
                    false,
                );
                let k = rng.below(r.len());
                r[k] = rng.next() as u8;
                data = r;
            }
            for framing in [Framing::Icmp, Framing::Ipv4Header] {
                for v6 in [false, true] {
                    if decode_echo_reply(&data, v6, framing, Some(1), TOKEN).is_ok() {
                        accepted += 1;
                    }
                }
            }
        }
        // A mutation that rewrites a byte with its own value leaves a valid reply.
        assert!(
            accepted > 0,
            "got no accepted replies; want the unchanged ones accepted"
        );
    }

    #[test]
    fn addresses_and_scopes() {
        assert_eq!(
            parse_address("198.18.1.2").unwrap(),
            (IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)), 0)
        );
        assert_eq!(parse_address("fe80::1%7").unwrap().1, 7);
        assert_eq!(
            parse_address("fe80::1%lo").unwrap().1,
            interface_index("lo").unwrap()
        );
        for bad in ["", "198.18.1", "1.2.3.4%lo", "fe80::1%no-such-if0", "::g"] {
            assert!(parse_address(bad).is_err(), "{:?} must not parse", bad);
        }
    }

    #[test]
    fn dscp_to_traffic_class_byte() {
        for (dscp, want) in [(0u8, 0), (8, 0x20), (46, 0xb8), (63, 0xfc)] {
            let got = traffic_class(dscp).unwrap();
            assert_eq!(
                got, want,
                "dscp {}: got {:#04x}; want {:#04x}",
                dscp, got, want
            );
        }
        let err = traffic_class(64).unwrap_err();
        assert!(
            err.contains("0-63"),
            "dscp 64: got {:?}; want a range error",
            err
        );
        let opts = OpenOptions {
            source: "127.0.0.1",
            mark: 0,
            device: "",
            payload_bytes: 56,
            dscp: 64,
            raw_only: false,
        };
        let err = EchoSocket::open(&opts)
            .err()
            .expect("dscp 64 must be refused");
        assert!(err.contains("dscp"), "got {:?}; want a dscp error", err);
    }

    extern "C" {
        fn getsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *mut c_void,
            len: *mut u32,
        ) -> c_int;
        fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize;
    }

    fn int_option(fd: c_int, level: c_int, name: c_int) -> c_int {
        let mut v: c_int = -1;
        let mut len = mem::size_of::<c_int>() as u32;
        // SAFETY: v has room for len bytes.
        let r = unsafe { getsockopt(fd, level, name, (&mut v as *mut c_int).cast(), &mut len) };
        assert_eq!(
            r,
            0,
            "getsockopt({}, {}): {}",
            level,
            name,
            io::Error::last_os_error()
        );
        v
    }

    /// The marking on the wire, over loopback: a raw socket without a filter
    /// sees our request and the kernel's reply, IP headers included. Needs
    /// CAP_NET_RAW (the lab and CI run as root); skipped without it.
    #[test]
    fn dscp_marks_the_request_and_linux_echoes_it_in_the_reply() {
        let cap = match sys::open_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("skipped: raw socket: {} (needs CAP_NET_RAW)", e);
                return;
            }
        };
        for raw_only in [false, true] {
            let opts = OpenOptions {
                source: "127.0.0.1",
                mark: 0,
                device: "",
                payload_bytes: 56,
                dscp: 46,
                raw_only,
            };
            let mut sock = EchoSocket::open(&opts).unwrap();
            let fd = sock.fd.as_raw_fd();
            assert_eq!(
                int_option(fd, IPPROTO_IP, IP_TOS),
                0xb8,
                "{}: IP_TOS",
                sock.kind()
            );
            sock.send("127.0.0.1", 7).unwrap();
            // (type, TOS) of every ICMP datagram carrying this socket's token.
            let mut seen: Vec<(u8, u8)> = Vec::new();
            let mut replies = 0;
            let deadline = monotonic_ns() + 2_000_000_000;
            while (seen.len() < 2 || replies == 0) && monotonic_ns() < deadline {
                let mut buf = [0u8; 256];
                // SAFETY: buf is writable for its length.
                let n = unsafe {
                    recv(
                        cap.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        MSG_DONTWAIT,
                    )
                };
                if n >= 20 {
                    let ihl = ((buf[0] & 0x0f) as usize) * 4;
                    let icmp = &buf[ihl..n as usize];
                    if icmp.len() >= 16 && icmp[8..16] == sock.token.to_be_bytes() {
                        seen.push((icmp[0], buf[1]));
                    }
                }
                replies += sock.receive(8).unwrap().len();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            seen.sort();
            assert_eq!(
                seen,
                vec![(ECHO_REPLY_V4, 0xb8), (ECHO_REQUEST_V4, 0xb8)],
                "{}: got (type, TOS) {:?}; want the request and its reply both EF",
                sock.kind(),
                seen
            );
            assert_eq!(
                replies,
                1,
                "{}: the socket itself got its reply",
                sock.kind()
            );
        }
        // IPv6: the traffic class is set the same way (when the box has IPv6).
        let opts = OpenOptions {
            source: "::1",
            mark: 0,
            device: "",
            payload_bytes: 56,
            dscp: 46,
            raw_only: false,
        };
        match EchoSocket::open(&opts) {
            Ok(s) => assert_eq!(
                int_option(s.fd.as_raw_fd(), IPPROTO_IPV6, IPV6_TCLASS),
                0xb8,
                "IPV6_TCLASS"
            ),
            Err(e) if e.contains("bind") => eprintln!("IPv6 part skipped: {}", e),
            Err(e) => panic!("open ::1 with dscp 46: {}", e),
        }
    }
}
