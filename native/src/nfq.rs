//! The packet fast path: NFQUEUE worker threads that give the first packet
//! of each steered flow its path.
//!
//! The kernel restores the mark of every later packet from the conntrack
//! mark (nftables, table `inet tern`), so only packets of flows without a
//! path reach a queue. A worker reads them, finds the remote site their
//! destination belongs to (a route: the site's prefixes and its selector),
//! lets that site's selector decide, and accepts the packet with the path's
//! mark. nftables then saves the mark into the conntrack mark after the
//! verdict (`steer_save` chain): this kernel has no
//! `CONFIG_NETFILTER_NETLINK_GLUE_CT`, so a conntrack mark cannot ride in the
//! verdict itself (`NFQA_CT`), and a rule after the queue works on every
//! kernel.
//!
//! The netlink protocol is Debian's libnetfilter_queue (message building and
//! parsing) over libmnl (the socket), declared here by hand like the N-API;
//! `build.rs` links them.
//!
//! A packet's mark may carry a domain hint (`DOMAIN_HINT_MASK`): steerd's
//! restore chain puts it there when the destination is in the domain set of
//! an app class, which only the kernel knows (dnsmasq fills the sets). The
//! worker hands it to the selector with the packet.
//!
//! What keeps traffic flowing when something goes wrong:
//! - the queue is configured fail-open (`NFQA_CFG_F_FAIL_OPEN`) with a
//!   bounded length: when the worker falls behind, the kernel accepts what
//!   does not fit instead of dropping it; the rules queue with `bypass`, so
//!   with no worker bound at all (steerd stopped or killed) packets pass;
//! - the worker never blocks on anything but `poll`: every packet read gets
//!   a verdict in the same burst, and the verdicts of a burst leave in one
//!   `sendto` (one netlink message per packet, each with its own mark);
//! - a packet the selector cannot read, or one for no known site, is
//!   accepted with mark 0 (the main routing table) and counted; a panic
//!   while deciding one packet is caught, counted, and the packet accepted.

use std::ffi::{c_int, c_uint, c_void};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::handle::HandleKind;
use crate::json::{self, Value};
use crate::napi::{napi_type_tag, napi_value, Call, JsError};
use crate::packet::ParseError;
use crate::policy::{parse_prefix, Prefix};
use crate::select::Selector;
use crate::sys::{self, Pollfd, CLOCK_MONOTONIC, POLLIN, SOL_SOCKET};

// Netlink and netfilter constants (Linux UAPI; the same on every architecture).
const NETLINK_NETFILTER: c_int = 12;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const NETLINK_NO_ENOBUFS: c_int = 5;
const SO_RCVBUFFORCE: c_int = 33;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: c_int = 1;
const NFQNL_MSG_CONFIG: c_int = 2;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_PACKET: u8 = 2;
const NFQA_PACKET_HDR: usize = 1;
const NFQA_MARK: usize = 3;
const NFQA_PAYLOAD: usize = 10;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQA_CFG_F_FAIL_OPEN: u32 = 1;
const NFQA_CFG_F_GSO: u32 = 4;
/// Room for every NFQA_* attribute type a kernel may send, and then some:
/// `nfq_nlmsg_parse` fills only the types its own headers know.
const NFQA_SLOTS: usize = 64;
const NF_ACCEPT: c_int = 1;
const MNL_CB_OK: c_int = 1;
const MNL_SOCKET_AUTOPID: c_uint = 0;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
const O_NONBLOCK: c_int = 0o4000;
const O_CLOEXEC: c_int = 0o2000000;
const EAGAIN: i32 = 11;
const EINTR: i32 = 4;
const ENOBUFS: i32 = 105;

/// Where a queued packet's mark carries its domain hint (0: none), as
/// daemons/lib/kernel/names.ts `domainHintMask` / `domainHintShift` say.
pub const DOMAIN_HINT_MASK: u32 = 0x000f_f000;
pub const DOMAIN_HINT_SHIFT: u32 = 12;

/// The domain hint in a queued packet's mark.
pub fn domain_hint(mark: u32) -> u8 {
    ((mark & DOMAIN_HINT_MASK) >> DOMAIN_HINT_SHIFT) as u8
}

/// Packets are copied whole: only first packets of flows come here, and the
/// parser refuses a packet whose length field points past what it was given.
const COPY_BYTES: c_int = 0xffff;
/// One received message: the largest copied packet and its attributes.
const RECV_BUFFER_BYTES: usize = 0x10000 + 4096;
/// Most packets read before their verdicts are sent (and poll is called again).
pub const BURST: usize = 64;
/// Bytes one verdict message takes (header 16, nfgenmsg 4, verdict 12, mark 8), rounded up.
const VERDICT_ROOM: usize = 64;
/// The socket's receive buffer: a burst of full-size packets with room to spare.
const RCVBUF_BYTES: c_int = 8 << 20;
/// Longest queue the kernel may hold for one worker; beyond it, fail open.
pub const MAX_QUEUE_LEN: u32 = 65_536;

