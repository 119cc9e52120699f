//! The Linux socket interface the socket modules share (icmp.rs, udp.rs,
//! sock.rs, nfq.rs): constants, C layouts and system calls, declared by hand
//! like the N-API, each behind one safe wrapper; socket addresses; the
//! control messages of a datagram, built and read; the clocks.
//!
//! Why one module: the same sockaddr, msghdr and cmsg plumbing was written
//! in three places, and a layout or errno rule fixed in one copy stayed
//! wrong in the others. The wrappers return `io::Error` as the call left it;
//! each caller words the error for its own feature.

use std::ffi::{c_char, c_int, c_void, CString};
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

// Linux constants (asm-generic; the same on x86_64 and arm64).
pub const AF_INET: c_int = 2;
pub const AF_INET6: c_int = 10;
pub const SOCK_DGRAM: c_int = 2;
pub const SOCK_RAW: c_int = 3;
pub const SOCK_NONBLOCK: c_int = 0o4000;
pub const SOCK_CLOEXEC: c_int = 0o2000000;
pub const SOL_SOCKET: c_int = 1;
pub const SO_BINDTODEVICE: c_int = 25;
pub const SO_TIMESTAMPNS: c_int = 35;
pub const IPPROTO_IP: c_int = 0;
pub const IPPROTO_IPV6: c_int = 41;
pub const IP_TTL: c_int = 2;
pub const IP_PKTINFO: c_int = 8;
pub const IP_RECVTTL: c_int = 12;
pub const IPV6_RECVPKTINFO: c_int = 49;
pub const IPV6_PKTINFO: c_int = 50;
pub const IPV6_RECVHOPLIMIT: c_int = 51;
pub const IPV6_HOPLIMIT: c_int = 52;
pub const MSG_DONTWAIT: c_int = 0x40;
pub const MSG_TRUNC: c_int = 0x20;
pub const POLLIN: i16 = 0x1;
pub const POLLERR: i16 = 0x8;
pub const POLLNVAL: i16 = 0x20;
pub const CLOCK_REALTIME: c_int = 0;
pub const CLOCK_MONOTONIC: c_int = 1;

/// time_t and long are 64 bits on both targets (x86_64, arm64).
#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[repr(C)]
struct Iovec {
    iov_base: *mut c_void,
    iov_len: usize,
}

#[repr(C)]
struct Msghdr {
    msg_name: *mut c_void,
    msg_namelen: u32,
    msg_iov: *mut Iovec,
    msg_iovlen: usize,
    msg_control: *mut c_void,
    msg_controllen: usize,
    msg_flags: c_int,
}

#[repr(C)]
pub struct Pollfd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// sockaddr_in6 is the larger of the two; a sockaddr_in fits in its front.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SockaddrIn6 {
    pub family: u16,
    pub port: u16,
    pub flowinfo: u32,
    pub addr: [u8; 16],
    pub scope_id: u32,
}

extern "C" {
    fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
    fn bind(fd: c_int, addr: *const c_void, len: u32) -> c_int;
    fn connect(fd: c_int, addr: *const c_void, len: u32) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: u32) -> c_int;
    fn getsockname(fd: c_int, addr: *mut c_void, len: *mut u32) -> c_int;
    fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
    fn sendto(fd: c_int, buf: *const c_void, len: usize, flags: c_int, addr: *const c_void, alen: u32) -> isize;
    fn sendmsg(fd: c_int, msg: *const Msghdr, flags: c_int) -> isize;
    fn recvmsg(fd: c_int, msg: *mut Msghdr, flags: c_int) -> isize;
    fn poll(fds: *mut Pollfd, nfds: u64, timeout: c_int) -> c_int;
    fn if_nametoindex(name: *const c_char) -> u32;
    fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
}

/// A result of -1 as the errno it left, anything else as a count.
fn checked(r: isize) -> io::Result<usize> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

// --- Clocks ----------------------------------------------------------------------

