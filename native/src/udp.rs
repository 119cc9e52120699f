//! UDP sockets for STAMP (tern-probed): a set of non-blocking sockets read
//! together, each datagram with its sender and the kernel's receive time.
//!
//! Why: with Node's dgram the sender's T4 and the reflector's T2 were taken
//! in JS when the event loop got to the datagram, so a busy loop (500 paths
//! on a loaded box: ~200 ms of lag) read as path RTT. Here every datagram
//! carries its `SO_TIMESTAMPNS` receive time, moved onto CLOCK_MONOTONIC as
//! icmp.rs does (both use sys.rs's socket-address and control-message
//! helpers), so when JS reads the set no longer shows in RTT.
//!
//! Why a set: probed holds a socket per path and per reflector address,
//! hundreds of them. They share one epoll descriptor, and `poll` is one
//! `epoll_wait` (timeout 0) when nothing is waiting, then one `recvmsg` per
//! ready socket per round, so a quiet set costs one system call per poll
//! and a busy one about one per datagram. JS polls it on a timer, as it
//! does the ICMP sockets: libuv cannot watch an arbitrary descriptor from
//! JS, and a receive thread would hand thousands of datagrams a second
//! through thread-safe functions for no gain in accuracy.
//!
//! Why connect: a connected socket's route is looked up once and cached
//! (`sk_dst_cache`), an unconnected one's on every `sendto`; with hundreds
//! of tunnels, each with its own identical fe80::/64 route, that lookup
//! walks them all. And of several sockets bound to one address and port
//! (`SO_REUSEADDR`), the kernel gives a datagram to the one connected to
//! its source, so a reflector can add a connected socket per far end beside
//! its listening one and answer from it.
//!
//! Link-local addresses carry their interface as `%zone`: on the way in the
//! zone is the socket's own (the text it was bound with) when the datagram
//! came in on that interface, else the interface's name; on the way out a
//! zone equal to the socket's own costs no lookup.
//!
//! Times are CLOCK_MONOTONIC in milliseconds (f64, nanosecond resolution).

use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::handle::HandleKind;
use crate::icmp::{integer_arg, parse_address};
use crate::napi::{napi_type_tag, napi_value, Call, JsError};
use crate::sys::{
    self, address_of, clock_ns, is_link_local_v6, monotonic_ns, ns_to_ms, read_ancillary, rx_monotonic, set_option,
    setopt, sockaddr, Ancillary, Control, SockaddrIn6, AF_INET, AF_INET6, CLOCK_REALTIME, IPPROTO_IP, IPPROTO_IPV6,
    IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO, IP_PKTINFO, IP_RECVTTL, SOCK_DGRAM, SOL_SOCKET, SO_TIMESTAMPNS,
};

// Linux constants (asm-generic) only the UDP set uses.
const SO_REUSEADDR: c_int = 2;
const IPV6_V6ONLY: c_int = 26;
const EPOLLIN: u32 = 0x1;
const EPOLL_CLOEXEC: c_int = 0o2000000;
const EPOLL_CTL_ADD: c_int = 1;
const IF_NAMESIZE: usize = 16;

/// The largest datagram read: STAMP packets are at most 9216 bytes; a
/// longer one is counted truncated and dropped.
pub const MAX_DATAGRAM: usize = 9216;
/// Events taken from epoll per round.
const EVENTS: usize = 256;

/// `struct epoll_event`: packed on x86_64 (12 bytes), naturally aligned
/// elsewhere (16 bytes on arm64).
#[cfg_attr(target_arch = "x86_64", repr(C, packed))]
#[cfg_attr(not(target_arch = "x86_64"), repr(C))]
#[derive(Clone, Copy)]
struct EpollEvent {
    events: u32,
    data: u64,
}

extern "C" {
    fn epoll_create1(flags: c_int) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut EpollEvent) -> c_int;
    fn epoll_wait(epfd: c_int, events: *mut EpollEvent, max: c_int, timeout: c_int) -> c_int;
    fn if_indextoname(index: u32, name: *mut c_char) -> *mut c_char;
}

// --- Addresses (pure, tested below) -------------------------------------------

/// A datagram's sender as read from its sockaddr: the address (an
/// IPv4-mapped IPv6 address as the IPv4 one), its scope and port.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Peer {
    pub ip: IpAddr,
    pub scope: u32,
    pub port: u16,
}