#[repr(C)]
pub struct Nlmsghdr {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

#[repr(C)]
struct Nlattr {
    len: u16,
    kind: u16,
}

/// libmnl's socket; opaque.
enum MnlSocket {}

type MnlCb = unsafe extern "C" fn(nlh: *const Nlmsghdr, data: *mut c_void) -> c_int;

extern "C" {
    // libmnl
    fn mnl_socket_open(bus: c_int) -> *mut MnlSocket;
    fn mnl_socket_bind(nl: *mut MnlSocket, groups: c_uint, pid: c_int) -> c_int;
    fn mnl_socket_close(nl: *mut MnlSocket) -> c_int;
    fn mnl_socket_get_fd(nl: *const MnlSocket) -> c_int;
    fn mnl_socket_get_portid(nl: *const MnlSocket) -> c_uint;
    fn mnl_socket_sendto(nl: *const MnlSocket, buf: *const c_void, len: usize) -> isize;
    fn mnl_socket_recvfrom(nl: *const MnlSocket, buf: *mut c_void, len: usize) -> isize;
    fn mnl_socket_setsockopt(
        nl: *const MnlSocket,
        kind: c_int,
        buf: *mut c_void,
        len: u32,
    ) -> c_int;
    fn mnl_cb_run(
        buf: *const c_void,
        numbytes: usize,
        seq: c_uint,
        portid: c_uint,
        cb_data: Option<MnlCb>,
        data: *mut c_void,
    ) -> c_int;
    fn mnl_attr_put_u32(nlh: *mut Nlmsghdr, kind: u16, data: u32);
    fn mnl_attr_get_payload(attr: *const Nlattr) -> *const c_void;
    fn mnl_attr_get_payload_len(attr: *const Nlattr) -> u16;
    // libnetfilter_queue
    fn nfq_nlmsg_put(buf: *mut u8, kind: c_int, queue_num: u32) -> *mut Nlmsghdr;
    fn nfq_nlmsg_cfg_put_cmd(nlh: *mut Nlmsghdr, pf: u16, cmd: u8);
    fn nfq_nlmsg_cfg_put_params(nlh: *mut Nlmsghdr, mode: u8, range: c_int);
    fn nfq_nlmsg_cfg_put_qmaxlen(nlh: *mut Nlmsghdr, qmaxlen: u32);
    fn nfq_nlmsg_verdict_put(nlh: *mut Nlmsghdr, id: c_int, verdict: c_int);
    fn nfq_nlmsg_verdict_put_mark(nlh: *mut Nlmsghdr, mark: u32);
    fn nfq_nlmsg_parse(nlh: *const Nlmsghdr, attr: *mut *const Nlattr) -> c_int;
    // libc
    fn fcntl(fd: c_int, cmd: c_int, arg: c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn close(fd: c_int) -> c_int;
}

/// CLOCK_MONOTONIC in milliseconds: the time every steered selector decides
/// at, on the worker threads and from JS (`nfqNowMs`) alike.
pub fn now_ms() -> f64 {
    let (sec, nsec) = sys::clock_now(CLOCK_MONOTONIC);
    sec as f64 * 1000.0 + nsec as f64 / 1e6
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Where a destination is steered: the prefixes of one remote site, and the
/// selector that chooses among that site's paths.
pub struct Route {
    pub prefixes: Vec<Prefix>,
    pub selector: Arc<Mutex<Selector>>,
}

/// What a worker counts; read by `nfqStats`.
#[derive(Default)]
pub struct Counters {
    /// Packets read from the queue.
    pub packets: AtomicU64,
    /// Verdicts sent (one per packet read).
    pub verdicts: AtomicU64,
    /// sendto calls carrying verdicts, and the most verdicts one carried.
    pub batches: AtomicU64,
    pub largest_batch: AtomicU64,
    /// Verdicts that carried a path mark.
    pub steered: AtomicU64,
    /// Packets for no known site, or whose destination could not be read.
    pub unrouted: AtomicU64,
    /// Packets whose site had no path (mark 0).
    pub no_path: AtomicU64,
    /// Packets the selector could not read, by reason (packet.rs).
    pub parse_errors: [AtomicU64; 4],
    /// Netlink messages without a packet id (no verdict possible).
    pub malformed: AtomicU64,
    /// Selectors unusable after a panic inside them.
    pub poisoned: AtomicU64,
    /// Panics caught while deciding a packet.
    pub panics: AtomicU64,
    pub recv_errors: AtomicU64,
    pub send_errors: AtomicU64,
    /// Errors the kernel reported for our verdicts (e.g. an unknown packet id).
    pub verdict_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// State a worker shares with the JS thread.
pub struct Shared {
    pub queue: u16,
    /// Replaced whole by `nfqRoute`; a worker takes the current list once
    /// per burst.
    pub routes: RwLock<Arc<Vec<Route>>>,
    pub counters: Counters,
}

/// The destination address of a raw IPv4/IPv6 packet, if its fixed header
/// is there: what routes are looked up by, even for packets the selector
/// will not be able to read further.
pub fn peek_destination(packet: &[u8]) -> Option<(u8, u128)> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => {
            let a = [packet[16], packet[17], packet[18], packet[19]];
            Some((4, u32::from_be_bytes(a) as u128))
        }
        6 if packet.len() >= 40 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&packet[24..40]);
            Some((6, u128::from_be_bytes(a)))
        }
        _ => None,
    }
}