/// `clock` now: seconds and nanoseconds.
pub fn clock_now(clock: c_int) -> (i64, i64) {
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec; CLOCK_MONOTONIC and CLOCK_REALTIME always exist.
    unsafe { clock_gettime(clock, &mut ts) };
    (ts.tv_sec, ts.tv_nsec)
}

/// `clock` now, in nanoseconds.
pub fn clock_ns(clock: c_int) -> u64 {
    let (sec, nsec) = clock_now(clock);
    (sec as u64).wrapping_mul(1_000_000_000).wrapping_add(nsec as u64)
}

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    clock_ns(CLOCK_MONOTONIC)
}

pub fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The kernel's receive time (CLOCK_REALTIME) moved onto CLOCK_MONOTONIC by
/// its age now. Without a timestamp, or when the wall clock stepped so the
/// age makes no sense (negative, over a minute), the time of reading stands in.
pub fn rx_monotonic(rx_real: Option<u64>, now_real: u64, now_mono: u64) -> u64 {
    match rx_real {
        Some(rx) if rx <= now_real && now_real - rx < 60_000_000_000 && now_real - rx <= now_mono => {
            now_mono - (now_real - rx)
        }
        _ => now_mono,
    }
}

// --- Addresses (pure, tested below) --------------------------------------------

/// The sockaddr of `ip`:`port`; `scope_id` counts for IPv6 only. Returns it
/// and its length (a sockaddr_in's for IPv4).
pub fn sockaddr(ip: IpAddr, port: u16, scope_id: u32) -> (SockaddrIn6, u32) {
    let mut sa = SockaddrIn6 { port: port.to_be(), ..SockaddrIn6::default() };
    match ip {
        IpAddr::V4(v4) => {
            sa.family = AF_INET as u16;
            // sockaddr_in: family, port, then the address where flowinfo sits.
            sa.flowinfo = u32::from_ne_bytes(v4.octets());
            (sa, 16)
        }
        IpAddr::V6(v6) => {
            sa.family = AF_INET6 as u16;
            sa.addr = v6.octets();
            sa.scope_id = scope_id;
            (sa, mem::size_of::<SockaddrIn6>() as u32)
        }
    }
}

/// The address of a sockaddr_in or sockaddr_in6; None for another family.
pub fn address_of(sa: &SockaddrIn6) -> Option<IpAddr> {
    match sa.family as c_int {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(sa.flowinfo.to_ne_bytes()))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(sa.addr))),
        _ => None,
    }
}

pub fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// The index of interface `name`.
pub fn interface_index(name: &str) -> Result<u32, String> {
    let c = CString::new(name).map_err(|_| format!("interface name {:?} holds a NUL", name))?;
    // SAFETY: c is a NUL-terminated string.
    let index = unsafe { if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(format!("no interface {:?}: {}", name, io::Error::last_os_error()));
    }
    Ok(index)
}

// --- Control messages (pure, tested below) -------------------------------------

const CMSG_HEADER: usize = 16; // cmsg_len (size_t), cmsg_level, cmsg_type
const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// A control buffer: u64s, so the cmsghdrs in it are aligned.
pub type Control = [u64; 16];

pub fn control_bytes<const N: usize>(control: &[u64; N]) -> &[u8] {
    // SAFETY: the array is N * 8 initialised bytes; viewing them as u8 is sound.
    unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), N * 8) }
}

fn control_bytes_mut<const N: usize>(control: &mut [u64; N]) -> &mut [u8] {
    // SAFETY: as above, and the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(control.as_mut_ptr().cast::<u8>(), N * 8) }
}