pub fn peer_of(sa: &SockaddrIn6) -> Option<Peer> {
    let ip = match address_of(sa)? {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    let scope = if sa.family as c_int == AF_INET6 {
        sa.scope_id
    } else {
        0
    };
    Some(Peer {
        ip,
        scope,
        port: u16::from_be(sa.port),
    })
}

/// The text JS gets for a sender: `zone` is the interface of a scoped
/// (link-local) address, when known.
pub fn peer_text(ip: IpAddr, scope: u32, zone: Option<&str>) -> String {
    match (ip, zone) {
        (IpAddr::V6(_), Some(z)) if scope != 0 && !z.is_empty() => format!("{}%{}", ip, z),
        (IpAddr::V6(_), None) if scope != 0 => format!("{}%{}", ip, scope),
        _ => ip.to_string(),
    }
}

/// The sockaddr to send to `ip` from a socket of family `v6`: an IPv4
/// target of an IPv6 socket becomes its IPv4-mapped address.
pub fn target_sockaddr(
    v6: bool,
    ip: IpAddr,
    port: u16,
    scope: u32,
) -> Result<(SockaddrIn6, u32), String> {
    match (v6, ip) {
        (true, IpAddr::V4(v4)) => Ok(sockaddr(IpAddr::V6(v4.to_ipv6_mapped()), port, 0)),
        (false, IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Ok(sockaddr(IpAddr::V4(v4), port, 0)),
            None => Err(format!("{} is IPv6; this socket is IPv4", ip)),
        },
        _ => Ok(sockaddr(ip, port, scope)),
    }
}

fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as c_char; IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).ok()
}

/// An IPv4-mapped IPv6 address counts as IPv4.
fn ip_family_v6(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
        IpAddr::V4(_) => false,
    }
}