/// The mark for one queued packet that arrived with mark `nfmark` (0: the
/// main routing table), counting what happened. Never panics on packet
/// content; a panic from a bug is caught by the caller.
pub fn decide(routes: &[Route], packet: &[u8], nfmark: u32, now: f64, counters: &Counters) -> u32 {
    let route = peek_destination(packet).and_then(|(family, addr)| {
        routes
            .iter()
            .find(|r| r.prefixes.iter().any(|p| p.contains(family, addr)))
    });
    let route = match route {
        Some(r) => r,
        None => {
            if peek_destination(packet).is_none() {
                // Not even the destination is readable: a parse error of
                // the packet itself, counted like the selector counts them.
                let reason = match crate::packet::parse(packet) {
                    Err(r) => r,
                    Ok(_) => ParseError::Truncated,
                };
                bump(&counters.parse_errors[reason.index()]);
            }
            bump(&counters.unrouted);
            return 0;
        }
    };
    let mut sel = match route.selector.lock() {
        Ok(s) => s,
        Err(_) => {
            bump(&counters.poisoned);
            return 0;
        }
    };
    let path = match sel.decide_packet(packet, now, domain_hint(nfmark)) {
        Ok(d) => d.path,
        Err((reason, d)) => {
            bump(&counters.parse_errors[reason.index()]);
            d.path
        }
    };
    if path == 0 {
        bump(&counters.no_path);
    } else {
        bump(&counters.steered);
    }
    path
}

/// Appends one verdict message (accept, with `mark`) for packet `id` to
/// `buf`, as libnetfilter_queue builds it.
pub fn put_verdict(buf: &mut Vec<u8>, queue: u16, id: u32, mark: u32) {
    let start = buf.len();
    buf.resize(start + VERDICT_ROOM, 0);
    // SAFETY: VERDICT_ROOM zeroed bytes at `start` hold the 40-byte message
    // these calls write; nothing else points into buf meanwhile.
    let len = unsafe {
        let nlh = nfq_nlmsg_put(buf.as_mut_ptr().add(start), NFQNL_MSG_VERDICT, queue as u32);
        nfq_nlmsg_verdict_put(nlh, id as c_int, NF_ACCEPT);
        nfq_nlmsg_verdict_put_mark(nlh, mark);
        (*nlh).len as usize
    };
    // Netlink messages are 4-byte aligned; libnetfilter_queue's are already.
    buf.truncate(start + ((len + 3) & !3));
}

/// The queue configuration message: bind this socket to `queue`, copy whole
/// packets, at most `max_len` queued, fail open and keep GSO packets whole.
pub fn config_message(queue: u16, max_len: u32, seq: u32) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    // SAFETY: 256 zeroed bytes hold the message (about 72 bytes).
    let len = unsafe {
        let nlh = nfq_nlmsg_put(buf.as_mut_ptr(), NFQNL_MSG_CONFIG, queue as u32);
        (*nlh).flags |= NLM_F_ACK;
        (*nlh).seq = seq;
        nfq_nlmsg_cfg_put_cmd(nlh, 0, NFQNL_CFG_CMD_BIND);
        nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, COPY_BYTES);
        nfq_nlmsg_cfg_put_qmaxlen(nlh, max_len);
        let flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
        mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, flags.to_be());
        mnl_attr_put_u32(nlh, NFQA_CFG_MASK, flags.to_be());
        (*nlh).len as usize
    };
    buf.truncate(len);
    buf
}

/// One packet as the kernel handed it over.
pub struct QueuedPacket<'a> {
    pub id: u32,
    /// The packet's mark (0 when the kernel sent none).
    pub mark: u32,
    pub payload: &'a [u8],
}

/// Reads a NFQNL_MSG_PACKET message with libnetfilter_queue's parser.
/// None: not a packet message, or no packet header (no id to answer).
///
/// # Safety
/// `nlh` must point at a complete netlink message (as mnl_cb_run hands
/// over); the payload borrows from it.
pub unsafe fn read_packet<'a>(nlh: *const Nlmsghdr) -> Option<QueuedPacket<'a>> {
    if (*nlh).kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET {
        return None;
    }
    let mut attrs: [*const Nlattr; NFQA_SLOTS] = [ptr::null(); NFQA_SLOTS];
    if nfq_nlmsg_parse(nlh, attrs.as_mut_ptr()) < 0 {
        return None;
    }
    let hdr = attrs[NFQA_PACKET_HDR];
    if hdr.is_null() || (mnl_attr_get_payload_len(hdr) as usize) < 4 {
        return None;
    }
    let p = mnl_attr_get_payload(hdr) as *const u8;
    let id = u32::from_be_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
    let payload = attrs[NFQA_PAYLOAD];
    let payload: &[u8] = if payload.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(
            mnl_attr_get_payload(payload) as *const u8,
            mnl_attr_get_payload_len(payload) as usize,
        )
    };
    let mark = attrs[NFQA_MARK];
    let mark = if mark.is_null() || (mnl_attr_get_payload_len(mark) as usize) < 4 {
        0
    } else {
        let m = mnl_attr_get_payload(mark) as *const u8;
        u32::from_be_bytes([*m, *m.add(1), *m.add(2), *m.add(3)])
    };
    Some(QueuedPacket { id, mark, payload })
}

/// What the receive callback works on during one burst.
struct Burst<'a> {
    shared: &'a Shared,
    routes: &'a [Route],
    now: f64,
    verdicts: Vec<u8>,
    count: usize,
}