/// A control buffer naming the source address and outgoing interface of one
/// send: `IP_PKTINFO` (ipi_ifindex, ipi_spec_dst = source) or `IPV6_PKTINFO`
/// (ipi6_addr = source, ipi6_ifindex). Returns the buffer and its length.
pub fn pktinfo_control(source: IpAddr, ifindex: u32) -> ([u64; 6], usize) {
    let mut control = [0u64; 6];
    let (level, kind, data): (c_int, c_int, Vec<u8>) = match source {
        IpAddr::V4(a) => {
            let mut d = vec![0u8; 12];
            d[0..4].copy_from_slice(&(ifindex as i32).to_ne_bytes());
            d[4..8].copy_from_slice(&a.octets());
            (IPPROTO_IP, IP_PKTINFO, d)
        }
        IpAddr::V6(a) => {
            let mut d = vec![0u8; 20];
            d[0..16].copy_from_slice(&a.octets());
            d[16..20].copy_from_slice(&ifindex.to_ne_bytes());
            (IPPROTO_IPV6, IPV6_PKTINFO, d)
        }
    };
    let len = CMSG_HEADER + data.len();
    let bytes = control_bytes_mut(&mut control);
    bytes[0..8].copy_from_slice(&(len as u64).to_ne_bytes());
    bytes[8..12].copy_from_slice(&level.to_ne_bytes());
    bytes[12..16].copy_from_slice(&kind.to_ne_bytes());
    bytes[CMSG_HEADER..CMSG_HEADER + data.len()].copy_from_slice(&data);
    (control, cmsg_align(len))
}

/// What the control messages of one received datagram say.
#[derive(Debug, PartialEq, Default, Clone, Copy)]
pub struct Ancillary {
    /// The interface it arrived on.
    pub ifindex: Option<u32>,
    /// Its destination address (the header's, from IP_PKTINFO / IPV6_PKTINFO).
    pub dst: Option<IpAddr>,
    /// TTL / hop limit it arrived with.
    pub ttl: Option<u8>,
    /// The kernel's receive time (SCM_TIMESTAMPNS), CLOCK_REALTIME ns.
    pub rx_real: Option<u64>,
}

/// Reads IP_PKTINFO, IP_TTL, IPV6_PKTINFO, IPV6_HOPLIMIT and SCM_TIMESTAMPNS
/// from the first `len` bytes of a control buffer; anything else, or
/// anything malformed, is skipped.
pub fn read_ancillary(bytes: &[u8], len: usize) -> Ancillary {
    let len = len.min(bytes.len());
    let mut out = Ancillary::default();
    let mut at = 0;
    while at + CMSG_HEADER <= len {
        let cmsg_len = u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize;
        let level = i32::from_ne_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
        let kind = i32::from_ne_bytes(bytes[at + 12..at + 16].try_into().expect("4 bytes"));
        // Compared as what is left, so a huge length cannot wrap around.
        if cmsg_len < CMSG_HEADER || cmsg_len > len - at {
            break;
        }
        let data = &bytes[at + CMSG_HEADER..at + cmsg_len];
        match (level, kind) {
            (IPPROTO_IP, IP_PKTINFO) if data.len() >= 12 => {
                let index = i32::from_ne_bytes(data[0..4].try_into().expect("4 bytes"));
                if index > 0 {
                    out.ifindex = Some(index as u32);
                }
                out.dst = Some(IpAddr::V4(Ipv4Addr::new(data[8], data[9], data[10], data[11])));
            }
            (IPPROTO_IPV6, IPV6_PKTINFO) if data.len() >= 20 => {
                let addr: [u8; 16] = data[0..16].try_into().expect("16 bytes");
                out.dst = Some(IpAddr::V6(Ipv6Addr::from(addr)));
                let index = u32::from_ne_bytes(data[16..20].try_into().expect("4 bytes"));
                if index > 0 {
                    out.ifindex = Some(index);
                }
            }
            (IPPROTO_IP, IP_TTL) | (IPPROTO_IPV6, IPV6_HOPLIMIT) if data.len() >= 4 => {
                let v = i32::from_ne_bytes(data[0..4].try_into().expect("4 bytes"));
                if (0..=255).contains(&v) {
                    out.ttl = Some(v as u8);
                }
            }
            (SOL_SOCKET, SO_TIMESTAMPNS) if data.len() >= 16 => {
                let sec = i64::from_ne_bytes(data[0..8].try_into().expect("8 bytes"));
                let nsec = i64::from_ne_bytes(data[8..16].try_into().expect("8 bytes"));
                if sec >= 0 && (0..1_000_000_000).contains(&nsec) {
                    out.rx_real = Some((sec as u64) * 1_000_000_000 + nsec as u64);
                }
            }
            _ => {}
        }
        at += cmsg_align(cmsg_len);
    }
    out
}

