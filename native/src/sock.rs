//! Raw sockets for tern-paird: VRRP advertisements (IP protocol 112) on one
//! interface, and prebuilt Ethernet frames (gratuitous ARP, unsolicited NA)
//! through AF_PACKET.
//!
//! A VRRP socket is a raw socket of IP protocol 112 pinned to the VRRP
//! interface (`SO_BINDTODEVICE`), member of the VRRP group on it
//! (224.0.0.18 / ff02::12), sending with TTL / hop limit 255 (RFC 9568
//! 5.1.1.3, 5.1.2.3: receivers drop anything else) and without multicast
//! loopback (our own adverts would only be discarded). It is never bound to
//! an address: a raw socket bound to one receives only datagrams *to* that
//! address, which would hide the group. The source of each advert is chosen
//! per send with `IP_PKTINFO` / `IPV6_PKTINFO`, so it is exactly the address
//! the advert's checksum was computed over, whatever the routing table says.
//!
//! Receiving: a thread per socket blocks in poll(2) on the socket and on an
//! eventfd that close() signals, reads each datagram with its ancillary data
//! (interface, destination, TTL / hop limit) and hands it to JS through a
//! thread-safe function. Why a thread rather than JS polling a non-blocking
//! descriptor: a backup must react to the master's adverts and a master to a
//! higher priority within milliseconds, and a poll timer short enough for
//! that would wake the daemon hundreds of times a second for ~10 packets.
//! The thread cannot take Node down: its body runs inside catch_unwind (a
//! panic stops receiving, is counted and shows in `vrrpStats`), delivery
//! never blocks (a full queue drops the datagram and counts it), and the
//! JS-side conversion runs inside the same boundary as every export.
//!
//! The same thread keeps a master's adverts going while JS is held up (a
//! garbage collection, a starved CPU): with the beacon armed, when no advert
//! went out for 1.25 advert intervals it resends the last one sent to each
//! destination, for at most `maxStallMs` after the last advert JS sent. A
//! wedged daemon thus still hands over, only a stalled one does not flap.
//!
//! IPv4 raw sockets deliver the whole datagram, IP header first; IPv6 ones
//! only the payload. Both are handed to JS as read, with the addresses and
//! TTL / hop limit from the control messages alongside.