/// mnl_cb_run's callback for each message read. C calls it, so nothing may
/// unwind out of it.
unsafe extern "C" fn on_message(nlh: *const Nlmsghdr, data: *mut c_void) -> c_int {
    let burst = &mut *(data as *mut Burst);
    let counters = &burst.shared.counters;
    let packet = match read_packet(nlh) {
        Some(p) => p,
        None => {
            bump(&counters.malformed);
            return MNL_CB_OK;
        }
    };
    bump(&counters.packets);
    let (routes, now) = (burst.routes, burst.now);
    let mark = panic::catch_unwind(AssertUnwindSafe(|| {
        decide(routes, packet.payload, packet.mark, now, counters)
    }))
    .unwrap_or_else(|_| {
        bump(&counters.panics);
        0
    });
    put_verdict(&mut burst.verdicts, burst.shared.queue, packet.id, mark);
    burst.count += 1;
    MNL_CB_OK
}

/// A netlink socket bound to one queue; closing it unbinds the queue, and
/// the rules' `bypass` then lets packets through.
struct Socket {
    nl: *mut MnlSocket,
    portid: c_uint,
}

// SAFETY: the socket is used by one thread at a time (moved into the worker).
unsafe impl Send for Socket {}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: nl came from mnl_socket_open and is closed once.
        unsafe { mnl_socket_close(self.nl) };
    }
}

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: plain calls; a null return is checked.
        let nl = unsafe { mnl_socket_open(NETLINK_NETFILTER) };
        if nl.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut sock = Socket { nl, portid: 0 };
        // SAFETY: nl is an open socket.
        if unsafe { mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID as c_int) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = sock.fd();
        // SAFETY: fd is the socket's descriptor; the option values live across the calls.
        unsafe {
            let one: c_int = 1;
            mnl_socket_setsockopt(
                nl,
                NETLINK_NO_ENOBUFS,
                &one as *const c_int as *mut c_void,
                4,
            );
            // Best effort: without CAP_NET_ADMIN the default buffer stays.
            let _ = sys::setopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &RCVBUF_BYTES);
            let flags = fcntl(fd, F_GETFL, 0);
            if flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: nl is bound.
        sock.portid = unsafe { mnl_socket_get_portid(nl) };
        Ok(sock)
    }

    fn fd(&self) -> c_int {
        // SAFETY: nl is open.
        unsafe { mnl_socket_get_fd(self.nl) }
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: buf is readable for its length.
        let n = unsafe { mnl_socket_sendto(self.nl, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One message without blocking; Ok(None) when there is none.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buf is writable for its length.
        let n = unsafe { mnl_socket_recvfrom(self.nl, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = errno();
            if e == EAGAIN || e == EINTR {
                return Ok(None);
            }
            return Err(io::Error::from_raw_os_error(e));
        }
        Ok(Some(n as usize))
    }

    /// Waits up to `timeout_ms` for the socket (or `wake`) to be readable.
    fn wait(&self, wake: c_int, timeout_ms: c_int) -> (bool, bool) {
        let mut fds = [
            Pollfd {
                fd: self.fd(),
                events: POLLIN,
                revents: 0,
            },
            Pollfd {
                fd: wake,
                events: POLLIN,
                revents: 0,
            },
        ];
        let nfds = if wake >= 0 { 2 } else { 1 };
        match sys::poll_fds(&mut fds[..nfds], timeout_ms) {
            Ok(n) if n > 0 => {}
            _ => return (false, false),
        }
        (fds[0].revents != 0, nfds == 2 && fds[1].revents != 0)
    }

    /// Binds the queue and waits for the kernel's answer. Packets that
    /// arrive meanwhile are accepted unmarked (there are no routes yet).
    fn configure(&self, shared: &Shared, max_len: u32) -> io::Result<()> {
        const SEQ: u32 = 1;
        self.send(&config_message(shared.queue, max_len, SEQ))?;
        let mut buf = vec![0u8; RECV_BUFFER_BYTES];
        let deadline = now_ms() + 2000.0;
        loop {
            let left = deadline - now_ms();
            if left <= 0.0 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer to the queue configuration",
                ));
            }
            let (readable, _) = self.wait(-1, left.ceil() as c_int);
            if !readable {
                continue;
            }
            let n = match self.recv(&mut buf)? {
                Some(n) => n,
                None => continue,
            };
            // SAFETY: buf holds n bytes the kernel wrote: whole messages.
            let kind = unsafe { (*(buf.as_ptr() as *const Nlmsghdr)).kind };
            if kind == NLMSG_ERROR {
                // SAFETY: as above; mnl_cb_run reads the error message and
                // sets errno when it carries one.
                let rc = unsafe {
                    mnl_cb_run(
                        buf.as_ptr().cast(),
                        n,
                        SEQ,
                        self.portid,
                        None,
                        ptr::null_mut(),
                    )
                };
                if rc < 0 {
                    return Err(io::Error::last_os_error());
                }
                return Ok(());
            }
            let mut burst = Burst {
                shared,
                routes: &[],
                now: now_ms(),
                verdicts: Vec::new(),
                count: 0,
            };
            // SAFETY: as above; on_message gets &mut burst, alive for the call.
            unsafe {
                mnl_cb_run(
                    buf.as_ptr().cast(),
                    n,
                    0,
                    self.portid,
                    Some(on_message),
                    &mut burst as *mut Burst as *mut c_void,
                );
            }
            if !burst.verdicts.is_empty() {
                self.send(&burst.verdicts)?;
            }
        }
    }
}