// --- System calls ----------------------------------------------------------------

/// A new non-blocking, close-on-exec socket, owned at once.
pub fn open_socket(domain: c_int, kind: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let fd = unsafe { socket(domain, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(2) with `value` as the option's bytes.
pub fn setopt<T: ?Sized>(fd: RawFd, level: c_int, name: c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points to size_of_val(value) readable bytes.
    let r = unsafe { setsockopt(fd, level, name, (value as *const T).cast(), mem::size_of_val(value) as u32) };
    checked(r as isize).map(|_| ())
}

/// setopt, its error worded `<what>: <errno>`.
pub fn set_option<T: ?Sized>(fd: RawFd, level: c_int, name: c_int, value: &T, what: &str) -> Result<(), String> {
    setopt(fd, level, name, value).map_err(|e| format!("{}: {}", what, e))
}

pub fn bind_to(fd: RawFd, sa: &SockaddrIn6, len: u32) -> io::Result<()> {
    // SAFETY: sa holds len valid bytes of a sockaddr.
    checked(unsafe { bind(fd, (sa as *const SockaddrIn6).cast(), len) } as isize).map(|_| ())
}

pub fn connect_to(fd: RawFd, sa: &SockaddrIn6, len: u32) -> io::Result<()> {
    // SAFETY: sa holds len valid bytes of a sockaddr.
    checked(unsafe { connect(fd, (sa as *const SockaddrIn6).cast(), len) } as isize).map(|_| ())
}

/// The address the socket is bound to (getsockname(2)).
pub fn local_address(fd: RawFd) -> io::Result<SockaddrIn6> {
    let mut sa = SockaddrIn6::default();
    let mut len = mem::size_of::<SockaddrIn6>() as u32;
    // SAFETY: sa has room for len bytes.
    checked(unsafe { getsockname(fd, (&mut sa as *mut SockaddrIn6).cast(), &mut len) } as isize)?;
    Ok(sa)
}

/// Sends `buf` to a connected socket's peer without blocking.
pub fn send_connected(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is readable for its length.
    checked(unsafe { send(fd, buf.as_ptr().cast(), buf.len(), MSG_DONTWAIT) })
}

/// Sends `buf` to the `len` bytes of socket address `addr` without blocking.
pub fn send_to<A>(fd: RawFd, buf: &[u8], addr: &A, len: u32) -> io::Result<usize> {
    debug_assert!(len as usize <= mem::size_of::<A>());
    // SAFETY: buf is readable for its length, addr for len <= size_of::<A>() bytes.
    checked(unsafe { sendto(fd, buf.as_ptr().cast(), buf.len(), MSG_DONTWAIT, (addr as *const A).cast(), len) })
}

/// Sends `buf` to `sa` from address `source` out of interface `ifindex`
/// (IP_PKTINFO / IPV6_PKTINFO) without blocking: the source is exactly
/// `source`, whatever the routing table would pick.
pub fn send_from(fd: RawFd, buf: &[u8], sa: &SockaddrIn6, salen: u32, source: IpAddr, ifindex: u32) -> io::Result<usize> {
    let (control, controllen) = pktinfo_control(source, ifindex);
    let mut iov = Iovec { iov_base: buf.as_ptr() as *mut c_void, iov_len: buf.len() };
    let msg = Msghdr {
        msg_name: (sa as *const SockaddrIn6) as *mut c_void,
        msg_namelen: salen,
        msg_iov: &mut iov,
        msg_iovlen: 1,
        msg_control: control.as_ptr() as *mut c_void,
        msg_controllen: controllen,
        msg_flags: 0,
    };
    // SAFETY: every pointer in msg refers to a live buffer of the stated
    // length; the kernel only reads them. sendmsg is safe from two threads.
    checked(unsafe { sendmsg(fd, &msg, MSG_DONTWAIT) })
}

/// One datagram read by `receive`.
pub struct Message {
    /// Bytes of it in the buffer.
    pub len: usize,
    /// It was longer than the buffer (MSG_TRUNC).
    pub truncated: bool,
    /// Its sender.
    pub from: SockaddrIn6,
    /// Bytes of control messages in the control buffer.
    pub control_len: usize,
}

/// Reads one datagram without blocking (recvmsg(2)) into `buf`, its control
/// messages into `control`. WouldBlock when nothing is waiting.
pub fn receive(fd: RawFd, buf: &mut [u8], control: &mut Control) -> io::Result<Message> {
    let mut from = SockaddrIn6::default();
    let mut iov = Iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut msg = Msghdr {
        msg_name: (&mut from as *mut SockaddrIn6).cast(),
        msg_namelen: mem::size_of::<SockaddrIn6>() as u32,
        msg_iov: &mut iov,
        msg_iovlen: 1,
        msg_control: control.as_mut_ptr().cast(),
        msg_controllen: mem::size_of_val(control),
        msg_flags: 0,
    };
    // SAFETY: every pointer in msg refers to a live buffer of the stated size.
    let len = checked(unsafe { recvmsg(fd, &mut msg, MSG_DONTWAIT) })?;
    Ok(Message { len, truncated: msg.msg_flags & MSG_TRUNC != 0, from, control_len: msg.msg_controllen })
}

/// poll(2) on `fds`; returns how many have events.
pub fn poll_fds(fds: &mut [Pollfd], timeout_ms: c_int) -> io::Result<usize> {
    // SAFETY: fds is a slice of fds.len() pollfd structs.
    checked(unsafe { poll(fds.as_mut_ptr(), fds.len() as u64, timeout_ms) } as isize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Rng;

    #[test]
    fn source_pinned_by_pktinfo() {
        // IP_PKTINFO: cmsghdr (len 28, level 0, type 8), then in_pktinfo
        // {ipi_ifindex, ipi_spec_dst = source, ipi_addr = 0}, padded to 32.
        let (c, len) = pktinfo_control(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)), 5);
        let b = control_bytes(&c);
        assert_eq!(len, 32);
        assert_eq!(&b[0..8], &28u64.to_ne_bytes());
        assert_eq!(&b[8..12], &0i32.to_ne_bytes());
        assert_eq!(&b[12..16], &8i32.to_ne_bytes());
        assert_eq!(&b[16..20], &5i32.to_ne_bytes());
        assert_eq!(&b[20..24], &[10, 1, 0, 2]);
        assert_eq!(&b[24..28], &[0, 0, 0, 0]);
        // IPV6_PKTINFO: cmsghdr (len 36, level 41, type 50), in6_pktinfo {addr, ifindex}, padded to 40.
        let src: Ipv6Addr = "fe80::2".parse().unwrap();
        let (c, len) = pktinfo_control(IpAddr::V6(src), 9);
        let b = control_bytes(&c);
        assert_eq!(len, 40);
        assert_eq!(&b[0..8], &36u64.to_ne_bytes());
        assert_eq!(&b[8..12], &41i32.to_ne_bytes());
        assert_eq!(&b[12..16], &50i32.to_ne_bytes());
        assert_eq!(&b[16..32], &src.octets());
        assert_eq!(&b[32..36], &9u32.to_ne_bytes());
        // What we build, the reader reads back.
        let anc = read_ancillary(b, len);
        assert_eq!(anc, Ancillary { ifindex: Some(9), dst: Some(IpAddr::V6(src)), ttl: None, rx_real: None });
    }

    fn push_cmsg(buf: &mut Vec<u8>, level: i32, kind: i32, data: &[u8]) {
        let len = CMSG_HEADER + data.len();
        buf.extend_from_slice(&(len as u64).to_ne_bytes());
        buf.extend_from_slice(&level.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(data);
        while buf.len() % 8 != 0 {
            buf.push(0);
        }
    }

    const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
    const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

    #[test]
    fn ancillary_data_of_received_adverts() {
        // IPv4: IP_PKTINFO (ifindex 4, spec_dst 10.1.0.2, addr 224.0.0.18) then IP_TTL 255.
        let mut b = Vec::new();
        let mut info = Vec::new();
        info.extend_from_slice(&4i32.to_ne_bytes());
        info.extend_from_slice(&[10, 1, 0, 2]);
        info.extend_from_slice(&[224, 0, 0, 18]);
        push_cmsg(&mut b, IPPROTO_IP, IP_PKTINFO, &info);
        push_cmsg(&mut b, IPPROTO_IP, IP_TTL, &255i32.to_ne_bytes());
        let got = read_ancillary(&b, b.len());
        let want = Ancillary { ifindex: Some(4), dst: Some(IpAddr::V4(GROUP_V4)), ttl: Some(255), rx_real: None };
        assert_eq!(got, want, "got {:?}; want {:?}", got, want);
        // Only the length the kernel filled is read.
        let first = read_ancillary(&b, 32);
        assert_eq!(first.ttl, None, "got ttl {:?}; want none past the given length", first.ttl);
        // IPv6: hop limit first, then IPV6_PKTINFO.
        let mut b6 = Vec::new();
        push_cmsg(&mut b6, IPPROTO_IPV6, IPV6_HOPLIMIT, &64i32.to_ne_bytes());
        let mut info6 = GROUP_V6.octets().to_vec();
        info6.extend_from_slice(&2u32.to_ne_bytes());
        push_cmsg(&mut b6, IPPROTO_IPV6, IPV6_PKTINFO, &info6);
        let got = read_ancillary(&b6, b6.len());
        assert_eq!(got, Ancillary { ifindex: Some(2), dst: Some(IpAddr::V6(GROUP_V6)), ttl: Some(64), rx_real: None });
        // A length running past the buffer stops the walk.
        let mut bad = b.clone();
        bad[0..8].copy_from_slice(&4000u64.to_ne_bytes());
        assert_eq!(read_ancillary(&bad, bad.len()), Ancillary::default());
        // A length so large that adding it to the offset would wrap stops it too.
        let mut huge = b.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_ne_bytes());
        let got = read_ancillary(&huge, huge.len());
        assert_eq!((got.dst, got.ttl), (Some(IpAddr::V4(GROUP_V4)), None), "got {:?}; want the first message only", got);
        // Unknown messages are skipped.
        let mut other = Vec::new();
        push_cmsg(&mut other, SOL_SOCKET, 35, &[0u8; 16]);
        push_cmsg(&mut other, IPPROTO_IP, IP_TTL, &1i32.to_ne_bytes());
        assert_eq!(read_ancillary(&other, other.len()).ttl, Some(1));
    }

    /// SCM_TIMESTAMPNS of `sec`.`nsec` (32 bytes) then `kind` (IP_TTL or
    /// IPV6_HOPLIMIT) of `ttl` (24 bytes padded): 56 bytes, as the kernel
    /// gives an ICMP or UDP socket.
    fn timestamp_and_ttl(sec: i64, nsec: i64, level: i32, kind: i32, ttl: i32) -> Vec<u8> {
        let mut b = Vec::new();
        push_cmsg(&mut b, SOL_SOCKET, SO_TIMESTAMPNS, &[sec.to_ne_bytes(), nsec.to_ne_bytes()].concat());
        push_cmsg(&mut b, level, kind, &ttl.to_ne_bytes());
        b
    }

    fn rx_and_ttl(b: &[u8], len: usize) -> (Option<u64>, Option<u8>) {
        let a = read_ancillary(b, len);
        (a.rx_real, a.ttl)
    }

    /// What the kernel gives an IPv4 ICMP socket: SCM_TIMESTAMPNS then IP_TTL.
    #[test]
    fn control_messages() {
        let mut b = timestamp_and_ttl(12, 345, IPPROTO_IP, IP_TTL, 57);
        assert_eq!(b.len(), 56);
        assert_eq!(rx_and_ttl(&b, 56), (Some(12_000_000_345), Some(57)));
        assert_eq!(rx_and_ttl(&b, 32), (Some(12_000_000_345), None), "only what the kernel filled is read");
        b[0..8].copy_from_slice(&4000u64.to_ne_bytes());
        assert_eq!(rx_and_ttl(&b, 56), (None, None), "a length past the buffer stops the walk");
    }

    /// What the kernel gives an IPv6 UDP socket: SCM_TIMESTAMPNS then IPV6_HOPLIMIT.
    #[test]
    fn control_with_timestamp_and_hop_limit() {
        let b = timestamp_and_ttl(1_700_000_000, 5, IPPROTO_IPV6, IPV6_HOPLIMIT, 64);
        assert_eq!(rx_and_ttl(&b, 56), (Some(1_700_000_000_000_000_005), Some(64)));
        // nanoseconds out of range: no timestamp
        let b = timestamp_and_ttl(1_700_000_000, 1_000_000_000, IPPROTO_IPV6, IPV6_HOPLIMIT, 64);
        assert_eq!(rx_and_ttl(&b, 56), (None, Some(64)));
    }

    #[test]
    fn ancillary_reader_never_panics() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..100_000 {
            let len = rng.below(80);
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 16 && rng.below(2) == 0 {
                // A plausible length, so the walk goes on to the data.
                let l = (rng.below(len - 15) + 16) as u64;
                b[0..8].copy_from_slice(&l.to_ne_bytes());
            }
            let _ = read_ancillary(&b, rng.below(len + 8));
        }
    }

    #[test]
    fn addresses_round_trip_through_sockaddr() {
        let (sa, len) = sockaddr(IpAddr::V4(GROUP_V4), 0, 0);
        assert_eq!(len, 16);
        // SAFETY: plain old data of 28 bytes.
        let bytes: [u8; 28] = unsafe { mem::transmute(sa) };
        assert_eq!(&bytes[..8], &[2, 0, 0, 0, 224, 0, 0, 18], "sockaddr_in: family, port 0, the group");
        assert_eq!(address_of(&sa), Some(IpAddr::V4(GROUP_V4)));
        let (sa6, len6) = sockaddr(IpAddr::V6(GROUP_V6), 0, 3);
        assert_eq!(len6, 28);
        assert_eq!(sa6.scope_id, 3);
        assert_eq!(address_of(&sa6), Some(IpAddr::V6(GROUP_V6)));
        assert!(is_link_local_v6(&"fe80::1".parse().unwrap()));
        assert!(!is_link_local_v6(&"2001:db8::1".parse().unwrap()));
        let (sa, len) = sockaddr(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 0x1234, 0);
        // SAFETY: sa is plain old data of 28 bytes.
        let bytes: [u8; 28] = unsafe { mem::transmute(sa) };
        assert_eq!(len, 16);
        assert_eq!(
            &bytes[..8],
            &[2, 0, 0x12, 0x34, 10, 1, 2, 3],
            "sockaddr_in: family (host order), port and address (network order)"
        );
        assert_eq!(address_of(&sa), Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))));
    }

    #[test]
    fn kernel_timestamps_move_onto_the_monotonic_clock() {
        let s = 1_000_000_000u64;
        assert_eq!(rx_monotonic(Some(100 * s - 3_000), 100 * s, 50 * s), 50 * s - 3_000, "3 µs old");
        assert_eq!(rx_monotonic(None, 100 * s, 50 * s), 50 * s, "no timestamp: the time of reading");
        assert_eq!(rx_monotonic(Some(101 * s), 100 * s, 50 * s), 50 * s, "from the future (clock stepped back)");
        assert_eq!(rx_monotonic(Some(10 * s), 100 * s, 50 * s), 50 * s, "older than a minute (clock stepped forward)");
    }
}