/// A datagram's destination from its control messages, as JS gets
/// addresses: IPv4 dotted (also when mapped), link-local IPv6 with the zone
/// of the interface it came in on.
fn destination_text(anc: &Ancillary, sock: &UdpSock) -> Option<String> {
    let dst = match anc.dst? {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let scope = match dst {
        IpAddr::V6(v6) if is_link_local_v6(&v6) => anc.ifindex.unwrap_or(0),
        _ => 0,
    };
    let zone = if scope == 0 {
        None
    } else if scope == sock.scope {
        Some(sock.zone.clone())
    } else {
        interface_name(scope)
    };
    Some(peer_text(dst, scope, zone.as_deref()))
}

// --- The sockets ----------------------------------------------------------------

struct UdpSock {
    fd: OwnedFd,
    v6: bool,
    /// The scope the socket was bound with (0: none) and its text as given.
    scope: u32,
    zone: String,
    connected: bool,
    /// Bound to the unspecified address: each datagram's destination is
    /// read (IP_PKTINFO / IPV6_PKTINFO) so a reply can leave from it.
    pktinfo: bool,
}

impl UdpSock {
    /// `address` as a target of this socket: the socket's own zone costs no lookup.
    fn target(&self, address: &str) -> Result<(IpAddr, u32), String> {
        if let Some((a, z)) = address.split_once('%') {
            if z == self.zone && self.scope != 0 {
                let ip: IpAddr = a
                    .parse()
                    .map_err(|_| format!("{:?} is not an IP address", address))?;
                return Ok((ip, self.scope));
            }
        }
        parse_address(address)
    }
}

/// Counters of a set.
#[derive(Default, Clone, Copy)]
pub struct Counters {
    pub received: u64,
    pub truncated: u64,
    pub receive_errors: u64,
    pub sent: u64,
    pub send_errors: u64,
    pub opened: u64,
    pub closed: u64,
}

/// One datagram as JS gets it.
pub struct Datagram {
    pub socket: u32,
    pub from: String,
    pub port: u16,
    /// Kernel receive time moved onto CLOCK_MONOTONIC, ns.
    pub rx_ns: u64,
    pub ttl: Option<u8>,
    /// The address it was sent to (with %zone when link-local), read on
    /// sockets bound to the unspecified address only.
    pub to: Option<String>,
    pub data: Vec<u8>,
}

pub struct UdpSet {
    epoll: OwnedFd,
    sockets: HashMap<u32, UdpSock>,
    next_id: u32,
    pub counters: Counters,
    buf: Vec<u8>,
}

impl UdpSet {
    pub fn new() -> Result<UdpSet, String> {
        // SAFETY: plain epoll_create1; owned at once.
        let fd = unsafe { epoll_create1(EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!("epoll_create1: {}", io::Error::last_os_error()));
        }
        Ok(UdpSet {
            // SAFETY: a fresh descriptor nobody else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            sockets: HashMap::new(),
            next_id: 1,
            counters: Counters::default(),
            buf: vec![0u8; MAX_DATAGRAM + 1],
        })
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Opens a socket bound to `address` (fe80::1%eth0 for a scope; `::`
    /// takes IPv4 too, as mapped addresses) and `port` (0: any), with
    /// receive timestamps and TTL / hop limit; returns its id.
    pub fn open(&mut self, address: &str, port: u16, reuse_address: bool) -> Result<u32, String> {
        let (ip, scope) = parse_address(address)?;
        let v6 = ip.is_ipv6();
        let domain = if v6 { AF_INET6 } else { AF_INET };
        let fd = sys::open_socket(domain, SOCK_DGRAM, 0).map_err(|e| format!("socket: {}", e))?;
        let s = fd.as_raw_fd();
        let one: c_int = 1;
        let zero: c_int = 0;
        if reuse_address {
            set_option(s, SOL_SOCKET, SO_REUSEADDR, &one, "SO_REUSEADDR")?;
        }
        set_option(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, "SO_TIMESTAMPNS")?;
        if v6 {
            if ip.is_unspecified() {
                set_option(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, "IPV6_V6ONLY")?;
                // IPv4 datagrams on a dual-stack socket: their TTL, if the kernel gives it.
                let _ = setopt(s, IPPROTO_IP, IP_RECVTTL, &one);
            }
            set_option(s, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, "IPV6_RECVHOPLIMIT")?;
        } else {
            set_option(s, IPPROTO_IP, IP_RECVTTL, &one, "IP_RECVTTL")?;
        }
        // A socket on the unspecified address learns where each datagram was
        // sent, so its answer can leave from exactly that address: the
        // kernel's own choice of source may be another address of the
        // interface (a tunnel's kernel-made link-local one), and a sender
        // connected to the address it probed never sees such an answer.
        let pktinfo = ip.is_unspecified();
        if pktinfo {
            if v6 {
                set_option(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, "IPV6_RECVPKTINFO")?;
            }
            // IPv4 datagrams, also those on a dual-stack socket.
            set_option(s, IPPROTO_IP, IP_PKTINFO, &one, "IP_PKTINFO")?;
        }
        let (sa, len) = sockaddr(ip, port, scope);
        sys::bind_to(s, &sa, len).map_err(|e| format!("bind [{}]:{}: {}", address, port, e))?;
        let mut id = self.next_id;
        while id == 0 || self.sockets.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id = id.wrapping_add(1);
        let mut ev = EpollEvent {
            events: EPOLLIN,
            data: id as u64,
        };
        // SAFETY: both descriptors are open; ev is a valid epoll_event.
        if unsafe { epoll_ctl(self.epoll.as_raw_fd(), EPOLL_CTL_ADD, s, &mut ev) } < 0 {
            return Err(format!("epoll_ctl: {}", io::Error::last_os_error()));
        }
        let zone = address
            .split_once('%')
            .map(|(_, z)| z.to_string())
            .unwrap_or_default();
        self.sockets.insert(
            id,
            UdpSock {
                fd,
                v6,
                scope,
                zone,
                connected: false,
                pktinfo,
            },
        );
        self.counters.opened += 1;
        Ok(id)
    }

    fn socket(&self, id: u32) -> Result<&UdpSock, String> {
        self.sockets
            .get(&id)
            .ok_or_else(|| format!("no socket {} in this set (closed?)", id))
    }

    /// Connects socket `id` to `address`:`port`: sends without an address
    /// go there, and only its datagrams are received.
    pub fn connect(&mut self, id: u32, address: &str, port: u16) -> Result<(), String> {
        let sock = self.socket(id)?;
        let (ip, scope) = sock.target(address)?;
        let (sa, len) = target_sockaddr(sock.v6, ip, port, scope)?;
        sys::connect_to(sock.fd.as_raw_fd(), &sa, len)
            .map_err(|e| format!("connect [{}]:{}: {}", address, port, e))?;
        self.sockets.get_mut(&id).expect("checked above").connected = true;
        Ok(())
    }

    /// The local port of socket `id`.
    pub fn local_port(&self, id: u32) -> Result<u16, String> {
        let sock = self.socket(id)?;
        let sa = sys::local_address(sock.fd.as_raw_fd()).map_err(|e| format!("getsockname: {}", e))?;
        Ok(u16::from_be(sa.port))
    }

    /// Sends `bytes` on socket `id`: to its peer when `to` is None (the
    /// socket must be connected), else to `to`.
    pub fn send(&mut self, id: u32, bytes: &[u8], to: Option<(&str, u16)>) -> Result<(), String> {
        let r = {
            let sock = self.socket(id)?;
            let fd = sock.fd.as_raw_fd();
            match to {
                None => {
                    if !sock.connected {
                        return Err(format!(
                            "socket {} is not connected; give a destination",
                            id
                        ));
                    }
                    sys::send_connected(fd, bytes)
                }
                Some((address, port)) => {
                    let (ip, scope) = sock.target(address)?;
                    let (sa, len) = target_sockaddr(sock.v6, ip, port, scope)?;
                    sys::send_to(fd, bytes, &sa, len)
                }
            }
        };
        if let Err(e) = r {
            self.counters.send_errors += 1;
            let dest = match to {
                Some((a, p)) => format!("[{}]:{}", a, p),
                None => "its peer".to_string(),
            };
            return Err(format!("send to {}: {}", dest, e));
        }
        self.counters.sent += 1;
        Ok(())
    }

    /// Sends `bytes` on socket `id` to `to` with `from` as the source
    /// address (`IP_PKTINFO` / `IPV6_PKTINFO`; a link-local source leaves by
    /// its zone's interface): how a socket on the unspecified address
    /// answers from the address it was asked on.
    pub fn send_from(&mut self, id: u32, bytes: &[u8], to: (&str, u16), from: &str) -> Result<(), String> {
        let r = {
            let sock = self.socket(id)?;
            let (ip, scope) = sock.target(to.0)?;
            let (sa, len) = target_sockaddr(sock.v6, ip, to.1, scope)?;
            let (src, src_scope) = sock.target(from)?;
            let src = match src {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(src, IpAddr::V4),
                v4 => v4,
            };
            if src.is_ipv6() != ip_family_v6(ip) {
                return Err(format!("source {} and destination {} are of different families", from, to.0));
            }
            if !sock.v6 && src.is_ipv6() {
                return Err(format!("{} is IPv6; this socket is IPv4", from));
            }
            sys::send_from(sock.fd.as_raw_fd(), bytes, &sa, len, src, src_scope)
        };
        if let Err(e) = r {
            self.counters.send_errors += 1;
            return Err(format!("send to [{}]:{} from {}: {}", to.0, to.1, from, e));
        }
        self.counters.sent += 1;
        Ok(())
    }

    /// Closes socket `id` (leaving the set); an unknown id is not an error.
    pub fn close(&mut self, id: u32) -> bool {
        // Closing the descriptor also takes it out of the epoll set.
        let had = self.sockets.remove(&id).is_some();
        if had {
            self.counters.closed += 1;
        }
        had
    }

    /// Reads up to `max` waiting datagrams without blocking, one per ready
    /// socket per round (level-triggered: what is left is seen next round).
    pub fn poll(&mut self, max: usize) -> Result<Vec<Datagram>, String> {
        let mut out = Vec::new();
        let mut events = [EpollEvent { events: 0, data: 0 }; EVENTS];
        let mut control: Control = [0u64; 16];
        while out.len() < max {
            // SAFETY: events has room for EVENTS entries.
            let n = unsafe {
                epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS as c_int,
                    0,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("epoll_wait: {}", err));
            }
            if n == 0 {
                break;
            }
            let mut got = 0;
            for ev in &events[..n as usize] {
                if out.len() >= max {
                    break;
                }
                let id = ev.data as u32;
                let Some(sock) = self.sockets.get(&id) else {
                    continue;
                };
                let m = match sys::receive(sock.fd.as_raw_fd(), &mut self.buf, &mut control) {
                    Ok(m) => m,
                    Err(err) => {
                        match err.kind() {
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                            // An ICMP error queued on a connected socket (port
                            // unreachable and the like): counted; the socket stays.
                            _ => self.counters.receive_errors += 1,
                        }
                        continue;
                    }
                };
                got += 1;
                let now_mono = monotonic_ns();
                let now_real = clock_ns(CLOCK_REALTIME);
                self.counters.received += 1;
                if m.truncated || m.len > MAX_DATAGRAM {
                    self.counters.truncated += 1;
                    continue;
                }
                let Some(peer) = peer_of(&m.from) else {
                    self.counters.receive_errors += 1;
                    continue;
                };
                let anc = read_ancillary(sys::control_bytes(&control), m.control_len);
                let to = if sock.pktinfo {
                    destination_text(&anc, sock)
                } else {
                    None
                };
                let zone = if peer.scope == 0 {
                    None
                } else if peer.scope == sock.scope {
                    Some(sock.zone.clone())
                } else {
                    interface_name(peer.scope)
                };
                out.push(Datagram {
                    socket: id,
                    from: peer_text(peer.ip, peer.scope, zone.as_deref()),
                    port: peer.port,
                    rx_ns: rx_monotonic(anc.rx_real, now_real, now_mono),
                    ttl: anc.ttl,
                    to,
                    data: self.buf[..m.len].to_vec(),
                });
            }
            if got == 0 {
                break;
            }
        }
        Ok(out)
    }
}

// --- The JS functions (registered in lib.rs) --------------------------------

/// A UDP set handle, from udpSetCreate until udpSetClose; the tag is
/// "tern_udp", "_set_v1\0".
pub(crate) static UDP: HandleKind<UdpSet> = HandleKind::new(
    napi_type_tag {
        lower: 0x7465_726e_5f75_6470,
        upper: 0x5f73_6574_5f76_3100,
    },
    "set",
    "a UDP socket set from udpSetCreate",
    "the set is closed",
);

fn socket_arg(call: &Call, index: usize) -> Result<u32, JsError> {
    Ok(integer_arg(call, index, "socket", u32::MAX as f64)? as u32)
}

/// An address argument, checked without resolving its zone: the zone is
/// looked up (if_nametoindex: a socket, an ioctl and a close) only when it
/// is not the socket's own, by the call that uses it.
fn address_arg(call: &Call, index: usize, name: &str) -> Result<String, JsError> {
    let a = call.string_arg(index, name)?;
    let ip = a.split_once('%').map_or(a.as_str(), |(ip, _)| ip);
    if ip.parse::<IpAddr>().is_err() {
        return Err(call.arg_error(
            name,
            "an IP address (fe80::1%eth0 for a scope)",
            &format!("{:?}", a),
        ));
    }
    Ok(a)
}

/// `udpSetCreate(): UdpSet`
pub fn udp_set_create(call: &Call) -> Result<napi_value, JsError> {
    let set = UdpSet::new().map_err(|e| call.io_error(&e))?;
    UDP.wrap(call, set)
}

/// `udpOpen(set: UdpSet, address: string, port: number, reuseAddress: boolean): number`
pub fn udp_open(call: &Call) -> Result<napi_value, JsError> {
    let address = address_arg(call, 1, "address")?;
    let port = integer_arg(call, 2, "port", u16::MAX as f64)? as u16;
    let reuse = call.boolean_arg(3, "reuseAddress")?;
    let id = UDP.with(call, |s| {
        s.open(&address, port, reuse).map_err(|e| call.io_error(&e))
    })?;
    call.number(id as f64)
}

/// The `address` and `port` arguments at `index` and `index + 1`.
fn endpoint_arg(call: &Call, index: usize) -> Result<(String, u16), JsError> {
    let address = address_arg(call, index, "address")?;
    let port = integer_arg(call, index + 1, "port", u16::MAX as f64)? as u16;
    Ok((address, port))
}

/// `udpConnect(set: UdpSet, socket: number, address: string, port: number): void`
pub fn udp_connect(call: &Call) -> Result<napi_value, JsError> {
    let id = socket_arg(call, 1)?;
    let (address, port) = endpoint_arg(call, 2)?;
    UDP.with(call, |s| {
        s.connect(id, &address, port).map_err(|e| call.io_error(&e))
    })?;
    call.undefined()
}

/// `udpLocalPort(set: UdpSet, socket: number): number`
pub fn udp_local_port(call: &Call) -> Result<napi_value, JsError> {
    let id = socket_arg(call, 1)?;
    let port = UDP.with(call, |s| s.local_port(id).map_err(|e| call.io_error(&e)))?;
    call.number(port as f64)
}

/// Which of the three sends a call is: they take the same first arguments.
#[derive(Clone, Copy, PartialEq)]
enum SendKind {
    /// `udpSend`: to a connected socket's peer.
    Connected,
    /// `udpSendTo`: to `address`:`port`.
    To,
    /// `udpSendFrom`: to `address`:`port` from address `from`.
    From,
}

/// The body of udpSend, udpSendTo and udpSendFrom: socket and bytes, then
/// the destination and the source as `kind` takes them.
fn send_call(call: &Call, kind: SendKind) -> Result<napi_value, JsError> {
    let id = socket_arg(call, 1)?;
    let bytes = call.buffer_arg(2, "bytes")?;
    let to = if kind == SendKind::Connected { None } else { Some(endpoint_arg(call, 3)?) };
    let from = if kind == SendKind::From { Some(address_arg(call, 5, "from")?) } else { None };
    UDP.with(call, |s| {
        let sent = match (&to, &from) {
            (Some((address, port)), Some(from)) => s.send_from(id, bytes, (address, *port), from),
            (Some((address, port)), None) => s.send(id, bytes, Some((address, *port))),
            (None, _) => s.send(id, bytes, None),
        };
        sent.map_err(|e| call.io_error(&e))
    })?;
    call.undefined()
}

/// `udpSend(set: UdpSet, socket: number, bytes: Buffer): void` (a connected socket)
pub fn udp_send(call: &Call) -> Result<napi_value, JsError> {
    send_call(call, SendKind::Connected)
}

/// `udpSendTo(set: UdpSet, socket: number, bytes: Buffer, address: string, port: number): void`
pub fn udp_send_to(call: &Call) -> Result<napi_value, JsError> {
    send_call(call, SendKind::To)
}

/// `udpSendFrom(set: UdpSet, socket: number, bytes: Buffer, address: string, port: number, from: string): void`
pub fn udp_send_from(call: &Call) -> Result<napi_value, JsError> {
    send_call(call, SendKind::From)
}

/// `udpPoll(set: UdpSet, max: number): UdpBatch`
pub fn udp_poll(call: &Call) -> Result<napi_value, JsError> {
    let max = integer_arg(call, 1, "max", 65_536.0)? as usize;
    let got = UDP.with(call, |s| s.poll(max).map_err(|e| call.io_error(&e)))?;
    let now = monotonic_ns();
    let mut items = Vec::with_capacity(got.len());
    for d in &got {
        items.push(call.object(&[
            ("socket", call.number(d.socket as f64)?),
            ("from", call.string(&d.from)?),
            ("port", call.number(d.port as f64)?),
            ("rxMs", call.number(ns_to_ms(d.rx_ns))?),
            ("ttl", call.number(d.ttl.unwrap_or(0) as f64)?),
            (
                "to",
                match &d.to {
                    Some(t) => call.string(t)?,
                    None => call.undefined()?,
                },
            ),
            ("data", call.buffer(&d.data)?),
        ])?);
    }
    call.object(&[
        ("nowMs", call.number(ns_to_ms(now))?),
        ("datagrams", call.array(&items)?),
    ])
}

/// `udpClose(set: UdpSet, socket: number): boolean` (false: no such socket)
pub fn udp_close(call: &Call) -> Result<napi_value, JsError> {
    let id = socket_arg(call, 1)?;
    let had = UDP.with(call, |s| Ok(s.close(id)))?;
    call.boolean(had)
}

/// `udpStats(set: UdpSet): UdpStats`
pub fn udp_stats(call: &Call) -> Result<napi_value, JsError> {
    let (sockets, c) = UDP.with(call, |s| Ok((s.len(), s.counters)))?;
    call.counts(&[
        ("sockets", sockets as u64),
        ("opened", c.opened),
        ("closed", c.closed),
        ("received", c.received),
        ("truncated", c.truncated),
        ("receiveErrors", c.receive_errors),
        ("sent", c.sent),
        ("sendErrors", c.send_errors),
    ])
}

/// `udpSetClose(set: UdpSet): void`: closes every socket now; closing twice is fine.
pub fn udp_set_close(call: &Call) -> Result<napi_value, JsError> {
    UDP.close(call)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem;
    use std::net::Ipv4Addr;

    fn sockaddr_bytes(sa: &SockaddrIn6) -> [u8; 28] {
        // SAFETY: SockaddrIn6 is 28 bytes of plain old data.
        unsafe { mem::transmute(*sa) }
    }

    fn from_bytes(b: [u8; 28]) -> SockaddrIn6 {
        // SAFETY: any 28 bytes are a valid SockaddrIn6.
        unsafe { mem::transmute(b) }
    }

    #[test]
    fn senders_from_sockaddr_bytes() {
        // sockaddr_in: family 2 (host order), port 0x1234 and 192.0.2.7 (network order).
        let mut b = [0u8; 28];
        b[..8].copy_from_slice(&[2, 0, 0x12, 0x34, 192, 0, 2, 7]);
        assert_eq!(
            peer_of(&from_bytes(b)),
            Some(Peer {
                ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                scope: 0,
                port: 0x1234
            })
        );
        // sockaddr_in6: family 10, port 862, flowinfo, fe80::2:0, scope 7.
        let mut b = [0u8; 28];
        b[0..2].copy_from_slice(&10u16.to_ne_bytes());
        b[2..4].copy_from_slice(&862u16.to_be_bytes());
        b[8] = 0xfe;
        b[9] = 0x80;
        b[21] = 2;
        b[24..28].copy_from_slice(&7u32.to_ne_bytes());
        let p = peer_of(&from_bytes(b)).unwrap();
        assert_eq!(
            p,
            Peer {
                ip: "fe80::2:0".parse().unwrap(),
                scope: 7,
                port: 862
            }
        );
        assert_eq!(
            peer_text(p.ip, p.scope, Some("tn1-2-00")),
            "fe80::2:0%tn1-2-00"
        );
        assert_eq!(
            peer_text(p.ip, p.scope, None),
            "fe80::2:0%7",
            "no name: the index"
        );
        // An IPv4 sender on a dual-stack socket: ::ffff:198.18.1.2 reads as 198.18.1.2.
        let mut b = [0u8; 28];
        b[0..2].copy_from_slice(&10u16.to_ne_bytes());
        b[2..4].copy_from_slice(&4000u16.to_be_bytes());
        b[18..24].copy_from_slice(&[0xff, 0xff, 198, 18, 1, 2]);
        let p = peer_of(&from_bytes(b)).unwrap();
        assert_eq!(
            p,
            Peer {
                ip: IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)),
                scope: 0,
                port: 4000
            }
        );
        assert_eq!(
            peer_text(p.ip, p.scope, Some("eth0")),
            "198.18.1.2",
            "IPv4 has no zone"
        );
        // Unknown family.
        let mut b = [0u8; 28];
        b[0..2].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(peer_of(&from_bytes(b)), None);
    }

    #[test]
    fn targets_match_the_socket_family() {
        let (sa, len) = target_sockaddr(true, "198.18.1.2".parse().unwrap(), 862, 0).unwrap();
        let b = sockaddr_bytes(&sa);
        assert_eq!(len, 28);
        assert_eq!(&b[2..4], &[0x03, 0x5e], "port 862 in network order");
        assert_eq!(
            &b[8..24],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 1, 2],
            "IPv4-mapped"
        );
        let (sa, len) =
            target_sockaddr(false, "::ffff:198.18.1.2".parse().unwrap(), 862, 0).unwrap();
        assert_eq!(
            (len, &sockaddr_bytes(&sa)[4..8]),
            (16, &[198u8, 18, 1, 2][..])
        );
        assert!(target_sockaddr(false, "fe80::1".parse().unwrap(), 862, 3).is_err());
        let (sa, _) = target_sockaddr(true, "fe80::1".parse().unwrap(), 862, 3).unwrap();
        assert_eq!(
            &sockaddr_bytes(&sa)[24..28],
            &3u32.to_ne_bytes(),
            "scope kept"
        );
    }

    fn wait_for(set: &mut UdpSet, n: usize) -> Vec<Datagram> {
        let mut got = Vec::new();
        let deadline = monotonic_ns() + 2_000_000_000;
        while got.len() < n && monotonic_ns() < deadline {
            got.extend(set.poll(64).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        got
    }

    /// Over loopback: sender and receiver, the kernel timestamp before the
    /// read, and a connected socket taking its peer's datagrams from the
    /// listening one it shares address and port with (what the reflector's
    /// reply sockets rely on).
    #[test]
    fn loopback_round_trip_timestamps_and_connected_preference() {
        let mut set = UdpSet::new().unwrap();
        let listen = set.open("127.0.0.1", 0, true).unwrap();
        let port = set.local_port(listen).unwrap();
        assert!(port > 0);
        let a = set.open("127.0.0.1", 0, false).unwrap();
        let b = set.open("127.0.0.1", 0, false).unwrap();
        let a_port = set.local_port(a).unwrap();
        set.connect(a, "127.0.0.1", port).unwrap();
        let before = monotonic_ns();
        set.send(a, b"probe-a", None).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let got = wait_for(&mut set, 1);
        let after = monotonic_ns();
        assert_eq!(got.len(), 1);
        let d = &got[0];
        assert_eq!(
            (d.socket, d.from.as_str(), d.port, &d.data[..]),
            (listen, "127.0.0.1", a_port, &b"probe-a"[..])
        );
        assert_eq!(d.ttl, Some(64), "TTL of a loopback datagram");
        assert!(
            d.rx_ns >= before && d.rx_ns + 15_000_000 <= after,
            "rx {} not in [{}, {} - 15 ms]: the kernel's time, not the read's",
            d.rx_ns,
            before,
            after
        );
        // A reply socket for a: same address and port, connected to a.
        let reply = set.open("127.0.0.1", port, true).unwrap();
        set.connect(reply, "127.0.0.1", a_port).unwrap();
        set.send(a, b"probe-a2", None).unwrap();
        set.send(b, b"probe-b", Some(("127.0.0.1", port))).unwrap();
        let mut got = wait_for(&mut set, 2);
        got.sort_by_key(|d| d.data.clone());
        let seen: Vec<(u32, &[u8])> = got.iter().map(|d| (d.socket, &d.data[..])).collect();
        assert_eq!(
            seen,
            vec![(reply, &b"probe-a2"[..]), (listen, &b"probe-b"[..])],
            "a's to its connected socket, b's to the listener"
        );
        set.send(reply, b"reply", None).unwrap();
        let got = wait_for(&mut set, 1);
        assert_eq!(
            (got[0].socket, got[0].port, &got[0].data[..]),
            (a, port, &b"reply"[..]),
            "the reply leaves from the shared port"
        );
        assert!(
            set.send(listen, b"x", None).is_err(),
            "an unconnected socket needs a destination"
        );
        assert!(set.close(reply) && !set.close(reply));
        assert!(set.send(reply, b"x", None).is_err(), "a closed socket");
        assert_eq!(set.counters.received, 4);
    }

    #[test]
    fn ipv6_dual_stack_and_bad_addresses() {
        let mut set = UdpSet::new().unwrap();
        let any = match set.open("::", 0, true) {
            Ok(id) => id,
            Err(e) => {
                eprintln!("skipped: no IPv6: {}", e);
                return;
            }
        };
        let port = set.local_port(any).unwrap();
        let v4 = set.open("127.0.0.1", 0, false).unwrap();
        set.send(v4, b"four", Some(("127.0.0.1", port))).unwrap();
        let got = wait_for(&mut set, 1);
        assert_eq!(
            (got[0].from.as_str(), &got[0].data[..]),
            ("127.0.0.1", &b"four"[..]),
            "a mapped sender reads as IPv4"
        );
        set.send(any, b"back", Some(("127.0.0.1", got[0].port)))
            .unwrap();
        let got = wait_for(&mut set, 1);
        assert_eq!(
            (got[0].socket, &got[0].data[..]),
            (v4, &b"back"[..]),
            "an IPv4 target of a dual-stack socket"
        );
        if let Ok(six) = set.open("::1", 0, false) {
            set.send(six, b"six", Some(("::1", port))).unwrap();
            let got = wait_for(&mut set, 1);
            assert_eq!(
                (got[0].from.as_str(), got[0].ttl),
                ("::1", Some(64)),
                "IPv6 sender and hop limit"
            );
        }
        for bad in ["", "::g", "fe80::1%no-such-if0", "1.2.3.4%lo"] {
            assert!(set.open(bad, 0, false).is_err(), "{:?} must not open", bad);
        }
        assert!(
            set.send(v4, b"x", Some(("::1", 1))).is_err(),
            "an IPv6 target of an IPv4 socket"
        );
        assert!(set.connect(999, "::1", 1).is_err(), "an unknown socket");
    }
}