/// The worker: waits, reads a burst, decides it, answers it in one send.
fn run(sock: Socket, shared: Arc<Shared>, wake: c_int) {
    let mut buf = vec![0u8; RECV_BUFFER_BYTES];
    let mut verdicts = Vec::with_capacity(BURST * VERDICT_ROOM);
    let counters = &shared.counters;
    loop {
        let (readable, woken) = sock.wait(wake, -1);
        if woken {
            return;
        }
        if !readable {
            continue;
        }
        let routes = match shared.routes.read() {
            Ok(r) => Arc::clone(&r),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        let mut burst = Burst {
            shared: &shared,
            routes: &routes,
            now: now_ms(),
            verdicts: std::mem::take(&mut verdicts),
            count: 0,
        };
        burst.verdicts.clear();
        for _ in 0..BURST {
            let n = match sock.recv(&mut buf) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => {
                    // ENOBUFS is off (NETLINK_NO_ENOBUFS), so an error here
                    // is unexpected; count it and answer what was read.
                    if e.raw_os_error() != Some(ENOBUFS) {
                        bump(&counters.recv_errors);
                    }
                    break;
                }
            };
            // SAFETY: buf holds n bytes of whole netlink messages; on_message
            // gets &mut burst, alive for the call.
            let rc = unsafe {
                mnl_cb_run(
                    buf.as_ptr().cast(),
                    n,
                    0,
                    sock.portid,
                    Some(on_message),
                    &mut burst as *mut Burst as *mut c_void,
                )
            };
            if rc < 0 {
                // The kernel refused a verdict we sent earlier (NLMSG_ERROR).
                bump(&counters.verdict_errors);
            }
        }
        if burst.count > 0 {
            match sock.send(&burst.verdicts) {
                Ok(()) => {
                    counters
                        .verdicts
                        .fetch_add(burst.count as u64, Ordering::Relaxed);
                    bump(&counters.batches);
                    counters
                        .largest_batch
                        .fetch_max(burst.count as u64, Ordering::Relaxed);
                }
                Err(_) => bump(&counters.send_errors),
            }
        }
        verdicts = burst.verdicts;
    }
}

/// One open queue: its worker thread and the pipe that stops it.
pub struct Queue {
    pub shared: Arc<Shared>,
    wake: c_int,
    thread: Option<JoinHandle<()>>,
}