use std::ffi::{c_int, c_void, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::handle::HandleKind;
use crate::napi::{napi_type_tag, napi_value, Call, JsError, Queued, Threadsafe};
use crate::sys::{
    self, address_of, is_link_local_v6, read_ancillary, set_option, sockaddr, Control, Pollfd, AF_INET, AF_INET6,
    IPPROTO_IP, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO, IP_PKTINFO, IP_RECVTTL, IP_TTL, POLLERR, POLLIN,
    POLLNVAL, SOCK_RAW, SOL_SOCKET, SO_BINDTODEVICE,
};

// Linux constants (asm-generic; the same on x86_64 and arm64) only VRRP and
// AF_PACKET use; the shared ones are in sys.rs.
const AF_PACKET: c_int = 17;
const EFD_NONBLOCK: c_int = 0o4000;
const EFD_CLOEXEC: c_int = 0o2000000;
const IP_MULTICAST_IF: c_int = 32;
const IP_MULTICAST_TTL: c_int = 33;
const IP_MULTICAST_LOOP: c_int = 34;
const IP_ADD_MEMBERSHIP: c_int = 35;
const IPV6_UNICAST_HOPS: c_int = 16;
const IPV6_MULTICAST_IF: c_int = 17;
const IPV6_MULTICAST_HOPS: c_int = 18;
const IPV6_MULTICAST_LOOP: c_int = 19;
const IPV6_ADD_MEMBERSHIP: c_int = 20;

/// IP protocol number of VRRP.
pub const VRRP_PROTOCOL: c_int = 112;
/// TTL / hop limit of every advert.
pub const VRRP_TTL: c_int = 255;
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Room for the largest advert (60-byte IPv4 header, 8 + 255 x 16 bytes of
/// VRRP) and more: anything longer is not VRRP and is counted truncated.
const RECEIVE_BUFFER: usize = 8192;
/// Datagrams queued towards JS before new ones are dropped; adverts come at
/// most every 10 ms, so only a flood fills it.
const DELIVERY_QUEUE: usize = 256;
/// Datagrams read per wake-up before polling again (and seeing a close).
const BURST: usize = 64;
/// Ethernet header; the shortest frame etherSend takes.
pub const ETHER_HEADER: usize = 14;
/// Largest frame: a 9000-byte jumbo payload and its header.
pub const ETHER_MAX: usize = 9018;

extern "C" {
    fn eventfd(initval: u32, flags: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
}

// --- Byte layouts (pure, tested below) ---------------------------------------

/// `struct ip_mreqn` joining `group` on interface `ifindex` (any local address).
pub fn ip_mreqn(group: Ipv4Addr, ifindex: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&group.octets());
    b[8..12].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    b
}

/// `struct ipv6_mreq` joining `group` on interface `ifindex`.
pub fn ipv6_mreq(group: Ipv6Addr, ifindex: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[0..16].copy_from_slice(&group.octets());
    b[16..20].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

/// `struct sockaddr_ll` sending `frame` out of `ifindex`: the EtherType and
/// destination MAC are read from the frame's own Ethernet header.
pub fn sockaddr_ll(frame: &[u8], ifindex: u32) -> Result<[u8; 20], String> {
    if frame.len() < ETHER_HEADER || frame.len() > ETHER_MAX {
        return Err(format!("expected a frame of {}-{} bytes; got {}", ETHER_HEADER, ETHER_MAX, frame.len()));
    }
    let mut b = [0u8; 20];
    b[0..2].copy_from_slice(&(AF_PACKET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&frame[12..14]); // sll_protocol, network order as in the frame
    b[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    // sll_hatype and sll_pkttype are ignored on send.
    b[11] = 6; // sll_halen
    b[12..18].copy_from_slice(&frame[0..6]);
    Ok(b)
}

// --- System calls --------------------------------------------------------------

/// The index of interface `name`.
pub fn interface_index(name: &str) -> Result<u32, String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!("device: expected an interface name of 1-15 bytes; got {:?}", name));
    }
    if name.contains('\0') {
        return Err(format!("device: {:?} holds a NUL", name));
    }
    sys::interface_index(name)
}

fn bind_to_device(fd: RawFd, device: &str) -> Result<(), String> {
    let name = CString::new(device).map_err(|_| format!("device: {:?} holds a NUL", device))?;
    set_option(fd, SOL_SOCKET, SO_BINDTODEVICE, name.as_bytes_with_nul(), &format!("SO_BINDTODEVICE {}", device))
}

fn new_socket(domain: c_int, protocol: c_int, what: &str) -> Result<OwnedFd, String> {
    sys::open_socket(domain, SOCK_RAW, protocol)
        .map_err(|e| format!("{} socket: {} (needs CAP_NET_RAW)", what, e))
}

// --- The VRRP socket -------------------------------------------------------------

/// Counters shared between the receive thread and JS.
#[derive(Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub delivered: AtomicU64,
    /// Datagrams dropped because the queue towards JS was full or closing.
    pub dropped: AtomicU64,
    pub truncated: AtomicU64,
    pub receive_errors: AtomicU64,
    pub sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Adverts the beacon sent while JS was held up.
    pub beacon_sent: AtomicU64,
    /// True while the receive thread runs.
    pub receiving: AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

/// One datagram as read, for JS.
pub struct Datagram {
    /// IPv4: the whole datagram, header first. IPv6: the VRRP message.
    pub data: Vec<u8>,
    pub src: IpAddr,
    pub dst: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub ifindex: u32,
}

/// The beacon: what to resend, and when, while JS is late.
#[derive(Default)]
pub struct Beacon {
    /// The advert interval; None while the beacon is off.
    pub interval: Option<Duration>,
    /// How long after JS's last send the beacon keeps going.
    pub max_stall: Duration,
    /// The last advert sent to each destination: (source, destination, payload).
    pub adverts: Vec<(IpAddr, IpAddr, Vec<u8>)>,
    /// The last advert sent by anyone, and by JS.
    pub last_send: Option<Instant>,
    pub last_js_send: Option<Instant>,
}

/// What the beacon should do at `now`.
#[derive(Debug, PartialEq)]
pub enum BeaconStep {
    /// Off, or nothing sent yet: wait for the socket only.
    Idle,
    /// Wake up again after this long.
    Wait(Duration),
    /// Resend the last adverts now.
    Send,
    /// JS has been silent longer than max_stall: stop covering for it.
    Expired,
}

impl Beacon {
    /// Resend once no advert went out for 1.25 intervals: JS normally sends
    /// every interval, and a backup waits 3 intervals and more.
    pub fn step(&self, now: Instant) -> BeaconStep {
        let (interval, last, last_js) = match (self.interval, self.last_send, self.last_js_send) {
            (Some(i), Some(l), Some(j)) if !self.adverts.is_empty() => (i, l, j),
            _ => return BeaconStep::Idle,
        };
        if now.saturating_duration_since(last_js) > self.max_stall {
            return BeaconStep::Expired;
        }
        let due = last + interval + interval / 4;
        if now >= due {
            BeaconStep::Send
        } else {
            BeaconStep::Wait(due - now)
        }
    }

    /// Records one advert sent by JS.
    pub fn record(&mut self, src: IpAddr, dst: IpAddr, payload: &[u8], now: Instant) {
        match self.adverts.iter_mut().find(|a| a.1 == dst) {
            Some(a) => {
                a.0 = src;
                a.2 = payload.to_vec();
            }
            None => self.adverts.push((src, dst, payload.to_vec())),
        }
        self.last_send = Some(now);
        self.last_js_send = Some(now);
    }
}

/// What the socket and its thread share.
struct Shared {
    fd: OwnedFd,
    /// An eventfd: rung to stop the thread or to make it look at the beacon again.
    bell: OwnedFd,
    stop: AtomicBool,
    device: String,
    ifindex: u32,
    v6: bool,
    counters: Counters,
    beacon: Mutex<Beacon>,
}

impl Shared {
    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to our own eventfd.
        unsafe { write(self.bell.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn send_raw(&self, source: IpAddr, destination: IpAddr, payload: &[u8]) -> Result<(), String> {
        let scope = match destination {
            IpAddr::V6(d) if is_link_local_v6(&d) || d.is_multicast() => self.ifindex,
            _ => 0,
        };
        let (sa, salen) = sockaddr(destination, 0, scope);
        if let Err(e) = sys::send_from(self.fd.as_raw_fd(), payload, &sa, salen, source, self.ifindex) {
            self.counters.send_errors.fetch_add(1, Ordering::Relaxed);
            return Err(format!("sendmsg from {} to {} on {}: {}", source, destination, self.device, e));
        }
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A raw protocol-112 socket on one interface and its receive thread.
pub struct VrrpSocket {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl VrrpSocket {
    /// Opens the socket on `device` and starts the receive thread, which
    /// hands each datagram to `deliver` (false: it was dropped).
    pub fn open<F>(device: &str, v6: bool, deliver: F) -> Result<VrrpSocket, String>
    where
        F: FnMut(Datagram) -> bool + Send + 'static,
    {
        let ifindex = interface_index(device)?;
        let fd = new_socket(if v6 { AF_INET6 } else { AF_INET }, VRRP_PROTOCOL, "VRRP")?;
        let s = fd.as_raw_fd();
        bind_to_device(s, device)?;
        const ON: c_int = 1;
        const OFF: c_int = 0;
        if v6 {
            set_option(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &(ifindex as c_int), "IPV6_MULTICAST_IF")?;
            set_option(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &VRRP_TTL, "IPV6_MULTICAST_HOPS")?;
            set_option(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &VRRP_TTL, "IPV6_UNICAST_HOPS")?;
            set_option(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &OFF, "IPV6_MULTICAST_LOOP")?;
            set_option(s, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &ipv6_mreq(GROUP_V6, ifindex), "IPV6_ADD_MEMBERSHIP ff02::12")?;
            set_option(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &ON, "IPV6_RECVPKTINFO")?;
            set_option(s, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &ON, "IPV6_RECVHOPLIMIT")?;
        } else {
            let mreqn = ip_mreqn(Ipv4Addr::UNSPECIFIED, ifindex);
            set_option(s, IPPROTO_IP, IP_MULTICAST_IF, &mreqn, "IP_MULTICAST_IF")?;
            set_option(s, IPPROTO_IP, IP_MULTICAST_TTL, &VRRP_TTL, "IP_MULTICAST_TTL")?;
            set_option(s, IPPROTO_IP, IP_TTL, &VRRP_TTL, "IP_TTL")?;
            set_option(s, IPPROTO_IP, IP_MULTICAST_LOOP, &OFF, "IP_MULTICAST_LOOP")?;
            set_option(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &ip_mreqn(GROUP_V4, ifindex), "IP_ADD_MEMBERSHIP 224.0.0.18")?;
            set_option(s, IPPROTO_IP, IP_PKTINFO, &ON, "IP_PKTINFO")?;
            set_option(s, IPPROTO_IP, IP_RECVTTL, &ON, "IP_RECVTTL")?;
        }
        // SAFETY: plain eventfd(2); owned at once.
        let efd = unsafe { eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
        if efd < 0 {
            return Err(format!("eventfd: {}", io::Error::last_os_error()));
        }
        // SAFETY: efd is a fresh descriptor nobody else owns.
        let bell = unsafe { OwnedFd::from_raw_fd(efd) };
        let shared = Arc::new(Shared {
            fd,
            bell,
            stop: AtomicBool::new(false),
            device: device.to_string(),
            ifindex,
            v6,
            counters: Counters::default(),
            beacon: Mutex::new(Beacon::default()),
        });
        shared.counters.receiving.store(true, Ordering::SeqCst);
        let rx = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("tern-vrrp-{}", device))
            .spawn(move || {
                let mut deliver = deliver;
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| receive_loop(&rx, &mut deliver)));
                if let Err(payload) = outcome {
                    let text = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".to_string());
                    rx.counters.error(format!("receive thread panicked: {}", text));
                }
                rx.counters.receiving.store(false, Ordering::SeqCst);
                // deliver (with its thread-safe function) is dropped here, on
                // this thread, once nothing more will be queued.
                drop(deliver);
            })
            .map_err(|e| format!("receive thread: {}", e))?;
        Ok(VrrpSocket { shared, thread: Some(thread) })
    }

    pub fn device(&self) -> &str {
        &self.shared.device
    }

    pub fn ifindex(&self) -> u32 {
        self.shared.ifindex
    }

    pub fn family(&self) -> u8 {
        if self.shared.v6 {
            6
        } else {
            4
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Sends one VRRP message from `source` (an address of this box on the
    /// interface) to `destination` (the group or a unicast peer).
    pub fn send(&self, source: IpAddr, destination: IpAddr, payload: &[u8]) -> Result<(), String> {
        if source.is_ipv6() != self.shared.v6 || destination.is_ipv6() != self.shared.v6 {
            return Err(format!(
                "source {} and destination {} must both be IPv{} like the socket",
                source,
                destination,
                self.family()
            ));
        }
        self.shared.send_raw(source, destination, payload)?;
        let armed = {
            let mut b = self.shared.beacon.lock().unwrap_or_else(|p| p.into_inner());
            b.record(source, destination, payload, Instant::now());
            b.interval.is_some()
        };
        // The thread may be sleeping without a deadline (nothing to resend
        // before this advert): make it compute one.
        if armed {
            self.shared.ring();
        }
        Ok(())
    }

    /// Arms the beacon (interval > 0) or turns it off (interval 0).
    pub fn set_beacon(&self, interval: Duration, max_stall: Duration) {
        {
            let mut b = self.shared.beacon.lock().unwrap_or_else(|p| p.into_inner());
            if interval.is_zero() {
                *b = Beacon::default();
            } else {
                b.interval = Some(interval);
                b.max_stall = max_stall;
            }
        }
        self.shared.ring();
    }

    /// Stops the receive thread and waits for it; the descriptors close when
    /// the last holder drops them.
    fn stop_thread(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shared.stop.store(true, Ordering::SeqCst);
            self.shared.ring();
            // The thread wakes from poll at once; a panic inside it was
            // already caught, so join cannot fail in a way worth reporting.
            let _ = t.join();
        }
    }
}

impl Drop for VrrpSocket {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Milliseconds for poll(2), rounded up so the beacon never wakes early.
fn poll_timeout(d: Duration) -> c_int {
    let ms = d.as_micros().div_ceil(1000);
    ms.min(60_000) as c_int
}

/// Resends the last adverts if JS is late (see Beacon); returns how long poll may sleep.
fn beacon_tick(shared: &Shared) -> c_int {
    let now = Instant::now();
    let mut b = shared.beacon.lock().unwrap_or_else(|p| p.into_inner());
    match b.step(now) {
        BeaconStep::Idle | BeaconStep::Expired => -1,
        BeaconStep::Wait(d) => poll_timeout(d),
        BeaconStep::Send => {
            for (src, dst, payload) in &b.adverts {
                if shared.send_raw(*src, *dst, payload).is_ok() {
                    shared.counters.beacon_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            b.last_send = Some(now);
            b.interval.map(|i| poll_timeout(i + i / 4)).unwrap_or(-1)
        }
    }
}

/// The receive thread: poll, drain, deliver, keep the beacon; until stopped.
fn receive_loop(shared: &Shared, deliver: &mut dyn FnMut(Datagram) -> bool) {
    let fd = shared.fd.as_raw_fd();
    let bell = shared.bell.as_raw_fd();
    let counters = &shared.counters;
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    let mut control: Control = [0u64; 16];
    loop {
        let timeout = beacon_tick(shared);
        let mut fds = [
            Pollfd { fd, events: POLLIN, revents: 0 },
            Pollfd { fd: bell, events: POLLIN, revents: 0 },
        ];
        let r = sys::poll_fds(&mut fds, timeout);
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if let Err(err) = r {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            counters.receive_errors.fetch_add(1, Ordering::Relaxed);
            counters.error(format!("poll: {}", err));
            return;
        }
        if fds[1].revents != 0 {
            let mut v = 0u64;
            // SAFETY: reading 8 bytes from our own eventfd clears it.
            unsafe { read(bell, (&mut v as *mut u64).cast(), 8) };
        }
        if fds[0].revents & (POLLERR | POLLNVAL) != 0 && fds[0].revents & POLLIN == 0 {
            counters.receive_errors.fetch_add(1, Ordering::Relaxed);
            counters.error(format!("poll: socket revents {:#x}", fds[0].revents));
            if fds[0].revents & POLLNVAL != 0 {
                return;
            }
        }
        if fds[0].revents & POLLIN == 0 {
            continue;
        }
        for _ in 0..BURST {
            let m = match sys::receive(fd, &mut buf, &mut control) {
                Ok(m) => m,
                Err(err) => match err.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        // A transient error (e.g. ENOBUFS); count it and keep receiving.
                        counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                        counters.error(format!("recvmsg: {}", err));
                        break;
                    }
                },
            };
            counters.received.fetch_add(1, Ordering::Relaxed);
            if m.truncated {
                counters.truncated.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let src = match address_of(&m.from) {
                Some(a) if a.is_ipv6() == shared.v6 => a,
                _ => {
                    counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let anc = read_ancillary(sys::control_bytes(&control), m.control_len);
            let d = Datagram { data: buf[..m.len].to_vec(), src, dst: anc.dst, ttl: anc.ttl, ifindex: anc.ifindex.unwrap_or(0) };
            if deliver(d) {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

// --- The AF_PACKET socket ----------------------------------------------------------

/// A send-only packet socket on one interface (protocol 0: it receives nothing).
pub struct EtherSocket {
    fd: OwnedFd,
    device: String,
    ifindex: u32,
    pub sent: u64,
}

impl EtherSocket {
    pub fn open(device: &str) -> Result<EtherSocket, String> {
        let ifindex = interface_index(device)?;
        let fd = new_socket(AF_PACKET, 0, "packet")?;
        Ok(EtherSocket { fd, device: device.to_string(), ifindex, sent: 0 })
    }

    /// Sends one whole Ethernet frame (header included) out of the interface.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), String> {
        let sa = sockaddr_ll(frame, self.ifindex)?;
        sys::send_to(self.fd.as_raw_fd(), frame, &sa, sa.len() as u32)
            .map_err(|e| format!("sendto on {}: {}", self.device, e))?;
        self.sent += 1;
        Ok(())
    }
}

// --- The JS functions (registered in lib.rs) ----------------------------------------

/// A VRRP socket handle, from vrrpOpen until vrrpClose; the tag is
/// "tern_vrr", "p_sock_1".
pub(crate) static VRRP: HandleKind<VrrpSocket> = HandleKind::new(
    napi_type_tag { lower: 0x7465_726e_5f76_7272, upper: 0x705f_736f_636b_5f31 },
    "socket",
    "a VRRP socket from vrrpOpen",
    "the socket is closed",
);
/// A packet socket handle, from etherOpen until etherClose; the tag is
/// "tern_eth", "r_sock_1".
pub(crate) static ETHER: HandleKind<EtherSocket> = HandleKind::new(
    napi_type_tag { lower: 0x7465_726e_5f65_7468, upper: 0x725f_736f_636b_5f31 },
    "socket",
    "a packet socket from etherOpen",
    "the socket is closed",
);

fn address_arg(call: &Call, index: usize, name: &str) -> Result<IpAddr, JsError> {
    let text = call.string_arg(index, name)?;
    text.parse::<IpAddr>().map_err(|_| call.arg_error(name, "an IPv4 or IPv6 address", &format!("{:?}", text)))
}

/// What JS receives for one datagram.
fn datagram_to_js(call: &Call, d: Datagram) -> Result<napi_value, JsError> {
    let dst = d.dst.map(|a| a.to_string()).unwrap_or_default();
    call.object(&[
        ("data", call.buffer(&d.data)?),
        ("src", call.string(&d.src.to_string())?),
        ("dst", call.string(&dst)?),
        ("ttl", call.number(d.ttl.map(f64::from).unwrap_or(-1.0))?),
        ("ifindex", call.number(d.ifindex as f64)?),
    ])
}

/// `vrrpOpen(device: string, family: number, onPacket: (p: VrrpPacket) => void): VrrpSocket`
pub fn vrrp_open(call: &Call) -> Result<napi_value, JsError> {
    let device = call.string_arg(0, "device")?;
    let family = call.number_arg(1, "family")?;
    if family != 4.0 && family != 6.0 {
        return Err(call.arg_error("family", "4 or 6", &format!("{}", family)));
    }
    let callback = call.function_arg(2, "onPacket")?;
    let tsfn: Threadsafe<Datagram> = call.threadsafe(callback, DELIVERY_QUEUE, datagram_to_js)?;
    let sock = VrrpSocket::open(&device, family == 6.0, move |d| matches!(tsfn.call(d), Queued::Yes))
        .map_err(|e| call.io_error(&e))?;
    VRRP.wrap(call, sock)
}

/// `vrrpSend(socket: VrrpSocket, source: string, destination: string, payload: Buffer): void`
pub fn vrrp_send(call: &Call) -> Result<napi_value, JsError> {
    let source = address_arg(call, 1, "source")?;
    let destination = address_arg(call, 2, "destination")?;
    let payload = call.buffer_arg(3, "payload")?;
    if payload.is_empty() || payload.len() > 65_000 {
        return Err(call.arg_error("payload", "a Buffer of 1-65000 bytes", &format!("{} bytes", payload.len())));
    }
    VRRP.with(call, |s| s.send(source, destination, payload).map_err(|e| call.io_error(&e)))?;
    call.undefined()
}

/// `vrrpStats(socket: VrrpSocket): VrrpStats`
pub fn vrrp_stats(call: &Call) -> Result<napi_value, JsError> {
    VRRP.with(call, |s| {
        let (device, ifindex, family, counters) = (s.device(), s.ifindex(), s.family(), s.counters());
        let n = |a: &AtomicU64| call.number(a.load(Ordering::Relaxed) as f64);
        let last = counters.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        call.object(&[
            ("device", call.string(device)?),
            ("ifindex", call.number(ifindex as f64)?),
            ("family", call.number(family as f64)?),
            ("receiving", call.boolean(counters.receiving.load(Ordering::SeqCst))?),
            ("received", n(&counters.received)?),
            ("delivered", n(&counters.delivered)?),
            ("dropped", n(&counters.dropped)?),
            ("truncated", n(&counters.truncated)?),
            ("receiveErrors", n(&counters.receive_errors)?),
            ("sent", n(&counters.sent)?),
            ("sendErrors", n(&counters.send_errors)?),
            ("beaconSent", n(&counters.beacon_sent)?),
            ("lastError", match last {
                Some(e) => call.string(&e)?,
                None => call.null()?,
            }),
        ])
    })
}

/// `vrrpBeacon(socket: VrrpSocket, intervalMs: number, maxStallMs: number): void`
pub fn vrrp_beacon(call: &Call) -> Result<napi_value, JsError> {
    let interval = call.number_arg(1, "intervalMs")?;
    let max_stall = call.number_arg(2, "maxStallMs")?;
    for (name, v) in [("intervalMs", interval), ("maxStallMs", max_stall)] {
        if !(v.is_finite() && (0.0..=3_600_000.0).contains(&v)) {
            return Err(call.arg_error(name, "a number of ms from 0 to 3600000", &format!("{}", v)));
        }
    }
    VRRP.with(call, |s| {
        s.set_beacon(Duration::from_micros((interval * 1000.0) as u64), Duration::from_micros((max_stall * 1000.0) as u64));
        Ok(())
    })?;
    call.undefined()
}

/// `vrrpClose(socket: VrrpSocket): void`: stops the receive thread and closes; closing twice is fine.
pub fn vrrp_close(call: &Call) -> Result<napi_value, JsError> {
    VRRP.close(call)
}

/// `etherOpen(device: string): EtherSocket`
pub fn ether_open(call: &Call) -> Result<napi_value, JsError> {
    let device = call.string_arg(0, "device")?;
    let sock = EtherSocket::open(&device).map_err(|e| call.io_error(&e))?;
    ETHER.wrap(call, sock)
}

/// `etherSend(socket: EtherSocket, frame: Buffer): void`
pub fn ether_send(call: &Call) -> Result<napi_value, JsError> {
    // The socket is checked before the frame and used after it.
    let socket = ETHER.arg(call)?;
    let frame = call.buffer_arg(1, "frame")?;
    if frame.len() < ETHER_HEADER || frame.len() > ETHER_MAX {
        return Err(call.arg_error("frame", &format!("a Buffer of {}-{} bytes", ETHER_HEADER, ETHER_MAX), &format!("{} bytes", frame.len())));
    }
    ETHER.with_open(call, socket, |s| s.send(frame).map_err(|e| call.io_error(&e)))?;
    call.undefined()
}

/// `etherClose(socket: EtherSocket): void`
pub fn ether_close(call: &Call) -> Result<napi_value, JsError> {
    ETHER.close(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_requests() {
        // struct ip_mreqn: imr_multiaddr, imr_address (any), imr_ifindex.
        let m = ip_mreqn(GROUP_V4, 7);
        let mut want = [0u8; 12];
        want[0..4].copy_from_slice(&[224, 0, 0, 18]);
        want[8..12].copy_from_slice(&7i32.to_ne_bytes());
        assert_eq!(m, want, "got {:02x?}; want {:02x?}", m, want);
        // struct ipv6_mreq: the group, then the interface index.
        let m6 = ipv6_mreq(GROUP_V6, 0x0102_0304);
        assert_eq!(&m6[0..2], &[0xff, 0x02]);
        assert_eq!(m6[15], 0x12);
        assert!(m6[2..15].iter().all(|&b| b == 0));
        assert_eq!(&m6[16..20], &0x0102_0304u32.to_ne_bytes());
    }

    #[test]
    fn packet_address_comes_from_the_frame() {
        // A gratuitous ARP: broadcast destination, EtherType 0x0806.
        let mut frame = vec![0u8; 42];
        frame[0..6].copy_from_slice(&[0xff; 6]);
        frame[6..12].copy_from_slice(&[0, 0, 0x5e, 0, 1, 1]);
        frame[12..14].copy_from_slice(&[0x08, 0x06]);
        let sa = sockaddr_ll(&frame, 3).unwrap();
        let mut want = [0u8; 20];
        want[0..2].copy_from_slice(&17u16.to_ne_bytes());
        want[2..4].copy_from_slice(&[0x08, 0x06]);
        want[4..8].copy_from_slice(&3i32.to_ne_bytes());
        want[11] = 6;
        want[12..18].copy_from_slice(&[0xff; 6]);
        assert_eq!(sa, want, "got {:02x?}; want {:02x?}", sa, want);
        // An unsolicited NA to 33:33:00:00:00:01, EtherType 0x86dd.
        frame[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&[0x86, 0xdd]);
        let sa = sockaddr_ll(&frame, 3).unwrap();
        assert_eq!(&sa[2..4], &[0x86, 0xdd]);
        assert_eq!(&sa[12..18], &[0x33, 0x33, 0, 0, 0, 1]);
        for len in [0, 13, ETHER_MAX + 1] {
            assert!(sockaddr_ll(&vec![0u8; len], 1).is_err(), "a {}-byte frame must be refused", len);
        }
    }

    #[test]
    fn beacon_covers_a_late_js_for_a_while() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let src: IpAddr = "10.1.0.2".parse().unwrap();
        let mut b = Beacon::default();
        assert_eq!(b.step(t0), BeaconStep::Idle, "off");
        b.interval = Some(ms(100));
        b.max_stall = ms(2000);
        assert_eq!(b.step(t0), BeaconStep::Idle, "armed but nothing sent yet");
        b.record(src, IpAddr::V4(GROUP_V4), &[1, 2, 3], t0);
        assert_eq!(b.step(t0 + ms(50)), BeaconStep::Wait(ms(75)), "due at 1.25 intervals after the last send");
        assert_eq!(b.step(t0 + ms(125)), BeaconStep::Send);
        // JS sends on time again: the due time moves with it.
        b.record(src, IpAddr::V4(GROUP_V4), &[4, 5, 6], t0 + ms(130));
        assert_eq!(b.adverts.len(), 1, "one advert kept per destination");
        assert_eq!(b.adverts[0].2, vec![4, 5, 6], "the latest payload is the one resent");
        assert_eq!(b.step(t0 + ms(200)), BeaconStep::Wait(ms(55)));
        // A beacon send moves last_send but not last_js_send.
        b.last_send = Some(t0 + ms(2100));
        assert_eq!(b.step(t0 + ms(2131)), BeaconStep::Expired, "JS silent for over max_stall: stop covering");
        b.record(src, "10.1.0.3".parse().unwrap(), &[7], t0 + ms(2200));
        assert_eq!(b.adverts.len(), 2, "a unicast peer gets its own entry");
        assert_eq!(poll_timeout(Duration::from_micros(1)), 1, "poll never wakes before the due time");
        assert_eq!(poll_timeout(ms(75)), 75);
    }

    #[test]
    fn interface_names_are_checked() {
        for bad in ["", "0123456789abcdef", "no-such-if9"] {
            assert!(interface_index(bad).is_err(), "{:?} must be refused", bad);
        }
        assert!(interface_index("lo").unwrap() > 0);
    }
}