impl Queue {
    /// Binds queue `num` and starts its worker. Fails with the errno of the
    /// bind (EBUSY: another process holds the queue; EPERM: no CAP_NET_ADMIN).
    pub fn open(num: u16, max_len: u32) -> io::Result<Queue> {
        let shared = Arc::new(Shared {
            queue: num,
            routes: RwLock::new(Arc::new(Vec::new())),
            counters: Counters::default(),
        });
        let sock = Socket::open()?;
        sock.configure(&shared, max_len)?;
        let mut fds = [0 as c_int; 2];
        // SAFETY: fds has room for the two descriptors.
        if unsafe { pipe2(fds.as_mut_ptr(), O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let worker = Arc::clone(&shared);
        let (rd, wr) = (fds[0], fds[1]);
        let thread = std::thread::Builder::new()
            .name(format!("tern-nfq-{}", num))
            .spawn(move || {
                run(sock, worker, rd);
                // SAFETY: rd is this thread's end of the pipe, closed once.
                unsafe { close(rd) };
            });
        match thread {
            Ok(t) => Ok(Queue {
                shared,
                wake: wr,
                thread: Some(t),
            }),
            Err(e) => {
                // SAFETY: both ends are ours; the thread never started.
                unsafe {
                    close(rd);
                    close(wr);
                }
                Err(e)
            }
        }
    }

    pub fn set_routes(&self, routes: Vec<Route>) {
        let next = Arc::new(routes);
        match self.shared.routes.write() {
            Ok(mut r) => *r = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    /// Stops the worker and unbinds the queue (by closing its socket).
    pub fn close(&mut self) {
        if let Some(t) = self.thread.take() {
            let byte = 1u8;
            // SAFETY: wake is our end of the pipe.
            unsafe { write(self.wake, &byte as *const u8 as *const c_void, 1) };
            let _ = t.join();
            // SAFETY: closed once, after the worker is gone.
            unsafe { close(self.wake) };
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.close();
    }
}

// ---- N-API -----------------------------------------------------------------

/// A queue handle, from nfqOpen until nfqClose; the tag is "tern_nfq",
/// "ueue_v01".
pub(crate) static QUEUE: HandleKind<Queue> = HandleKind::new(
    napi_type_tag {
        lower: 0x7465_726e_5f6e_6671,
        upper: 0x7565_7565_5f76_3031,
    },
    "queue",
    "a queue from nfqOpen",
    "queue: already closed",
);

fn integer_arg(call: &Call, index: usize, name: &str, min: f64, max: f64) -> Result<f64, JsError> {
    let n = call.number_arg(index, name)?;
    if n.fract() != 0.0 || n < min || n > max {
        return Err(call.arg_error(
            name,
            &format!("an integer {}-{}", min, max),
            &json::js_number(n),
        ));
    }
    Ok(n)
}

fn io_error(call: &Call, what: &str, e: io::Error) -> JsError {
    call.io_error(&format!("{}: {}", what, e))
}

/// `nfqOpen(queueNum: number, maxLen: number): NfQueue`
pub fn nfq_open(call: &Call) -> Result<napi_value, JsError> {
    let num = integer_arg(call, 0, "queueNum", 0.0, 65535.0)? as u16;
    let max_len = integer_arg(call, 1, "maxLen", 1.0, MAX_QUEUE_LEN as f64)? as u32;
    let q = Queue::open(num, max_len).map_err(|e| io_error(call, &format!("queue {}", num), e))?;
    QUEUE.wrap(call, q)
}

/// `nfqRoute(queue: NfQueue, selector: Selector, prefixesJson: string): void`:
/// packets to these prefixes are decided by this selector; `[]` removes
/// the selector's route. A later route with an overlapping prefix loses to
/// an earlier one.
pub fn nfq_route(call: &Call) -> Result<napi_value, JsError> {
    let cell: &crate::SelectorCell =
        call.external_arg(1, "selector", crate::SELECTOR_WHAT, &crate::SELECTOR_TAG)?;
    let text = call.string_arg(2, "prefixesJson")?;
    let doc = json::parse(&text).map_err(|e| call.input_error(&format!("prefixesJson: {}", e)))?;
    let items = match &doc {
        Value::Array(items) => items,
        other => {
            return Err(call.input_error(&format!(
                "prefixes: expected an array of prefixes; got {}",
                other.describe()
            )))
        }
    };
    let mut prefixes = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        match v {
            Value::String(s) => match parse_prefix(s) {
                Some(p) => prefixes.push(p),
                None => {
                    return Err(call.input_error(&format!(
                        "prefixes[{}]: expected a prefix in network form (\"10.1.0.0/24\"); got {}",
                        i,
                        v.describe()
                    )))
                }
            },
            _ => {
                return Err(call.input_error(&format!(
                    "prefixes[{}]: expected a prefix in network form (\"10.1.0.0/24\"); got {}",
                    i,
                    v.describe()
                )))
            }
        }
    }
    let selector = Arc::clone(&cell.inner);
    QUEUE.with(call, |q| {
        let current = match q.shared.routes.read() {
            Ok(r) => Arc::clone(&r),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        let mut next: Vec<Route> = current
            .iter()
            .filter(|r| !Arc::ptr_eq(&r.selector, &selector))
            .map(|r| Route {
                prefixes: r.prefixes.clone(),
                selector: Arc::clone(&r.selector),
            })
            .collect();
        if !prefixes.is_empty() {
            next.push(Route {
                prefixes: std::mem::take(&mut prefixes),
                selector: Arc::clone(&selector),
            });
        }
        q.set_routes(next);
        Ok(())
    })?;
    call.undefined()
}

/// `nfqStats(queue: NfQueue): NfQueueStats`
pub fn nfq_stats(call: &Call) -> Result<napi_value, JsError> {
    let (queue, values, parse, routes) = QUEUE.with(call, |q| {
        let c = &q.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let values = [
            ("packets", get(&c.packets)),
            ("verdicts", get(&c.verdicts)),
            ("batches", get(&c.batches)),
            ("largestBatch", get(&c.largest_batch)),
            ("steered", get(&c.steered)),
            ("unrouted", get(&c.unrouted)),
            ("noPath", get(&c.no_path)),
            ("malformed", get(&c.malformed)),
            ("poisoned", get(&c.poisoned)),
            ("panics", get(&c.panics)),
            ("recvErrors", get(&c.recv_errors)),
            ("sendErrors", get(&c.send_errors)),
            ("verdictErrors", get(&c.verdict_errors)),
        ];
        let parse: Vec<(&'static str, f64)> = ParseError::ALL
            .iter()
            .map(|r| (r.name(), get(&c.parse_errors[r.index()])))
            .collect();
        let routes = q.shared.routes.read().map(|r| r.len()).unwrap_or(0);
        Ok((q.shared.queue, values, parse, routes))
    })?;
    let mut props = vec![
        ("queue", call.number(queue as f64)?),
        ("routes", call.number(routes as f64)?),
    ];
    for (name, v) in values {
        props.push((name, call.number(v)?));
    }
    let mut pe = Vec::new();
    for (name, v) in parse {
        pe.push((name, call.number(v)?));
    }
    props.push(("parseErrors", call.object(&pe)?));
    call.object(&props)
}

/// `nfqClose(queue: NfQueue): void`: stops the worker and unbinds; closing
/// again does nothing.
pub fn nfq_close(call: &Call) -> Result<napi_value, JsError> {
    QUEUE.close(call)
}

/// `nfqNowMs(): number`: the clock the workers decide at (CLOCK_MONOTONIC ms).
pub fn nfq_now_ms(call: &Call) -> Result<napi_value, JsError> {
    call.number(now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{check_paths, parse_policy};
    use crate::testkit::Rng;

    const NLM_F_REQUEST: u16 = 1;

    fn selector(paths: &str) -> Arc<Mutex<Selector>> {
        let policy = r#"{"classes":[],"default":{"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":30000},"flows":{"max":64,"idleTimeoutMs":60000}}"#;
        selector_with(policy, paths)
    }

    fn selector_with(policy: &str, paths: &str) -> Arc<Mutex<Selector>> {
        let mut s = Selector::new(parse_policy(policy).unwrap());
        s.set_paths(check_paths(&json::parse(paths).unwrap()).unwrap());
        Arc::new(Mutex::new(s))
    }

    fn udp4(dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 2, 0, 10, dst[0], dst[1], dst[2],
            dst[3],
        ];
        p.extend_from_slice(&[0x9c, 0x40, 0x13, 0x88, 0, 8, 0, 0]);
        p
    }

    const PATH: &str = r#"[{"id":1048592,"wan":"a","weight":1,"cost":10,"metered":false,"state":"up","lossPct":0,"latencyMs":10,"jitterMs":1,"mos":4.4}]"#;

    #[test]
    fn verdict_message_bytes() {
        let mut buf = Vec::new();
        put_verdict(&mut buf, 10200, 0x0102_0304, 0x0010_0010);
        let want: Vec<u8> = [
            &40u32.to_le_bytes()[..],      // nlmsg_len
            &[0x01, 0x03],                 // type: NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_VERDICT
            &NLM_F_REQUEST.to_le_bytes(),  // flags
            &[0; 8],                       // seq, pid
            &[0, 0],                       // nfgen_family AF_UNSPEC, version 0
            &10200u16.to_be_bytes(),       // res_id: the queue
            &[12, 0, 2, 0],                // NFQA_VERDICT_HDR, 12 bytes
            &1u32.to_be_bytes(),           // NF_ACCEPT
            &0x0102_0304u32.to_be_bytes(), // packet id
            &[8, 0, 3, 0],                 // NFQA_MARK, 8 bytes
            &0x0010_0010u32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(buf, want, "verdict: got {:02x?}; want {:02x?}", buf, want);
        put_verdict(&mut buf, 10200, 7, 0);
        assert_eq!(
            buf.len(),
            80,
            "two verdicts back to back: got {} bytes; want 80",
            buf.len()
        );
    }

    #[test]
    fn config_message_bytes() {
        let m = config_message(10201, 4096, 1);
        let nlh_len = u32::from_le_bytes([m[0], m[1], m[2], m[3]]) as usize;
        assert_eq!(nlh_len, m.len());
        assert_eq!(&m[4..6], &[0x02, 0x03], "type: got {:02x?}", &m[4..6]);
        assert_eq!(u16::from_le_bytes([m[6], m[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&m[18..20], &10201u16.to_be_bytes(), "res_id");
        // Attributes: CMD (bind), PARAMS (copy packet, 0xffff), QUEUE_MAXLEN, FLAGS, MASK.
        let want_attrs: Vec<u8> = [
            &[8, 0, 1, 0][..],
            &[1, 0, 0, 0],
            &[9, 0, 2, 0],
            &0xffffu32.to_be_bytes(),
            &[2, 0, 0, 0],
            &[8, 0, 3, 0],
            &4096u32.to_be_bytes(),
            &[8, 0, 5, 0],
            &5u32.to_be_bytes(),
            &[8, 0, 4, 0],
            &5u32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(
            &m[20..],
            &want_attrs[..],
            "attributes: got {:02x?}",
            &m[20..]
        );
    }

    /// A packet message as the kernel sends it: header, PACKET_HDR, MARK, PAYLOAD.
    fn packet_message(id: u32, mark: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 20];
        let put = |m: &mut Vec<u8>, kind: u16, data: &[u8]| {
            let len = 4 + data.len();
            m.extend_from_slice(&(len as u16).to_le_bytes());
            m.extend_from_slice(&kind.to_le_bytes());
            m.extend_from_slice(data);
            while m.len() % 4 != 0 {
                m.push(0);
            }
        };
        put(
            &mut m,
            1,
            &[&id.to_be_bytes()[..], &[0x08, 0x00, 0]].concat(),
        );
        put(&mut m, 3, &mark.to_be_bytes());
        put(&mut m, 10, payload);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_le_bytes());
        m[4..6].copy_from_slice(&[0x00, 0x03]);
        m[18..20].copy_from_slice(&10200u16.to_be_bytes());
        m
    }

    #[test]
    fn reads_packet_messages() {
        let payload = udp4([10, 1, 0, 10]);
        let m = packet_message(42, 0x0010_3000, &payload);
        // SAFETY: m is one complete message.
        let p = unsafe { read_packet(m.as_ptr() as *const Nlmsghdr) }.expect("a packet");
        assert_eq!(p.id, 42);
        assert_eq!(p.mark, 0x0010_3000, "mark: got {:#x}", p.mark);
        assert_eq!(p.payload, &payload[..]);
        let mut other = m.clone();
        other[4] = 1; // a verdict message is not a packet
                      // SAFETY: as above.
        assert!(unsafe { read_packet(other.as_ptr() as *const Nlmsghdr) }.is_none());
    }

    #[test]
    fn routes_by_destination_and_counts_the_rest() {
        let routes = vec![Route {
            prefixes: vec![parse_prefix("10.1.0.0/24").unwrap()],
            selector: selector(PATH),
        }];
        let c = Counters::default();
        assert_eq!(
            decide(&routes, &udp4([10, 1, 0, 10]), 0, 1.0, &c),
            0x10_0010
        );
        assert_eq!(
            decide(&routes, &udp4([10, 9, 0, 10]), 0, 1.0, &c),
            0,
            "unrouted"
        );
        assert_eq!(decide(&routes, &[0x45, 0, 0], 0, 1.0, &c), 0, "unreadable");
        // Destination readable, ports cut off: the default class's path.
        let mut short = udp4([10, 1, 0, 10]);
        short.truncate(22);
        assert_eq!(
            decide(&routes, &short, 0, 1.0, &c),
            0x10_0010,
            "truncated: the default path"
        );
        let got = |a: &AtomicU64| a.load(Ordering::Relaxed);
        assert_eq!(
            (
                got(&c.steered),
                got(&c.unrouted),
                got(&c.parse_errors[ParseError::Truncated.index()])
            ),
            (2, 2, 2),
            "steered, unrouted, truncated"
        );
    }

    /// Class `saas` (hint 3, UDP) prefers WAN b; everything else takes a,
    /// the lower latency path.
    const HINTED: &str = r#"{"classes":[{"name":"saas","domainHint":3,"match":{"protocols":[17]},"sla":{},"mode":"best","preferWans":["b"],"hysteresisPct":20,"holdMs":0}],"default":{"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0},"flows":{"max":64,"idleTimeoutMs":60000}}"#;
    const TWO_PATHS: &str = r#"[{"id":1048592,"wan":"a","weight":1,"cost":10,"metered":false,"state":"up","lossPct":0,"latencyMs":10,"jitterMs":1,"mos":4.4},{"id":1048593,"wan":"b","weight":1,"cost":10,"metered":false,"state":"up","lossPct":0,"latencyMs":30,"jitterMs":1,"mos":4.4}]"#;

    #[test]
    fn the_domain_hint_in_the_mark_selects_the_class() {
        let routes = vec![Route {
            prefixes: vec![parse_prefix("0.0.0.0/0").unwrap()],
            selector: selector_with(HINTED, TWO_PATHS),
        }];
        let c = Counters::default();
        // Distinct destinations: each packet is a new flow, classified anew.
        let cases: [(u32, [u8; 4], u32, &str); 5] = [
            (0, [198, 18, 100, 21], 0x10_0010, "no hint: default"),
            (3 << 12, [198, 18, 100, 22], 0x10_0011, "hint 3: saas"),
            (
                0x8000_0000 | 3 << 12 | 0x10,
                [198, 18, 100, 23],
                0x10_0011,
                "hint 3 among other mark bits",
            ),
            (
                4 << 12,
                [198, 18, 100, 24],
                0x10_0010,
                "hint no class has: as if none",
            ),
            (
                0xff << 12,
                [198, 18, 100, 25],
                0x10_0010,
                "hint 255: as if none",
            ),
        ];
        for (nfmark, dst, want, what) in cases {
            let got = decide(&routes, &udp4(dst), nfmark, 1.0, &c);
            assert_eq!(
                got, want,
                "{}: nfmark {:#x}: got path {:#x}; want {:#x}",
                what, nfmark, got, want
            );
        }
        // The hint classifies a flow's first packet only, like DSCP.
        let got = decide(&routes, &udp4([198, 18, 100, 22]), 0, 2.0, &c);
        assert_eq!(
            got, 0x10_0011,
            "later packet without hint: got {:#x}; want the flow's path",
            got
        );
    }

    #[test]
    fn fuzz_never_panics_and_always_answers() {
        let routes = vec![Route {
            prefixes: vec![
                parse_prefix("0.0.0.0/0").unwrap(),
                parse_prefix("::/0").unwrap(),
            ],
            selector: selector_with(HINTED, TWO_PATHS),
        }];
        let c = Counters::default();
        let mut rng = Rng::new(0x5eed_0f_f00d);
        let base = udp4([10, 1, 0, 10]);
        for i in 0..20_000 {
            let mut p = if i % 2 == 0 {
                base.clone()
            } else {
                let len = rng.below(80);
                (0..len).map(|_| rng.next() as u8).collect()
            };
            for _ in 0..rng.below(4) {
                if !p.is_empty() {
                    let at = rng.below(p.len());
                    p[at] = rng.next() as u8;
                }
            }
            let len = rng.below(p.len() + 1);
            p.truncate(len);
            // Any mark: no hint, the class's hint, hints no class has, other bits.
            let nfmark = match rng.below(4) {
                0 => 0,
                1 => 3 << 12,
                _ => rng.next() as u32,
            };
            let mark = decide(&routes, &p, nfmark, i as f64, &c);
            assert!(
                mark == 0 || mark == 0x10_0010 || mark == 0x10_0011,
                "mark {:#x} for nfmark {:#x}, {:02x?}",
                mark,
                nfmark,
                p
            );
        }
        assert_eq!(c.panics.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn peeks_destinations() {
        let mut v6 = vec![0x60u8; 40];
        v6[24..40].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let cases: [(&[u8], Option<(u8, u128)>); 4] = [
            (&udp4([192, 0, 2, 1]), Some((4, 0xc000_0201))),
            (&v6, Some((6, 0x2001_0db8_0000_0000_0000_0000_0000_0001))),
            (&[0x45; 19], None),
            (&[0x15; 40], None),
        ];
        for (p, want) in cases {
            assert_eq!(peek_destination(p), want, "{:02x?}", p);
        }
    }
}
